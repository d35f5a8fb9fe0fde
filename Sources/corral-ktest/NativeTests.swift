// Native-only behaviour (issue 4): what the four seed hooks show that compat cannot — the real
// inum at alloc, cleanup at free with inum reuse, one install per namespace for pidfd setns,
// cgroup.threads with threadgroup 0, clone3's child as target, and the rule's errno.
// Each test skips, naming what the probe found missing, when the probed mode is not native
// (errno_policy instead checks compat's documented EPERM difference).
import CorralABI
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

/// The probe, run once per corral-ktest process, the same way CorralSession probes.
enum KProbe {
    nonisolated(unsafe) private static var cached: ProbeReport?

    static var report: ProbeReport {
        if let cached { return cached }
        let object = try? CorralObject.locate()
        let targets = object.flatMap { CorralObject.attachTargets(source: $0, prefix: "compat_") }
        let r = KernelProbe.run(compatTargets: targets?.isEmpty == false ? targets : nil)
        cached = r
        return r
    }

    /// Each missing piece with what provides it (a kernel version or series), grouped by that.
    static func reasons(_ missing: [UnsupportedFeature]) -> String {
        var order: [String] = [], details: [String: [String]] = [:]
        for m in missing {
            if details[m.requires] == nil { order.append(m.requires) }
            details[m.requires, default: []].append(m.detail)
        }
        return order.map { details[$0]!.joined(separator: "; ") + " (needs \($0))" }.joined(separator: "; ")
    }

    /// Why the kernel cannot run Corral at all (nil when it can).
    static var unsupportedReason: String? {
        let r = report
        guard r.mode == .unsupported else { return nil }
        return "probe: unsupported: " + reasons(r.compatMissing)
    }

    static func requireNative() throws {
        let r = report
        guard r.mode != .native else { return }
        throw TestSkip(reason: "probed mode is \(r.mode.rawValue), native needs: " + reasons(r.nativeMissing))
    }

    static func requireCompat() throws {
        let r = report
        guard r.mode != .compat else { return }
        throw TestSkip(reason: "probed mode is \(r.mode.rawValue); this test checks the compat hook set")
    }

    static func requireSupported() throws {
        if let why = unsupportedReason { throw TestSkip(reason: why) }
    }
}

/// A forked child that runs `setup`, sends its one-line report to the parent, then stays alive
/// (holding its namespaces and cgroup membership) until `release()`.
final class HeldChild {
    let pid: Int32
    let report: String
    private var releaseFD: Int32
    private(set) var status: Sys.ExitStatus?

    init(_ setup: () -> String) throws {
        let up = try sys("pipe") { () throws(Errno) in try Sys.pipe() }
        let down = try sys("pipe") { () throws(Errno) in try Sys.pipe() }
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 {
            Sys.close(up.read)
            Sys.close(down.write)
            let line = setup().replacingNewlines
            _ = try? Sys.write(up.write, Array((line + "\n").utf8))
            Sys.close(up.write)
            _ = try? Sys.read(down.read, count: 1)  // EOF when the parent releases
            Sys.exit(0)
        }
        Sys.close(up.write)
        Sys.close(down.read)
        var bytes: [UInt8] = []
        while !bytes.contains(10), let chunk = try? Sys.read(up.read), !chunk.isEmpty { bytes += chunk }
        Sys.close(up.read)
        self.pid = pid
        releaseFD = down.write
        report = String(decoding: bytes.prefix { $0 != 10 }, as: UTF8.self)
    }

    /// Lets the child exit and reaps it.
    @discardableResult
    func release() -> Sys.ExitStatus? {
        if releaseFD >= 0 {
            Sys.close(releaseFD)
            releaseFD = -1
            status = try? Sys.waitpid(pid)
        }
        return status
    }

    /// "key=value key=value" reports.
    func field(_ key: String) -> String? {
        for part in report.split(separator: " ") where part.hasPrefix(key + "=") {
            return String(part.dropFirst(key.count + 1))
        }
        return nil
    }

    deinit { release() }
}

/// A pthread that reports its tid on a pipe and lives until `finish()`.
final class ParkedThread {
    private var thread = pthread_t()
    private let tidPipe: (read: Int32, write: Int32)
    private let gate: (read: Int32, write: Int32)
    let tid: Int32

