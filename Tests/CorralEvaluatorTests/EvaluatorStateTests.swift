import CorralPolicy
import CorralTestSupport
import Foundation
import Testing
@testable import CorralEvaluator

private let host: UInt32 = 4_026_531_838
private let sandbox: UInt32 = 4_026_532_001

/// A locked task 101 (entered the sandbox), created by monitor 100.
private func lockedWorld(denyUnshare: Bool = false) -> Evaluator {
    var e = Evaluator(policy: makePolicy(LockOnEntryTests.sandboxRules(denyUnshare: denyUnshare)))
    e.addTask(TaskState(pid: 100, exe: "/usr/bin/sandboxer"))
    _ = e.namespaceAlloc(actor: 100, type: .uts, inum: sandbox)
    e.fork(parent: 100, child: 101)
    _ = e.namespaceInstall(actor: 101, type: .uts, inum: sandbox)
    return e
}

@Suite struct LockInheritanceTests {
    @Test func forkThreadAndExecKeepTheLock() {
        var e = lockedWorld()
        e.fork(parent: 101, child: 102)
        e.fork(parent: 101, child: 103, thread: true)
        #expect(e.task(102)?.tgid == 102 && e.task(103)?.tgid == 101)
        #expect(e.namespaceInstall(actor: 102, type: .uts, inum: host).rule == "lock-sandbox")
        #expect(e.namespaceInstall(actor: 103, type: .uts, inum: host).rule == "lock-sandbox")
        e.exec(task: 101, exe: "/bin/sh")
        #expect(e.task(101)?.comm == "sh" && e.task(103) == nil, "exec replaces the image; other threads die")
        let d = e.namespaceInstall(actor: 101, type: .uts, inum: host)
        #expect(d.verdict == .deny && d.rule == "lock-sandbox" && d.record.comm == "sh")
        e.exec(task: 102, exe: "/bin/sh")
        #expect(e.namespaceInstall(actor: 102, type: .uts, inum: host).verdict == .deny)
    }

    @Test func exitDropsTheTask() {
        var e = lockedWorld()
        e.exit(task: 101)
        #expect(e.task(101) == nil)
        // The pid is reused by an unrelated, unlocked task.
        e.fork(parent: 100, child: 101)
        #expect(e.namespaceInstall(actor: 101, type: .uts, inum: host).verdict == .allow)
    }
}

@Suite struct NamespaceFreeTests {
    @Test func freeForgetsLabelSoReusedInumIsUntracked() {
        var e = lockedWorld()
        let free = e.namespaceFree(inum: sandbox)
        #expect(free.hook == .namespaceFree && free.verdict == .allow && free.effects.untracked?.label == "sandbox")
        #expect(e.trackedNamespaces[sandbox] == nil)
        // An untracked task allocates a namespace that reuses the inum.
        e.addTask(TaskState(pid: 300, exe: "/bin/other"))
        #expect(e.namespaceAlloc(actor: 300, type: .uts, inum: sandbox).effects.tracked == nil)
        let enter = e.namespaceInstall(actor: 300, type: .uts, inum: sandbox)
        #expect(enter.effects.locked == nil && enter.record.nsLabel == nil)
        // The earlier lock still holds its task.
        #expect(e.namespaceInstall(actor: 101, type: .uts, inum: host).verdict == .deny)
        #expect(e.namespaceFree(inum: 12345).effects.untracked == nil)
    }
}

@Suite struct PolicySwapTests {
    @Test func trackedNamespacesSurviveAndRemovedLockRulesAreNotEnforced() {
        var e = lockedWorld()
        let tracker = Rules.track("track-sandbox", [Subjects.exe("/usr/bin/sandboxer")], types: [.uts], label: "sandbox")
        e.replacePolicy(makePolicy([tracker, Rules.lockOnEntry("other-lock", labels: ["elsewhere"])]))
        #expect(e.trackedNamespaces[sandbox]?.label == "sandbox")
        let d = e.namespaceInstall(actor: 101, type: .uts, inum: host)
        #expect(d.verdict == .allow)
        #expect(d.considered.contains { $0.role == .taskLock && !$0.applicable })
        // Bringing the rule back enforces the lock again (the task still carries it).
        e.replacePolicy(makePolicy(LockOnEntryTests.sandboxRules()))
        #expect(e.namespaceInstall(actor: 101, type: .uts, inum: host).verdict == .deny)
    }

