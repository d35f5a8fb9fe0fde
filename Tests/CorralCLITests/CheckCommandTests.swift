import ArgumentParser
import CorralPolicy
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
            count. Exits 0 when the policy is valid, 1 when it is not, 3 when a file cannot be read
            (docs/cli.md). The policy syntax is in docs/policy.md. With --fragments or --policy-dir (or a
            directory DIR: DIR/policy.yaml and DIR/policy.d), the main file and its drop-in fragments are
            checked as one policy.

            USAGE: corral check <policy> [--fragments] [--policy-dir <dir> ...] [--json]

            ARGUMENTS:
              <policy>                The policy file (YAML), - for standard input, or a directory with
                                      policy.yaml and policy.d/.

            OPTIONS:
              --fragments             Also merge the drop-in fragments of /etc/corral/policy.d,
                                      /run/corral/policy.d and /usr/lib/corral/policy.d (docs/policy.md).
              --policy-dir <dir>      A fragment directory, instead of the default ones (repeat it; the first
                                      one masks the later ones).
              --json                  Print one JSON object (valid, rules, diagnostics with file, line, column,
                                      severity, message, field) for editors and CI.
              --version               Show the version.
              -h, --help              Show help information.

            """)
    }

    @Test func standardInputIsNamedStdin() {
        let good = CheckCommand.check(path: "-", stdin: { Array("version: 1\nrules: []\n".utf8) })
        #expect(good == .init(stdout: "<stdin>: ok: 0 rules (0 namespace, 0 cgroup), 0 subjects, default mode enforce\n",
                              stderr: "", exitCode: .ok))
        let bad = CheckCommand.check(path: "-", stdin: { Array("version: 1\nrules:\n  - {id: a, kind: stay}\n".utf8) })
        #expect(bad == .init(stdout: "", stderr: """
            <stdin>:3:5: error: missing required key 'cgroups' for a 'stay' rule (rules[0].cgroups)
            <stdin>: 1 error

            """, exitCode: .failed))
    }

    @Test func jsonDiagnosticsForEditors() throws {
        let bad = CheckCommand.check(path: "-", json: true, stdin: { Array("version: 1\nrules:\n  - {id: a, kind: stay}\n".utf8) })
        #expect(bad.exitCode == .failed && bad.stderr.isEmpty)
        #expect(bad.stdout == #"{"diagnostics":[{"column":5,"field":"rules[0].cgroups","file":"<stdin>","line":3,"message":"missing required key 'cgroups' for a 'stay' rule","severity":"error"}],"file":"<stdin>","valid":false}"# + "\n")
        let good = CheckCommand.check(path: Self.root.appendingPathComponent("examples/lock_in/policy.yaml").path, json: true)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(good.stdout.utf8)) as? [String: Any])
        #expect(good.exitCode == .ok && object["valid"] as? Bool == true && (object["rules"] as? Int ?? 0) > 0)
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
            stdout: "\(path): ok: 5 rules (2 namespace, 3 cgroup), 4 subjects, default mode enforce\n", stderr: "", exitCode: .ok))
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
            stdout: "", stderr: "\(path):\(diagnostic)\n\(path): 1 error\n", exitCode: .failed))
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

            """, exitCode: .failed))
        #expect(CheckCommand.check(path: "/nonexistent/p.yaml") == .init(stdout: "", stderr: """
            /nonexistent/p.yaml:1:1: error: cannot read policy: no such file
            /nonexistent/p.yaml: 1 error

            """, exitCode: .unreadable))
    }

    @Test func runThrowsTheExitCode() async throws {
        var command = try #require(try CorralCommand.parseAsRoot(["check", "/nonexistent/p.yaml"]) as? CheckCommand)
        await #expect(throws: ExitCode(3)) { try await command.run() }
        command.policy = Self.example("wrong-type.yaml")
        await #expect(throws: ExitCode(1)) { try await command.run() }
    }

    /// A staged tree: DIR/policy.yaml and DIR/policy.d, plus a second fragment directory.
    static func fragmentTree() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-check-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/policy.d", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/vendor", withIntermediateDirectories: true)
        try "version: 1\nsubjects:\n  svc: {cgroup: /system.slice}\nrules:\n  - {id: svc-stay, kind: stay, cgroups: [/system.slice]}\n"
            .write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
        try "version: 1\nrules:\n  - {id: no-userns, kind: deny-create, subject: svc, types: [user]}\n"
            .write(toFile: dir + "/policy.d/10-admin.yaml", atomically: true, encoding: .utf8)
        try "version: 1\nrules:\n  - {id: vendor, kind: deny-into, cgroups: [/a]}\n"
            .write(toFile: dir + "/vendor/10-admin.yaml", atomically: true, encoding: .utf8)
        try "version: 1\nrules:\n  - {id: old, kind: deny-into, cgroups: [/b]}\n"
            .write(toFile: dir + "/vendor/30-old.yaml", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir + "/policy.d/30-old.yaml", withDestinationPath: "/dev/null")
        try "version: 1\nrules:\n  - {id: machines, kind: locked, cgroups: [/machine.slice]}\n"
            .write(toFile: dir + "/vendor/50-pkg.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func fragmentsAreListedWithTheirState() throws {
        let dir = try Self.fragmentTree()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A file alone, without --fragments: as before.
        #expect(CheckCommand.check(path: dir + "/policy.yaml").stdout
            == "\(dir)/policy.yaml: ok: 1 rule (0 namespace, 1 cgroup), 2 subjects, default mode enforce\n")
        var command = try #require(try CorralCommand.parseAsRoot(["check", dir, "--policy-dir", dir + "/policy.d",
                                                                 "--policy-dir", dir + "/vendor"]) as? CheckCommand)
        let (main, set) = PolicySelection.resolve(command.policy, command.fragmentOptions)
        #expect(main == dir + "/policy.yaml" && set?.directories == [dir + "/policy.d", dir + "/vendor"])
        #expect(CheckCommand.check(path: main, fragments: set) == .init(stdout: """
            \(dir)/policy.yaml: ok: 3 rules (1 namespace, 2 cgroup), 2 subjects, default mode enforce
              \(dir)/policy.yaml: 1 rule (main file)
              \(dir)/policy.d/10-admin.yaml: 1 rule
              \(dir)/vendor/10-admin.yaml: masked by \(dir)/policy.d/10-admin.yaml
              \(dir)/policy.d/30-old.yaml: disabled (symlink to /dev/null)
              \(dir)/vendor/30-old.yaml: masked by \(dir)/policy.d/30-old.yaml
              \(dir)/vendor/50-pkg.yaml: 1 rule

            """, stderr: "", exitCode: .ok))
        // A directory argument alone: DIR/policy.yaml with DIR/policy.d.
        command = try #require(try CorralCommand.parseAsRoot(["check", dir]) as? CheckCommand)
        #expect(PolicySelection.resolve(command.policy, command.fragmentOptions).fragments?.directories == [dir + "/policy.d"])
        command = try #require(try CorralCommand.parseAsRoot(["check", "--fragments", "p.yaml"]) as? CheckCommand)
        #expect(PolicySelection.resolve(command.policy, command.fragmentOptions).fragments == FragmentSet())
        let json = CheckCommand.check(path: main, json: true, fragments: FragmentSet(directories: [dir + "/policy.d"]))
        let d = dir // slashes as they are (JSONOutput: .withoutEscapingSlashes)
        let expected: String = #"{"diagnostics":[],"file":""# + d + #"/policy.yaml","fragments":[{"path":""#
            + d + #"/policy.d/10-admin.yaml","state":"active"},{"path":""# + d
            + #"/policy.d/30-old.yaml","state":"disabled"}],"rules":2,"valid":true}"# + "\n"
        #expect(json.stdout == expected)
    }

    @Test func conflictAcrossFragmentsNamesBothFiles() throws {
        let dir = try Self.fragmentTree()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "version: 1\nrules:\n  - {id: freeze, kind: locked, cgroups: [/system.slice/backup.service]}\n  - {id: svc-stay, kind: deny-into, cgroups: [/c]}\n"
            .write(toFile: dir + "/policy.d/20-lock.yaml", atomically: true, encoding: .utf8)
        let frag = dir + "/policy.d/20-lock.yaml"
        #expect(CheckCommand.check(path: dir + "/policy.yaml", fragments: FragmentSet(directories: [dir + "/policy.d"])) == .init(
            stdout: "", stderr: """
            \(frag):3:42: error: rule 'freeze' conflicts with rule 'svc-stay' (\(dir)/policy.yaml:5:5): locked '/system.slice/backup.service' overlaps stay '/system.slice'; add 'overrides: [svc-stay]' to 'freeze' or 'overrides: [freeze]' to 'svc-stay' (rules[0].cgroups[0])
            \(frag):4:10: error: duplicate rule id 'svc-stay' (first defined at \(dir)/policy.yaml:5:10) (rules[1].id)
            \(dir)/policy.yaml: 2 errors

            """, exitCode: .failed))
    }
}