    init() throws {
        tidPipe = try sys("pipe") { () throws(Errno) in try Sys.pipe() }
        gate = try sys("pipe") { () throws(Errno) in try Sys.pipe() }
        final class Args { let tidW: Int32, gateR: Int32; init(_ a: Int32, _ b: Int32) { tidW = a; gateR = b } }
        let box = Unmanaged.passRetained(Args(tidPipe.write, gate.read))
        let rc = pthread_create(&thread, nil, { arg in
            let a = Unmanaged<Args>.fromOpaque(arg!).takeRetainedValue()
            var tid = Linux.tid
            _ = withUnsafeBytes(of: &tid) { Glibc.write(a.tidW, $0.baseAddress, 4) }
            var b: UInt8 = 0
            _ = Glibc.read(a.gateR, &b, 1)
            return nil
        }, box.toOpaque())
        if rc != 0 { box.release(); throw TestFailure(reason: "pthread_create: \(rc)") }
        var t: Int32 = 0
        let r = tidPipe.read
        let n = withUnsafeMutableBytes(of: &t) { Glibc.read(r, $0.baseAddress, 4) }
        tid = n == 4 ? t : -1
    }

    func finish() {
        Sys.close(gate.write)
        pthread_join(thread, nil)
        Sys.close(gate.read)
        Sys.close(tidPipe.read)
        Sys.close(tidPipe.write)
    }
}

