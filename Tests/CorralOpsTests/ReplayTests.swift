import CorralEvaluator
import CorralPolicy
import CorralTestSupport
import Foundation
import Testing
@testable import CorralOps

@Suite struct ReplayTests {
    /// Events as the kernel recorded them under examples/lock_in (generation 1).
    static func recorded() -> [Event] {
        [
            // 1: a service leaves system.slice: denied.
            Fixtures.attach(id: "1", pid: 500, comm: "nginx", target: 500, src: "/system.slice/web.service", dst: "/user.slice",
                            verdict: "deny", rule: "services-stay"),
            // 2: PID 1 moves it: allowed by init-manages.
            Fixtures.attach(id: "2", pid: 1, comm: "systemd", target: 500, src: "/system.slice/web.service", dst: "/user.slice",
                            actorCgroup: "/init.scope", verdict: "allow", rule: "init-manages"),
            // 3: a user shell moves itself within user.slice: no rule.
            Fixtures.attach(id: "3", pid: 600, target: 600, src: "/user.slice", dst: "/user.slice/app", verdict: "allow"),
            // 4: the sandboxer creates a tracked namespace.
            Fixtures.namespace(id: "4", hook: "namespace_alloc", pid: 700, comm: "sandboxer", type: "net", inum: 4026532001,
                               verdict: "allow", exe: "/usr/bin/sandboxer", tracked: true),
            // 5: an admin action and a notification.
            Event.admin(id: "a1", bootID: "3f1b5a0e", action: "apply", generation: 1, timestampNs: 1),
            Event(id: "6", bootID: "3f1b5a0e", hook: "namespace_free", generation: 1, seq: 6, verdict: "allow",
                          nsType: "net", nsInum: 4026532001),
        ]
    }

