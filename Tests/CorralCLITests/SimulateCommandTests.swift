import CorralPolicy
import CorralTestSupport
import Foundation
import Testing
@testable import CorralCLI

@Suite struct SimulateCommandTests {
    @Test func everyExampleScenarioPasses() {
        let scenarios = RepoPaths.exampleScenarios()
        #expect(scenarios.count >= 6)
        for path in scenarios {
            let out = SimulateCommand.execute(policy: nil, scenario: path, json: false)
            #expect(out.status == .ok, "\(path):\n\((out.stdout + out.stderr).joined(separator: "\n"))")
            #expect(out.stdout.last?.hasSuffix("held") == true)
        }
    }

    /// A staged directory (policy.yaml + policy.d/) works as --policy: the lock_in example split in two files.
    @Test func aPolicyDirectoryWithFragments() throws {
        let dir = RepoPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try String(contentsOfFile: RepoPaths.examples + "/lock_in/policy.yaml", encoding: .utf8)
        let cut = try #require(text.range(of: "  - id: services-stay"))
        try FileManager.default.createDirectory(atPath: dir + "/policy.d", withIntermediateDirectories: true)
        try String(text[..<cut.lowerBound]).write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
        try ("version: 1\nrules:\n" + text[cut.lowerBound...]).write(toFile: dir + "/policy.d/10-cgroups.yaml", atomically: true, encoding: .utf8)
        let scenario = RepoPaths.examples + "/lock_in/scenario.yaml"
        let out = SimulateCommand.execute(policy: dir, scenario: scenario, json: false)
        #expect(out.status == .ok, "\((out.stdout + out.stderr).joined(separator: "\n"))")
        // The same decisions; each deciding rule named with the file (and line) it now comes from.
        let single = RepoPaths.examples + "/lock_in/policy.yaml"
        let expected = SimulateCommand.execute(policy: nil, scenario: scenario, json: false).stdout.map {
            $0.replacingOccurrences(of: "(\(single):13)", with: "(\(dir)/policy.yaml:13)")
                .replacingOccurrences(of: "(\(single):17)", with: "(\(dir)/policy.d/10-cgroups.yaml:3)")
                .replacingOccurrences(of: "(\(single):21)", with: "(\(dir)/policy.d/10-cgroups.yaml:7)")
        }
        #expect(out.stdout == expected)
        #expect(out.stdout[6].hasPrefix("step 7 migrate web moves web (pid 600) /system.slice/web.service -> /user.slice via cgroup.procs: deny by services-stay (\(dir)/policy.d/10-cgroups.yaml:3) [enforce] EPERM: "))
        let policy = try PolicyLoader.load(fileOrDirectory: dir)
        #expect(policy.rule(id: "services-stay")?.location?.file == dir + "/policy.d/10-cgroups.yaml")
    }

    @Test func aFlippedExpectationFailsAndNamesTheStep() throws {
        let dir = RepoPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = RepoPaths.examples + "/ns_sandbox"
        try FileManager.default.copyItem(atPath: source + "/policy.yaml", toPath: dir + "/policy.yaml")
        let text = try String(contentsOfFile: source + "/scenario.yaml", encoding: .utf8)
        let flipped = text.replacingOccurrences(of: "expect: {verdict: deny, rule: lock-sandbox, errno: EPERM}",
                                                with: "expect: {verdict: allow, rule: lock-sandbox, errno: EPERM}")
        #expect(flipped != text)
        try flipped.write(toFile: dir + "/scenario.yaml", atomically: true, encoding: .utf8)
        let out = SimulateCommand.execute(policy: nil, scenario: dir + "/scenario.yaml", json: false)
        #expect(out.status == .failed)
        #expect(out.stdout.last == "1 of 5 expectations failed (step 5)")
        #expect(out.stdout.contains { $0.hasPrefix("  expected allow by lock-sandbox EPERM: FAILED") })
        let json = SimulateCommand.execute(policy: nil, scenario: dir + "/scenario.yaml", json: true)
        #expect(json.status == .failed)
        let summary = try JSONSerialization.jsonObject(with: Data(json.stdout.last!.utf8)) as? [String: Any]
        #expect(summary?["failed_steps"] as? [Int] == [5])
    }

    @Test func textLinesFollowTheFormat() {
        let out = SimulateCommand.execute(policy: nil, scenario: RepoPaths.examples + "/ns_sandbox/scenario.yaml", json: false)
        #expect(out.stdout.contains {
            $0.hasPrefix("step 5 setns child -> host-uts (uts 4026531838): deny by lock-sandbox (\(RepoPaths.examples)/ns_sandbox/policy.yaml:13) [enforce] EPERM: task 101")
        })
        // The verdict, rule and mode are stated once: the head says them, the text explains.
        #expect(!out.stdout.contains { $0.contains("denied by rule") || $0.contains(": allowed: ") })
        #expect(out.stdout.contains { $0.hasSuffix("(uts 4026531838): allow: no rule applies") })
    }

    @Test func jsonLinesAreObjects() throws {
        let out = SimulateCommand.execute(policy: nil, scenario: RepoPaths.examples + "/cgroup_verify_hook_args/scenario.yaml", json: true)
        #expect(out.status == .ok && out.stdout.count == 3)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout[0].utf8)) as? [String: Any])
        let decision = try #require((first["decisions"] as? [[String: Any]])?.first)
        let record = try #require(decision["record"] as? [String: Any])
        #expect(record["target_pid"] as? Int == 300 && record["src_cgroup"] as? Int == 1000 && record["threadgroup"] as? Int == 1)
    }

    @Test func loadErrorsExitInvalidInputOrUnreadable() throws {
        let dir = RepoPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "steps:\n  - fork: {parent: nobody, child: c, pid: 2}\n".write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let out = SimulateCommand.execute(policy: RepoPaths.examples + "/ns_sandbox/policy.yaml", scenario: dir + "/s.yaml", json: false)
        #expect(out.status == .invalidInput && out.stdout.isEmpty)
        #expect(out.stderr.first?.hasPrefix(dir + "/s.yaml:2:20: error: unknown task 'nobody'") == true)
        let noPolicy = SimulateCommand.execute(policy: nil, scenario: RepoPaths.examples + "/../docs/none.yaml", json: false)
        #expect(noPolicy.status == .unreadable && !noPolicy.stderr.isEmpty)
    }

    @Test func policyOptionOverridesTheScenario() {
        // The deny-migration scenario run under the ns_sandbox policy: /denied is no longer denied.
        let out = SimulateCommand.execute(policy: RepoPaths.examples + "/ns_sandbox/policy.yaml",
                                          scenario: RepoPaths.examples + "/cgroup_deny_migration/scenario.yaml", json: false)
        #expect(out.status == .failed && out.stdout.last == "1 of 3 expectations failed (step 4)")
    }
}
