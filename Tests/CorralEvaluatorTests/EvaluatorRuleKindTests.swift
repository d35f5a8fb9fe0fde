import CorralPolicy
import CorralTestSupport
import Testing
@testable import CorralEvaluator

private let sandboxer = "/usr/bin/sandboxer"
private let hostUTS: UInt32 = 4_026_531_838
private let newUTS: UInt32 = 4_026_532_001

/// An evaluator with a monitor (pid 100, sandboxer), a plain task (pid 200, /bin/sh) and init (pid 1).
private func evaluator(_ rules: [Rule], auditAll: Bool = false) -> Evaluator {
    var e = Evaluator(policy: makePolicy(rules), auditAll: auditAll)
    e.addTask(TaskState(pid: 1, exe: "/usr/lib/systemd/systemd"))
    e.addTask(TaskState(pid: 100, exe: sandboxer, cgroup: CgroupPath("/user.slice")!))
    e.addTask(TaskState(pid: 200, exe: "/bin/sh", cgroup: CgroupPath("/system.slice/a.service")!))
    return e
}

@Suite struct TrackTests {
    @Test func trackLabelsNamespacesOfMatchingSubject() {
        var e = evaluator([Rules.track("t", [Subjects.exe(sandboxer)], types: [.uts], label: "sandbox")])
        let d = e.namespaceAlloc(actor: 100, type: .uts, inum: newUTS)
        #expect(d.verdict == .allow && d.rule == nil && d.err == 0)
        #expect(d.effects.tracked?.label == "sandbox")
        #expect(d.record.nsLabel == "sandbox")
        #expect(e.trackedNamespaces[newUTS]?.ruleID == "t")
        #expect(e.trackedNamespaces[newUTS]?.creatorTgid == 100)
    }

    @Test func trackIgnoresOtherSubjectsAndTypes() {
        var e = evaluator([Rules.track("t", [Subjects.exe(sandboxer)], types: [.uts], label: "sandbox")])
        #expect(e.namespaceAlloc(actor: 200, type: .uts, inum: 11).effects.tracked == nil)
        #expect(e.namespaceAlloc(actor: 100, type: .net, inum: 12).effects.tracked == nil)
        #expect(e.trackedNamespaces.isEmpty)
    }

    @Test func highestRankedTrackRuleLabels() {
        var e = evaluator([
            Rules.track("broad", types: [.uts], label: "any-label"),
            Rules.track("specific", [Subjects.exe(sandboxer)], types: [.uts], label: "sandbox"),
        ])
        #expect(e.namespaceAlloc(actor: 100, type: .uts, inum: 5).effects.tracked?.label == "sandbox")
        #expect(e.namespaceAlloc(actor: 200, type: .uts, inum: 6).effects.tracked?.label == "any-label")
    }

    @Test func anonymousMountNamespaceIsNotDecided() {
        var e = evaluator([Rules.denyCreate("no-mnt", types: [.mnt]), Rules.track("t", types: [.mnt], label: "x")])
        let d = e.namespaceAlloc(actor: 200, type: .mnt, inum: 0)
        #expect(d.verdict == .allow && d.rule == nil && d.considered.isEmpty)
        #expect(e.trackedNamespaces.isEmpty)
        #expect(e.namespaceAlloc(actor: 200, type: .mnt, inum: 77).verdict == .deny)
    }
}

@Suite struct DenyCreateTests {
    @Test func enforceDenies() {
        var e = evaluator([Rules.denyCreate("no-net", types: [.net], errno: 13),
                           Rules.track("t", types: [.net], label: "l")])
        let d = e.namespaceAlloc(actor: 200, type: .net, inum: 9)
        #expect(d.verdict == .deny && d.rule == "no-net" && d.err == 13 && d.mode == .enforce)
        #expect(d.effects.tracked == nil, "a denied namespace is not tracked")
        #expect(e.namespaceAlloc(actor: 200, type: .uts, inum: 10).verdict == .allow)
    }

