// Randomized differential testing (issue 17), part 2: random operation sequences over the world's
// tasks ("slots"), cgroups and namespaces, and the evaluator-level steps they become.
import CorralEvaluator
import CorralPolicy

/// A namespace an operation enters: the runner's (host) one of a type, or the one an earlier
/// operation (by its index in the case) created.
public enum NamespaceRef: Hashable, Sendable, CustomStringConvertible {
    case host(NamespaceType)
    case created(op: Int)

    public var description: String {
        switch self {
        case .host(let t): "host-\(t.rawValue)"
        case .created(let op): "ns-op\(op)"
        }
    }
}

/// One random operation. Slots name the world's tasks (`runner` = -1 is the test process
/// itself, which only moves tasks and spawns workers). An operation naming a slot that is not
/// alive (e.g. after shrinking removed the fork that made it) is skipped.
public enum RandomOp: Hashable, Sendable, CustomStringConvertible {
    /// The runner forks a fresh worker process (no decision: fork is not supervised).
    case spawn(slot: Int)
    /// A worker process forks a child process.
    case fork(actor: Int, child: Int)
    /// A worker process starts a thread.
    case thread(actor: Int, child: Int)
    /// A process leader execs `world.exes[exe]` (its other threads end).
    case exec(actor: Int, exe: Int)
    case exit(slot: Int)
    /// unshare(2) of one namespace type.
    case unshare(actor: Int, type: NamespaceType)
    /// clone3 with CLONE_NEW<type>: decided for the parent; the child lives in the new namespace.
    case cloneNew(actor: Int, child: Int, type: NamespaceType)
    /// setns(2) by an nsfs fd.
    case setns(actor: Int, ns: NamespaceRef)
    /// setns(2) by a pidfd of `target`'s process, for `types`.
    case setnsPidfd(actor: Int, target: Int, types: [NamespaceType])
    /// `actor` writes `target`'s pid (tid with `threads`) into `world.destinations[cgroup]`.
    case migrate(actor: Int, target: Int, cgroup: Int, threads: Bool)
    /// clone3(CLONE_INTO_CGROUP) of a child process into `world.destinations[cgroup]`.
    case cloneInto(actor: Int, child: Int, cgroup: Int)
    /// Mode switches: the active policy with rule `rule`'s mode flipped (skipped when the policy has
    /// no such rule), or the global audit switch.
    case flipMode(rule: String)
    case auditAll(Bool)
    /// Swap to the case's second policy (or back to the first).
    case swapPolicy(Int)

    public static let runner = -1

    public var description: String {
        switch self {
        case .spawn(let s): "spawn w\(s)"
        case .fork(let a, let c): "w\(a) fork w\(c)"
        case .thread(let a, let c): "w\(a) thread w\(c)"
        case .exec(let a, let e): "w\(a) exec exe\(e)"
        case .exit(let s): "w\(s) exit"
        case .unshare(let a, let t): "w\(a) unshare \(t.rawValue)"
        case .cloneNew(let a, let c, let t): "w\(a) clone3 new-\(t.rawValue) w\(c)"
        case .setns(let a, let ns): "w\(a) setns \(ns)"
        case .setnsPidfd(let a, let t, let types): "w\(a) setns pidfd w\(t) \(types.map(\.rawValue).joined(separator: ","))"
        case .migrate(let a, let t, let c, let th): "\(a < 0 ? "runner" : "w\(a)") moves w\(t) to cg\(c) via \(th ? "threads" : "procs")"
        case .cloneInto(let a, let c, let cg): "w\(a) clone3 w\(c) into cg\(cg)"
        case .flipMode(let r): "flip mode of rule \(r)"
        case .auditAll(let on): "audit-all \(on)"
        case .swapPolicy(let k): "policy #\(k)"
        }
    }
}

/// What the generator needs to know about the world's tasks now.
public struct SlotInfo: Hashable, Sendable {
    public var pid: Int32
    public var tgid: Int32
    /// The slot of the thread group's leader (itself for a process).
    public var leader: Int
    public var isThread: Bool

    public init(pid: Int32, tgid: Int32, leader: Int, isThread: Bool) {
        self.pid = pid
        self.tgid = tgid
        self.leader = leader
        self.isThread = isThread
    }
}

/// The live tasks by slot, kept by each executor (host: simulated; guest: real pids).
public struct SlotTable: Sendable {
    public var slots: [SlotInfo?]
    public init(count: Int) { slots = Array(repeating: nil, count: count) }

    public subscript(_ s: Int) -> SlotInfo? {
        get { s >= 0 && s < slots.count ? slots[s] : nil }
        set { if s >= 0 && s < slots.count { slots[s] = newValue } }
    }
    public var alive: [Int] { slots.indices.filter { slots[$0] != nil } }
    public var free: [Int] { slots.indices.filter { slots[$0] == nil } }
    public var leaders: [Int] { alive.filter { !slots[$0]!.isThread } }
    public func threads(of leader: Int) -> [Int] { alive.filter { slots[$0]!.isThread && slots[$0]!.leader == leader } }
    /// Removes `s`; a leader takes its threads with it.
    public mutating func remove(_ s: Int) {
        guard let info = self[s] else { return }
        if !info.isThread { for t in threads(of: s) { slots[t] = nil } }
        slots[s] = nil
    }
}

