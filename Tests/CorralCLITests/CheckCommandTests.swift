import ArgumentParser
import Foundation
import Testing

@testable import CorralCLI

@Suite struct CheckCommandTests {
    /// The repository root, for examples/.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func example(_ name: String) -> String { root.appendingPathComponent("examples/invalid/\(name)").path }

    @Test func help() {
        #expect(CorralCommand.helpMessage(for: CheckCommand.self, columns: 100) == """
            OVERVIEW: Validate a policy file.

            Reports every problem in the file, one per line, as FILE:LINE:COL: error: MESSAGE (FIELD), then a
            count. Exits 0 when the policy is valid, 1 otherwise. The policy syntax is in docs/policy.md.

            USAGE: corral check <policy> [--json]

            ARGUMENTS:
              <policy>                The policy file (YAML), or - for standard input.

            OPTIONS:
              --json                  Print one JSON object (valid, rules, diagnostics with file, line, column,
                                      severity, message, field) for editors and CI.
              --version               Show the version.
              -h, --help              Show help information.

            """)
    }

    @Test func standardInputIsNamedStdin() {
        let good = CheckCommand.check(path: "-", stdin: { Data("version: 1\nrules: []\n".utf8) })
        #expect(good == .init(stdout: "<stdin>: ok: 0 rules (0 namespace, 0 cgroup), 0 subjects, default mode enforce\n",
                              stderr: "", exitCode: 0))
        let bad = CheckCommand.check(path: "-", stdin: { Data("version: 1\nrules:\n  - {id: a, kind: stay}\n".utf8) })
        #expect(bad == .init(stdout: "", stderr: """
            <stdin>:3:5: error: missing required key 'cgroups' for a 'stay' rule (rules[0].cgroups)
            <stdin>: 1 error

            """, exitCode: 1))
    }

    @Test func jsonDiagnosticsForEditors() throws {
        let bad = CheckCommand.check(path: "-", json: true, stdin: { Data("version: 1\nrules:\n  - {id: a, kind: stay}\n".utf8) })
        #expect(bad.exitCode == 1 && bad.stderr.isEmpty)
        #expect(bad.stdout == #"{"diagnostics":[{"column":5,"field":"rules[0].cgroups","file":"<stdin>","line":3,"message":"missing required key 'cgroups' for a 'stay' rule","severity":"error"}],"file":"<stdin>","valid":false}"# + "\n")
        let good = CheckCommand.check(path: Self.root.appendingPathComponent("examples/lock_in/policy.yaml").path, json: true)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(good.stdout.utf8)) as? [String: Any])
        #expect(good.exitCode == 0 && object["valid"] as? Bool == true && (object["rules"] as? Int ?? 0) > 0)
        #expect((object["diagnostics"] as? [Any])?.isEmpty == true)
    }

    @Test func parsesAsSubcommand() throws {
        let command = try CorralCommand.parseAsRoot(["check", "p.yaml"])
        #expect((command as? CheckCommand)?.policy == "p.yaml")
        #expect(throws: (any Error).self) { try CorralCommand.parseAsRoot(["check"]) }
    }

    @Test func validPolicy() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-check-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
            version: 1
            subjects:
              init: {pid1: true}
              logind: {exe: /usr/lib/systemd/systemd-logind}
            rules:
              - {id: t, kind: track, subject: init, types: [net], label: box}
              - {id: d, kind: deny-create, subject: logind, types: [user]}
              - {id: s, kind: stay, cgroups: [/system.slice]}
              - {id: m, kind: managers, subject: init}
              - {id: n, kind: deny-into, subject: {cgroup: /user.slice}, cgroups: [/system.slice]}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(CheckCommand.check(path: path) == .init(
            stdout: "\(path): ok: 5 rules (2 namespace, 3 cgroup), 4 subjects, default mode enforce\n", stderr: "", exitCode: 0))
    }

    @Test(arguments: [
        ("unknown-key.yaml",
         "8:5: error: key 'cgroup' does not apply to a 'stay' rule (did you mean 'cgroups'?) (rules[0].cgroup)"),
        ("wrong-type.yaml", "6:12: error: expected a list, found a string (rules[0].types)"),
        ("duplicate-id.yaml", "7:9: error: duplicate rule id 'no-net' (first defined at line 4) (rules[1].id)"),
        ("delegated-outside-root.yaml",
         "7:13: error: cgroup path '/../user.slice' lies outside the cgroup root (rules[0].cgroup)"),
        ("stay-locked-conflict.yaml",
         "10:15: error: rule 'freeze-backup' conflicts with rule 'services-stay' (line 5): locked "
            + "'/system.slice/backup.service' overlaps stay '/system.slice'; add 'overrides: [services-stay]' to "
            + "'freeze-backup' or 'overrides: [freeze-backup]' to 'services-stay' (rules[1].cgroups[0])"),
    ])
    func invalidExamples(file: String, diagnostic: String) {
        let path = Self.example(file)
        #expect(CheckCommand.check(path: path) == .init(
            stdout: "", stderr: "\(path):\(diagnostic)\n\(path): 1 error\n", exitCode: 1))
    }

    @Test func conflictFixtureBecomesValidWithOverrides() throws {
        let text = try String(contentsOfFile: Self.example("stay-locked-conflict.yaml"), encoding: .utf8)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-check-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try (text + "    overrides: [services-stay]\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(CheckCommand.check(path: path).stdout
            == "\(path): ok: 2 rules (0 namespace, 2 cgroup), 1 subject, default mode enforce\n")
    }

    @Test func severalErrorsAndMissingFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-check-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "version: 2\nmode: strict\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(CheckCommand.check(path: path) == .init(stdout: "", stderr: """
            \(path):1:10: error: unsupported version 2 (expected 1) (version)
            \(path):2:7: error: invalid mode 'strict' (expected enforce or audit) (mode)
            \(path): 2 errors

            """, exitCode: 1))
        #expect(CheckCommand.check(path: "/nonexistent/p.yaml") == .init(stdout: "", stderr: """
            /nonexistent/p.yaml:1:1: error: cannot read policy: no such file
            /nonexistent/p.yaml: 1 error

            """, exitCode: 1))
    }

    @Test func runThrowsExitCodeOne() async throws {
        var command = try #require(try CorralCommand.parseAsRoot(["check", "/nonexistent/p.yaml"]) as? CheckCommand)
        await #expect(throws: ExitCode(1)) { try await command.run() }
        command.policy = Self.example("wrong-type.yaml")
        await #expect(throws: ExitCode(1)) { try await command.run() }
    }
}