    @Test func auditReportsWouldDenyAndStillTracks() {
        var e = evaluator([Rules.denyCreate("no-net", types: [.net], mode: .audit),
                           Rules.track("t", types: [.net], label: "l")])
        let d = e.namespaceAlloc(actor: 200, type: .net, inum: 9)
        #expect(d.verdict == .audit && d.rule == "no-net" && d.err == 0 && d.mode == .audit)
        #expect(d.wouldBe?.rule == "no-net" && d.effective == nil)
        #expect(d.effects.tracked?.label == "l")
    }
}

@Suite struct DenyEnterTests {
    @Test func byTypeAndByLabel() {
        var e = evaluator([
            Rules.track("t", [Subjects.exe(sandboxer)], types: [.uts, .ipc], label: "sandbox"),
            Rules.denyEnter("no-net", types: [.net]),
            Rules.denyEnter("no-sandbox", [Subjects.exe("/bin/sh")], labels: ["sandbox"], errno: 16),
        ])
        _ = e.namespaceAlloc(actor: 100, type: .ipc, inum: 50)
        let byType = e.namespaceInstall(actor: 200, type: .net, inum: 4_026_531_840)
        #expect(byType.verdict == .deny && byType.rule == "no-net")
        let byLabel = e.namespaceInstall(actor: 200, type: .ipc, inum: 50)
        #expect(byLabel.verdict == .deny && byLabel.rule == "no-sandbox" && byLabel.err == 16)
        #expect(e.namespaceInstall(actor: 200, type: .ipc, inum: 51).verdict == .allow, "untracked ipc")
        #expect(e.namespaceInstall(actor: 100, type: .ipc, inum: 50).verdict == .allow, "other subject")
    }

    @Test func auditMode() {
        var e = evaluator([Rules.denyEnter("no-net", types: [.net], mode: .audit)])
        let d = e.namespaceInstall(actor: 200, type: .net, inum: 3)
        #expect(d.verdict == .audit && d.rule == "no-net" && d.err == 0)
    }
}

@Suite struct AllowEnterOnlyTests {
    private func setup(mode: RuleMode = .enforce, types: Set<NamespaceType> = []) -> Evaluator {
        var e = evaluator([
            Rules.track("t", [Subjects.exe(sandboxer)], types: [.uts, .net], label: "sandbox"),
            Rules.allowEnterOnly("only-sandbox", [Subjects.exe("/bin/sh")], labels: ["sandbox"], types: types, mode: mode),
        ])
        _ = e.namespaceAlloc(actor: 100, type: .uts, inum: newUTS)
        return e
    }

    @Test func allowsListedLabelDeniesOthers() {
        var e = setup()
        let ok = e.namespaceInstall(actor: 200, type: .uts, inum: newUTS)
        #expect(ok.verdict == .allow && ok.rule == "only-sandbox")
        let bad = e.namespaceInstall(actor: 200, type: .uts, inum: hostUTS)
        #expect(bad.verdict == .deny && bad.rule == "only-sandbox" && bad.err == 1)
        #expect(e.namespaceInstall(actor: 100, type: .uts, inum: hostUTS).verdict == .allow, "subject does not match")
    }

    @Test func typesScopeTheRule() {
        var e = setup(types: [.uts])
        #expect(e.namespaceInstall(actor: 200, type: .uts, inum: hostUTS).verdict == .deny)
        #expect(e.namespaceInstall(actor: 200, type: .net, inum: 4_026_531_840).verdict == .allow)
    }

    @Test func auditMode() {
        var e = setup(mode: .audit)
        let bad = e.namespaceInstall(actor: 200, type: .uts, inum: hostUTS)
        #expect(bad.verdict == .audit && bad.rule == "only-sandbox")
        let ok = e.namespaceInstall(actor: 200, type: .uts, inum: newUTS)
        #expect(ok.verdict == .allow && ok.rule == "only-sandbox" && ok.mode == .audit, "audited allow still allows")
    }
}

