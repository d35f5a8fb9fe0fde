import CorralEvaluator
import CorralOps
import CorralPolicy
import Foundation
import Testing

/// Loosening deadlines in the generation record (docs/operations.md, "Loosening").
@Suite struct GenerationRecordTests {
    private func record(loosened: [String: Double], boottime: [String: UInt64]) -> GenerationRecord {
        GenerationRecord(generation: 3, slot: 1, source: "p.yaml", policy: "", policyMode: "enforce",
                         ruleModes: ["b": "audit"], loosened: loosened, loosenedUntilBoottime: boottime, appliedAt: 1)
    }

    @Test func overridesCarryTheKernelDeadline() {
        let base = Policy(rules: [Rule(id: "a", kind: .stay), Rule(id: "b", kind: .stay, index: 1)])
        let p = record(loosened: ["a": 100, "b": 100], boottime: ["a": 7_000, "b": 9_000]).applyingOverrides(to: base)
        #expect(p.rules[0].mode == .enforce && p.rules[0].auditUntil == 7_000)
        #expect(p.rules[1].mode == .audit && p.rules[1].auditUntil == 9_000, "after the deadline: the `mode` override")
    }

    @Test func expiredAndDeadlineLessLooseningsAreDropped() {
        var r = record(loosened: ["a": 100, "b": 100, "old": 100], boottime: ["a": 5_000, "b": 6_000, "stray": 1])
        #expect(r.dropExpiredLoosenings(boottime: 5_000) == ["a", "old"])
        #expect(r.loosened.keys.sorted() == ["b"] && r.loosenedUntilBoottime == ["b": 6_000])
        #expect(r.dropExpiredLoosenings(boottime: 5_999).isEmpty)
    }

    @Test func recordsWithoutBoottimeDeadlinesDecode() throws {
        let json = #"{"generation":2,"slot":0,"source":"s","policy":"","policy_mode":"enforce","rule_modes":{},"loosened":{"a":1795430000},"applied_at":1}"#
        let r = try JSONDecoder().decode(GenerationRecord.self, from: Data(json.utf8))
        #expect(r.loosened == ["a": 1795430000] && r.loosenedUntilBoottime.isEmpty)
        let p = r.applyingOverrides(to: Policy(rules: [Rule(id: "a", kind: .stay)]))
        #expect(Evaluator().mode(of: p.rules[0]) == .audit, "replayed as it was decided then")
        let again = try JSONDecoder().decode(GenerationRecord.self, from: JSONEncoder().encode(
            record(loosened: ["a": 2], boottime: ["a": 18_446_744_073_709_551_000])))
        #expect(again.loosenedUntilBoottime["a"] == 18_446_744_073_709_551_000, "64-bit deadlines round-trip exactly")
    }