    @Test func unchangedPolicyChangesNothing() throws {
        let policy = try Fixtures.example("lock_in")
        let report = Replay.run(events: Self.recorded(), candidate: policy, recordedPolicies: { _ in policy },
                                resolveExe: Fixtures.noResolve)
        #expect(report.outcomes.map(\.status) == [.unchanged, .unchanged, .unchanged, .unchanged, .skipped, .skipped])
        #expect(report.outcomes.prefix(4).allSatisfy { $0.crossChecked })
        #expect(!report.hasVerdictChanges)
        #expect(report.summary == ReplaySummary(events: 6, replayed: 4, changed: 0, transitions: [:], ruleChanged: 0,
                                                notReplayable: 0, skipped: 2, notCrossChecked: 0))
        #expect(report.outcomes[4].reason == "admin event (apply)")
        #expect(report.outcomes[5].reason == "namespace_free is a notification, not a decision")
    }

    @Test func tighteningFlipsVerdicts() throws {
        let recorded = try Fixtures.example("lock_in")
        // Tighter: nothing may enter /user.slice/app, and init no longer manages (stay wins for PID 1 too),
        // and sandboxers may not create net namespaces.
        let candidate = try Fixtures.policy("""
            version: 1
            subjects:
              sandboxer: {exe: /usr/bin/sandboxer}
            rules:
              - {id: track-sandbox, kind: track, subject: sandboxer, types: [net, uts], label: sandbox}
              - {id: lock-sandbox, kind: lock-on-entry, labels: [sandbox], deny-unshare: true}
              - {id: services-stay, kind: stay, cgroups: [/system.slice]}
              - {id: no-apps, kind: deny-into, cgroups: [/user.slice/app], errno: EACCES}
              - {id: no-net, kind: deny-create, subject: sandboxer, types: [net], mode: audit}
            """, source: "tight.yaml")
        let report = Replay.run(events: Self.recorded(), candidate: candidate, recordedPolicies: { $0 == 1 ? recorded : nil },
                                resolveExe: Fixtures.noResolve)
        let byID = Dictionary(uniqueKeysWithValues: report.outcomes.map { ($0.id, $0) })
        #expect(byID["1"]?.status == .unchanged)
        #expect(byID["2"]?.status == .changed && byID["2"]?.transition == "allow->deny")
        #expect(byID["2"]?.candidateRule == "services-stay")
        #expect(byID["3"]?.status == .changed && byID["3"]?.candidateRule == "no-apps")
        #expect(byID["4"]?.status == .changed && byID["4"]?.transition == "allow->audit" && byID["4"]?.candidateMode == "audit")
        #expect(report.hasVerdictChanges)
        #expect(report.summary.changed == 3 && report.summary.transitions == ["allow->deny": 2, "allow->audit": 1])
        let text = report.textLines
        #expect(text[0] == "replay against tight.yaml")
        #expect(text.contains("verdict changes (3):"))
        #expect(text.contains("  event 2 cgroup_attach pid 1 (systemd) moves 500 /system.slice/web.service -> /user.slice: allow by init-manages -> deny by services-stay"))
        #expect(text.contains("  event 3 cgroup_attach pid 600 (sh) moves itself /user.slice -> /user.slice/app: allow -> deny by no-apps"))
        #expect(text.last == "summary: 6 events: 4 replayed, 3 would change (2 allow->deny, 1 allow->audit), 0 rule-only changes, 0 not replayable, 2 skipped (not decisions)")
        // Loosening back: deny -> allow.
        var loose = recorded
        loose.rules.removeAll { $0.id == "services-stay" }
        let back = Replay.run(events: Self.recorded(), candidate: loose, resolveExe: Fixtures.noResolve)
        #expect(back.summary.transitions == ["deny->allow": 1])
        #expect(back.summary.notCrossChecked == 4)
        #expect(back.textLines.last!.hasSuffix("; 4 replayed without their generation's policy (not cross-checked)"))
    }

    @Test func ruleOnlyChangesAreReportedSeparately() throws {
        let recorded = try Fixtures.example("lock_in")
        var candidate = recorded
        // A more specific rule takes over the same deny.
        candidate.rules.append(Rule(id: "web-stays", kind: .stay, subjects: [Subject(matcher: .cgroup(CgroupPath("/system.slice/web.service")!))],
                                    cgroups: [CgroupPath("/system.slice")!], index: 4))
        let report = Replay.run(events: Array(Self.recorded().prefix(1)), candidate: candidate, resolveExe: Fixtures.noResolve)
        #expect(report.outcomes[0].status == .ruleChanged && report.outcomes[0].candidateRule == "web-stays")
        #expect(!report.hasVerdictChanges && report.summary.ruleChanged == 1)
        #expect(report.textLines.contains("  event 1 cgroup_attach pid 500 (nginx) moves itself /system.slice/web.service -> /user.slice: deny by services-stay -> by web-stays"))
    }

    @Test func missingRuleIDsAndInputsAreNotReplayable() throws {
        let recorded = try Fixtures.example("lock_in")
        var noRule = Fixtures.attach(id: "10", src: "/system.slice/a.service", dst: "/user.slice", verdict: "deny")
        noRule.rule = nil
        let unknownUID = Fixtures.attach(id: "11", src: "/system.slice/a.service", dst: "/user.slice", verdict: "deny",
                                         rule: "uid:deadbeef")
        let knownUID = Fixtures.attach(id: "12", src: "/system.slice/a.service", dst: "/user.slice", verdict: "deny",
                                       rule: String(format: "uid:%08x", StableID.of("services-stay")))
        var noDst = Fixtures.attach(id: "13", src: "/system.slice/a.service", dst: "/user.slice", verdict: "deny", rule: "services-stay")
        noDst.dstCgroupPath = nil
        let goneExe = Fixtures.namespace(id: "14", hook: "namespace_alloc", type: "net", inum: 4026532002, verdict: "allow", exe: nil)
        var old = Fixtures.namespace(id: "15", hook: "namespace_install", type: "net", inum: 4026531840, verdict: "allow")
        old.actorCgroup = nil
        old.actorCgroupPath = nil
        let candidate = try Fixtures.policy("""
            version: 1
            subjects:
              sandboxer: {exe: /usr/bin/sandboxer}
            rules:
              - {id: lock-sandbox, kind: lock-on-entry, labels: [sandbox]}
              - {id: no-net, kind: deny-create, subject: sandboxer, types: [net]}
            """)
        let report = Replay.run(events: [noRule, unknownUID, knownUID, noDst, goneExe, old], candidate: candidate,
                                recordedPolicies: { _ in recorded }, resolveExe: Fixtures.noResolve)
        let reasons = report.outcomes.map { $0.status == .notReplayable ? $0.reason ?? "" : "replayed: \($0.status.rawValue)" }
        #expect(reasons == [
            "missing rule: the kernel's deny names no rule",
            "unknown rule: the recorded rule uid:deadbeef is not a rule of generation 1's policy nor of the candidate",
            "replayed: changed",
            "missing dst_cgroup_path: cgroup id 42 could not be named (removed before the event was read?)",
            "missing actor_exe: the actor was gone when the daemon read the event; needed by 'no-net' (exe/xattr subjects)",
            "missing actor_lock_rule: not recorded (the event predates actor state); needed by 'lock-sandbox' (task locks)",
        ])
        #expect(report.outcomes[2].recordedRule == "services-stay" && report.outcomes[2].transition == "deny->allow")
        #expect(report.summary.notReplayable == 5 && report.summary.replayed == 1 && report.summary.changed == 1)
        #expect(report.textLines.contains("not replayable (5):"))
    }

    @Test func eventsTheirOwnGenerationDoesNotReproduceAreNotReplayable() throws {
        let recorded = try Fixtures.example("lock_in")
        // The kernel allowed this, but generation 1's policy denies it: the record cannot be trusted.
        let odd = Fixtures.attach(id: "20", src: "/system.slice/a.service", dst: "/user.slice", verdict: "allow")
        let report = Replay.run(events: [odd], candidate: recorded, recordedPolicies: { _ in recorded }, resolveExe: Fixtures.noResolve)
        #expect(report.outcomes[0].status == .notReplayable)
        #expect(report.outcomes[0].reason == "generation 1's policy does not reproduce the kernel's decision (kernel: allow; evaluator: deny by services-stay): the recorded inputs are incomplete")
        #expect(!report.hasVerdictChanges)
    }

    @Test func jsonReportRoundTrips() throws {
        let policy = try Fixtures.example("lock_in")
        let report = Replay.run(events: Self.recorded(), candidate: policy, resolveExe: Fixtures.noResolve)
        let decoded = try JSONDecoder().decode(ReplayReport.self, from: Data(report.json.utf8))
        #expect(decoded.summary == report.summary && decoded.outcomes == report.outcomes)
        #expect(report.json.contains(#""not_replayable":0"#) && report.json.contains(#""recorded_verdict":"deny""#))
    }

    @Test func generationRecordsGiveEffectivePolicies() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-gens")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = try String(contentsOfFile: RepoPaths.examples + "/lock_in/policy.yaml", encoding: .utf8)
        func write(_ n: Int, _ extra: [String: Any]) throws {
            var record: [String: Any] = ["generation": n, "slot": n % 2, "source": "lock_in.yaml", "policy": yaml,
                                         "policy_mode": "enforce", "rule_modes": [:], "loosened": [:], "applied_at": 1.5]
            record.merge(extra) { $1 }
            try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: "\(dir)/\(n).json"))
        }
        try write(1, [:])
        try write(2, ["rule_modes": ["services-stay": "audit"]])
        try write(3, ["loosened": ["init-manages": 1795430000.0]])
        try write(4, ["policy_mode": "audit"])
        try "{".write(toFile: "\(dir)/5.json", atomically: true, encoding: .utf8)
        // The mode a decision sees (a loosened rule is audit until its deadline).
        func modes(_ n: UInt64) -> [String]? {
            GenerationPolicies.load(directory: dir, generation: n)?.rules.map { Evaluator().mode(of: $0).rawValue }
        }
        #expect(modes(1) == ["enforce", "enforce", "enforce", "enforce"])
        #expect(modes(2) == ["enforce", "enforce", "audit", "enforce"])
        #expect(modes(3) == ["enforce", "enforce", "enforce", "audit"])
        #expect(modes(4) == ["audit", "audit", "audit", "audit"])
        #expect(modes(5) == nil && modes(6) == nil)
        #expect(GenerationPolicies.load(directory: dir, generation: 1)?.source == "lock_in.yaml")

        // Replaying a deny recorded under generation 2 (services-stay in audit): the kernel said audit.
        let audited = Fixtures.attach(id: "30", generation: 2, src: "/system.slice/a.service", dst: "/user.slice",
                                      verdict: "audit", rule: "services-stay", mode: "audit")
        let strict = try Fixtures.example("lock_in")
        let report = Replay.run(events: [audited], candidate: strict, recordedPolicies: GenerationPolicies.lookup(directory: dir),
                                resolveExe: Fixtures.noResolve)
        #expect(report.outcomes[0].crossChecked && report.outcomes[0].transition == "audit->deny")
    }
}