@Suite struct LockOnEntryTests {
    static func sandboxRules(denyUnshare: Bool = false, mode: RuleMode = .enforce) -> [Rule] {
        [Rules.track("track-sandbox", [Subjects.exe(sandboxer)], types: [.uts], label: "sandbox"),
         Rules.lockOnEntry("lock-sandbox", labels: ["sandbox"], denyUnshare: denyUnshare, mode: mode)]
    }

    @Test func entryLocksAndLockDeniesEverySetns() {
        var e = evaluator(Self.sandboxRules())
        _ = e.namespaceAlloc(actor: 100, type: .uts, inum: newUTS)
        #expect(e.namespaceInstall(actor: 100, type: .uts, inum: hostUTS).verdict == .allow)
        e.fork(parent: 100, child: 101)
        let enter = e.namespaceInstall(actor: 101, type: .uts, inum: newUTS)
        #expect(enter.verdict == .allow && enter.rule == nil)
        #expect(enter.effects.locked == TaskLock(ruleID: "lock-sandbox", label: "sandbox", inum: newUTS))
        let escape = e.namespaceInstall(actor: 101, type: .uts, inum: hostUTS)
        #expect(escape.verdict == .deny && escape.rule == "lock-sandbox" && escape.err == 1)
        #expect(escape.reason.contains("task 101") && escape.reason.contains("'sandbox' (uts \(newUTS))"))
        #expect(e.namespaceInstall(actor: 101, type: .uts, inum: newUTS).verdict == .deny, "re-entering is denied")
        #expect(e.namespaceInstall(actor: 101, type: .net, inum: 7).verdict == .deny, "any type")
    }

    @Test func denyUnshareGovernsAlloc() {
        for denyUnshare in [false, true] {
            var e = evaluator(Self.sandboxRules(denyUnshare: denyUnshare))
            _ = e.namespaceAlloc(actor: 100, type: .uts, inum: newUTS)
            _ = e.namespaceInstall(actor: 200, type: .uts, inum: newUTS)
            let d = e.namespaceAlloc(actor: 200, type: .net, inum: 99)
            #expect(d.verdict == (denyUnshare ? .deny : .allow))
            #expect(d.rule == (denyUnshare ? "lock-sandbox" : nil))
        }
    }

    @Test func untrackedNamespaceDoesNotLock() {
        var e = evaluator(Self.sandboxRules())
        let d = e.namespaceInstall(actor: 200, type: .uts, inum: hostUTS)
        #expect(d.effects.locked == nil && e.task(200)?.lock == nil)
    }

    @Test func auditLockStillLocksButOnlyAudits() {
        var e = evaluator(Self.sandboxRules(mode: .audit))
        _ = e.namespaceAlloc(actor: 100, type: .uts, inum: newUTS)
        #expect(e.namespaceInstall(actor: 200, type: .uts, inum: newUTS).effects.locked != nil)
        let d = e.namespaceInstall(actor: 200, type: .uts, inum: hostUTS)
        #expect(d.verdict == .audit && d.rule == "lock-sandbox" && d.err == 0)
        #expect(e.task(200)?.lock?.inum == newUTS, "an audited re-entry does not replace the lock")
    }

    @Test func switchingTheRuleToAuditAppliesToExistingLocks() {
        var e = evaluator(Self.sandboxRules())
        _ = e.namespaceAlloc(actor: 100, type: .uts, inum: newUTS)
        _ = e.namespaceInstall(actor: 200, type: .uts, inum: newUTS)
        #expect(e.namespaceInstall(actor: 200, type: .uts, inum: hostUTS).verdict == .deny)
        e.replacePolicy(makePolicy(Self.sandboxRules(mode: .audit)))
        #expect(e.namespaceInstall(actor: 200, type: .uts, inum: hostUTS).verdict == .audit)
    }
}

@Suite struct CgroupRuleTests {
    @Test func managersAllow() {
        var e = evaluator([Rules.managers("init-manages", [Subjects.pid1]), Rules.denyInto("no-x", cgroups: ["/x"])])
        let d = e.cgroupAttach(actor: 1, target: 200, dst: CgroupPath("/x")!, via: .procs)
        #expect(d.verdict == .allow && d.rule == "init-manages")
        #expect(e.cgroupAttach(actor: 200, target: 200, dst: CgroupPath("/x")!, via: .procs).verdict == .deny)
    }

