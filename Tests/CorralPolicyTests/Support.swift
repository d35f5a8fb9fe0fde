import CorralPolicy

/// Parses `yaml` (named "p.yaml"); returns the policy or nil and every diagnostic line.
func load(_ yaml: String) -> (policy: Policy?, errors: [String]) {
    do {
        return (try PolicyLoader.parse(yaml: yaml, source: "p.yaml"), [])
    } catch {
        return (nil, error.diagnostics.map(\.description))
    }
}

/// The diagnostics of `yaml`, which must not load.
func errors(_ yaml: String) -> [String] { load(yaml).errors }

/// A policy with `rules` appended under a standard header.
func policy(_ rules: String, subjects: String = "") -> String {
    "version: 1\n" + (subjects.isEmpty ? "" : "subjects:\n" + subjects) + "rules:\n" + rules
}