enum NativeTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "native/alloc_inum", body: { try KProbe.requireNative(); try allocInum(native: true) }),
        // Compat learns the inum from fexit of each constructor; this caught copy_ipcs read with
        // the wrong signature (the parent's ipc namespace was tracked instead of the new one).
        KTest(name: "compat/track_inum", body: { try KProbe.requireCompat(); try allocInum(native: false) }),
        KTest(name: "native/free_inum_reuse", body: freeInumReuse),
        KTest(name: "native/pidfd_setns_once_per_ns", body: pidfdSetnsOncePerNS),
        KTest(name: "native/threads_threadgroup0", body: threadsThreadgroup0),
        KTest(name: "native/clone3_child_task", body: clone3ChildTask),
        KTest(name: "native/errno_policy", body: errnoPolicy),
    ]

    static func policy(_ rules: [Rule]) -> Policy {
        var rules = rules
        for i in rules.indices { rules[i].index = i }
        return Policy(cgroupRoot: cgroupRoot, rules: rules, source: "ktest-native")
    }

    static func nsPath(_ t: NamespaceType) -> String {
        t == .time ? "/proc/self/ns/time_for_children" : "/proc/self/ns/" + t.procName
    }

    static func tracked(_ loaded: Loaded, _ inum: UInt32) throws -> corral_tracked_ns? {
        try kernel("corral_tracked_ns lookup") { () throws(KernelError) in
            try loaded.session.object.map("corral_tracked_ns").lookup(inum, as: corral_tracked_ns())
        }
    }

    static func inumOf(_ path: String) -> UInt32? {
        (try? Sys.inode(path)).map { UInt32(truncatingIfNeeded: $0) }
    }

    // MARK: 1. namespace_alloc sees the real inum

    static func allocInum(native: Bool) throws {
        let types: [NamespaceType] = [.uts, .ipc, .net, .cgroup, .time, .user]
        let label = "inum-test"
        let loaded = try Loaded(policy([Rule(id: "track-all", kind: .track, namespaceTypes: Set(types), trackLabel: label)]))
        defer { loaded.unload() }
        var problems: [String] = []
        for t in types {
            let before = inumOf(nsPath(t)) ?? 0
            let child = try HeldChild {
                let e = errnoOf { () throws(Errno) in try Linux.unshare(Int32(bitPattern: t.cloneFlag)) }
                if e != 0 { return "err=\(e)" }
                return "inum=\(inumOf(nsPath(t)) ?? 0)"
            }
            defer { child.release() }
            guard let inum = child.field("inum").flatMap(UInt32.init), inum != 0 else {
                problems.append("\(t): unshare failed: \(child.report)")
                continue
            }
            if inum == before { problems.append("\(t): \(nsPath(t)) did not change after unshare (\(inum))") }
            // The map entry, while the namespace is alive.
            if let entry = try tracked(loaded, inum) {
                if entry.ns_type != t.cloneFlag { problems.append("\(t): tracked ns_type \(entry.ns_type), want \(t.cloneFlag)") }
                if entry.label != StableID.of(label) { problems.append("\(t): tracked label \(entry.label)") }
                if entry.creator_tgid != UInt32(child.pid) { problems.append("\(t): creator_tgid \(entry.creator_tgid), want \(child.pid)") }
            } else {
                problems.append("\(t): no corral_tracked_ns entry for the inode \(inum) of \(nsPath(t))")
            }
            // Native events carry the same inum; compat decides before the namespace exists (inum 0).
            let evs = loaded.collect().filter { $0.hook == "namespace_alloc" && $0.pid == UInt32(child.pid) && $0.nsType == t.rawValue }
            if !native {
                if evs.count != 1 || evs.first?.tracked != true || evs.first?.compat != true {
                    problems.append("\(t): want one tracked compat namespace_alloc event, got \(describe(evs))")
                }
                continue
            }
            if evs.count != 1 {
                problems.append("\(t): \(evs.count) namespace_alloc events by the child: \(describe(evs))")
            } else if let ev = evs.first {
                if ev.nsInum != inum { problems.append("\(t): event ns_inum \(show(ev.nsInum)) != /proc inode \(inum)") }
                if ev.tracked != true || ev.compat != false { problems.append("\(t): event tracked=\(ev.tracked ?? false) compat=\(ev.compat ?? false)") }
            }
        }
        try check(problems.isEmpty, problems.joined(separator: "; "))
    }

    // MARK: 2. namespace_free removes tracked state; a reused inum is not mistaken for it

    static func freeInumReuse() throws {
        try KProbe.requireNative()
        let fx = try CgroupFixture("free_inum_reuse")
        let trackedCg = try fx.make("tracked"), otherCg = try fx.make("other")
        let label = "reuse"
        let loaded = try Loaded(policy([
            Rule(id: "track-reuse", kind: .track, subjects: [Subject(matcher: .cgroup(trackedCg))],
                 namespaceTypes: [.uts], trackLabel: label),
            Rule(id: "lock-reuse", kind: .lockOnEntry, labels: [label]),
        ]), traceAll: true)
        defer { loaded.unload() }
        let freesBefore = loaded.session.stat(UInt32(CORRAL_STAT_HOOK_NS_FREE.rawValue))

        func unshareIn(_ cg: CgroupPath) throws -> HeldChild {
            try HeldChild {
                if errnoOf({ () throws(Errno) in try moveTo(fx.host(cg), pid: Sys.pid) }) != 0 { return "err=move" }
                let e = errnoOf { () throws(Errno) in try Linux.unshare(Linux.cloneNewUTS) }
                return e != 0 ? "err=\(e)" : "inum=\(inumOf("/proc/self/ns/uts") ?? 0)"
            }
        }

        var attempts: [String] = []
        var reused: (inum: UInt32, b: HeldChild)? = nil
        for _ in 0..<20 {
            let a = try unshareIn(trackedCg)
            guard let ai = a.field("inum").flatMap(UInt32.init), ai != 0 else { throw TestFailure(reason: "A: \(a.report)") }
            guard let entry = try tracked(loaded, ai), entry.label == StableID.of(label) else {
                throw TestFailure(reason: "A's namespace \(ai) was not tracked with label \(label)")
            }
            a.release()  // A exits: its only reference to the namespace goes, namespace_free runs
            try check(try tracked(loaded, ai) == nil, "corral_tracked_ns still has \(ai) after its namespace was freed")
            let b = try unshareIn(otherCg)
            guard let bi = b.field("inum").flatMap(UInt32.init), bi != 0 else { throw TestFailure(reason: "B: \(b.report)") }
            if bi == ai { reused = (bi, b); break }
            attempts.append("\(ai)->\(bi)")
            b.release()
        }
        guard let (inum, b) = reused else {
            throw TestFailure(reason: "no inum reuse in 20 tries (A->B: \(attempts.joined(separator: ",")))")
        }
        defer { b.release() }
        try check(try tracked(loaded, inum) == nil, "B's namespace \(inum) (untracked creator) has a corral_tracked_ns entry")
        let frees = loaded.session.stat(UInt32(CORRAL_STAT_HOOK_NS_FREE.rawValue)) &- freesBefore
        try check(frees >= 1, "namespace_free hook count did not move (\(frees))")

        // Entering B must not lock: the stale label is gone.
        let bPath = "/proc/\(b.pid)/ns/uts"
        let (c, st) = try inChild {
            guard let fd = try? Sys.open(bPath, O_RDONLY), let host = try? Sys.open("/proc/1/ns/uts", O_RDONLY) else { return 9 }
            if errnoOf({ () throws(Errno) in try Linux.setns(fd, Linux.cloneNewUTS) }) != 0 { return 1 }
            if errnoOf({ () throws(Errno) in try Linux.setns(host, Linux.cloneNewUTS) }) != 0 { return 2 }
            return 0
        }
        try check(st != .exited(1), "entering B (\(inum)) failed")
        try check(st != .exited(2), "entering B (reused inum \(inum)) locked the task: a stale label applied")
        try check(st == .exited(0), "child \(st)")
        let evs = loaded.collect().filter { $0.hook == "namespace_install" && $0.pid == UInt32(c) && $0.nsInum == inum }
        try check(evs.count == 1, "install events for B by the entering task: \(describe(evs))")
        try check(evs[0].nsLabel == nil && evs[0].locked == false && evs[0].rule == nil,
                  "entering B reported label \(evs[0].nsLabel ?? "-") locked=\(show(evs[0].locked)) rule \(evs[0].rule ?? "-")")
    }

    // MARK: 3. pidfd setns: one install per namespace

    static func pidfdSetnsOncePerNS() throws {
        try KProbe.requireNative()
        let types: [NamespaceType] = [.uts, .ipc, .net, .cgroup]
        let flags = Int32(bitPattern: NamespaceType.mask(types))
        let loaded = try Loaded(policy([Rule(id: "track-pidfd", kind: .track, namespaceTypes: Set(types), trackLabel: "pidfd")]),
                                traceAll: true)
        defer { loaded.unload() }
        let target = try HeldChild {
            if errnoOf({ () throws(Errno) in try Linux.unshare(flags) }) != 0 { return "err=unshare" }
            return types.map { "\($0.rawValue)=\(inumOf(nsPath($0)) ?? 0)" }.joined(separator: " ")
        }
        defer { target.release() }
        var want: [UInt32: NamespaceType] = [:]
        for t in types {
            guard let i = target.field(t.rawValue).flatMap(UInt32.init), i != 0 else { throw TestFailure(reason: "target: \(target.report)") }
            want[i] = t
        }
        _ = loaded.collect()
        let before = loaded.session.stat(UInt32(CORRAL_STAT_HOOK_NS_INSTALL.rawValue))
        let (setter, st) = try inChild {
            guard let pfd = try? Linux.pidfdOpen(target.pid) else { return 100 }
            return errnoOf { () throws(Errno) in try Linux.setns(pfd, flags) }
        }
        try check(st == .exited(0), "setns(pidfd, uts|ipc|net|cgroup): \(st) (exit = errno)")
        let count = loaded.session.stat(UInt32(CORRAL_STAT_HOOK_NS_INSTALL.rawValue)) &- before
        let evs = loaded.collect().filter { $0.hook == "namespace_install" && $0.pid == UInt32(setter) }
        var perInum: [UInt32: Int] = [:]
        for e in evs { perInum[e.nsInum ?? 0, default: 0] += 1 }
        var problems: [String] = []
        for (inum, t) in want.sorted(by: { $0.key < $1.key }) {
            let n = perInum[inum] ?? 0
            if n != 1 { problems.append("\(t) (\(inum)): \(n) install events") }
            if let e = evs.first(where: { $0.nsInum == inum }), e.nsType != t.rawValue || e.nsLabel != "pidfd" {
                problems.append("\(t): event type \(e.nsType ?? "-") label \(e.nsLabel ?? "-")")
            }
        }
        for (inum, n) in perInum where want[inum] == nil { problems.append("unexpected install of \(inum) x\(n)") }
        if count != UInt64(types.count) { problems.append("namespace_install hook ran \(count) times, want \(types.count)") }
        try check(problems.isEmpty, problems.joined(separator: "; "))
    }

    // MARK: 4. cgroup.threads: threadgroup 0, target = the thread

    static func threadsThreadgroup0() throws {
        try KProbe.requireNative()
        let fx = try CgroupFixture("threads_tg0")
        let dom = try fx.make("dom"), src = try fx.make("dom/src"), dst = try fx.make("dom/dst")
        let other = try fx.make("other")
        for p in [src, dst] {
            try sys("threaded \(p)") { () throws(Errno) in try Sys.writeFile(fx.host(p) + "/cgroup.type", "threaded") }
        }
        let domType = (try? Sys.readFile(fx.host(dom) + "/cgroup.type")) ?? "?"
        try check(domType.hasPrefix("domain threaded"), "\(dom) cgroup.type is \(domType), want domain threaded")
        let loaded = try Loaded(policy([KTests.denyInto("deny-other", other)]), traceAll: true)
        defer { loaded.unload() }
        let child = try HeldChild {
            let pe = errnoOf { () throws(Errno) in try moveTo(fx.host(src), pid: Sys.pid) }
            if pe != 0 { return "err=procs-\(pe)" }
            guard let t = try? ParkedThread(), t.tid > 0 else { return "err=thread" }
            let e = errnoOf { () throws(Errno) in try moveTo(fx.host(dst), pid: t.tid, threads: true) }
            let where_ = ((try? Sys.readFile("/proc/self/task/\(t.tid)/cgroup")) ?? "?").replacingNewlines
            let mine = ((try? Sys.readFile("/proc/self/task/\(Sys.pid)/cgroup")) ?? "?").replacingNewlines
            t.finish()
            return e != 0 ? "err=threads-\(e)" : "tid=\(t.tid) thread=\(where_) main=\(mine)"
        }
        child.release()
        guard let tid = child.field("tid").flatMap(UInt32.init) else { throw TestFailure(reason: "child: \(child.report)") }
        try check(child.field("thread") == "0::" + dst.description, "thread ended in \(child.field("thread") ?? "?"), want \(dst)")
        try check(child.field("main") == "0::" + src.description, "main thread moved too: \(child.field("main") ?? "?")")
        try check(tid != UInt32(child.pid), "the thread's tid equals the process id")
        let evs = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.pid == UInt32(child.pid) }
        let threadEvs = evs.filter { $0.dstCgroup == (try? fx.id(dst)) }
        try check(threadEvs.count == 1, "cgroup.threads write: \(threadEvs.count) events (all by the child: \(describe(evs)))")
        let ev = threadEvs[0]
        try check(ev.threadgroup == 0, "threadgroup \(show(ev.threadgroup)) for a cgroup.threads write")
        try check(ev.targetPID == tid, "target_pid \(show(ev.targetPID)), want the thread's tid \(tid)")
        let srcID = try fx.id(src)
        try check(ev.srcCgroup == srcID, "src \(show(ev.srcCgroup)), want \(src) \(srcID)")
        try check(ev.verdict == "allow" && ev.compat == false, "verdict \(ev.verdict ?? "none") compat \(ev.compat ?? false)")
        // The earlier cgroup.procs write of the same process is the threadgroup=1 contrast.
        try check(evs.contains { $0.dstCgroup == (try? fx.id(src)) && $0.threadgroup == 1 && $0.targetPID == UInt32(child.pid) },
                  "no threadgroup=1 event for the cgroup.procs write: \(describe(evs))")
    }

    // MARK: 5. clone3(CLONE_INTO_CGROUP): target is the child

    static func clone3ChildTask() throws {
        try KProbe.requireNative()
        let fx = try CgroupFixture("clone3_child")
        let dst = try fx.make("dst"), other = try fx.make("other")
        let loaded = try Loaded(policy([KTests.denyInto("deny-other", other)]), traceAll: true)
        defer { loaded.unload() }
        let dfd = try sys("open \(dst)") { () throws(Errno) in try Sys.open(fx.host(dst), O_RDONLY) }
        defer { Sys.close(dfd) }
        let me = UInt32(Sys.pid)
        let myCgPath = ((try? Sys.readFile("/proc/self/cgroup")) ?? "").split(separator: "\n").first.map { String($0.dropFirst(3)) } ?? "/"
        let myCg = (try? Sys.inode(cgroupRoot + myCgPath)) ?? 0
        _ = loaded.collect()
        let child: Int32, pidfd: Int32?
        do {
            (child, pidfd) = try Linux.clone3(flags: Linux.clonePIDFD, cgroupFD: dfd)
            if child == 0 { Sys.exit(0) }
        } catch {
            throw TestFailure(reason: "clone3(CLONE_INTO_CGROUP|CLONE_PIDFD): \(error)")
        }
        let st = try sys("waitpid") { () throws(Errno) in try Sys.waitpid(child) }
        defer { if let pidfd { Sys.close(pidfd) } }
        try check(st == .exited(0), "child \(st)")
        let evs = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.pid == me }
        try check(evs.count == 1, "clone3 into \(dst): \(evs.count) cgroup_attach events by the parent: \(describe(evs))")
        let ev = evs[0]
        try check(ev.targetPID == UInt32(child), "target_pid \(show(ev.targetPID)), want the child \(child) (parent is \(me))")
        try check(ev.dstCgroup == (try fx.id(dst)), "dst \(show(ev.dstCgroup))")
        try check(myCg == 0 || ev.srcCgroup == myCg, "src \(show(ev.srcCgroup)), want the parent's cgroup \(myCg)")
        try check(ev.threadgroup == 1 && ev.compat == false, "threadgroup \(ev.threadgroup ?? 0) compat \(ev.compat ?? false)")
    }

    // MARK: 6. the rule's errno

    static func errnoPolicy() throws {
        try KProbe.requireSupported()
        let mode = KProbe.report.mode
        let loaded = try Loaded(policy([
            Rule(id: "deny-uts", kind: .denyCreate, namespaceTypes: [.uts], errno: EACCES),
            Rule(id: "deny-enter-ipc", kind: .denyEnter, namespaceTypes: [.ipc], errno: EACCES),
        ]))
        defer { loaded.unload() }
        // Native: every path returns the rule's errno. Compat (docs/kernel-support.md): unshare and
        // setns are refused through capable(CAP_SYS_ADMIN), always EPERM; clone3 goes through
        // task_alloc, which keeps the rule's errno.
        let capablePath = mode == .native ? EACCES : EPERM
        let ipcHost = try KTests.openNS("/proc/1/ns/ipc")
        defer { Sys.close(ipcHost) }
        let child = try HeldChild {
            let u = errnoOf { () throws(Errno) in try Linux.unshare(Linux.cloneNewUTS) }
            // Leave the host's ipc namespace first: entering the one it is in would not be an entry.
            let ipc = Int32(bitPattern: NamespaceType.ipc.cloneFlag)
            guard errnoOf({ () throws(Errno) in try Linux.unshare(ipc) }) == 0 else { return "unshare-ipc=failed" }
            let s = errnoOf { () throws(Errno) in try Linux.setns(ipcHost, ipc) }
            var c: Int32 = 0
            do {
                let (pid, _) = try Linux.clone3(flags: UInt64(NamespaceType.uts.cloneFlag))
                if pid == 0 { Sys.exit(0) }
                _ = try? Sys.waitpid(pid)
            } catch let e as Errno { c = e.rawValue } catch { c = -1 }
            return "unshare=\(u) setns=\(s) clone3=\(c)"
        }
        child.release()
        let want = ["unshare": capablePath, "setns": capablePath, "clone3": EACCES]
        var problems: [String] = []
        for (k, v) in want.sorted(by: { $0.key < $1.key }) {
            let got = child.field(k).flatMap(Int32.init) ?? -1
            if got != v { problems.append("\(k): \(ErrnoNames.symbol(of: got)), want \(ErrnoNames.symbol(of: v)) in \(mode.rawValue) mode") }
        }
        let evs = loaded.collect().filter { $0.pid == UInt32(child.pid) && $0.verdict == "deny" }
        // One deny event per operation, carrying the errno the caller got.
        let expected: [(hook: String, rule: String, err: Int32)] = [
            ("namespace_alloc", "deny-uts", capablePath), ("namespace_install", "deny-enter-ipc", capablePath),
            ("namespace_alloc", "deny-uts", EACCES),
        ]
        var remaining = evs
        for (hook, rule, err) in expected {
            if let i = remaining.firstIndex(where: { $0.hook == hook && $0.rule == rule && $0.err == err && $0.compat == (mode == .compat) }) {
                remaining.remove(at: i)
            } else {
                problems.append("no \(hook) deny event by \(rule) with err \(ErrnoNames.symbol(of: err))")
            }
        }
        for e in remaining { problems.append("unexpected deny event \(e.hook)/\(e.rule ?? "-")/err \(show(e.err))") }
        try check(problems.isEmpty, problems.joined(separator: "; ") + " (events: \(describe(evs)))")
    }
}