    @Test func delegatedAllowsInsideDeniesOutside() {
        var e = evaluator([Rules.delegated("deleg", cgroup: "/user.slice", managers: [Subjects.exe(sandboxer)])])
        e.addTask(TaskState(pid: 300, exe: "/bin/app", cgroup: CgroupPath("/user.slice/a")!))
        let inside = e.cgroupAttach(actor: 100, target: 300, dst: CgroupPath("/user.slice/b")!, via: .procs)
        #expect(inside.verdict == .allow && inside.rule == "deleg")
        let outside = e.cgroupAttach(actor: 100, target: 300, dst: CgroupPath("/system.slice")!, via: .procs)
        #expect(outside.verdict == .deny && outside.rule == "deleg")
        #expect(e.cgroupAttach(actor: 200, target: 300, dst: CgroupPath("/system.slice")!, via: .procs).verdict == .allow,
                "not a manager: the rule does not apply")
    }

    @Test func stayDeniesLeavingOnly() {
        var e = evaluator([Rules.stay("stay", cgroups: ["/system.slice"])])
        #expect(e.cgroupAttach(actor: 200, target: 200, dst: CgroupPath("/system.slice/b")!, via: .procs).verdict == .allow)
        let d = e.cgroupAttach(actor: 200, target: 200, dst: CgroupPath("/user.slice")!, via: .procs)
        #expect(d.verdict == .deny && d.rule == "stay")
        #expect(e.cgroupAttach(actor: 100, target: 100, dst: CgroupPath("/system.slice")!, via: .procs).verdict == .allow,
                "entering is not leaving")
    }

    @Test func lockedDeniesInAndOut() {
        var e = evaluator([Rules.locked("frozen", cgroups: ["/frozen"])])
        #expect(e.cgroupAttach(actor: 100, target: 100, dst: CgroupPath("/frozen/a")!, via: .procs).verdict == .deny)
        e.addTask(TaskState(pid: 300, cgroup: CgroupPath("/frozen")!))
        #expect(e.cgroupAttach(actor: 1, target: 300, dst: .root, via: .procs).verdict == .deny)
        #expect(e.cgroupAttach(actor: 1, target: 200, dst: .root, via: .procs).verdict == .allow)
    }

    @Test func denyIntoDeniesDestinationsAndBelow() {
        var e = evaluator([Rules.denyInto("no-d", cgroups: ["/denied", "/other"], errno: 95)])
        let d = e.cgroupAttach(actor: 100, target: 100, dst: CgroupPath("/other/x")!, via: .threads)
        #expect(d.verdict == .deny && d.err == 95 && d.record.threadgroup == 0)
        #expect(e.cgroupAttach(actor: 100, target: 100, dst: CgroupPath("/allowed")!, via: .procs).verdict == .allow)
    }

    @Test(arguments: [RuleKind.stay, .locked, .denyInto, .delegated])
    func everyCgroupDenyHasAnAuditMode(kind: RuleKind) {
        let rule: Rule = switch kind {
        case .stay: Rules.stay("r", cgroups: ["/system.slice"], mode: .audit)
        case .locked: Rules.locked("r", cgroups: ["/system.slice"], mode: .audit)
        case .denyInto: Rules.denyInto("r", cgroups: ["/user.slice"], mode: .audit)
        default: Rules.delegated("r", cgroup: "/system.slice", managers: [.any], mode: .audit)
        }
        var e = evaluator([rule])
        let d = e.cgroupAttach(actor: 200, target: 200, dst: CgroupPath("/user.slice")!, via: .procs)
        #expect(d.verdict == .audit && d.rule == "r" && d.err == 0 && d.mode == .audit)
        #expect(e.task(200)?.cgroup == CgroupPath("/user.slice"), "an audited deny still moves the task")
    }
}

