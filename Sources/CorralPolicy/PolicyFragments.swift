// Drop-in policy fragments, by systemd's convention (docs/policy.md, "Fragments"):
// `policy.d/*.yaml` in /etc/corral (the admin), /run/corral (runtime) and /usr/lib/corral
// (packages). A name in a higher directory masks the same name in a lower one; a symlink to
// /dev/null disables the name. The main file and the fragments are parsed one by one and
// validated as one policy, so a conflict between two files names both locations.
import CorralSystem
import Glibc
import CorralYAML

/// One file's text and the name diagnostics give it.
public struct PolicyText: Hashable, Sendable {
    public var source: String
    public var text: String

    public init(source: String, text: String) {
        self.source = source
        self.text = text
    }
}

/// The fragment directories, highest precedence first.
public struct FragmentSet: Hashable, Sendable {
    /// systemd's order: the admin (/etc) masks runtime (/run), which masks packages (/usr/lib).
    public static let defaultDirectories = ["/etc/corral/policy.d", "/run/corral/policy.d", "/usr/lib/corral/policy.d"]

    public var directories: [String]

    public init(directories: [String] = FragmentSet.defaultDirectories) { self.directories = directories }

    /// What one fragment name resolved to.
    public struct Entry: Hashable, Sendable {
        public enum State: Hashable, Sendable {
            /// Merged into the policy.
            case active
            /// A symlink to /dev/null: the name is disabled (and masks the lower directories).
            case disabled
            /// A file of the same name in a higher directory (`by`) wins.
            case masked(by: String)
        }
        /// The file name, e.g. `50-podman.yaml`.
        public var name: String
        public var path: String
        public var state: State
    }

    /// Every `*.yaml` name in the directories (hidden files and subdirectories are skipped),
    /// sorted by name, then by directory precedence: for each name the first entry decides
    /// (active or disabled), the others are masked. A directory that does not exist is empty.
    public func resolve() throws(PolicyErrors) -> [Entry] {
        var winners: [String: String] = [:]
        var entries: [(entry: Entry, rank: Int)] = []
        for (rank, directory) in directories.enumerated() {
            guard let status = try? FileSystem.status(directory) else { continue }
            guard status.isDirectory else { throw Self.fail(directory, "fragment directory is not a directory") }
            let names: [String]
            do { names = try Sys.listDirectory(directory).map(\.name) } catch {
                throw Self.fail(directory, "cannot list fragment directory: permission denied or unreadable", unreadable: true)
            }
            for name in names.sorted() where name.hasSuffix(".yaml") && !name.hasPrefix(".") {
                let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
                let disabled = Self.isDevNull(path)
                if !disabled, let sub = try? FileSystem.status(path), sub.isDirectory { continue }
                if let winner = winners[name] {
                    entries.append((Entry(name: name, path: path, state: .masked(by: winner)), rank))
                } else {
                    winners[name] = path
                    entries.append((Entry(name: name, path: path, state: disabled ? .disabled : .active), rank))
                }
            }
        }
        return entries.sorted { a, b in
            a.entry.name != b.entry.name ? Array(a.entry.name.utf8).lexicographicallyPrecedes(Array(b.entry.name.utf8))
                : a.rank < b.rank
        }.map(\.entry)
    }

    /// A staged policy directory DIR: `DIR/policy.yaml` with the fragments of `DIR/policy.d`.
    /// nil when `path` is not a directory.
    public static func staged(_ path: String) -> (main: String, fragments: FragmentSet)? {
        guard path != "-", let status = try? FileSystem.status(path), status.isDirectory else { return nil }
        let dir = path.hasSuffix("/") ? path : path + "/"
        return (dir + "policy.yaml", FragmentSet(directories: [dir + "policy.d"]))
    }

    /// The files merged after the main file, in merge order.
    public func activeFiles() throws(PolicyErrors) -> [String] {
        try resolve().filter { $0.state == .active }.map(\.path)
    }

    /// A symlink whose target is /dev/null (directly or through further links).
    static func isDevNull(_ path: String) -> Bool {
        guard let target = try? Sys.readlink(path) else { return false }
        return target == "/dev/null" || (try? Sys.resolvedPath(path)) == "/dev/null"
    }

    static func fail(_ path: String, _ message: String, unreadable: Bool = false) -> PolicyErrors {
        PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: path, line: 1, column: 1), message: message, fieldPath: "",
                                       unreadable: unreadable)])
    }
}

extension PolicyLoader {
    /// Reads the main policy at `path` and, with `fragments`, every active fragment, and validates
    /// them as one policy. Nothing is returned unless every file is valid.
    public static func load(path: String, fragments: FragmentSet?) throws(PolicyErrors) -> Policy {
        guard let fragments else { return try load(path: path) }
        let main = PolicyText(source: path, text: try read(path: path))
        var texts: [PolicyText] = []
        var problems: [PolicyDiagnostic] = []
        for file in try fragments.activeFiles() {
            do { texts.append(PolicyText(source: file, text: try read(path: file))) } catch {
                problems += error.diagnostics
            }
        }
        if !problems.isEmpty { throw PolicyErrors(problems) }
        return try parse(main: main, fragments: texts)
    }