    @Test func aTaskWithAStaleLockCanBeLockedByANewRule() {
        var e = lockedWorld()
        e.replacePolicy(makePolicy([Rules.lockOnEntry("new-lock", labels: ["sandbox"])]))
        // The stale lock is not enforced: back to the host, then into the sandbox again.
        #expect(e.namespaceInstall(actor: 101, type: .uts, inum: host).verdict == .allow)
        let d = e.namespaceInstall(actor: 101, type: .uts, inum: sandbox)
        #expect(d.verdict == .allow && d.effects.locked?.ruleID == "new-lock")
    }

    @Test func noPolicyAllowsEverythingAndTracksNothing() {
        var e = lockedWorld()
        e.replacePolicy(nil)
        #expect(e.namespaceInstall(actor: 101, type: .uts, inum: host).verdict == .allow)
        #expect(e.namespaceAlloc(actor: 100, type: .uts, inum: 77).effects.tracked == nil)
        #expect(e.trackedNamespaces[sandbox] != nil)
        e.replacePolicy(makePolicy([Rules.denyInto("d", cgroups: ["/x"])]))
        #expect(e.cgroupAttach(actor: 100, target: 100, dst: CgroupPath("/x")!, via: .procs).verdict == .deny)
    }
}

@Suite struct CgroupStateTests {
    @Test func procsMovesTheThreadGroupThreadsMovesOneThread() {
        var e = Evaluator(policy: makePolicy([]))
        e.addTask(TaskState(pid: 10, exe: "/bin/a", cgroup: CgroupPath("/a")!))
        e.fork(parent: 10, child: 11, thread: true)
        let t = e.cgroupAttach(actor: 10, target: 11, dst: CgroupPath("/b")!, via: .threads)
        #expect(t.effects.moved == [11] && e.task(10)?.cgroup == CgroupPath("/a") && e.task(11)?.cgroup == CgroupPath("/b"))
        let p = e.cgroupAttach(actor: 10, target: 11, dst: CgroupPath("/c")!, via: .procs)
        #expect(p.effects.moved == [10, 11] && p.record.srcCgroupPath == "/b")
        #expect(e.task(10)?.cgroup == CgroupPath("/c") && e.task(11)?.cgroup == CgroupPath("/c"))
    }

    @Test func deniedMigrationMovesNothing() {
        var e = Evaluator(policy: makePolicy([Rules.denyInto("d", cgroups: ["/denied"])]))
        e.addTask(TaskState(pid: 10, cgroup: CgroupPath("/a")!))
        let d = e.cgroupAttach(actor: 10, target: 10, dst: CgroupPath("/denied")!, via: .procs)
        #expect(d.verdict == .deny && d.effects.moved.isEmpty && e.task(10)?.cgroup == CgroupPath("/a"))
    }

    @Test func clone3DecidesTheChildAndRemovesItWhenDenied() {
        var e = Evaluator(policy: makePolicy([Rules.denyInto("d", cgroups: ["/clone_denied"])]),
                          cgroupIDs: [CgroupPath("/clone_allowed")!: 2001, CgroupPath("/clone_denied")!: 2002])
        e.addTask(TaskState(pid: 400, exe: "/bin/t"))
        let denied = e.clone3(parent: 400, child: 401, into: CgroupPath("/clone_denied")!)
        #expect(denied.verdict == .deny && denied.record.targetPID == 401 && denied.record.dstCgroup == 2002)
        #expect(e.task(401) == nil)
        let allowed = e.clone3(parent: 400, child: 402, into: CgroupPath("/clone_allowed")!)
        #expect(allowed.verdict == .allow && allowed.record.threadgroup == 1 && allowed.record.srcCgroup == 1)
        #expect(e.task(402)?.cgroup == CgroupPath("/clone_allowed") && e.task(400)?.cgroup == .root)
    }