/// `corral loosen`: a rule with `auditUntil` is audit while `now` is below it, then its mode
/// applies again (the kernel compares corral_rule.audit_until_ns the same way).
@Suite struct LooseningDeadlineTests {
    private func loosened(until: UInt64?, mode: RuleMode = .enforce) -> Evaluator {
        var rule = Rules.denyInto("no-d", cgroups: ["/denied"], mode: mode)
        rule.auditUntil = until
        return evaluator([rule])
    }

    private func move(_ e: inout Evaluator) -> Decision {
        e.cgroupAttach(actor: 200, target: 200, src: nil, dst: CgroupPath("/denied")!, threadgroup: true, via: .procs)
    }

    @Test func auditBeforeTheDeadlineEnforcedFromIt() {
        var e = loosened(until: 5_000)
        e.now = 4_999
        let before = move(&e)
        #expect(before.verdict == .audit && before.rule == "no-d" && before.mode == .audit)
        e.now = 5_000
        let at = move(&e)
        #expect(at.verdict == .deny && at.rule == "no-d" && at.mode == .enforce && at.err == 1)
    }

    @Test func noDeadlineIsTheRulesOwnMode() {
        var e = loosened(until: nil)
        #expect(move(&e).verdict == .deny)
        var zero = loosened(until: 0) // 0 in the kernel: no loosening
        #expect(move(&zero).verdict == .deny)
        var audit = loosened(until: 10, mode: .audit)
        audit.now = 20
        #expect(move(&audit).verdict == .audit, "after the deadline an audit rule stays audit")
    }
}

/// ptrace-scope: a confined tracer may take over only tasks inside its domain.
@Suite struct PtraceScopeTests {
    private let jail = "/system.slice/jail.service"

    private func world(_ rules: [Rule]) -> Evaluator {
        var e = Evaluator(policy: makePolicy(rules))
        e.addTask(TaskState(pid: 100, exe: sandboxer))
        e.addTask(TaskState(pid: 300, exe: "/bin/sh", cgroup: CgroupPath(jail)!))
        e.addTask(TaskState(pid: 301, exe: "/bin/sh", cgroup: CgroupPath(jail + "/sub")!))
        e.addTask(TaskState(pid: 400, exe: "/bin/sh", cgroup: CgroupPath("/user.slice")!))
        return e
    }

    @Test func jailedTracerIsConfinedToItsSubtree() {
        var e = world([Rules.denyCreate("jail-no-ns", [Subjects.cgroup(jail)], types: [.net])])
        let out = e.ptrace(tracer: 300, tracee: 400)
        #expect(out.verdict == .deny && out.rule == "jail-no-ns" && out.err == 1 && out.hook == .ptrace)
        #expect(out.record.pid == 300 && out.record.targetPID == 400)
        #expect(e.ptrace(tracer: 300, tracee: 301).verdict == .allow, "inside the subtree")
        #expect(e.ptrace(tracer: 400, tracee: 300).verdict == .allow, "from outside into the jail")
        // PTRACE_TRACEME: the tracer is the parent; the record names the caller (the tracee).
        let me = e.ptrace(tracer: 300, tracee: 400, traceme: true)
        #expect(me.verdict == .deny && me.record.pid == 400 && me.record.targetPID == 300)
    }

    @Test func optOutAndNonCgroupSubjectsAreNotScoped() {
        var off = Rules.denyCreate("jail-no-ns", [Subjects.cgroup(jail)], types: [.net])
        off.ptraceScope = false
        var e = world([off, Rules.denyEnter("exe-no-enter", [Subjects.exe("/bin/sh")], types: [.net])])
        #expect(e.ptrace(tracer: 300, tracee: 400).verdict == .allow)
    }

    @Test func lockedTracerIsConfinedToItsEntry() {
        var e = world([
            Rules.track("track", [Subjects.exe(sandboxer)], types: [.uts], label: "sandbox"),
            Rules.lockOnEntry("lock", labels: ["sandbox"]),
        ])
        _ = e.namespaceAlloc(actor: 100, type: .uts, inum: newUTS)
        _ = e.namespaceInstall(actor: 400, type: .uts, inum: newUTS)
        e.fork(parent: 400, child: 401)
        let out = e.ptrace(tracer: 400, tracee: 300)
        #expect(out.verdict == .deny && out.rule == "lock")
        #expect(e.ptrace(tracer: 400, tracee: 401).verdict == .allow, "a task locked by the same entry")
        #expect(e.ptrace(tracer: 300, tracee: 400).verdict == .allow, "an unconfined tracer")
    }

