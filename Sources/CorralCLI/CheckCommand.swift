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

    @Argument(help: "The policy file (YAML).")
    var policy: String

    func run() async throws {
        let result = Self.check(path: policy)
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

    static func check(path: String) -> Outcome {
        do {
            let policy = try PolicyLoader.load(path: path)
            return Outcome(stdout: summary(policy, path: path) + "\n", stderr: "", exitCode: 0)
        } catch {
            let lines = error.diagnostics.map(\.description)
            let errors = error.diagnostics.filter { $0.severity == .error }.count
            return Outcome(stdout: "", stderr: (lines + ["\(path): \(plural(errors, "error"))"]).joined(separator: "\n") + "\n",
                           exitCode: 1)
        }
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