/// Seeded generator of operations. It looks at the current slot table and the namespaces made so
/// far, so most operations it emits are valid; the executors skip the rest.
public struct RandomOpGenerator {
    public var world: RandomWorld
    public var rng: SplitMix
    public init(world: RandomWorld, seed: UInt64) {
        self.world = world
        rng = SplitMix(seed: seed)
    }

    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    mutating func roll(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

    /// The next operation. `created` lists the ops (by index) whose namespaces exist now, with
    /// their types; `rules` are the rule ids of the active policy; `policies` how many
    /// policies the case has.
    public mutating func next(slots: SlotTable, created: [(op: Int, type: NamespaceType)], rules: [String], policies: Int) -> RandomOp {
        let alive = slots.alive, leaders = slots.leaders, free = slots.free
        if leaders.isEmpty || (leaders.count < 2 && !free.isEmpty && roll(2) == 0) {
            return .spawn(slot: free.first ?? 0)
        }
        let actor = pick(alive)
        let leader = slots[actor]!.isThread ? slots[actor]!.leader : actor
        let dests = world.destinations.count
        let r = roll(100)
        switch r {
        case 0..<4 where !free.isEmpty:
            return .spawn(slot: pick(free))
        case 4..<9 where !free.isEmpty:
            return .fork(actor: leader, child: pick(free))
        case 9..<12 where !free.isEmpty:
            return .thread(actor: leader, child: pick(free))
        case 12..<14:
            return .exec(actor: leader, exe: roll(world.exes.count))
        case 14..<16 where alive.count > 2:
            return .exit(slot: pick(alive))
        case 16..<28:
            return .unshare(actor: actor, type: pick(world.opTypes))
        case 28..<31 where !free.isEmpty:
            return .cloneNew(actor: leader, child: pick(free), type: pick(world.opTypes))
        case 31..<47:
            let refs = world.opTypes.map { NamespaceRef.host($0) } + created.map { .created(op: $0.op) }
            // Prefer created (possibly labelled) namespaces.
            if !created.isEmpty && roll(3) > 0 { return .setns(actor: actor, ns: .created(op: pick(created).op)) }
            return .setns(actor: actor, ns: pick(refs))
        case 47..<52:
            var types: [NamespaceType] = []
            for t in world.opTypes where t != .mnt && roll(2) == 0 { types.append(t) }
            if types.isEmpty { types = [pick([NamespaceType.uts, .ipc, .cgroup])] }
            return .setnsPidfd(actor: actor, target: pick(alive), types: types)
        case 52..<88:
            // A thread move: between the threaded cgroups, of a thread (or leader) of a process.
            if roll(5) == 0 {
                let target = pick(alive)
                let to = world.destinations.firstIndex(of: world.path(pick(Array(world.threaded).sorted()))) ?? 0
                return .migrate(actor: roll(4) == 0 ? RandomOp.runner : actor, target: target, cgroup: to, threads: true)
            }
            let by = roll(3)
            let mover = by == 0 ? RandomOp.runner : actor
            let target = by == 1 ? actor : pick(alive)
            return .migrate(actor: mover, target: target, cgroup: roll(dests), threads: false)
        case 88..<93 where !free.isEmpty:
            return .cloneInto(actor: leader, child: pick(free), cgroup: roll(dests))
        case 93..<97 where !rules.isEmpty:
            return .flipMode(rule: pick(rules))
        case 97..<99:
            return .auditAll(roll(2) == 0)
        case 99 where policies > 1:
            return .swapPolicy(roll(policies))
        default:
            return .migrate(actor: actor, target: actor, cgroup: roll(dests), threads: false)
        }
    }
}

/// One call into the evaluator, in the kernel's order: what the scenario file's steps are.
public enum EvalStep: Hashable, Sendable {
    case fork(parent: Int32, child: Int32, thread: Bool)
    case exec(pid: Int32, exe: String, xattrs: [String])
    case exit(pid: Int32)
    /// namespace_alloc; `name` names the namespace for later setns steps.
    case alloc(actor: Int32, type: NamespaceType, inum: UInt32, name: String)
    case install(actor: Int32, type: NamespaceType, inum: UInt32, name: String)
    case attach(actor: Int32, target: Int32, dst: CgroupPath, via: AttachVia)
    case clone3(parent: Int32, child: Int32, into: CgroupPath)
    /// Swap to the case's policy variant `index` (see `ScenarioWriter`).
    case policy(index: Int)
    case auditAll(Bool)

    public var decides: Bool {
        switch self {
        case .alloc, .install, .attach, .clone3: true
        default: false
        }
    }

    /// Applies the step; returns its decision (nil for steps that decide nothing).
    public func apply(to e: inout Evaluator, policies: [Policy]) -> Decision? {
        switch self {
        case .fork(let p, let c, let t): e.fork(parent: p, child: c, thread: t); return nil
        case .exec(let p, let exe, let x): e.exec(task: p, exe: exe, xattrs: Set(x)); return nil
        case .exit(let p): e.exit(task: p); return nil
        case .alloc(let a, let t, let i, _):
            // As a scenario's unshare step: the actor is then in the new namespace.
            let d = e.namespaceAlloc(actor: a, type: t, inum: i)
            if d.permitted { e.setNamespace(task: a, type: t, inum: i) }
            return d
        case .install(let a, let t, let i, _): return e.namespaceInstall(actor: a, type: t, inum: i)
        case .attach(let a, let t, let d, let v): return e.cgroupAttach(actor: a, target: t, dst: d, via: v)
        case .clone3(let p, let c, let d): return e.clone3(parent: p, child: c, into: d)
        case .policy(let i): e.replacePolicy(policies[i]); return nil
        case .auditAll(let on): e.auditAll = on; return nil
        }
    }
}

/// What the kernel decided for one step (the scenario's `expect:`).
public struct ObservedDecision: Hashable, Sendable {
    public var verdict: Verdict
    public var rule: String?
    public var errno: Int32
    public init(verdict: Verdict, rule: String?, errno: Int32) {
        self.verdict = verdict
        self.rule = rule
        self.errno = errno
    }

    public var text: String { "\(verdict.rawValue)/\(rule ?? "-")/\(errno)" }
}