    @Test func auditedScopeOnlyReports() {
        var e = world([Rules.denyCreate("jail-no-ns", [Subjects.cgroup(jail)], types: [.net], mode: .audit)])
        let out = e.ptrace(tracer: 300, tracee: 400)
        #expect(out.verdict == .audit && out.rule == "jail-no-ns" && out.err == 0)
    }
}

/// id-map: uid_map / gid_map extents within the rule's ranges, setgroups as the rule says.
@Suite struct IDMapTests {
    private let userNS: UInt32 = 4_026_532_100

    private func rule(_ id: String = "maps", subjects: [Subject] = [.any], labels: [String] = [],
                      uids: [String] = [], gids: [String] = [], setgroups: Bool = false) -> Rule {
        var r = Rule(id: id, kind: .idMap, subjects: subjects, labels: labels)
        r.uidRanges = uids.compactMap(IDRange.init(text:))
        r.gidRanges = gids.compactMap(IDRange.init(text:))
        r.setgroupsAllowed = setgroups
        return r
    }

    private func ext(_ text: String) -> [IDRange] { text.split(separator: "\n").compactMap { IDRange(text: String($0)) } }

    @Test func extentsMustLieWithinARangeAtTheSameOffset() {
        var e = evaluator([rule(uids: ["0 100000 65536"])])
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .uidMap, extents: ext("0 100000 65536")).verdict == .allow)
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .uidMap, extents: ext("0 100000 1000\n1000 101000 10")).verdict == .allow)
        let root = e.idMapWrite(actor: 200, inum: userNS, file: .uidMap, extents: ext("0 0 1"))
        #expect(root.verdict == .deny && root.rule == "maps" && root.hook == .idMap && root.record.nsType == "user")
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .uidMap, extents: ext("0 100000 65537")).verdict == .deny)
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .uidMap, extents: ext("1 100000 1")).verdict == .deny, "other offset")
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .gidMap, extents: ext("0 100000 1")).verdict == .deny, "no gid ranges")
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .uidMap, extents: nil).verdict == .deny, "unreadable write")
        let five = (0..<5).map { IDRange(inside: UInt32($0), outside: 100000 + UInt32($0), count: 1) }
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .uidMap, extents: five).verdict == .deny, "more than 4 extents")
        #expect(e.idMapWrite(actor: 200, inum: userNS, file: .setgroups, extents: nil).verdict == .deny)
    }

    @Test func labelsAndSubjectsNarrowTheRule() {
        var e = evaluator([
            Rules.track("t", [Subjects.exe(sandboxer)], types: [.user], label: "sandbox"),
            rule(labels: ["sandbox"], setgroups: true),
            rule("jail", subjects: [Subjects.cgroup("/system.slice")], uids: ["0 0 1"]),
        ])
        _ = e.namespaceAlloc(actor: 100, type: .user, inum: userNS)
        #expect(e.idMapWrite(actor: 100, inum: userNS, file: .uidMap, extents: ext("0 1000 1")).rule == "maps")
        #expect(e.idMapWrite(actor: 100, inum: userNS, file: .setgroups, extents: nil).verdict == .allow)
        #expect(e.idMapWrite(actor: 100, inum: 77, file: .uidMap, extents: ext("0 1000 1")).verdict == .allow, "untracked, unconfined")
        #expect(e.idMapWrite(actor: 200, inum: 77, file: .uidMap, extents: ext("0 1000 1")).rule == "jail")
        #expect(e.idMapWrite(actor: 200, inum: 77, file: .uidMap, extents: ext("0 0 1")).verdict == .allow)
    }

    @Test func rangesParseTheFileFormat() {
        #expect(IDRange(text: "0 100000 65536") == IDRange(inside: 0, outside: 100000, count: 65536))
        #expect(IDRange(text: "0\t1 2") != nil)
        for bad in ["", "0 1", "0 1 0", "a b c", "4294967295 0 2", "0 4294967295 2", "0 1 2 3"] {
            #expect(IDRange(text: bad) == nil, "\(bad)")
        }
    }
}