    @Test func fragmentsRoundTripAndParseAsOnePolicy() throws {
        var r = record(loosened: [:], boottime: [:])
        r.policy = "version: 1\nrules:\n  - {id: main, kind: stay, cgroups: [/a]}\n"
        #expect(!String(decoding: try JSONEncoder().encode(r), as: UTF8.self).contains("fragments"),
                "a record without fragments is written as before")
        r.fragments = [.init(source: "/etc/corral/policy.d/10-x.yaml",
                             policy: "version: 1\nrules:\n  - {id: frag, kind: deny-into, cgroups: [/b]}\n")]
        let again = try JSONDecoder().decode(GenerationRecord.self, from: JSONEncoder().encode(r))
        #expect(again == r)
        let p = try again.parsePolicy()
        #expect(p.rules.map(\.id) == ["main", "frag"] && p.fragments == ["/etc/corral/policy.d/10-x.yaml"])
        #expect(p.rules[1].location?.file == "/etc/corral/policy.d/10-x.yaml")
    }

    @Test func registrationsRoundTripAndParseAfterFragments() throws {
        var r = record(loosened: [:], boottime: [:])
        r.policy = "version: 1\nrules:\n  - {id: dlg, kind: delegated, manager: {cgroup: /mgr}, cgroup: /d}\n"
        #expect(!String(decoding: try JSONEncoder().encode(r), as: UTF8.self).contains("registration"),
                "a record without registrations is written as before")
        r.fragments = [.init(source: "/etc/corral/policy.d/10-x.yaml",
                             policy: "version: 1\nrules:\n  - {id: frag, kind: deny-into, cgroups: [/b]}\n")]
        r.registrations = [.init(id: "reg-3", subtree: "/d/c1", managerRule: "dlg", pid: 42, uid: 0,
                                 policy: "version: 1\nrules:\n  - {id: lock-c1, kind: locked, cgroups: [/d/c1/x], overrides: [dlg]}\n",
                                 registeredAt: 1_795_430_000)]
        r.registrationSerial = 3
        let again = try JSONDecoder().decode(GenerationRecord.self, from: JSONEncoder().encode(r))
        #expect(again == r)
        let p = try again.parsePolicy()
        #expect(p.rules.map(\.id) == ["dlg", "frag", "lock-c1"])
        #expect(p.rules[2].location?.file == "registration:reg-3")
        #expect(try again.parsePolicy(registrations: false).rules.map(\.id) == ["dlg", "frag"])
    }

    /// Each rule's origin: its file and line, or the registration and its manager (with the
    /// manager's unit when known); the evaluator's decision and its event carry it.
    @Test func ruleOriginsNameTheFileOrTheRegistration() throws {
        var r = record(loosened: [:], boottime: [:])
        r.source = "/etc/corral/policy.yaml"
        r.policy = "version: 1\nrules:\n  - {id: dlg, kind: delegated, manager: {cgroup: /mgr}, cgroup: /d}\n"
        r.fragments = [.init(source: "/etc/corral/policy.d/10-x.yaml",
                             policy: "version: 1\nrules:\n\n  - {id: frag, kind: deny-into, cgroups: [/b]}\n")]
        r.registrations = [.init(id: "reg-3", subtree: "/d/c1", managerRule: "dlg", pid: 42, uid: 0,
                                 policy: "version: 1\nrules:\n  - {id: lock-c1, kind: locked, cgroups: [/d/c1/x], overrides: [dlg]}\n",
                                 registeredAt: 1_795_430_000, unit: "mgr.service"),
                           .init(id: "reg-4", subtree: "/d/c2", managerRule: "dlg", pid: 43, uid: 0,
                                 policy: "version: 1\nrules:\n  - {id: lock-c2, kind: locked, cgroups: [/d/c2/x], overrides: [dlg]}\n",
                                 registeredAt: 1_795_430_001)]
        let again = try JSONDecoder().decode(GenerationRecord.self, from: JSONEncoder().encode(r))
        #expect(again == r, "the unit survives the record (and a record without it decodes)")
        let p = try again.parsePolicy()
        #expect(p.ruleOrigins == [
            "dlg": "/etc/corral/policy.yaml:3",
            "frag": "/etc/corral/policy.d/10-x.yaml:4",
            "lock-c1": "registration reg-3 (manager pid 42, unit mgr.service)",
            "lock-c2": "registration reg-4 (manager pid 43)",
        ])
        let d = Evaluator.decide(.cgroupAttach(actor: 7, target: 7, src: CgroupPath("/a"), dst: CgroupPath("/d/c1/x")!,
                                               threadgroup: true, via: .procs), in: .init(policy: p))
        #expect(DecisionExplainer.summary(d).hasPrefix(
            "deny by lock-c1 (registration reg-3 (manager pid 42, unit mgr.service)) [enforce] EPERM: "))
        #expect(d.record.ruleOrigin == "registration reg-3 (manager pid 42, unit mgr.service)")
        #expect(d.record.jsonLine.contains(#""rule_origin":"registration reg-3 (manager pid 42, unit mgr.service)""#))
        let b = Evaluator.decide(.cgroupAttach(actor: 7, target: 7, src: CgroupPath("/a"), dst: CgroupPath("/b")!,
                                               threadgroup: true, via: .procs), in: .init(policy: p))
        #expect(DecisionExplainer.render(b).split(separator: "\n").contains("verdict: deny by frag (/etc/corral/policy.d/10-x.yaml:4) [enforce] EPERM (1)"))
    }
}
