import CorralPolicy
import CorralTestSupport
import Testing
@testable import CorralEvaluator

private func attach(_ rules: [Rule], actor: TaskState, auditAll: Bool = false,
                    from: String = "/system.slice/a.service", to: String = "/user.slice") -> Decision {
    var e = Evaluator(policy: makePolicy(rules), auditAll: auditAll)
    e.addTask(actor)
    e.addTask(TaskState(pid: 900, exe: "/bin/victim", cgroup: CgroupPath(from)!))
    return e.cgroupAttach(actor: actor.pid, target: 900, dst: CgroupPath(to)!, via: .procs)
}

private let initTask = TaskState(pid: 1, exe: "/sbin/init", exeXattrs: ["trusted.m"], cgroup: CgroupPath("/init.scope")!)

@Suite struct ConflictOrderTests {
    @Test func workedExampleFromSemantics() {
        let rules = [Rules.stay("stay-services", cgroups: ["/system.slice"]), Rules.managers("init-manages", [Subjects.pid1])]
        let service = TaskState(pid: 311, exe: "/bin/sh", cgroup: CgroupPath("/system.slice/a.service")!)
        let d1 = attach(rules, actor: service)
        #expect(d1.verdict == .deny && d1.rule == "stay-services")
        let d2 = attach(rules, actor: initTask)
        #expect(d2.verdict == .allow && d2.rule == "init-manages")
        let stay = d2.considered.first { $0.rule == "stay-services" }
        let manage = d2.considered.first { $0.rule == "init-manages" }
        #expect(stay?.rank.map { ($0 >> 28) & 0xFFFF } == 0)
        #expect(manage?.rank.map { ($0 >> 28) & 0xFFFF } == 1024)
    }

    /// Each more specific allow beats a less specific deny.
    @Test func specificityClasses() {
        let ladder: [(Subject, Subject)] = [
            (Subjects.pid1, Subjects.exe("/sbin/init")),
            (Subjects.exe("/sbin/init"), Subjects.xattr("trusted.m")),
            (Subjects.xattr("trusted.m"), Subjects.cgroup("/init.scope")),
            (Subjects.cgroup("/init.scope"), Subjects.any),
        ]
        for (higher, lower) in ladder {
            let rules = [Rules.denyInto("deny", [lower], cgroups: ["/user.slice"]), Rules.managers("allow", [higher])]
            #expect(attach(rules, actor: initTask).rule == "allow", "\(higher.displayName) beats \(lower.displayName)")
            let flipped = [Rules.denyInto("deny", [higher], cgroups: ["/user.slice"]), Rules.managers("allow", [lower])]
            #expect(attach(flipped, actor: initTask).rule == "deny")
        }
    }

    @Test func deeperCgroupBeatsShallower() {
        let actor = TaskState(pid: 50, exe: "/bin/m", cgroup: CgroupPath("/a/b/c")!)
        let rules = [Rules.denyInto("shallow-deny", [Subjects.cgroup("/a")], cgroups: ["/user.slice"]),
                     Rules.managers("deep-allow", [Subjects.cgroup("/a/b")])]
        #expect(attach(rules, actor: actor).rule == "deep-allow")
        let flipped = [Rules.managers("shallow-allow", [Subjects.cgroup("/a")]),
                       Rules.denyInto("deep-deny", [Subjects.cgroup("/a/b")], cgroups: ["/user.slice"])]
        #expect(attach(flipped, actor: actor).rule == "deep-deny")
    }

    @Test func denyBeatsAllowAtEqualSpecificityRegardlessOfOrder() {
        let actor = TaskState(pid: 50, exe: "/bin/m")
        let allowFirst = [Rules.managers("allow", [.any]), Rules.denyInto("deny", cgroups: ["/user.slice"])]
        let d = attach(allowFirst, actor: actor)
        #expect(d.verdict == .deny && d.rule == "deny")
    }

    @Test func fileOrderBreaksRemainingTies() {
        let actor = TaskState(pid: 50, exe: "/bin/m")
        let rules = [Rules.denyInto("first", cgroups: ["/user.slice"], errno: 13),
                     Rules.denyInto("second", cgroups: ["/user.slice"], errno: 16)]
        let d = attach(rules, actor: actor)
        #expect(d.rule == "first" && d.err == 13)
        #expect(attach(rules.reversed(), actor: actor).rule == "second")
    }

    @Test func overridesBeatSpecificityAndDeny() {
        let rules = [Rules.denyInto("pid1-deny", [Subjects.pid1], cgroups: ["/user.slice"]),
                     Rules.managers("any-allow", [.any], overrides: ["pid1-deny"])]
        #expect(attach(rules, actor: initTask).rule == "any-allow")
        // Transitive: c overrides b overrides a.
        let chain = [Rules.managers("c", [.any], overrides: ["b"]),
                     Rules.denyInto("b", [.any], cgroups: ["/user.slice"], overrides: ["a"]),
                     Rules.denyInto("a", [Subjects.pid1], cgroups: ["/user.slice"])]
        #expect(attach(chain, actor: initTask).rule == "c")
    }