/// Pattern scopes: every matching cgroup is its own subtree (docs/semantics.md, "Patterns").
@Suite struct PatternScopeTests {
    func cg(_ s: String) -> CgroupPath { CgroupPath(s)! }

    @Test func stayKeepsATaskInItsOwnInstance() {
        var e = evaluator([Rules.stay("stay-svc", cgroups: ["/system.slice/*.service"])])
        let sub = e.cgroupAttach(actor: 200, target: 200, dst: cg("/system.slice/a.service/sub"), via: .procs)
        #expect(sub.verdict == .allow, "moving down inside the instance")
        let across = e.cgroupAttach(actor: 200, target: 200, dst: cg("/system.slice/b.service"), via: .procs)
        #expect(across.verdict == .deny && across.rule == "stay-svc")
        #expect(across.reason.contains("/system.slice/a.service (matches /system.slice/*.service)"), "\(across.reason)")
    }

    @Test func denyIntoAnyDepthCoversTheSubtreeAndItsRoot() {
        var e = evaluator([Rules.denyInto("no-k", cgroups: ["/kubepods.slice/**"])])
        #expect(e.cgroupAttach(actor: 200, target: 200, dst: cg("/kubepods.slice"), via: .procs).verdict == .deny)
        #expect(e.cgroupAttach(actor: 200, target: 200, dst: cg("/kubepods.slice/a/b/c"), via: .procs).verdict == .deny)
        #expect(e.cgroupAttach(actor: 200, target: 200, dst: cg("/kubepods"), via: .procs).verdict == .allow)
    }

    @Test func delegatedStaysInsideOneInstance() {
        var e = evaluator([Rules.delegated("user-managers", cgroup: "/user.slice/user-*.slice",
                                           managers: [Subjects.exe(sandboxer)])])
        e.addTask(TaskState(pid: 300, exe: "/bin/app", cgroup: cg("/user.slice/user-1.slice/a")))
        #expect(e.cgroupAttach(actor: 100, target: 300, dst: cg("/user.slice/user-1.slice/b"), via: .procs).verdict == .allow)
        let across = e.cgroupAttach(actor: 100, target: 300, dst: cg("/user.slice/user-2.slice"), via: .procs)
        #expect(across.verdict == .deny && across.rule == "user-managers")
    }

    @Test func cgroupSubjectByPatternAndItsSpecificity() {
        // /user.slice/user-*.slice (literal prefix 1) beats /user.slice (exact, depth 1)? No: equal
        // literal prefix, and the exact path wins. A deeper exact path beats both.
        let exact = SubjectMatcher.cgroup(cg("/user.slice")).specificity
        let pattern = SubjectMatcher.cgroup(cg("/user.slice/user-*.slice")).specificity
        let deeper = SubjectMatcher.cgroup(cg("/user.slice/user-1.slice")).specificity
        #expect(exact > pattern && deeper > exact)
        var e = evaluator([
            Rules.denyInto("no-sys", cgroups: ["/system.slice"]),
            Rule(id: "users-manage", kind: .managers, subjects: [Subject(matcher: .cgroup(cg("/user.slice/**")))], index: 1),
        ])
        // pid 100 lives in /user.slice, matched by the `**` pattern: its cgroup subject is more
        // specific than deny-into's `any`, so the managers allow wins; pid 200 is not matched.
        let d = e.cgroupAttach(actor: 100, target: 100, dst: cg("/system.slice/x"), via: .procs)
        #expect(d.verdict == .allow && d.rule == "users-manage")
        #expect(e.cgroupAttach(actor: 200, target: 200, dst: cg("/system.slice/x"), via: .procs).verdict == .deny)
    }
}
