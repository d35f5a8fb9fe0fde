// `corral check POLICY`: parse and validate a policy file, report every problem.
import ArgumentParser
import CorralPolicy
import Foundation

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a policy file.",
        discussion: """
            Reports every problem in the file, one per line, as FILE:LINE:COL: error: MESSAGE (FIELD), \
            then a count. Exits 0 when the policy is valid, 1 otherwise. The policy syntax is in docs/policy.md.
            """
    )

    @Argument(help: "The policy file (YAML), or - for standard input.", completion: .file(extensions: ["yaml", "yml"]))
    var policy: String

    @Flag(help: "Print one JSON object (valid, rules, diagnostics with file, line, column, severity, message, field) for editors and CI.")
    var json = false

    func run() async throws {
        let result = Self.check(path: policy, json: json, stdin: { FileHandle.standardInput.readDataToEndOfFile() })
        if !result.stdout.isEmpty { FileHandle.standardOutput.write(Data(result.stdout.utf8)) }
        if !result.stderr.isEmpty { FileHandle.standardError.write(Data(result.stderr.utf8)) }
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }

    /// What `corral check` prints and its exit status, without side effects.
    struct Outcome: Equatable {
        var stdout: String
        var stderr: String
        var exitCode: Int32
    }

    /// `path` "-" reads `stdin()` and names the source `<stdin>`.
    static func check(path: String, json: Bool = false, stdin: () -> Data = { Data() }) -> Outcome {
        let name = path == "-" ? "<stdin>" : path
        let result: Result<Policy, PolicyErrors>
        do {
            if path == "-" {
                result = .success(try PolicyLoader.parse(yaml: String(decoding: stdin(), as: UTF8.self), source: name))
            } else {
                result = .success(try PolicyLoader.load(path: path))
            }
        } catch {
            result = .failure(error)
        }
        if json { return jsonOutcome(result, name: name) }
        switch result {
        case .success(let policy):
            return Outcome(stdout: summary(policy, path: name) + "\n", stderr: "", exitCode: 0)
        case .failure(let error):
            let lines = error.diagnostics.map(\.description)
            let errors = error.diagnostics.filter { $0.severity == .error }.count
            return Outcome(stdout: "", stderr: (lines + ["\(name): \(plural(errors, "error"))"]).joined(separator: "\n") + "\n",
                           exitCode: 1)
        }
    }

    struct JSONReport: Encodable {
        struct Diagnostic: Encodable {
            var file: String, line: Int, column: Int, severity: String, message: String, field: String
        }
        var file: String
        var valid: Bool
        var rules: Int?
        var diagnostics: [Diagnostic]
    }

    static func jsonOutcome(_ result: Result<Policy, PolicyErrors>, name: String) -> Outcome {
        var report = JSONReport(file: name, valid: true, rules: nil, diagnostics: [])
        switch result {
        case .success(let policy): report.rules = policy.rules.count
        case .failure(let error):
            report.valid = false
            report.diagnostics = error.diagnostics.map {
                .init(file: $0.location.file, line: $0.location.line, column: $0.location.column,
                      severity: $0.severity.rawValue, message: $0.message, field: $0.fieldPath)
            }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let text = (try? enc.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return Outcome(stdout: text + "\n", stderr: "", exitCode: report.valid ? 0 : 1)
    }

    /// `POLICY: ok: 5 rules (2 namespace, 3 cgroup), 3 subjects, default mode enforce`.
    static func summary(_ policy: Policy, path: String) -> String {
        let namespace = policy.rules.filter(\.kind.isNamespaceRule).count
        let cgroup = policy.rules.count - namespace
        return "\(path): ok: \(plural(policy.rules.count, "rule")) (\(namespace) namespace, \(cgroup) cgroup), "
            + "\(plural(policy.distinctSubjectMatchers.count, "subject")), default mode \(policy.defaultMode.rawValue)"
    }

    private static func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}
