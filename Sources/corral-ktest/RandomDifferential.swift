// differential/random (issue 17): random valid policies and random operation sequences, performed
// with real syscalls by worker tasks; every kernel decision (traceAll: one event each) is fed to the
// reference evaluator, which must agree on verdict, rule, errno, the actor's lock before the
// decision, the label a new namespace gets, and where tasks end up. A mismatch is shrunk (re-run on
// the kernel) to a minimal policy + step list and printed as a scenario for `corral simulate`.
// Environment: CORRAL_RANDDIFF_SEED (default: from the clock), CORRAL_RANDDIFF_CASES (210 on debian-6.12
// and seed-hooks, 30 on other kernels),
// CORRAL_RANDDIFF_OPS (50 per case).
import CorralEvaluator
import CorralKernel
import CorralPolicy
import CorralSystem
import CorralTestSupport
import Glibc

enum RandomDifferential {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "differential/random", body: run),
    ]

    static let dir = "/run/ktest-rand"
    static let fifoDir = dir + "/fifo"
    static let slotCount = 6

    struct Mismatch { let op: Int; let text: String }

    /// Time spent per kind of operation (milliseconds), printed as a comment line.
    nonisolated(unsafe) static var timing: [String: (count: Int, millis: UInt64)] = [:]
    static func kind(_ op: RandomOp) -> String { String(op.description.split(separator: " ").dropFirst().first ?? "?") }

    /// The outcome of one case (a policy, its variants and an op list) on the kernel.
    struct CaseResult {
        var mismatches: [Mismatch] = []
        var ops = 0
        var decisions = 0
        var denied = 0
        var audited = 0
        var refusedByKernel = 0
        /// The executed ops with their stable ids (for replay).
        var executed: [(id: Int, op: RandomOp)] = []
        /// Evaluator steps with the kernel's decisions, for the scenario file.
        var steps: [(step: EvalStep, observed: ObservedDecision?, compareErrno: Bool)] = []
    }

    final class World {
        let world: RandomWorld
        let loaded: Loaded
        let native: Bool
        let runner: Int32
        let runnerCgroup: CgroupPath
        var cmdFDs: [Int32] = [], repFDs: [Int32] = []
        var hostNS: [NamespaceType: (fd: Int32, inum: UInt32)] = [:]

        init(world: RandomWorld, loaded: Loaded) throws {
            self.world = world
            self.loaded = loaded
            native = loaded.session.mode == .native
            runner = Sys.pid
            runnerCgroup = RandomDifferential.cgroupOf(tgid: Sys.pid, tid: Sys.pid) ?? .root
            try? Sys.mkdirs(fifoDir)
            for s in 0..<slotCount {
                for kind in ["cmd", "rep"] {
                    let path = "\(fifoDir)/\(s).\(kind)"
                    if !Sys.exists(path) { guard mkfifo(path, 0o600) == 0 else { throw TestFailure(reason: "mkfifo \(path): \(errno)") } }
                    let fd = open(path, O_RDWR | O_CLOEXEC)
                    guard fd >= 0 else { throw TestFailure(reason: "open \(path): \(errno)") }
                    if kind == "cmd" { cmdFDs.append(fd) } else { repFDs.append(fd) }
                }
            }
            for t in world.opTypes {
                let fd = open("/proc/self/ns/\(t.procName)", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw TestFailure(reason: "open host \(t.rawValue) ns: \(errno)") }
                hostNS[t] = (fd, RandomDifferential.inum(fd))
            }
        }

        deinit {
            for fd in cmdFDs + repFDs { close(fd) }
            for (_, h) in hostNS { close(h.fd) }
        }

        func send(_ slot: Int, _ text: String) { RandomWorker.writeAll(cmdFDs[slot], RandomWorker.encode(text)) }

        /// The next record from a slot (nil after 10 s).
        func receive(_ slot: Int) -> [String]? {
            guard Sys.waitReadable(repFDs[slot], timeoutMillis: 10_000) else { return nil }
            var buffer = [UInt8](repeating: 0, count: RandomWorker.messageSize)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(repFDs[slot], $0.baseAddress, RandomWorker.messageSize) }
            return n > 0 ? RandomWorker.decode(Array(buffer.prefix(n))) : nil
        }

        /// Drops stale records of a slot (a worker killed mid-command).
        func drain(_ slot: Int) {
            var buffer = [UInt8](repeating: 0, count: 4096)
            for fd in [cmdFDs[slot], repFDs[slot]] {
                while Sys.waitReadable(fd, timeoutMillis: 0) {
                    if buffer.withUnsafeMutableBytes({ Glibc.read(fd, $0.baseAddress, 4096) }) <= 0 { break }
                }
            }
        }

        /// Decision events since the last call, from `pids`, of the hooks the operations make.
        func newEvents(_ pids: Set<UInt32>) -> [Event] {
            loaded.take().filter {
                ["namespace_alloc", "namespace_install", "cgroup_attach"].contains($0.hook) && pids.contains($0.pid ?? 0)
            }
        }
    }

    static func inum(_ fd: Int32) -> UInt32 {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt32(truncatingIfNeeded: st.st_ino) : 0
    }

    static func cgroupOf(tgid: Int32, tid: Int32) -> CgroupPath? {
        guard let text = try? Sys.readFile("/proc/\(tgid)/task/\(tid)/cgroup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") { return CgroupPath(String(line.dropFirst(3))) }
        return nil
    }

    // MARK: the test

    static func run() throws {
        guard Sys.exists(cgroupRoot + "/cgroup.procs") else { throw TestSkip(reason: "no cgroup2 at \(cgroupRoot)") }
        let started = Sys.monotonicMillis()
        let seed = Sys.env("CORRAL_RANDDIFF_SEED").flatMap { UInt64($0) } ?? (Sys.realTimeNanos() & 0xffff_ffff)
        // The full count on the two kernels the acceptance names (compat and native), a short run
        // on the others (stock, debian-6.1), which decide with the same programs.
        let full = ["debian-6.12", "seed-hooks"].contains(Sys.env("CORRAL_KERNEL_NAME") ?? "debian-6.12")
        let cases = Sys.env("CORRAL_RANDDIFF_CASES").flatMap { Int($0) } ?? (full ? 210 : 30)
        let opsPerCase = Sys.env("CORRAL_RANDDIFF_OPS").flatMap { Int($0) } ?? 50
        let world = try setUpWorld()
        defer { tearDownWorld(world) }
        let loaded = try Loaded(Policy(cgroupRoot: cgroupRoot, rules: [], source: "ktest"), traceAll: true)
        defer { loaded.unload() }
        let w = try World(world: world, loaded: loaded)

        var policies = 0, ops = 0, decisions = 0, denied = 0, audited = 0, refused = 0
        var firstMismatch: (seed: UInt64, gens: [GeneratedPolicy], result: CaseResult)?
        var mismatchCount = 0
        for c in 0..<cases {
            var caseSeed = SplitMix(seed: seed &+ UInt64(c) &* 0x9E37_79B9)
            let s = caseSeed.next()
            var pg = RandomPolicyGenerator(world: world, cgroupRoot: cgroupRoot, seed: s)
            var gens = [pg.policy()]
            if pg.chance(0.3) { gens.append(pg.policy()) }
            policies += gens.count
            let result = try runCase(w, gens: gens, opSeed: s ^ 0x5555, count: opsPerCase, replay: nil)
            ops += result.ops; decisions += result.decisions; denied += result.denied; audited += result.audited
            refused += result.refusedByKernel
            if !result.mismatches.isEmpty {
                mismatchCount += 1
                for m in result.mismatches.prefix(3) { print("    # case \(c) (seed \(seed)) op \(m.op): \(m.text)") }
                if firstMismatch == nil { firstMismatch = (s, gens, result) }
            }
        }
        let seconds = Double(Sys.monotonicMillis() - started) / 1000
        let mode = w.native ? "native" : "compat"
        let summary = "mode \(mode), seed \(seed): \(cases) cases, \(policies) policies, \(ops) operations, \(decisions) decisions "
            + "(\(denied) denied, \(audited) audit), \(refused) refused by the kernel before Corral, \(mismatchCount) cases mismatched, "
            + String(format: "%.0f s", seconds)
        print("# differential/random: \(summary)")
        print("#   ms per operation kind: " + timing.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value.count)x \($0.value.millis / UInt64(max($0.value.count, 1)))" }.joined(separator: ", "))
        if let f = firstMismatch {
            try shrinkAndPrint(w, gens: f.gens, result: f.result)
            throw TestFailure(reason: "\(mismatchCount) of \(cases) cases disagree (seed \(seed)); first: \(f.result.mismatches[0].text)")
        }
        try check(policies >= 200 && ops >= 10_000 || cases < 210,
                  "too little coverage: \(policies) policies, \(ops) operations")
        try check(denied > 0 && decisions > denied, "no mix of verdicts: \(decisions) decisions, \(denied) denied")
    }

    static func setUpWorld() throws -> RandomWorld {
        guard let me = Sys.executablePath() else { throw TestFailure(reason: "no /proc/self/exe") }
        try sys("mkdir \(dir)") { () throws(Errno) in try Sys.mkdirs(dir) }
        _ = try? Sys.mount(source: "tmpfs", target: dir, type: "tmpfs")
        try sys("mkdir \(fifoDir)") { () throws(Errno) in try Sys.mkdirs(fifoDir) }
        // The copies live in a tmpfs (xattrs) on /usr/local/bin, one of the compiler's xattr search
        // paths: an `xattr:` subject matches files the install-time scan finds, or files marked
        // while a policy naming the attribute is loaded (docs/compiler.md, "Executables"); the
        // evaluator's model is "the executable carries the attribute", wherever it lies.
        let bin = "/usr/local/bin"
        try sys("mkdir \(bin)") { () throws(Errno) in try Sys.mkdirs(bin) }
        if !Sys.exists(bin + "/corral-rand-a") { _ = try? Sys.mount(source: "tmpfs", target: bin, type: "tmpfs") }
        var world = RandomWorld(exes: [me, bin + "/corral-rand-a", bin + "/corral-rand-b"],
                                exeXattrs: [[], ["trusted.corral.rand-y"], ["trusted.corral.rand-x", "trusted.corral.rand-y"]])
        for (i, exe) in world.exes.enumerated() where i > 0 {
            if !Sys.exists(exe) { try UpgradeTests.copy(me, to: exe) }
            for x in world.exeXattrs[i] {
                try sys("setxattr \(exe)") { () throws(Errno) in try FileSystem.setExtendedAttribute(exe, name: x, value: Array("1".utf8)) }
            }
        }
        world.base = "/ktest/random"
        try? Sys.mkdirs(cgroupRoot + world.base)
        for rel in world.cgroups {
            let host = cgroupRoot + world.path(rel).description
            if !Sys.exists(host) { try sys("mkdir \(host)") { () throws(Errno) in try Sys.mkdir(host) } }
            if world.threaded.contains(rel) {
                try sys("threaded \(host)") { () throws(Errno) in try Sys.writeFile(host + "/cgroup.type", "threaded") }
            }
        }
        return world
    }

    static func tearDownWorld(_ world: RandomWorld) {
        try? Sys.writeFile(cgroupRoot + "/cgroup.procs", String(Sys.pid))
        for rel in world.cgroups.reversed() { try? Sys.rmdir(cgroupRoot + world.path(rel).description) }
        try? Sys.rmdir(cgroupRoot + world.base)
    }

    // MARK: one case

    /// Runs one case from a fresh world: installs `gens[0]`, then performs `count` generated ops
    /// (or the `replay` list). Every worker is killed at the end.
    static func runCase(_ w: World, gens: [GeneratedPolicy], opSeed: UInt64, count: Int,
                        replay: [(id: Int, op: RandomOp)]?) throws -> CaseResult {
        var result = CaseResult()
        var variants: [GeneratedPolicy] = []
        var parsed: [Policy] = []
        func variant(_ g: GeneratedPolicy) throws -> Int? {
            if let i = variants.firstIndex(where: { $0.yaml == g.yaml }) { return i }
            guard let p = try? g.parse() else { return nil }
            variants.append(g)
            parsed.append(p)
            return variants.count - 1
        }
        guard let first = try variant(gens[0]) else { throw TestFailure(reason: "generated policy does not parse:\n\(gens[0].yaml)") }
        for g in gens.dropFirst() { _ = try variant(g) }
        var current = first
        var auditAll = false
        let t0 = Sys.monotonicMillis()
        defer { timing["(whole case)", default: (0, 0)].count += 1; timing["(whole case)", default: (0, 0)].millis += Sys.monotonicMillis() - t0 }
        _ = try kernel("install case policy") { () throws(KernelError) in try w.loaded.session.replacePolicy(parsed[first], auditAll: false) }
        timing["(install)", default: (0, 0)].count += 1
        timing["(install)", default: (0, 0)].millis += Sys.monotonicMillis() - t0
        _ = w.newEvents([])

        var eval = Evaluator(policy: parsed[first])
        eval.addTask(TaskState(pid: w.runner, exe: w.world.exes[0], cgroup: w.runnerCgroup))
        // Namespace membership (a setns into the namespace one is in is not an entry): the runner
        // starts in the host's; forks inherit, setns and unshare move (below), a CLONE_NEW* child
        // starts in the new ones. The kernel's `already_in` flag is compared, not used.
        for (t, h) in w.hostNS { eval.setNamespace(task: w.runner, type: t, inum: h.inum) }
        var cloneAllocs: [(type: NamespaceType, inum: UInt32)] = []
        var slots = SlotTable(count: slotCount)
        var created: [Int: (type: NamespaceType, fd: Int32, inum: UInt32)] = [:]  // by op id
        var nsNames: [UInt32: String] = [:]
        for (t, h) in w.hostNS { nsNames[h.inum] = "host-\(t.rawValue)" }
        var exeOf: [Int: Int] = [:]  // slot -> world.exes index
        var gen = RandomOpGenerator(world: w.world, seed: opSeed)
        var placeholder: UInt32 = 4_026_600_000

        defer {
            for s in slots.leaders { kill(slots[s]!.tgid, SIGKILL) }
            while true { var st: Int32 = 0; if waitpid(-1, &st, WNOHANG) <= 0 { break } }
            for (_, c) in created { close(c.fd) }
        }

        func pids() -> Set<UInt32> { Set(slots.alive.map { UInt32(slots[$0]!.pid) } + [UInt32(w.runner)]) }
        func pidOf(_ s: Int) -> Int32 { s == RandomOp.runner ? w.runner : slots[s]!.pid }
        func hello(_ s: Int, leader: Int?, ok: Bool) throws -> SlotInfo? {
            guard ok else { return nil }
            guard let h = w.receive(s), h.first == "H", h.count == 3, let pid = Int32(h[1]), let tid = Int32(h[2]) else {
                throw TestFailure(reason: "worker for slot \(s) did not start")
            }
            return SlotInfo(pid: tid, tgid: pid, leader: leader ?? s, isThread: leader != nil)
        }
        func ask(_ s: Int, _ text: String) throws -> (errno: Int32, value: Int32?) {
            w.send(s, text)
            guard let r = w.receive(s) else { throw TestFailure(reason: "worker slot \(s) did not answer '\(text)'") }
            if r.first == "O" { return (-(Int32(r[1]) ?? 1), nil) }  // could not even open: not an operation
            return (Int32(r[1]) ?? -1, r.count > 2 ? Int32(r[2]) : nil)
        }

        let plan: [(id: Int, op: RandomOp)] = replay ?? []
        var index = 0
        while replay == nil ? index < count : index < plan.count {
            let (id, op): (Int, RandomOp) = replay == nil
                ? (index, gen.next(slots: slots, created: created.map { ($0.key, $0.value.type) }.sorted { $0.0 < $1.0 },
                                   rules: variants[current].rules.map(\.id), policies: gens.count))
                : plan[index]
            index += 1
            // Validity (the generator's choices, or a shrunk list's leftovers).
            func alive(_ s: Int) -> Bool { s == RandomOp.runner || slots[s] != nil }
            func leader(_ s: Int) -> Bool { slots[s].map { !$0.isThread } ?? false }
            func free(_ s: Int) -> Bool { s >= 0 && s < slotCount && slots[s] == nil }
            var valid = true
            switch op {
            case .spawn(let s): valid = free(s)
            case .fork(let a, let c), .cloneNew(let a, let c, _), .cloneInto(let a, let c, _): valid = leader(a) && free(c)
            case .thread(let a, let c): valid = leader(a) && free(c)
            case .exec(let a, let e): valid = leader(a) && e < w.world.exes.count
            case .exit(let s): valid = slots[s] != nil
            case .unshare(let a, _): valid = slots[a] != nil
            case .setns(let a, let ref):
                if case .created(let op) = ref { valid = slots[a] != nil && created[op] != nil } else { valid = slots[a] != nil }
            case .setnsPidfd(let a, let t, _): valid = slots[a] != nil && slots[t] != nil
            case .migrate(let a, let t, let cg, _): valid = alive(a) && slots[t] != nil && cg < w.world.destinations.count
            case .flipMode(let r): valid = variants[current].rules.contains { $0.id == r }
            case .auditAll, .swapPolicy: valid = true
            }
            if case .swapPolicy(let k) = op, k >= gens.count { valid = false }
            if case .cloneInto(_, _, let cg) = op, cg >= w.world.destinations.count { valid = false }
            guard valid else { continue }
            result.executed.append((id, op))
            result.ops += 1
            let opStart = Sys.monotonicMillis()
            defer {
                let k = op.description.hasPrefix("runner") ? "runner-move" : kind(op)
                timing[k, default: (0, 0)].count += 1
                timing[k, default: (0, 0)].millis += Sys.monotonicMillis() - opStart
            }

            var syscallErrno: Int32 = 0
            var newInum: UInt32 = 0
            var via: AttachVia = .procs
            var dst: CgroupPath = .root
            var decidingOp = true
            var cloneChild: Int? = nil
            var expectsAlloc = false
            var isClone3NS = false
            var srcEqualsDst = false
            var preSteps: [EvalStep] = []

            switch op {
            case .spawn(let s):
                decidingOp = false
                w.drain(s)
                let pid = fork()
                if pid == 0 { RandomWorker.serve(slot: s, dir: fifoDir) }
                guard pid > 0 else { throw TestFailure(reason: "fork: \(errno)") }
                slots[s] = try hello(s, leader: nil, ok: true)
                exeOf[s] = 0
                preSteps.append(.fork(parent: w.runner, child: slots[s]!.pid, thread: false))
            case .fork(let a, let c):
                decidingOp = false
                w.drain(c)
                let r = try ask(a, "F \(c)")
                if let info = try hello(c, leader: nil, ok: r.errno == 0) {
                    slots[c] = info
                    exeOf[c] = exeOf[a]
                    preSteps.append(.fork(parent: slots[a]!.pid, child: info.pid, thread: false))
                }
            case .thread(let a, let c):
                decidingOp = false
                w.drain(c)
                let r = try ask(a, "T \(c)")
                if let info = try hello(c, leader: a, ok: r.errno == 0) {
                    slots[c] = info
                    exeOf[c] = exeOf[a]
                    preSteps.append(.fork(parent: slots[a]!.pid, child: info.pid, thread: true))
                }
            case .exec(let a, let e):
                decidingOp = false
                for t in slots.threads(of: a) { slots[t] = nil; exeOf[t] = nil }
                w.send(a, "E \(w.world.exes[e])")
                let info = try hello(a, leader: nil, ok: true)
                guard info?.pid == slots[a]!.pid else { throw TestFailure(reason: "exec'd worker has pid \(info?.pid ?? 0), not \(slots[a]!.pid)") }
                exeOf[a] = e
                preSteps.append(.exec(pid: slots[a]!.pid, exe: w.world.exes[e], xattrs: w.world.exeXattrs[e]))
            case .exit(let s):
                decidingOp = false
                let info = slots[s]!
                let gone = info.isThread ? [s] : [s] + slots.threads(of: s)
                w.send(s, "X")
                for g in gone {
                    preSteps.append(.exit(pid: slots[g]!.pid))
                    slots[g] = nil
                }
                if !info.isThread {
                    // Wait for the process to be gone, so its pid is never reused as a live one.
                    for _ in 0..<200 where kill(info.tgid, 0) == 0 {
                        var st: Int32 = 0
                        if waitpid(info.tgid, &st, WNOHANG) == info.tgid { break }
                        if (try? Sys.readFile("/proc/\(info.tgid)/stat"))?.contains(") Z ") == true { break }
                        Sys.sleep(millis: 1)
                    }
                } else {
                    for _ in 0..<200 where Sys.exists("/proc/\(info.tgid)/task/\(info.pid)") { Sys.sleep(millis: 1) }
                }
            case .unshare(let a, let t):
                expectsAlloc = true
                let r = try ask(a, "U \(t.cloneFlag)")
                syscallErrno = r.errno
                if r.errno == 0 {
                    let info = slots[a]!
                    let fd = open("/proc/\(info.tgid)/task/\(info.pid)/ns/\(t.procName)", O_RDONLY | O_CLOEXEC)
                    if fd >= 0 { newInum = inum(fd); created[id] = (t, fd, newInum); nsNames[newInum] = "ns-op\(id)" }
                }
            case .cloneNew(let a, let c, let t):
                expectsAlloc = true
                isClone3NS = true
                w.drain(c)
                let r = try ask(a, "C \(c) \(t.cloneFlag) -")
                syscallErrno = r.errno
                if let info = try hello(c, leader: nil, ok: r.errno == 0) {
                    slots[c] = info
                    exeOf[c] = exeOf[a]
                    cloneChild = c
                    let fd = open("/proc/\(info.pid)/ns/\(t.procName)", O_RDONLY | O_CLOEXEC)
                    if fd >= 0 { newInum = inum(fd); created[id] = (t, fd, newInum); nsNames[newInum] = "ns-op\(id)" }
                }
            case .setns(let a, let ref):
                let fd: Int32
                switch ref {
                case .host(let t): fd = w.hostNS[t]!.fd
                case .created(let op): fd = created[op]!.fd
                }
                let r = try ask(a, "S /proc/\(w.runner)/fd/\(fd)")
                syscallErrno = r.errno
            case .setnsPidfd(let a, let t, let types):
                let r = try ask(a, "P \(slots[t]!.tgid) \(NamespaceType.mask(types))")
                syscallErrno = r.errno
            case .migrate(let a, let t, let cg, let threads):
                dst = w.world.destinations[cg]
                via = threads ? .threads : .procs
                let target = slots[t]!
                srcEqualsDst = eval.task(target.pid)?.cgroup == dst
                let path = cgroupRoot + (dst == .root ? "" : dst.description) + (threads ? "/cgroup.threads" : "/cgroup.procs")
                if a == RandomOp.runner {
                    let e = errnoOf { () throws(Errno) in try Sys.writeFile(path, String(target.pid)) }
                    syscallErrno = e
                } else {
                    syscallErrno = try ask(a, "W \(path) \(target.pid)").errno
                }
            case .cloneInto(let a, let c, let cg):
                dst = w.world.destinations[cg]
                via = .clone3
                w.drain(c)
                let r = try ask(a, "C \(c) 0 \(cgroupRoot + (dst == .root ? "" : dst.description))")
                syscallErrno = r.errno
                if let info = try hello(c, leader: nil, ok: r.errno == 0) {
                    slots[c] = info
                    exeOf[c] = exeOf[a]
                    cloneChild = c
                }
            case .flipMode(let r):
                decidingOp = false
                guard let flipped = variants[current].flippingMode(of: r), let v = try variant(flipped) else { continue }
                current = v
                _ = try kernel("swap policy") { () throws(KernelError) in try w.loaded.session.replacePolicy(parsed[v], auditAll: auditAll) }
                preSteps.append(.policy(index: v))
            case .auditAll(let on):
                decidingOp = false
                auditAll = on
                _ = try kernel("audit-all") { () throws(KernelError) in try w.loaded.session.replacePolicy(parsed[current], auditAll: on) }
                preSteps.append(.auditAll(on))
            case .swapPolicy(let k):
                decidingOp = false
                guard let v = try variant(gens[k]) else { continue }
                current = v
                _ = try kernel("swap policy") { () throws(KernelError) in try w.loaded.session.replacePolicy(parsed[v], auditAll: auditAll) }
                preSteps.append(.policy(index: v))
            }
            if syscallErrno < 0 { result.ops -= 1; result.executed.removeLast(); continue }  // could not open a file

            for step in preSteps {
                _ = step.apply(to: &eval, policies: parsed)
                result.steps.append((step, nil, false))
            }
            let events = w.newEvents(pids().union([UInt32(w.runner)]).union(cloneChild == nil ? [] : [UInt32(slots[cloneChild!]!.pid)]))
            func mismatch(_ text: String) { result.mismatches.append(Mismatch(op: id, text: "\(op): \(text)")) }
            if !decidingOp {
                if !events.isEmpty { mismatch("decision events for an operation that decides nothing: \(describe(events))") }
                continue
            }
            if events.isEmpty {
                if syscallErrno != 0 { result.refusedByKernel += 1 }
                else if !srcEqualsDst { mismatch("the syscall succeeded without a decision event") }
                if case .cloneNew = op, let c = cloneChild {
                    let step = EvalStep.fork(parent: pidOf(leaderOf(op)), child: slots[c]!.pid, thread: false)
                    _ = step.apply(to: &eval, policies: parsed)
                    result.steps.append((step, nil, false))
                }
                if case .cloneInto = op, let c = cloneChild {
                    let step = EvalStep.fork(parent: pidOf(leaderOf(op)), child: slots[c]!.pid, thread: false)
                    _ = step.apply(to: &eval, policies: parsed)
                    result.steps.append((step, nil, false))
                }
                try syncCgroups(&eval, slots, &result, op: id, strict: false, groups: touched(op, slots))
                continue
            }
            var lastDecision: Decision?
            // setns commits all of its namespaces or none (a pidfd setns of several types that is
            // denied for one enters none of them); the evaluator enters each allowed one as it is
            // decided, so a failed setns puts the actor's namespaces back.
            var namespacesBefore: (pid: Int32, namespaces: [NamespaceType: UInt32]?)?
            switch op {
            case .setns(let a, _), .setnsPidfd(let a, _, _):
                if let pid = slots[a]?.pid { namespacesBefore = (pid, eval.task(pid)?.namespaces) }
            default: break
            }
            defer {
                if syscallErrno != 0, let before = namespacesBefore, var task = eval.task(before.pid) {
                    task.namespaces = before.namespaces
                    eval.addTask(task)
                }
            }
            for (k, ev) in events.enumerated() {
                let step: EvalStep
                var compareErrno = true
                let evPid = Int32(bitPattern: ev.pid ?? 0), evTarget = Int32(bitPattern: ev.targetPID ?? 0)
                let evInum = ev.nsInum ?? 0, evVerdict = ev.verdict ?? "", evErr = ev.err ?? 0
                switch ev.hook {
                case "namespace_alloc":
                    let type = ev.nsType.flatMap(NamespaceType.init(rawValue:)) ?? .uts
                    var inumUsed = evInum != 0 ? evInum : newInum
                    if inumUsed == 0 { placeholder += 1; inumUsed = placeholder }
                    if nsNames[inumUsed] == nil { nsNames[inumUsed] = "ns-op\(id)" }
                    if evInum != 0 && newInum != 0 && evInum != newInum { mismatch("alloc event inum \(evInum), namespace is \(newInum)") }
                    step = .alloc(actor: evPid, type: type, inum: inumUsed, name: nsNames[inumUsed]!)
                    compareErrno = w.native || isClone3NS
                case "namespace_install":
                    let type = ev.nsType.flatMap(NamespaceType.init(rawValue:)) ?? .uts
                    let name = nsNames[evInum] ?? "ns-\(evInum)"
                    step = .install(actor: evPid, type: type, inum: evInum, name: name)
                    compareErrno = w.native
                default:
                    if via == .clone3 {
                        step = .clone3(parent: evPid, child: evTarget, into: dst)
                    } else {
                        step = .attach(actor: evPid, target: evTarget, dst: dst, via: via)
                    }
                }
                if case .alloc = step {} else if !expectsAlloc {} else { mismatch("a \(ev.hook) event for an unshare") }
                // The actor's lock before the decision, as the kernel saw it.
                let actorPid = evPid
                if case .install(_, let type, let inum, _) = step {
                    let evalIn = type.reentryIsNoop && inum != 0 && eval.task(actorPid)?.namespaces?[type] == inum
                    if evalIn != (ev.alreadyIn == true) {
                        mismatch("setns into \(type.rawValue) \(inum): kernel \(ev.alreadyIn == true ? "already in" : "an entry"), "
                            + "evaluator \(evalIn ? "already in" : "an entry")")
                    }
                }
                let evalLock = eval.task(actorPid)?.lock?.ruleID
                let kernelLock = ev.actorLockRule
                if lockUID(evalLock) != lockUID(kernelLock) {
                    mismatch("actor \(actorPid) lock before the decision: kernel \(kernelLock ?? "none"), evaluator \(evalLock ?? "none")")
                }
                var before: UInt32?
                if case .alloc(let a, let type, _, _) = step { before = eval.task(a)?.namespaces?[type] }
                guard let d = step.apply(to: &eval, policies: parsed) else { continue }
                // EvalStep.alloc moves the actor into the new namespace (unshare, as scenarios do);
                // the parent of a CLONE_NEW* clone stays where it was and the child starts there.
                if case .alloc(let a, let type, let inum, _) = step, d.permitted, !isUnshare(op) {
                    if let before { eval.setNamespace(task: a, type: type, inum: before) }
                    cloneAllocs.append((type, inum))
                }
                lastDecision = d
                result.decisions += 1
                if ev.verdict == "deny" { result.denied += 1 }
                if ev.verdict == "audit" { result.audited += 1 }
                let observed = ObservedDecision(verdict: Verdict(rawValue: evVerdict) ?? .allow, rule: ev.rule, errno: evErr)
                result.steps.append((step, observed, compareErrno))
                let wantErr = d.verdict == .deny && !compareErrno ? 1 : d.err
                if d.verdict.rawValue != evVerdict || d.rule != ev.rule || wantErr != evErr {
                    mismatch("event \(k + 1)/\(events.count) (\(ev.hook) by \(show(ev.pid))): kernel \(show(ev.verdict))/\(ev.rule ?? "-")/\(show(ev.err)), "
                        + "evaluator \(d.verdict.rawValue)/\(d.rule ?? "-")/\(wantErr)")
                }
                if ev.hook == "namespace_alloc" && d.permitted && newInum != 0 {
                    let kernelLabel = (try? w.loaded.session.trackedNamespace(inum: newInum))?.label ?? 0
                    let evalLabel = eval.trackedNamespaces[newInum].map { StableID.of($0.label) } ?? 0
                    if kernelLabel != evalLabel {
                        mismatch("namespace \(newInum) label: kernel \(String(kernelLabel, radix: 16)), evaluator \(eval.trackedNamespaces[newInum]?.label ?? "untracked")")
                    }
                }
                if ev.verdict == "deny" && k != events.count - 1 { mismatch("events after a denial: \(describe(events))") }
            }
            // The syscall's result agrees with the last decision.
            if let d = lastDecision {
                let want = d.verdict == .deny ? (d.hook == .namespaceAlloc && !w.native && !isClone3NS || d.hook == .namespaceInstall && !w.native ? 1 : d.err) : 0
                if d.verdict == .deny && syscallErrno != want {
                    mismatch("denied, but the syscall returned errno \(syscallErrno) (expected \(want))")
                } else if d.verdict != .deny && syscallErrno != 0 {
                    result.refusedByKernel += 1
                }
            }
            // A clone3 whose child exists: the evaluator forked it already (clone3 step) unless
            // it was a CLONE_NEW* clone, which the evaluator sees as alloc + fork.
            if case .cloneNew = op, let c = cloneChild {
                let step = EvalStep.fork(parent: pidOf(leaderOf(op)), child: slots[c]!.pid, thread: false)
                _ = step.apply(to: &eval, policies: parsed)
                result.steps.append((step, nil, false))
                for (type, inum) in cloneAllocs { eval.setNamespace(task: slots[c]!.pid, type: type, inum: inum) }
            }
            cloneAllocs = []
            if case .cloneInto = op, let c = cloneChild, eval.task(slots[c]!.pid) == nil {
                mismatch("clone3 child \(slots[c]!.pid) exists, the evaluator removed it")
                eval.fork(parent: pidOf(leaderOf(op)), child: slots[c]!.pid)
            }
            try syncCgroups(&eval, slots, &result, op: id, strict: syscallErrno == 0, groups: touched(op, slots))
        }
        return result
    }

    static func isUnshare(_ op: RandomOp) -> Bool {
        if case .unshare = op { return true }
        return false
    }

    /// The thread groups an operation may have moved.
    static func touched(_ op: RandomOp, _ slots: SlotTable) -> Set<Int32> {
        switch op {
        case .migrate(_, let t, _, _): slots[t].map { [$0.tgid] } ?? []
        case .cloneInto(_, let c, _): slots[c].map { [$0.tgid] } ?? []
        default: []
        }
    }

    static func leaderOf(_ op: RandomOp) -> Int {
        switch op {
        case .cloneNew(let a, _, _), .cloneInto(let a, _, _): a
        default: 0
        }
    }

    static func lockUID(_ rule: String?) -> UInt32 {
        guard let rule else { return 0 }
        if rule.hasPrefix("uid:") { return UInt32(rule.dropFirst(4), radix: 16) ?? 0 }
        return StableID.of(rule)
    }

    /// Where tasks really are vs. where the evaluator put them; resynchronised afterwards
    /// (a move the kernel refused after Corral allowed it). `strict`: a difference is a mismatch.
    static func syncCgroups(_ eval: inout Evaluator, _ slots: SlotTable, _ result: inout CaseResult, op: Int, strict: Bool,
                            groups: Set<Int32>) throws {
        for s in slots.alive where groups.contains(slots[s]!.tgid) {
            let info = slots[s]!
            guard let real = cgroupOf(tgid: info.tgid, tid: info.pid), var task = eval.task(info.pid) else { continue }
            if task.cgroup != real {
                if strict {
                    result.mismatches.append(Mismatch(op: op, text: "task \(info.pid) is in \(real), the evaluator has it in \(task.cgroup)"))
                }
                task.cgroup = real
                eval.addTask(task)
            }
        }
    }

    // MARK: shrinking

    static func shrinkAndPrint(_ w: World, gens: [GeneratedPolicy], result: CaseResult) throws {
        var budget = 400
        var policies = gens
        var ops = result.executed
        func fails(_ p: [GeneratedPolicy], _ o: [(id: Int, op: RandomOp)]) -> Bool {
            guard (try? p[0].parse()) != nil else { return false }
            return ((try? runCase(w, gens: p, opSeed: 0, count: 0, replay: o))?.mismatches.isEmpty == false)
        }
        guard fails(policies, ops) else {
            print("    # the mismatch did not reproduce on a re-run of the case; not shrunk")
            return
        }
        for _ in 0..<2 {
            ops = Shrinker.minimize(ops, budget: &budget) { fails(policies, $0) }
            var rules = Array(policies[0].rules.indices)
            rules = Shrinker.minimize(rules, budget: &budget) { keep in
                fails([policies[0].keeping { keep.contains($0) }] + policies.dropFirst(), ops)
            }
            policies[0] = policies[0].keeping { rules.contains($0) }
            if policies.count > 1 && fails([policies[0]], ops) { policies = [policies[0]] }
        }
        guard let final = try? runCase(w, gens: policies, opSeed: 0, count: 0, replay: ops) else { return }
        // The scenario: only steps up to the first mismatching op's last step.
        let policyTexts = policyVariants(w, policies: policies, ops: ops)
        let rendered = ScenarioWriter.render(
            description: "differential/random: shrunk kernel/evaluator mismatch (\(w.native ? "native" : "compat") mode): "
                + final.mismatches.map(\.text).joined(separator: "; "),
            policies: policyTexts,
            tasks: [InitialTask(pid: w.runner, tgid: w.runner, exe: w.world.exes[0], xattrs: [], cgroup: w.runnerCgroup)],
            steps: final.steps)
        print("    # shrunk to \(ops.count) operations, \(policies[0].rules.count) rules, \(final.steps.count) scenario steps:")
        for op in ops { print("    #   \(op.op)") }
        print("    # ---8<--- scenario.yaml")
        for line in rendered.scenario.split(separator: "\n") { print("    " + line) }
        for file in rendered.files {
            print("    # ---8<--- \(file.name)")
            for line in file.text.split(separator: "\n") { print("    " + line) }
        }
        print("    # ---8<--- end")
    }

    /// The policy variants a replay installs, in the order `runCase` numbers them.
    static func policyVariants(_ w: World, policies: [GeneratedPolicy], ops: [(id: Int, op: RandomOp)]) -> [String] {
        var variants: [GeneratedPolicy] = []
        func variant(_ g: GeneratedPolicy) -> Int {
            if let i = variants.firstIndex(where: { $0.yaml == g.yaml }) { return i }
            variants.append(g)
            return variants.count - 1
        }
        var current = variant(policies[0])
        for g in policies.dropFirst() { _ = variant(g) }
        for (_, op) in ops {
            switch op {
            case .flipMode(let r): if let f = variants[current].flippingMode(of: r) { current = variant(f) }
            case .swapPolicy(let k) where k < policies.count: current = variant(policies[k])
            default: break
            }
        }
        return variants.map(\.yaml)
    }
}
