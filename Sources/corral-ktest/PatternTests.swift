// Live binding of cgroup paths (issue 9): a cgroup that comes to exist at a path the policy
// names, exactly or by pattern, is governed from its first moment (tp_btf/cgroup_mkdir), and a
// removed and recreated cgroup opens no window. Each test states the attack, then its control.
import CorralEvaluator
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

enum PatternTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "patterns/race_rmdir_mkdir_exact", body: raceExact),
        KTest(name: "patterns/race_new_cgroup_by_pattern", body: racePattern),
        KTest(name: "patterns/deny_into_nested_any_depth", body: nestedAnyDepth),
        KTest(name: "patterns/stay_per_instance", body: stayPerInstance),
        KTest(name: "patterns/locked_created_later", body: lockedLater),
        KTest(name: "patterns/delegated_manager_by_pattern", body: delegatedByPattern),
        KTest(name: "patterns/overflow_fails_closed", body: overflowFailsClosed),
        KTest(name: "patterns/consistency_check_agrees", body: consistencyAgrees),
        KTest(name: "differential/patterns", body: differentialPatterns),
    ]

    static let iterations = 1000

    static func policy(_ rules: [Rule], subjects: [String: Subject] = [:]) -> Policy {
        var rules = rules
        for i in rules.indices { rules[i].index = i }
        return Policy(cgroupRoot: cgroupRoot, rules: rules, source: "ktest")
    }

    static func p(_ s: String) -> CgroupPath { CgroupPath(s)! }

    /// In a child: `iterations` times rmdir + mkdir `target` and at once write the own pid into
    /// it (`fresh`: a new name each time instead). Returns how many moves succeeded.
    static func raceLoop(home: String, dir: String, name: String, fresh: Bool) throws -> Int {
        let out = "/tmp/ktest-race-count"
        try? Sys.unlink(out)
        let (_, st) = try inChild { raceChild(home: home, dir: dir, name: name, fresh: fresh, out: out) }
        try check(st == .exited(0), "race child: \(st)")
        let text = try sys("read \(out)") { () throws(Errno) in try Sys.readFile(out) }
        let fields = text.split(whereSeparator: \.isWhitespace)
        lastFirstErrno = fields.count > 1 ? Int32(fields[1]) ?? 0 : 0
        return fields.first.flatMap { Int($0) } ?? -1
    }

    /// The errno of the first failed move of the last raceLoop (0: none failed).
    nonisolated(unsafe) static var lastFirstErrno: Int32 = 0

    /// Why a control without Corral failed: the first errno and what is pinned in bpffs.
    static func controlFailure(_ control: Int) -> String {
        "control without Corral: \(control) of \(iterations) moves succeeded (first failure: "
            + "\(ErrnoNames.symbol(of: lastFirstErrno)); pins: \(KTests.leftoverPins()); "
            + "Corral programs loaded: \(KTests.loadedCorralPrograms()))"
    }

    static func raceChild(home: String, dir: String, name: String, fresh: Bool, out: String) -> Int32 {
        var moved = 0, firstErrno: Int32 = 0
        let me = Sys.pid
        for i in 0..<iterations {
            let target = dir + "/" + (fresh ? "\(name)\(i)" : name)
            if !fresh { _ = errnoOf { () throws(Errno) in try Sys.rmdir(target) } }
            guard errnoOf({ () throws(Errno) in try Sys.mkdir(target) }) == 0 else { return 3 }
            let e = errnoOf { () throws(Errno) in try moveTo(target, pid: me) }
            if e == 0 {
                moved += 1
                guard errnoOf({ () throws(Errno) in try moveTo(home, pid: me) }) == 0 else { return 4 }
            } else if firstErrno == 0 {
                firstErrno = e
            }
            if fresh { _ = errnoOf { () throws(Errno) in try Sys.rmdir(target) } }
        }
        return errnoOf { () throws(Errno) in try Sys.writeFileSynced(out, Array("\(moved) \(firstErrno)\n".utf8)) } == 0 ? 0 : 5
    }

    /// deny-into an exact path; the attacker (root, outside any stay) removes the cgroup, creates
    /// it again and writes its pid into it at once, 1000 times. Control: without Corral, all succeed.
    static func raceExact() throws {
        let fx = try CgroupFixture("race_exact")
        let home = try fx.make("home")
        let target = fx.base + "/target"
        defer { try? Sys.rmdir(cgroupRoot + target) }
        let control = try raceLoop(home: fx.host(home), dir: cgroupRoot + fx.base, name: "target", fresh: false)
        try check(control == iterations, controlFailure(control))
        let loaded = try Loaded(policy([Rule(id: "deny-target", kind: .denyInto, cgroups: [p(target)])]))
        defer { loaded.unload() }
        let moved = try raceLoop(home: fx.host(home), dir: cgroupRoot + fx.base, name: "target", fresh: false)
        try check(moved == 0, "\(moved) of \(iterations) moves into a recreated deny-into cgroup succeeded")
        let denials = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.verdict == "deny" && $0.rule == "deny-target" }
        try check(denials.count >= iterations, "\(denials.count) deny events naming deny-target, expected \(iterations)")
        print("    control \(control)/\(iterations) moved without Corral; with Corral \(moved)/\(iterations)")
    }

    /// deny-into a pattern; each iteration creates a new matching cgroup and enters it at once.
    static func racePattern() throws {
        let fx = try CgroupFixture("race_pattern")
        let home = try fx.make("home")
        let control = try raceLoop(home: fx.host(home), dir: cgroupRoot + fx.base, name: "job-", fresh: true)
        try check(control == iterations, controlFailure(control))
        let loaded = try Loaded(policy([Rule(id: "deny-jobs", kind: .denyInto, cgroups: [p(fx.base + "/job-*")])]))
        defer { loaded.unload() }
        let moved = try raceLoop(home: fx.host(home), dir: cgroupRoot + fx.base, name: "job-", fresh: true)
        try check(moved == 0, "\(moved) of \(iterations) moves into new cgroups matching job-* succeeded")
        // A name that does not match stays open.
        let other = try fx.make("other")
        let e = errnoOf { () throws(Errno) in try moveTo(fx.host(other), pid: Sys.pid) }
        try check(e == 0, "move into a non-matching cgroup created after the load: errno \(e)")
        try sys("back home") { () throws(Errno) in try moveTo(fx.host(home), pid: Sys.pid) }
        print("    control \(control)/\(iterations) moved without Corral; with Corral \(moved)/\(iterations)")
    }

    static func moveChild(_ dir: String) throws -> Int32 {
        let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(dir, pid: Sys.pid) } }
        guard case .exited(let code) = st else { throw TestFailure(reason: "child \(st)") }
        return code
    }

    /// `**`: a subtree created level by level after the load is governed at every depth.
    static func nestedAnyDepth() throws {
        let fx = try CgroupFixture("nested_any_depth")
        let loaded = try Loaded(policy([Rule(id: "deny-deep", kind: .denyInto, cgroups: [p(fx.base + "/deep/**")])]))
        defer { loaded.unload() }
        let deep = try fx.make("deep"), a = try fx.make("deep/a"), b = try fx.make("deep/a/b"), c = try fx.make("deep/a/b/c")
        let outside = try fx.make("outside")
        for dir in [deep, a, b, c] {
            let e = try moveChild(fx.host(dir))
            try check(e == EPERM, "move into \(dir) (matches deep/**, created after the load): errno \(e), expected EPERM")
        }
        try check(try moveChild(fx.host(outside)) == 0, "move into \(outside) refused")
        // Removal and recreation keeps it governed.
        try sys("rmdir c") { () throws(Errno) in try Sys.rmdir(fx.host(c)) }
        try sys("mkdir c") { () throws(Errno) in try Sys.mkdir(fx.host(c)) }
        try check(try moveChild(fx.host(c)) == EPERM, "move into recreated \(c) allowed")
    }

    /// stay on `svc/*.service`: each matching cgroup is its own subtree.
    static func stayPerInstance() throws {
        let fx = try CgroupFixture("stay_per_instance")
        let loaded = try Loaded(policy([Rule(id: "stay-svc", kind: .stay, cgroups: [p(fx.base + "/svc/*.service")])]))
        defer { loaded.unload() }
        _ = try fx.make("svc")
        let a = try fx.make("svc/a.service"), aSub = try fx.make("svc/a.service/sub"), b = try fx.make("svc/b.service")
        let sock = try fx.make("svc/c.socket")
        let (_, st) = try inChild { stayChild(fx.host(a), fx.host(aSub), fx.host(b), fx.host(sock)) }
        try check(st == .exited(0), "stay per instance: step \(st) failed (1: enter a.service, 2: a -> a/sub allowed, "
            + "3: a/sub -> b.service must be EPERM, 4: c.socket -> b.service allowed)")
    }

    static func stayChild(_ a: String, _ aSub: String, _ b: String, _ sock: String) -> Int32 {
        let me = Sys.pid
        if errnoOf({ () throws(Errno) in try moveTo(a, pid: me) }) != 0 { return 1 }
        if errnoOf({ () throws(Errno) in try moveTo(aSub, pid: me) }) != 0 { return 2 }
        if errnoOf({ () throws(Errno) in try moveTo(b, pid: me) }) != EPERM { return 3 }
        // A task in b.service cannot be reached from here; a fresh child starts in c.socket.
        if errnoOf({ () throws(Errno) in try moveTo(sock, pid: me) }) != EPERM { return 3 }
        return 0
    }

    /// locked on `lk-*`: a cgroup created after the load can be neither entered nor left.
    static func lockedLater() throws {
        let fx = try CgroupFixture("locked_later")
        let loaded = try Loaded(policy([Rule(id: "lock-lk", kind: .locked, cgroups: [p(fx.base + "/lk-*")])]))
        defer { loaded.unload() }
        let lk = try fx.make("lk-1"), free = try fx.make("free")
        try check(try moveChild(fx.host(lk)) == EPERM, "move into \(lk) allowed")
        try check(try moveChild(fx.host(free)) == 0, "move into \(free) refused")
    }

    /// A manager matched by a `cgroup:` pattern, delegated `dlg/*`: it moves tasks inside one
    /// instance, not from one instance to another.
    static func delegatedByPattern() throws {
        let fx = try CgroupFixture("delegated_by_pattern")
        let manager = Subject(matcher: .cgroup(p(fx.base + "/mgr-*")))
        let loaded = try Loaded(policy([Rule(id: "dlg", kind: .delegated, subjects: [manager], cgroups: [p(fx.base + "/dlg/*")])]))
        defer { loaded.unload() }
        let mgr = try fx.make("mgr-1")
        _ = try fx.make("dlg")
        let x = try fx.make("dlg/x"), xa = try fx.make("dlg/x/a"), y = try fx.make("dlg/y")
        // The victim: a sleeping child in dlg/x.
        let victim = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if victim == 0 { while true { sleep(1) } }
        defer { kill(victim, SIGKILL); _ = try? Sys.waitpid(victim) }
        try sys("victim into x") { () throws(Errno) in try moveTo(fx.host(x), pid: victim) }
        let (_, st) = try inChild { delegatedChild(fx.host(mgr), fx.host(xa), fx.host(y), victim) }
        try check(st == .exited(0), "delegated manager: step \(st) failed (1: join mgr-1, 2: x -> x/a inside the "
            + "instance allowed, 3: x/a -> y across instances must be EPERM)")
        let evs = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.rule == "dlg" }
        try check(evs.contains { $0.verdict == "deny" } && evs.contains { $0.verdict == "allow" }, "events: \(describe(evs))")
    }

    static func delegatedChild(_ mgr: String, _ xa: String, _ y: String, _ victim: Int32) -> Int32 {
        if errnoOf({ () throws(Errno) in try moveTo(mgr, pid: Sys.pid) }) != 0 { return 1 }
        if errnoOf({ () throws(Errno) in try moveTo(xa, pid: victim) }) != 0 { return 2 }
        if errnoOf({ () throws(Errno) in try moveTo(y, pid: victim) }) != EPERM { return 3 }
        return 0
    }

    /// Nine patterns match one cgroup: more trie states than its kernel entry holds. The
    /// cgroup is unclassified and a move into it is denied (fail closed), reported as such.
    static func overflowFailsClosed() throws {
        let fx = try CgroupFixture("overflow")
        var scopes: [CgroupPath] = ["*", "b", "b*", "*b", "**"].map { p(fx.base + "/o/" + $0) }
        scopes += ["*", "b*", "*b", "**"].map { p(fx.base + "/o/**/" + $0) }
        let rules = scopes.enumerated().map { i, s in Rule(id: "stay-\(i)", kind: .stay, cgroups: [s]) }
        let loaded = try Loaded(policy(rules))
        defer { loaded.unload() }
        _ = try fx.make("o")
        let b = try fx.make("o/b"), ok = try fx.make("ok")
        let e = try moveChild(fx.host(b))
        try check(e == EPERM, "move into overflowing \(b): errno \(e), expected EPERM")
        try check(try moveChild(fx.host(ok)) == 0, "move into \(ok) refused")
        let evs = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.unclassified == true }
        try check(evs.contains { $0.verdict == "deny" && $0.rule == nil }, "no unclassified deny event: \(describe(loaded.events))")
    }

    /// The consistency check finds the kernel's entries equal to userspace's classification,
    /// also for cgroups created after the load.
    static func consistencyAgrees() throws {
        let fx = try CgroupFixture("consistency")
        let loaded = try Loaded(policy([
            Rule(id: "stay-svc", kind: .stay, cgroups: [p(fx.base + "/svc/*.service")]),
            Rule(id: "deny-any", kind: .denyInto, cgroups: [p(fx.base + "/deep/**")]),
        ]))
        defer { loaded.unload() }
        for d in ["svc", "svc/a.service", "svc/a.service/x", "svc/b.socket", "deep", "deep/1", "deep/1/2"] { _ = try fx.make(d) }
        let r = try kernel("check") { () throws(KernelError) in try loaded.session.checkClassification() }
        try check(r.differences.isEmpty, "differences: \(r.differences)")
        try check(r.stale == 0, "\(r.stale) stale entries")
        try check(r.cgroups >= 8, "only \(r.cgroups) cgroups compared")
    }

    /// The evaluator against the kernel for pattern rules of every cgroup kind, on cgroups created
    /// after the load: every move's verdict and rule must agree (traceAll: one event per move).
    static func differentialPatterns() throws {
        let fx = try CgroupFixture("differential_patterns")
        let b = fx.base
        let policy = policy([
            Rule(id: "stay-svc", kind: .stay, cgroups: [p(b + "/svc/*.service")]),
            Rule(id: "deny-deep", kind: .denyInto, cgroups: [p(b + "/deep/**")]),
            Rule(id: "lock-lk", kind: .locked, cgroups: [p(b + "/lk-*")]),
            Rule(id: "dlg", kind: .delegated, subjects: [Subject(matcher: .cgroup(p(b + "/mgr-*")))], cgroups: [p(b + "/dlg/*")]),
        ])
        let loaded = try Loaded(policy, traceAll: true)
        defer { loaded.unload() }
        for d in ["svc", "svc/a.service", "svc/a.service/x", "svc/b.service", "svc/c.socket", "deep", "deep/1", "deep/1/2",
                  "lk-1", "free", "mgr-1", "dlg", "dlg/x", "dlg/x/a", "dlg/y"] { _ = try fx.make(d) }
        func c(_ rel: String) -> CgroupPath { p(b + "/" + rel) }
        let t = try ExecutableTests.victim(in: cgroupRoot)   // moved by this process
        let v = try ExecutableTests.victim(in: fx.host(c("dlg/x")))  // moved by the manager
        defer { for x in [t, v] { kill(x, SIGKILL); _ = try? Sys.waitpid(x) } }
        let me = Sys.pid
        // (actor, target, destination); the manager is a child that first joins mgr-1.
        let tMoves = ["free", "svc/a.service", "svc/a.service/x", "svc/b.service", "svc/c.socket", "deep/1/2", "svc/a.service",
                      "lk-1", "deep", "free", "deep/1"].map(c)
        for dst in tMoves { _ = errnoOf { () throws(Errno) in try moveTo(fx.host(dst), pid: t) } }
        let vMoves = ["dlg/x/a", "dlg/y", "lk-1", "dlg/x", "free"].map(c)
        let (manager, st) = try inChild { managerChild(fx.host(c("mgr-1")), vMoves.map(fx.host), v) }
        try check(st == .exited(0), "manager child: \(st)")

        let kernelEvents = loaded.collect().filter { $0.hook == "cgroup_attach" && [UInt32(t), UInt32(v), UInt32(manager)].contains($0.targetPID) }
        var eval = Evaluator(policy: policy)
        eval.addTask(TaskState(pid: me, cgroup: .root))
        eval.addTask(TaskState(pid: t, cgroup: .root))
        eval.addTask(TaskState(pid: v, cgroup: .root))
        eval.addTask(TaskState(pid: manager, cgroup: .root))
        // The victims' placement by this process is part of the scenario (traceAll reports it).
        var ops: [(actor: Int32, target: Int32, dst: CgroupPath)] = [(me, t, .root), (me, v, c("dlg/x"))]
        ops += tMoves.map { (me, t, $0) }
        ops.append((manager, manager, c("mgr-1")))
        ops += vMoves.map { (manager, v, $0) }
        var mismatches: [String] = []
        var pending = kernelEvents
        var denies = 0
        for op in ops {
            let d = eval.cgroupAttach(actor: op.actor, target: op.target, dst: op.dst, via: .procs)
            guard let i = pending.firstIndex(where: { $0.targetPID == UInt32(op.target) && $0.pid == UInt32(op.actor) }) else {
                mismatches.append("no kernel event for \(op.target) -> \(op.dst) (evaluator \(d.verdict.rawValue)/\(d.rule ?? "-"))")
                continue
            }
            let k = pending.remove(at: i)
            if k.verdict == "deny" { denies += 1 }
            if k.verdict != d.verdict.rawValue || k.rule != d.rule {
                mismatches.append("\(op.target) -> \(op.dst): kernel \(show(k.verdict))/\(k.rule ?? "-"), evaluator \(d.verdict.rawValue)/\(d.rule ?? "-")")
            }
        }
        try check(mismatches.isEmpty, mismatches.joined(separator: "; "))
        try check(denies >= 6 && denies < ops.count, "the scenario should mix verdicts: \(denies) denials of \(ops.count)")
        print("    \(ops.count) moves, \(denies) denied: kernel and evaluator agree on verdict and rule")
    }

    static func managerChild(_ mgr: String, _ moves: [String], _ victim: Int32) -> Int32 {
        if errnoOf({ () throws(Errno) in try moveTo(mgr, pid: Sys.pid) }) != 0 { return 1 }
        for m in moves { _ = errnoOf { () throws(Errno) in try moveTo(m, pid: victim) } }
        return 0
    }
}
