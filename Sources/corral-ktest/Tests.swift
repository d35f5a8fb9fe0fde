// The tests: the seed selftests (PATCH 3/4 ns_sandbox, PATCH 4/4 cgroup_attach) ported onto
// Corral policies, lock inheritance, audit, differential against the evaluator, broken policies, probe.
import CorralEvaluator
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

enum KTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "probe", body: probe),
        KTest(name: "ns_sandbox", body: { try nsSandbox(policy: sandboxPolicy()) }),
        KTest(name: "cgroup_attach/deny_migration", body: { try denyMigration(withRule: true) }),
        KTest(name: "cgroup_attach/verify_hook_args", body: verifyHookArgs),
        KTest(name: "cgroup_attach/clone_into_cgroup", body: cloneIntoCgroup),
        KTest(name: "inheritance/child_thread_exec", body: inheritance),
        KTest(name: "audit/would_deny", body: auditWouldDeny),
        KTest(name: "differential/evaluator", body: differential),
        KTest(name: "broken_policy/ns_sandbox_without_lock", body: {
            try expectFailure { try nsSandbox(policy: sandboxPolicy(withLock: false)) }
        }),
        KTest(name: "broken_policy/deny_migration_without_rule", body: {
            try expectFailure { try denyMigration(withRule: false) }
        }),
    ]

    static func run(_ t: KTest) -> Outcome {
        let outcome: Outcome
        do {
            try t.body()
            outcome = .ok
        } catch let f as TestFailure {
            outcome = .fail(f.reason)
        } catch let s as TestSkip {
            outcome = .skip(s.reason)
        } catch {
            outcome = .fail("\(error)")
        }
        // Nor processes: one that holds a session's link fds (a daemon, a forked child) keeps the
        // programs attached with a stale policy, which breaks later tests' controls (pins: []).
        // They are killed, and named, so the test that left them can be found.
        let stray = killLeftoverProcesses()
        if !stray.isEmpty { print("    # left processes behind, killed: \(stray.joined(separator: ", "))") }
        // Programs outlive their last link and fd by a grace period (sleepable programs: an RCU
        // tasks trace period, long under TCG); a control run in that window can still be refused.
        let loaded = waitForCorralProgramsToGo(seconds: 10)
        if !loaded.isEmpty { print("    # Corral programs still loaded 10 s after the test: \(loaded.joined(separator: ", "))") }
        // A test must leave no daemon pins behind: pinned links outlive their daemon and go on
        // enforcing a stale policy (its cgroup classifier gone with the daemon's fds, every new
        // cgroup is unclassified and refused), which breaks later tests' controls.
        let left = leftoverPins()
        guard !left.isEmpty else { return outcome }
        for dir in left { removePins(dir) }
        let still = leftoverPins()
        let why = "left pinned BPF objects behind: \(left.joined(separator: ", "))"
            + (still.isEmpty ? " (removed)" : "; still there after --unload: \(still.joined(separator: ", "))")
        if case .fail(let reason) = outcome { return .fail(reason + "; " + why) }
        return .fail(why)
    }

    /// Waits until bpffs' `progs.debug` (the kernel's list of loaded programs) names no Corral
    /// program, at most `seconds`; returns the names still listed.
    static func waitForCorralProgramsToGo(seconds: Double) -> [String] {
        let deadline = Sys.monotonicNanos() + UInt64(seconds * 1e9)
        while true {
            let loaded = loadedCorralPrograms()
            if loaded.isEmpty || Sys.monotonicNanos() >= deadline { return loaded }
            Sys.sleep(millis: 50)
        }
    }

    /// "ID NAME" of the loaded programs whose names are Corral's (`native_`, `compat_`, `scope_`,
    /// `idmap_`); empty when `progs.debug` is not there.
    static func loadedCorralPrograms() -> [String] {
        guard let text = try? Sys.readFile("/sys/fs/bpf/progs.debug") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 2, Int(fields[0]) != nil,
                  ["native_", "compat_", "scope_", "idmap_"].contains(where: { fields[1].hasPrefix($0) }) else { return nil }
            return "\(fields[0]) \(fields[1])"
        }
    }

    /// Kills the descendants of this process (SIGKILL, then reaps its own children) and returns
    /// them as "PID (comm)".
    static func killLeftoverProcesses() -> [String] {
        var parent: [Int32: Int32] = [:], comm: [Int32: String] = [:]
        for entry in (try? Sys.listDirectory("/proc")) ?? [] {
            guard let pid = Int32(entry.name), let stat = try? Sys.readFile("/proc/\(entry.name)/stat"),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let ppid = Int32(fields[1]) else { continue }
            parent[pid] = ppid
            comm[pid] = String(stat[stat.index(after: open)..<close])
        }
        let me = Sys.pid
        func descends(_ pid: Int32) -> Bool {
            var p = parent[pid], hops = 0
            while let q = p, q > 1, hops < 64 {
                if q == me { return true }
                p = parent[q]
                hops += 1
            }
            return false
        }
        let stray = parent.keys.filter { $0 != me && descends($0) }.sorted()
        for pid in stray { try? Sys.kill(pid, SIGKILL) }
        for pid in stray where parent[pid] == me { _ = try? Sys.waitpid(pid) }
        return stray.map { "\($0) (\(comm[$0] ?? "?"))" }
    }

    /// Pins left in bpffs (test daemons pin under `/sys/fs/bpf/ktest-*`; the kernel's own
    /// `maps.debug`/`progs.debug` files are not pins).
    static func leftoverPins() -> [String] {
        ((try? Sys.listDirectory("/sys/fs/bpf")) ?? []).map(\.name)
            .filter { $0 != "maps.debug" && $0 != "progs.debug" }.sorted().map { "/sys/fs/bpf/" + $0 }
    }

    static func removePins(_ dir: String) {
        if let corral = DaemonHarness.installedCorral {
            _ = try? Sys.runCapturing([corral, "daemon", "--unload", "--pin-directory", dir])
        }
        _ = try? Sys.runCapturing(["/bin/rm", "-rf", dir])
    }

    // MARK: policies

    static func sandboxPolicy(withLock: Bool = true, extra: [Rule] = []) -> Policy {
        var rules = [Rule(id: "track-sandbox", kind: .track, namespaceTypes: [.uts], trackLabel: "sandbox")]
        if withLock { rules.append(Rule(id: "lock-sandbox", kind: .lockOnEntry, labels: ["sandbox"])) }
        rules += extra
        for i in rules.indices { rules[i].index = i }
        return Policy(cgroupRoot: cgroupRoot, rules: rules, source: "ktest")
    }

    static func denyInto(_ id: String, _ p: CgroupPath, index: Int = 0) -> Rule {
        Rule(id: id, kind: .denyInto, cgroups: [p], index: index)
    }

    static func expectFailure(_ body: () throws -> Void) throws {
        do { try body() } catch let f as TestFailure {
            _ = f  // the selftest caught the hole: this is the expected outcome
            return
        }
        throw TestFailure(reason: "the selftest passed although its key rule was removed")
    }

    static func openNS(_ path: String) throws -> Int32 {
        try sys("open \(path)") { () throws(Errno) in try Sys.open(path, O_RDONLY) }
    }

    /// The ns_sandbox selftest's setup, shared by the tests built on it: load `policy`, unshare a
    /// new uts namespace (tracked by the policy), return to the host's, and run `body` with both
    /// namespace fds. Afterwards the caller is back in the host namespace and Corral is unloaded.
    static func withSandbox(_ policy: Policy, audit: Bool = false, traceAll: Bool = false,
                            _ body: (_ loaded: Loaded, _ host: Int32, _ sandbox: Int32) throws -> Void) throws {
        let host = try openNS("/proc/self/ns/uts")
        defer { Sys.close(host) }
        let loaded = try Loaded(policy, audit: audit, traceAll: traceAll)
        defer {
            _ = errnoOf { () throws(Errno) in try Linux.setns(host, uts) }
            loaded.unload()
        }
        try sys("unshare sandbox") { () throws(Errno) in try Linux.unshare(uts) }
        let sandbox = try openNS("/proc/self/ns/uts")
        defer { Sys.close(sandbox) }
        try sys("setns host utsns") { () throws(Errno) in try Linux.setns(host, uts) }
        try body(loaded, host, sandbox)
    }

    /// The inode number of the namespace an nsfs fd refers to.
    static func inum(of fd: Int32) throws -> UInt32 {
        UInt32(truncatingIfNeeded: try sys("stat ns fd") { () throws(Errno) in try Sys.inode("/proc/self/fd/\(fd)") })
    }

    static let uts = Linux.cloneNewUTS

    // MARK: probe

    static func probe() throws {
        let btf = try sys("read vmlinux BTF") { () throws(Errno) in
            let fd = try Sys.open("/sys/kernel/btf/vmlinux", O_RDONLY)
            defer { Sys.close(fd) }
            var all: [UInt8] = []
            while true { let c = try Sys.read(fd, count: 1 << 20); if c.isEmpty { break }; all += c }
            return all
        }
        func inBTF(_ name: String) -> Bool {
            let needle = Array(name.utf8)
            guard btf.count >= needle.count else { return false }
            outer: for i in 0...(btf.count - needle.count) where btf[i] == needle[0] {
                for j in 1..<needle.count where btf[i + j] != needle[j] { continue outer }
                return true
            }
            return false
        }
        // Independent of KernelProbe: bpf must be an active LSM and the kernel at least 6.1, the
        // newest thing Corral needs (the userns_create LSM hook; docs/kernel-support.md).
        let lsms = ((try? Sys.readFile("/sys/kernel/security/lsm")) ?? "")
            .split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }).map(String.init)
        let runnable = lsms.contains("bpf") && inBTF("bpf_lsm_userns_create")
        let expected = !runnable ? "unsupported" : inBTF("bpf_lsm_namespace_install") ? "native" : "compat"
        guard let exe = Sys.executablePath() else { throw TestFailure(reason: "no /proc/self/exe") }
        let corral = String(exe[..<exe.lastIndex(of: "/")!]) + "/corral"
        guard Sys.exists(corral) else { throw TestSkip(reason: "\(corral) not installed") }
        let r = try sys("run corral probe") { () throws(Errno) in try Sys.runCapturing([corral, "probe"]) }
        try check(r.output.contains("mode: \(expected)\n"), "expected mode \(expected), corral probe said: \(r.output)")
        // docs/cli.md: 0 (native or compat), 4 (unsupported-kernel).
        try check(r.status == .exited(runnable ? 0 : 4), "corral probe exit \(r.status), want \(runnable ? 0 : 4)")
    }

    // MARK: PATCH 3/4 ns_sandbox

    static func nsSandbox(policy: Policy) throws {
        try withSandbox(policy) { loaded, orig, sandbox in
            let (_, st) = try inChild {
                if errnoOf({ () throws(Errno) in try Linux.setns(sandbox, uts) }) != 0 { return 1 }
                if errnoOf({ () throws(Errno) in try Linux.setns(orig, uts) }) != EPERM { return 2 }
                return 0
            }
            switch st {
            case .exited(0): return
            case .exited(1): throw TestFailure(reason: "child could not enter the tracked namespace")
            case .exited(2): throw TestFailure(reason: "child locked in: setns to host was not EPERM")
            default: throw TestFailure(reason: "child \(st)")
            }
        }
    }

    // MARK: PATCH 4/4 cgroup_attach

    static func denyMigration(withRule: Bool) throws {
        let fx = try CgroupFixture("deny_migration")
        let allowed = try fx.make("allowed"), denied = try fx.make("denied")
        // Without the rule, keep an unrelated rule so the same machinery is loaded.
        let other = try fx.make("other")
        let policy = Policy(cgroupRoot: cgroupRoot, rules: [denyInto("deny-denied", withRule ? denied : other)], source: "ktest")
        let loaded = try Loaded(policy)
        var (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(allowed), pid: Sys.pid) } == 0 ? 0 : 1 }
        try check(st == .exited(0), "allowed migration failed: \(st)")
        (_, st) = try inChild {
            let e = errnoOf { () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) }
            return e == 0 ? 1 : (e == EPERM ? 0 : 2)
        }
        try check(st != .exited(1), "denied migration blocked: it succeeded")
        try check(st == .exited(0), "denied migration: wrong errno or child \(st)")
        loaded.unload()
        (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) } == 0 ? 0 : 1 }
        try check(st == .exited(0), "post-unload migration to /denied still refused")
    }

    static func verifyHookArgs() throws {
        let fx = try CgroupFixture("verify_hook_args")
        let src = try fx.make("src"), dst = try fx.make("dst"), other = try fx.make("other")
        try sys("join /src") { () throws(Errno) in try moveTo(fx.host(src), pid: Sys.pid) }
        let loaded = try Loaded(Policy(cgroupRoot: cgroupRoot, rules: [denyInto("deny-other", other)], source: "ktest"))
        defer { loaded.unload() }
        try loaded.traceSelf()
        try sys("migrate to /dst") { () throws(Errno) in try moveTo(fx.host(dst), pid: Sys.pid) }
        let me = UInt32(Sys.pid)
        let evs = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.targetPID == me }
        guard let ev = evs.last else { throw TestFailure(reason: "no cgroup_attach event for pid \(me): \(describe(loaded.events))") }
        let srcID = try fx.id(src), dstID = try fx.id(dst)
        try check(ev.srcCgroup == srcID, "src_cgrp_id \(show(ev.srcCgroup)) != \(srcID)")
        try check(ev.dstCgroup == dstID, "dst_cgrp_id \(show(ev.dstCgroup)) != \(dstID)")
        try check(ev.threadgroup == 1, "threadgroup \(show(ev.threadgroup)) for cgroup.procs")
        try check(ev.verdict == "allow", "verdict \(show(ev.verdict))")
        let count = loaded.session.stat(3)  // CORRAL_STAT_HOOK_CGROUP_ATTACH
        try check(count >= 1 && evs.count >= 1, "hook count \(count)")
    }

    static func cloneIntoCgroup() throws {
        let fx = try CgroupFixture("clone_into_cgroup")
        let allowed = try fx.make("clone_allowed"), denied = try fx.make("clone_denied")
        let loaded = try Loaded(Policy(cgroupRoot: cgroupRoot, rules: [denyInto("deny-clone", denied)], source: "ktest"))
        defer { loaded.unload() }
        try loaded.traceSelf()
        let dfd = try openNS(fx.host(denied)), afd = try openNS(fx.host(allowed))
        defer { Sys.close(dfd); Sys.close(afd) }
        do {
            let (pid, _) = try Linux.clone3(flags: 0, cgroupFD: dfd)
            if pid == 0 { Sys.exit(0) }
            _ = try? Sys.waitpid(pid)
            throw TestFailure(reason: "clone3 into denied should fail")
        } catch let e as Errno {
            if e.rawValue == ENOSYS || e.rawValue == E2BIG { throw TestSkip(reason: "clone3 CLONE_INTO_CGROUP unavailable (\(e.name))") }
            try check(e.rawValue == EPERM, "clone3 denied errno \(e.name)")
        }
        let child: Int32
        do {
            let (pid, _) = try Linux.clone3(flags: 0, cgroupFD: afd)
            if pid == 0 { Sys.exit(0) }
            child = pid
        } catch { throw TestFailure(reason: "clone3 into allowed: \(error)") }
        let st = try sys("waitpid") { () throws(Errno) in try Sys.waitpid(child) }
        try check(st == .exited(0), "clone3 child \(st)")
        let evs = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.verdict == "allow" }
        let allowedID = try fx.id(allowed)
        try check(evs.last?.dstCgroup == allowedID,
                  "clone3 dst_cgrp_id: last allowed event \(evs.last.map { "\(show($0.dstCgroup))" } ?? "none"), want \(allowedID)")
        try check(evs.last?.targetPID == UInt32(child), "clone3 target is the child \(child): \(describe(evs))")
    }

    // MARK: inheritance

    static func inheritance() throws {
        try withSandbox(sandboxPolicy()) { loaded, orig, sandbox in
            guard let exe = Sys.executablePath() else { throw TestFailure(reason: "no /proc/self/exe") }

            // Child and thread of a locked task.
            let (_, st) = try inChild {
                if errnoOf({ () throws(Errno) in try Linux.setns(sandbox, uts) }) != 0 { return 10 }
                // forked child
                guard let g = try? Sys.fork() else { return 11 }
                if g == 0 { Sys.exit(errnoOf { () throws(Errno) in try Linux.setns(orig, uts) } == EPERM ? 0 : 1) }
                guard let gs = try? Sys.waitpid(g), gs == .exited(0) else { return 12 }
                // thread
                final class R: @unchecked Sendable { var e: Int32 = -1 }
                let r = R()
                do { try Sys.onNewThread { r.e = errnoOf { () throws(Errno) in try Linux.setns(orig, uts) } } } catch { return 13 }
                if r.e != EPERM { return 14 }
                // spawned program (child + exec)
                guard let sp = try? Sys.runCapturing([exe, "--helper-setns", "/proc/1/ns/uts"]), sp.status == .exited(0) else { return 15 }
                return 0
            }
            let why: [Int32: String] = [10: "could not enter sandbox", 11: "fork failed", 12: "forked child of a locked task escaped",
                                        13: "pthread_create failed", 14: "thread of a locked task escaped",
                                        15: "spawned program of a locked task escaped"]
            if case .exited(let c) = st, c != 0 { throw TestFailure(reason: why[c] ?? "child exit \(c)") }
            try check(st == .exited(0), "child \(st)")

            // The locked task itself exec's: still locked.
            let (_, st2) = try inChild {
                if errnoOf({ () throws(Errno) in try Linux.setns(sandbox, uts) }) != 0 { return 10 }
                var argv: [UnsafeMutablePointer<CChar>?] = [strdup(exe), strdup("--helper-setns"), strdup("/proc/1/ns/uts"), nil]
                execv(exe, &argv)
                return 20
            }
            try check(st2 == .exited(0), "exec'd locked task: \(st2) (1 = setns allowed, escaped)")
        }
    }

    // MARK: audit

    static func auditWouldDeny() throws {
        let fx = try CgroupFixture("audit")
        let denied = try fx.make("denied")
        try withSandbox(sandboxPolicy(extra: [denyInto("deny-denied", denied)]), audit: true) { loaded, orig, sandbox in
            let (child, st) = try inChild {
                if errnoOf({ () throws(Errno) in try Linux.setns(sandbox, uts) }) != 0 { return 1 }
                if errnoOf({ () throws(Errno) in try Linux.setns(orig, uts) }) != 0 { return 2 }
                if errnoOf({ () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) }) != 0 { return 3 }
                return 0
            }
            try check(st == .exited(0), "audit mode denied something (child \(st): 2 setns, 3 cgroup)")
            let evs = loaded.collect().filter { $0.pid == UInt32(child) }
            try check(evs.contains { $0.hook == "namespace_install" && $0.verdict == "audit" && $0.rule == "lock-sandbox" },
                      "no would-deny event for the locked setns: \(describe(evs))")
            try check(evs.contains { $0.hook == "cgroup_attach" && $0.verdict == "audit" && $0.rule == "deny-denied" && $0.err == 0 },
                      "no would-deny event for the cgroup move: \(describe(evs))")
        }
    }

    // MARK: differential

    enum Op {
        case alloc(actor: Int32, inum: UInt32)
        case install(actor: Int32, inum: UInt32)
        case attach(actor: Int32, dst: CgroupPath)
        var hook: String {
            switch self {
            case .alloc: "namespace_alloc"
            case .install: "namespace_install"
            case .attach: "cgroup_attach"
            }
        }
        var actor: Int32 {
            switch self {
            case .alloc(let a, _), .install(let a, _), .attach(let a, _): a
            }
        }
    }

    static func differential() throws {
        let fx = try CgroupFixture("differential")
        let denied = try fx.make("denied"), allowed = try fx.make("allowed")
        let policy = sandboxPolicy(extra: [denyInto("deny-denied", denied)])
        try withSandbox(policy, traceAll: true) { loaded, orig, sandbox in
            let origInum = try inum(of: orig), newInum = try inum(of: sandbox)
            let me = Sys.pid
            // What withSandbox did: unshare (alloc of the new namespace), setns back to the host.
            var ops: [Op] = [.alloc(actor: me, inum: newInum), .install(actor: me, inum: origInum)]
            let (child, _) = try inChild {
                _ = errnoOf { () throws(Errno) in try Linux.setns(sandbox, uts) }
                _ = errnoOf { () throws(Errno) in try Linux.setns(orig, uts) }
                _ = errnoOf { () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) }
                _ = errnoOf { () throws(Errno) in try moveTo(fx.host(allowed), pid: Sys.pid) }
                return 0
            }
            ops += [.install(actor: child, inum: newInum), .install(actor: child, inum: origInum),
                    .attach(actor: child, dst: denied), .attach(actor: child, dst: allowed)]

            let kernelEvents = loaded.collect().filter {
                ($0.tgid == UInt32(me) || $0.tgid == UInt32(child)) && $0.hook != "namespace_free"
            }
            var eval = Evaluator(policy: policy, cgroupIDs: [denied: try fx.id(denied), allowed: try fx.id(allowed)])
            eval.addTask(TaskState(pid: me, cgroup: .root))
            var pending = kernelEvents
            var mismatches: [String] = []
            var forked = false
            for op in ops {
                if op.actor == child && !forked { eval.fork(parent: me, child: child); forked = true }
                let d: Decision = switch op {
                case .alloc(let a, let inum): eval.namespaceAlloc(actor: a, type: .uts, inum: inum)
                case .install(let a, let inum): eval.namespaceInstall(actor: a, type: .uts, inum: inum)
                case .attach(let a, let dst): eval.cgroupAttach(actor: a, target: a, dst: dst, via: .procs)
                }
                guard let i = pending.firstIndex(where: { $0.hook == op.hook && $0.pid == UInt32(op.actor) }) else {
                    mismatches.append("no kernel event for \(op.hook) by \(op.actor) (evaluator: \(d.verdict.rawValue)/\(d.rule ?? "-"))")
                    continue
                }
                let k = pending.remove(at: i)
                if k.verdict != d.verdict.rawValue || k.rule != d.rule {
                    mismatches.append("\(op.hook) by \(op.actor): kernel \(show(k.verdict))/\(k.rule ?? "-"), evaluator \(d.verdict.rawValue)/\(d.rule ?? "-")")
                }
            }
            for k in pending { mismatches.append("kernel event without an operation: \(k.hook)/\(show(k.verdict))/\(k.rule ?? "-") pid \(show(k.pid))") }
            try check(mismatches.isEmpty, mismatches.joined(separator: "; "))
            // The scenario must exercise both verdicts, or the comparison proves little.
            try check(kernelEvents.contains { $0.verdict == "deny" } && kernelEvents.contains { $0.verdict == "allow" },
                      "scenario produced no deny or no allow: \(describe(kernelEvents))")
        }
    }
}