    @Test func hookCountsAndSyntheticIDs() {
        var e = Evaluator(policy: nil, cgroupIDs: [CgroupPath("/src")!: 1000])
        let first = e.cgroupAttach(actor: 5, target: 5, src: CgroupPath("/src")!, dst: CgroupPath("/dst")!, via: .procs)
        #expect(first.record.hookCount == 1 && first.record.srcCgroup == 1000 && first.record.dstCgroup == 1001)
        #expect(first.record.pid == 5 && first.record.targetPID == 5 && first.record.threadgroup == 1)
        _ = e.namespaceAlloc(actor: 5, type: .net, inum: 3)
        let second = e.cgroupAttach(actor: 5, target: 5, dst: CgroupPath("/src")!, via: .procs)
        #expect(second.record.hookCount == 2 && second.record.srcCgroup == 1001)
        #expect(e.hookCount(.namespaceAlloc) == 1 && e.cgroupPath(forID: 1001) == CgroupPath("/dst"))
    }

    @Test func unknownTasksGetDefaults() {
        var e = Evaluator(policy: makePolicy([Rules.managers("init", [Subjects.pid1])]))
        let d = e.cgroupAttach(actor: 77, target: 78, dst: CgroupPath("/x")!, via: .procs)
        #expect(d.verdict == .allow && d.rule == nil && e.task(78)?.cgroup == CgroupPath("/x"))
    }
}

@Suite struct DecisionCodingTests {
    @Test func jsonUsesKernelEventFieldNames() throws {
        var e = lockedWorld()
        let d = e.namespaceInstall(actor: 101, type: .uts, inum: host)
        let data = try JSONEncoder().encode(d)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["hook"] as? String == "namespace_install")
        #expect(object["verdict"] as? String == "deny")
        #expect(object["rule"] as? String == "lock-sandbox")
        #expect(object["err"] as? Int == 1)
        let record = try #require(object["record"] as? [String: Any])
        for key in ["pid", "tgid", "target_pid", "src_cgroup", "dst_cgroup", "ns_type", "ns_inum", "threadgroup", "hook_count",
                    "hook", "verdict", "mode", "rule", "rule_uid", "err", "errno", "locked", "tracked"] {
            #expect(record[key] != nil, "record.\(key)")
        }
        // The record is the event the kernel would send: the one Event type, with the verdict.
        #expect(d.record.verdict == "deny" && d.record.rule == "lock-sandbox" && d.record.errno == "EPERM")
        #expect(d.record.ruleUID == d.ruleUID && d.record.id.isEmpty)
        let wouldBe = try #require(object["would_be"] as? [String: Any])
        #expect((wouldBe["rank"] as? String)?.hasPrefix("0x0000100") == true)
        #expect(try JSONDecoder().decode(Decision.self, from: data) == d, "round trip")
        #expect(d.ruleUID == StableID.of("lock-sandbox"))
        #expect(Hook(abiValue: d.hook.abiValue) == .namespaceInstall && Verdict.deny.abiValue == 1)
    }

    @Test func explainerShowsTraceAndWinners() {
        var e = lockedWorld()
        let text = DecisionExplainer.render(e.namespaceInstall(actor: 101, type: .uts, inum: host))
        #expect(text.contains("lock-sandbox (lock-on-entry, enforce, task lock)"))
        #expect(text.contains("would-be winner: lock-sandbox (deny"))
        #expect(text.contains("effective winner: lock-sandbox (deny"))
        #expect(text.contains("verdict: deny by lock-sandbox [enforce] EPERM (1)"))
        #expect(DecisionExplainer.hex(0x1_0000_0800) == "0x0000000100000800")
    }
}