    /// A policy file alone (no fragments), or a staged directory (`FragmentSet.staged`): what
    /// `simulate`, `explain`, `replay` and scenarios' `policy:` accept.
    public static func load(fileOrDirectory path: String) throws(PolicyErrors) -> Policy {
        guard let staged = FragmentSet.staged(path) else { return try load(path: path) }
        return try load(path: staged.main, fragments: staged.fragments)
    }

    /// The text of the policy file at `path` (at most `maxFileSize` bytes of UTF-8).
    public static func read(path: String) throws(PolicyErrors) -> String {
        func fail(_ message: String, unreadable: Bool = true) -> PolicyErrors { FragmentSet.fail(path, message, unreadable: unreadable) }
        let status: FileStatus
        do throws(Errno) { status = try FileSystem.status(path) } catch {
            throw fail(error == .noSuchFile ? "cannot read policy: no such file" : "cannot read policy: permission denied or unreadable")
        }
        if status.isDirectory { throw fail("cannot read policy: it is a directory") }
        let fd: Int32
        do throws(Errno) { fd = try Sys.open(path, O_RDONLY) } catch {
            throw fail("cannot read policy: permission denied or unreadable")
        }
        defer { Sys.close(fd) }
        let bytes: [UInt8]
        do throws(Errno) { bytes = try Sys.readAll(fd, limit: maxFileSize + 1) } catch {
            throw fail("cannot read policy: \(error)")
        }
        if bytes.count > maxFileSize { throw fail("policy file is larger than \(maxFileSize >> 20) MiB", unreadable: false) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw fail("policy file is not valid UTF-8", unreadable: false) }
        return text
    }

    /// Parses the main file and the fragments (in merge order) and validates them as one policy:
    /// - every file needs `version: 1`; a fragment may not set `cgroup-root`; a fragment's `mode:`
    ///   is the default of its own rules (without one, the main file's);
    /// - named subjects of every file are visible in every file; a name defined twice is an error;
    /// - rules are ordered main file first, then each fragment's; rule ids are unique across files;
    /// - a fragment with no YAML document (empty, or only comments) contributes nothing.
    /// Diagnostics are sorted by file (in merge order), line and column.
    public static func parse(main: PolicyText, fragments: [PolicyText]) throws(PolicyErrors) -> Policy {
        if fragments.isEmpty { return try parse(yaml: main.text, source: main.source) }
        let files = [main] + fragments
        var problems: [PolicyDiagnostic] = []
        var roots: [YAMLNode?] = []
        for (k, file) in files.enumerated() {
            do {
                let root = try compose(file.text, source: file.source)
                if root == nil, k == 0 {
                    problems.append(PolicyDiagnostic(location: SourceLocation(file: file.source, line: 1, column: 1),
                        message: "the policy is empty; expected a mapping with 'version: 1' and 'rules'", fieldPath: ""))
                }
                roots.append(root)
            } catch {
                problems += error.diagnostics
                roots.append(nil)
            }
        }
        if !problems.isEmpty { throw PolicyErrors(problems) }

        // Pass 1: the named subjects of every file, each name defined once.
        var named: [String: Located<Subject>] = [:]
        var definedIn: [String: Int] = [:]
        var reader = YAMLReader(source: main.source)
        for (k, file) in files.enumerated() {
            guard let root = roots[k] else { continue }
            var parser = PolicyParser(source: file.source)
            parser.parseSubjectsOnly(root)
            for subject in parser.namedSubjects {
                guard let name = subject.value.name else { continue }
                if let first = named[name] {
                    reader.error("subject \(quote(name)) is already defined at \(first.location)", at: subject.location, subject.path)
                } else {
                    named[name] = subject
                    definedIn[name] = k
                }
            }
        }

        // Pass 2: each file with the other files' subjects; rule positions continue across files.
        var policy = Policy(source: main.source)
        var rules: [ParsedRule] = []
        var subjects: [Located<Subject>] = []
        for (k, file) in files.enumerated() {
            guard let root = roots[k] else { continue }
            let external = named.filter { definedIn[$0.key] != k }.mapValues(\.value)
            var parser = PolicyParser(source: file.source, external: external, fragment: k > 0,
                                      inheritedMode: policy.defaultMode)
            let parsed = parser.parseDocument(root)
            if k == 0 {
                policy.defaultMode = parsed.defaultMode
                policy.cgroupRoot = parsed.cgroupRoot
                policy.eventRateLimit = parsed.eventRateLimit
            }
            let offset = rules.count
            rules += parser.parsedRules.map { var r = $0; r.rule.index += offset; return r }
            subjects += parser.namedSubjects
            for diagnostic in parser.reader.diagnostics { reader.add(diagnostic) }
        }
        var validator = PolicyValidator(reader: reader, rules: rules)
        validator.run(namedSubjects: subjects)
        let rank = Dictionary(files.enumerated().map { ($1.source, $0) }, uniquingKeysWith: { a, _ in a })
        let diagnostics = validator.reader.diagnostics.enumerated().sorted { a, b in
            let x = a.element.location, y = b.element.location
            return (rank[x.file] ?? 0, x.line, x.column, a.offset) < (rank[y.file] ?? 0, y.line, y.column, b.offset)
        }.map(\.element)
        if !diagnostics.isEmpty { throw PolicyErrors(diagnostics) }
        policy.subjects = subjects.map(\.value)
        policy.rules = rules.map(\.rule)
        policy.fragments = fragments.map(\.source)
        return policy
    }
}
