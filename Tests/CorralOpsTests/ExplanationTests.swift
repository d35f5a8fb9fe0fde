import CorralEvaluator
import CorralPolicy
import CorralTestSupport
import Testing
@testable import CorralOps

@Suite struct ExplanationTests {
    @Test func recordedDenyAgreesWithTheEvaluator() throws {
        let policy = try Fixtures.example("cgroup_deny_migration")
        let event = Fixtures.attach(id: "12", generation: 7, src: "/src", dst: "/denied", verdict: "deny", rule: "deny-denied")
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == true && x.missing.isEmpty)
        #expect(x.decision?.verdict == .deny && x.decision?.rule == "deny-denied" && x.decision?.err == 1)
        let lines = x.text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "event 12 (boot 3f1b5a0e), generation 7, cgroup_attach: actor pid 311 (sh)")
        let origin = RepoPaths.examples + "/cgroup_deny_migration/policy.yaml:4"
        #expect(lines[1] == "kernel:    deny by deny-denied [enforce] EPERM", "a recorded event without rule_origin")
        #expect(lines[2] == "evaluator: deny by deny-denied (\(origin)) [enforce] EPERM (policy \(policy.source), generation 7)")
        #expect(lines[3] == "agreement: the evaluator reproduces the kernel's decision")
        #expect(lines.contains("hook: cgroup_attach"))
        #expect(lines.contains("event: actor pid 311 tgid 311 (sh), target 312, src /src (id 40), dst /denied (id 42), threadgroup 1"))
        #expect(lines.contains("verdict: deny by deny-denied (\(origin)) [enforce] EPERM (1)"))

        // The daemon's recorded event names the origin too (EventEnricher.ruleOrigins).
        var recorded = event
        recorded.ruleOrigin = "/etc/corral/policy.d/50-deny.yaml:3"
        let y = EventExplanation.explain(recorded, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(y.text.split(separator: "\n")[1] == "kernel:    deny by deny-denied (/etc/corral/policy.d/50-deny.yaml:3) [enforce] EPERM")
    }

    @Test func unclassifiedDenialIsExplainedNotReplayed() throws {
        let policy = try Fixtures.example("cgroup_deny_migration")
        var event = Fixtures.attach(id: "15", src: "/src", dst: "/new", verdict: "deny")
        event.unclassified = true
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.decision == nil && x.agrees == nil)
        #expect(x.text.contains("nothing to evaluate: the destination cgroup, or an ancestor, has no classification"))
        // The flag survives the event log's JSON.
        #expect(event.jsonLine.contains("\"unclassified\":true"))
        #expect(try Event.parse(line: event.jsonLine).unclassified == true)
    }

    @Test func disagreementIsSaidExplicitly() throws {
        let policy = try Fixtures.example("lock_in")
        // The kernel says allow, but under lock_in a service may not leave /system.slice.
        let event = Fixtures.attach(id: "13", src: "/system.slice/a.service", dst: "/user.slice", verdict: "allow")
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == false)
        #expect(x.text.contains("DISAGREEMENT: the kernel decided allow, the evaluator decides deny by services-stay (\(RepoPaths.examples)/lock_in/policy.yaml:17) [enforce] EPERM"))
        #expect(x.text.contains("the recorded inputs are complete for this policy"))
    }

    @Test func pid1IsReconstructedFromTheTgid() throws {
        let policy = try Fixtures.example("lock_in")
        let event = Fixtures.attach(id: "14", pid: 1, comm: "systemd", src: "/system.slice/a.service", dst: "/user.slice",
                                    actorCgroup: "/init.scope", verdict: "allow", rule: "init-manages")
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == true)
        #expect(x.decision?.rule == "init-manages")
        #expect(x.text.contains("services-stay (stay, enforce) subject any: deny"))
    }

    @Test func lockedActorIsDeniedByItsLock() throws {
        let policy = try Fixtures.example("lock_in")
        let event = Fixtures.namespace(id: "20", hook: "namespace_install", type: "net", inum: 4026531840, verdict: "deny",
                                       rule: "lock-sandbox", lockRule: "lock-sandbox", lockLabel: "sandbox")
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == true)
        #expect(x.decision?.verdict == .deny && x.decision?.rule == "lock-sandbox")
        #expect(x.text.contains("note: the actor was locked by 'lock-sandbox' (namespace 'sandbox')"))
        #expect(x.text.contains("(lock-on-entry, enforce, task lock)"))
    }

    @Test func enteringATrackedNamespaceLocksAndTheSideEffectIsCompared() throws {
        let policy = try Fixtures.example("ns_sandbox")
        let labelled = Fixtures.namespace(id: "21", hook: "namespace_install", type: "uts", inum: 4026532001,
                                          label: "sandbox", verdict: "allow", locked: true)
        let x = EventExplanation.explain(labelled, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == true)
        #expect(x.decision?.effects.locked?.ruleID == "lock-sandbox")
        #expect(!x.text.contains("side effect differs"))
        var unlocked = labelled
        unlocked.locked = false
        #expect(EventExplanation.explain(unlocked, policy: policy, resolveExe: Fixtures.noResolve).text
            .contains("side effect differs: the kernel did not lock the actor, the evaluator locks it"))
    }

    @Test func missingExecutableIsNamed() throws {
        let policy = try Fixtures.policy("""
            version: 1
            subjects:
              builder: {exe: /usr/bin/builder}
            rules:
              - {id: no-user-ns, kind: deny-create, subject: builder, types: [user]}
            """)
        let event = Fixtures.namespace(id: "30", hook: "namespace_alloc", type: "user", inum: 4026532100,
                                       verdict: "deny", rule: "no-user-ns", exe: nil)
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.missing.map(\.field) == ["actor_exe"])
        #expect(x.agrees == false)
        #expect(x.text.contains("input missing: actor_exe: the actor was gone when the daemon read the event; needed by 'no-user-ns' (exe/xattr subjects) — evaluated as not matching"))
        // With the executable recorded the same event reproduces.
        let complete = Fixtures.namespace(id: "30", hook: "namespace_alloc", type: "user", inum: 4026532100,
                                          verdict: "deny", rule: "no-user-ns", exe: "/usr/bin/builder")
        #expect(EventExplanation.explain(complete, policy: policy, resolveExe: Fixtures.noResolve).agrees == true)
        // A symlinked spelling of the policy's executable is recognised.
        let viaLink = Fixtures.namespace(id: "30", hook: "namespace_alloc", type: "user", inum: 4026532100,
                                         verdict: "deny", rule: "no-user-ns", exe: "/opt/builder-2.1/bin/builder")
        let aliased = EventExplanation.explain(viaLink, policy: policy,
                                               resolveExe: { $0 == "/usr/bin/builder" ? "/opt/builder-2.1/bin/builder" : nil })
        #expect(aliased.agrees == true)
        #expect(aliased.notes.contains("executable /opt/builder-2.1/bin/builder is the policy's /usr/bin/builder (symlink resolved)"))
    }

    @Test func unnamedRuleUIDsAndLabelIDsResolveAgainstThePolicy() throws {
        let policy = try Fixtures.example("lock_in")
        let uid = String(format: "uid:%08x", StableID.of("lock-sandbox"))
        let labelID = String(format: "id:%08x", StableID.of("sandbox"))
        let event = Fixtures.namespace(id: "22", hook: "namespace_install", type: "net", inum: 4026531840, verdict: "deny",
                                       rule: uid, lockRule: uid, lockLabel: labelID)
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == true && x.decision?.rule == "lock-sandbox")
    }

    @Test func nonDecisionsAndUnknownGenerations() throws {
        let policy = try Fixtures.example("lock_in")
        let admin = Event.admin(id: "a1", bootID: nil, action: "mode", generation: 3, timestampNs: 1,
                                        fields: ["rule": .string("services-stay"), "mode": .string("audit")])
        let a = EventExplanation.explain(admin, policy: policy)
        #expect(a.decision == nil && a.agrees == nil)
        #expect(a.text == "event a1, generation 3, admin mode\nnothing to evaluate: admin event (mode)\nrule: services-stay\nmode: audit")
        let event = Fixtures.attach(id: "15", generation: 9, src: "/a", dst: "/b", verdict: "allow")
        let none = EventExplanation.explain(event, policy: nil)
        #expect(none.decision == nil)
        #expect(none.text.hasSuffix("cannot re-evaluate: no policy record for generation 9"))
        var noDst = event
        noDst.dstCgroupPath = nil
        let incomplete = EventExplanation.explain(noDst, policy: policy)
        #expect(incomplete.decision == nil)
        #expect(incomplete.text.contains("input missing: dst_cgroup_path: cgroup id 42 could not be named"))
    }

    @Test func auditModeOfTheGenerationIsHonoured() throws {
        var policy = try Fixtures.example("lock_in")
        let event = Fixtures.attach(id: "16", src: "/system.slice/a.service", dst: "/user.slice", verdict: "audit",
                                    rule: "services-stay", mode: "audit")
        #expect(EventExplanation.explain(event, policy: policy, auditAll: true, resolveExe: Fixtures.noResolve).agrees == true)
        #expect(EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve).agrees == false)
        policy.rules[2].mode = .audit
        #expect(EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve).agrees == true)
    }

    @Test func singleDecisionMatchesTheStatefulEvaluator() throws {
        // Evaluator.decide is the same procedure as a scenario's step.
        let policy = try Fixtures.example("lock_in")
        var stateful = Evaluator(policy: policy)
        stateful.addTask(TaskState(pid: 50, exe: "/usr/bin/sandboxer", cgroup: CgroupPath("/user.slice")!))
        let alloc = stateful.namespaceAlloc(actor: 50, type: .net, inum: 4026532500)
        #expect(alloc.effects.tracked?.label == "sandbox")
        stateful.addTask(TaskState(pid: 60, cgroup: CgroupPath("/user.slice")!))
        let viaState = stateful.namespaceInstall(actor: 60, type: .net, inum: 4026532500)
        let world = Evaluator.World(policy: policy, tasks: [TaskState(pid: 60, cgroup: CgroupPath("/user.slice")!)],
                                    trackedNamespaces: [alloc.effects.tracked!])
        let single = Evaluator.decide(.namespaceInstall(actor: 60, type: .net, inum: 4026532500), in: world)
        #expect(single.verdict == viaState.verdict && single.rule == viaState.rule)
        #expect(single.effects.locked == viaState.effects.locked && single.effects.locked?.ruleID == "lock-sandbox")
        #expect(single.considered == viaState.considered)
    }
}