    @Test func lockTierBeatsMoreSpecificRules() {
        let rules = [Rules.locked("frozen", cgroups: ["/user.slice"]), Rules.managers("init", [Subjects.pid1])]
        #expect(attach(rules, actor: initTask).rule == "frozen")
        let overridden = [Rules.locked("frozen", cgroups: ["/user.slice"]),
                          Rules.managers("init", [Subjects.pid1], overrides: ["frozen"])]
        #expect(attach(overridden, actor: initTask).rule == "init")
    }

    @Test func taskLockBeatsMoreSpecificAllowEnter() {
        var e = Evaluator(policy: makePolicy([
            Rules.track("t", types: [.uts], label: "sb"),
            Rules.lockOnEntry("lock", labels: ["sb"]),
            Rules.allowEnterOnly("pid1-anywhere", [Subjects.pid1], labels: ["sb"]),
        ]))
        e.addTask(TaskState(pid: 1, exe: "/sbin/init"))
        _ = e.namespaceAlloc(actor: 1, type: .uts, inum: 10)
        #expect(e.namespaceInstall(actor: 1, type: .uts, inum: 10).effects.locked != nil)
        let d = e.namespaceInstall(actor: 1, type: .uts, inum: 10)
        #expect(d.verdict == .deny && d.rule == "lock")
    }

    @Test func severalSubjectsYieldOneResultEach() {
        let rules = [Rules.managers("m", [Subjects.pid1, Subjects.exe("/sbin/init"), Subjects.exe("/other")])]
        let d = attach(rules, actor: initTask)
        let applicable = d.considered.filter(\.applicable)
        #expect(applicable.map(\.subject) == ["pid1", "exe:/sbin/init"])
        #expect(d.wouldBe?.subject == "pid1")
    }

    @Test func ranksComeFromRuleOrder() {
        let rules = makePolicy([Rules.denyInto("d", [Subjects.cgroup("/init.scope")], cgroups: ["/user.slice"])]).rules
        let d = attach(rules, actor: initTask)
        let expected = RuleOrder.rank(rule: rules[0], subject: rules[0].subjects[0], effect: .deny, precedence: 0)
        #expect(d.wouldBe?.rank == expected && d.considered.first?.rank == expected)
    }
}

@Suite struct AuditSemanticsTests {
    @Test func auditedDenyDoesNotShadowLowerEnforcingDeny() {
        let rules = [Rules.denyInto("audit-deny", [Subjects.pid1], cgroups: ["/user.slice"], mode: .audit),
                     Rules.denyInto("enforce-deny", [.any], cgroups: ["/user.slice"], errno: 16)]
        let d = attach(rules, actor: initTask)
        #expect(d.verdict == .deny && d.rule == "enforce-deny" && d.err == 16)
        #expect(d.wouldBe?.rule == "audit-deny" && d.effective?.rule == "enforce-deny")
    }

    @Test func auditedDenyOverEnforcingAllowReportsAudit() {
        let rules = [Rules.denyInto("audit-deny", [Subjects.pid1], cgroups: ["/user.slice"], mode: .audit),
                     Rules.managers("allow", [.any])]
        let d = attach(rules, actor: initTask)
        #expect(d.verdict == .audit && d.rule == "audit-deny" && d.mode == .audit && d.err == 0)
        #expect(d.effective?.rule == "allow")
    }

    @Test func auditedAllowStillAllows() {
        let rules = [Rules.stay("stay", cgroups: ["/system.slice"]),
                     Rules.managers("audit-allow", [Subjects.pid1], mode: .audit)]
        let d = attach(rules, actor: initTask)
        #expect(d.verdict == .allow && d.rule == "audit-allow" && d.mode == .audit)
    }

    @Test func lowerRankedAuditDenyUnderEnforcingAllowIsPlainAllow() {
        let rules = [Rules.denyInto("audit-deny", [.any], cgroups: ["/user.slice"], mode: .audit),
                     Rules.managers("allow", [Subjects.pid1])]
        let d = attach(rules, actor: initTask)
        #expect(d.verdict == .allow && d.rule == "allow")
    }

    @Test func globalAuditTurnsEveryDenyIntoAudit() {
        let rules = [Rules.denyInto("deny", cgroups: ["/user.slice"])]
        let d = attach(rules, actor: initTask, auditAll: true)
        #expect(d.verdict == .audit && d.rule == "deny" && d.mode == .audit && d.err == 0)

        var e = Evaluator(policy: makePolicy(LockOnEntryTests.sandboxRules(denyUnshare: true)), auditAll: true)
        e.addTask(TaskState(pid: 100, exe: "/usr/bin/sandboxer"))
        _ = e.namespaceAlloc(actor: 100, type: .uts, inum: 10)
        #expect(e.namespaceInstall(actor: 200, type: .uts, inum: 10).effects.locked != nil)
        #expect(e.namespaceInstall(actor: 200, type: .uts, inum: 11).verdict == .audit)
        e.auditAll = false
        #expect(e.namespaceInstall(actor: 200, type: .uts, inum: 11).verdict == .deny)
    }
}
