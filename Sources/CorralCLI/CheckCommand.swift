// `corral check POLICY`: parse and validate a policy file, report every problem.
import ArgumentParser
import CorralJSON
import CorralPolicy
import CorralSystem
import Glibc

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a policy file.",
        discussion: """
            Reports every problem in the file, one per line, as FILE:LINE:COL: error: MESSAGE (FIELD), \
            then a count. Exits 0 when the policy is valid, 1 when it is not, 3 when a file cannot be read (docs/cli.md). The policy syntax is in docs/policy.md. \
            With --fragments or --policy-dir (or a directory DIR: DIR/policy.yaml and DIR/policy.d), the main \
            file and its drop-in fragments are checked as one policy.
            """
    )

    @Argument(help: "The policy file (YAML), - for standard input, or a directory with policy.yaml and policy.d/.",
              completion: .yaml)
    var policy: String

    @OptionGroup var fragmentOptions: FragmentOptions

    @Flag(help: "Print one JSON object (valid, rules, diagnostics with file, line, column, severity, message, field) for editors and CI.")
    var json = false

    func run() async throws {
        let (main, fragments) = PolicySelection.resolve(policy, fragmentOptions)
        let result = Self.check(path: main, json: json, fragments: fragments, stdin: { (try? Sys.readAll(0)) ?? [] })
        if !result.stdout.isEmpty { try? Sys.writeAll(1, Array(result.stdout.utf8)) }
        if !result.stderr.isEmpty { try? Sys.writeAll(2, Array(result.stderr.utf8)) }
        if result.exitCode != .ok { throw result.exitCode.exit }
    }

    /// What `corral check` prints and its exit status, without side effects.
    struct Outcome: Equatable {
        var stdout: String
        var stderr: String
        var exitCode: CorralExit
    }

    /// `path` "-" reads `stdin()` and names the source `<stdin>`. With `fragments`, the active
    /// fragments are merged after it and the output lists every fragment file and its state.
    static func check(path: String, json: Bool = false, fragments: FragmentSet? = nil,
                      stdin: () -> [UInt8] = { [] }) -> Outcome {
        let name = path == "-" ? "<stdin>" : path
        var entries: [FragmentSet.Entry] = []
        let result: Result<Policy, PolicyErrors>
        do throws(PolicyErrors) {
            let text = path == "-" ? String(decoding: stdin(), as: UTF8.self) : try PolicyLoader.read(path: path)
            if let fragments {
                entries = try fragments.resolve()
                var texts: [PolicyText] = []
                var problems: [PolicyDiagnostic] = []
                for entry in entries where entry.state == .active {
                    do { texts.append(PolicyText(source: entry.path, text: try PolicyLoader.read(path: entry.path))) } catch {
                        problems += error.diagnostics
                    }
                }
                if !problems.isEmpty { throw PolicyErrors(problems) }
                result = .success(try PolicyLoader.parse(main: PolicyText(source: name, text: text), fragments: texts))
            } else {
                result = .success(try PolicyLoader.parse(yaml: text, source: name))
            }
        } catch {
            result = .failure(error)
        }
        if json { return jsonOutcome(result, name: name, fragments: fragments == nil ? nil : entries) }
        switch result {
        case .success(let policy):
            var lines = [summary(policy, path: name)]
            if fragments != nil { lines += fileLines(policy, entries) }
            return Outcome(stdout: lines.joined(separator: "\n") + "\n", stderr: "", exitCode: .ok)
        case .failure(let error):
            let lines = error.diagnostics.map(\.description)
            let errors = error.diagnostics.filter { $0.severity == .error }.count
            return Outcome(stdout: "", stderr: (lines + ["\(name): \(plural(errors, "error"))"]).joined(separator: "\n") + "\n",
                           exitCode: failure(error))
        }
    }

    /// One line per file: the main file and each fragment with its rule count, then masked and
    /// disabled fragments, in merge order.
    static func fileLines(_ policy: Policy, _ entries: [FragmentSet.Entry]) -> [String] {
        func rules(_ file: String) -> String { plural(policy.rules.filter { $0.location?.file == file }.count, "rule") }
        var lines = ["  \(policy.source): \(rules(policy.source)) (main file)"]
        for entry in entries {
            switch entry.state {
            case .active: lines.append("  \(entry.path): \(rules(entry.path))")
            case .disabled: lines.append("  \(entry.path): disabled (symlink to /dev/null)")
            case .masked(let by): lines.append("  \(entry.path): masked by \(by)")
            }
        }
        return lines
    }

    struct JSONReport: Encodable {
        struct Diagnostic: Encodable {
            var file: String, line: Int, column: Int, severity: String, message: String, field: String
        }
        var file: String
        var valid: Bool
        var rules: Int?
        var diagnostics: [Diagnostic]
        struct Fragment: Encodable {
            var path: String, state: String
            var maskedBy: String?
            enum CodingKeys: String, CodingKey { case path, state, maskedBy = "masked_by" }
        }
        /// Present with fragments: every fragment file in merge order and its state.
        var fragments: [Fragment]?
    }

    static func jsonOutcome(_ result: Result<Policy, PolicyErrors>, name: String,
                            fragments: [FragmentSet.Entry]? = nil) -> Outcome {
        var report = JSONReport(file: name, valid: true, rules: nil, diagnostics: [])
        report.fragments = fragments?.map { entry in
            switch entry.state {
            case .active: .init(path: entry.path, state: "active")
            case .disabled: .init(path: entry.path, state: "disabled")
            case .masked(let by): .init(path: entry.path, state: "masked", maskedBy: by)
            }
        }
        switch result {
        case .success(let policy): report.rules = policy.rules.count
        case .failure(let error):
            report.valid = false
            report.diagnostics = error.diagnostics.map {
                .init(file: $0.location.file, line: $0.location.line, column: $0.location.column,
                      severity: $0.severity.rawValue, message: $0.message, field: $0.fieldPath)
            }
        }
        let text = (try? JSONOutput.text(report)) ?? "{}"
        let status: CorralExit = switch result {
        case .success: .ok
        case .failure(let error): failure(error)
        }
        return Outcome(stdout: text + "\n", stderr: "", exitCode: status)
    }

    /// `check`'s answer for a policy that did not load: no (1), or unreadable (3).
    static func failure(_ error: PolicyErrors) -> CorralExit { error.isUnreadable ? .unreadable : .failed }

    /// `POLICY: ok: 5 rules (2 namespace, 3 cgroup), 3 subjects, default mode enforce`.
    static func summary(_ policy: Policy, path: String) -> String {
        let namespace = policy.rules.filter(\.kind.isNamespaceRule).count
        let cgroup = policy.rules.count - namespace
        return "\(path): ok: \(plural(policy.rules.count, "rule")) (\(namespace) namespace, \(cgroup) cgroup), "
            + "\(plural(policy.distinctSubjectMatchers.count, "subject")), default mode \(policy.defaultMode.rawValue)"
    }

    private static func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}