@Suite struct ContainerEntryExplanationTests {
    /// A setns into a namespace the actor was in (crun exec joining the host's time namespace):
    /// not an entry, so the lock a tracked namespace would set is not expected.
    @Test func alreadyInIsNotAnEntry() throws {
        let policy = try Fixtures.example("ns_sandbox")
        var event = Fixtures.namespace(id: "30", hook: "namespace_install", type: "uts", inum: 4026532001,
                                       label: "sandbox", verdict: "allow")
        event.alreadyIn = true
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == true)
        #expect(x.decision?.effects.locked == nil)
        #expect(x.text.contains("already in"))
        #expect(try Event.parse(line: event.jsonLine).alreadyIn == true)
    }

    /// An actor that runs a memfd copy is decided as the executable it carried.
    @Test func carriedExecutableIsTheActorsIdentity() throws {
        let policy = try Fixtures.example("ns_sandbox")
        var event = Fixtures.namespace(id: "31", hook: "namespace_alloc", type: "uts", inum: 4026532002,
                                       label: "sandbox", verdict: "allow", tracked: true)
        event.actorExe = "/memfd:crun_cloned:/proc/self/exe (deleted)"
        event.exeCarried = true
        event.actorExeCarried = "/usr/bin/sandboxer"
        let x = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(x.agrees == true, "\(x.text)")
        #expect(x.decision?.effects.tracked?.label == "sandbox")
        #expect(try Event.parse(line: event.jsonLine).actorExeCarried == "/usr/bin/sandboxer")
        // Without the carried path the inputs are incomplete, not silently the memfd.
        event.actorExeCarried = nil
        let y = EventExplanation.explain(event, policy: policy, resolveExe: Fixtures.noResolve)
        #expect(y.decision == nil && y.text.contains("actor_exe_carried"))
    }
}
