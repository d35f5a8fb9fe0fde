// Randomized differential testing (issue 17), part 4: the host twin's executor. It performs random
// operations on the evaluator alone (no kernel): the same generator, synthetic pids, and each
// task's current namespaces tracked here so setns by pidfd knows what it enters. The runner is
// PID 1, so `pid1` subjects match it.
import CorralEvaluator
import CorralPolicy

public struct SimulatedCase {
    public struct Step {
        public var step: EvalStep
        public var decision: Decision?
        /// The operation the step belongs to (its index in the case).
        public var op: Int
    }

    public var world: RandomWorld
    public var gens: [GeneratedPolicy]
    /// Policy variants in the order `.policy(index)` steps name them ([0] is the starting policy).
    public private(set) var variants: [GeneratedPolicy] = []
    public private(set) var parsed: [Policy] = []
    public private(set) var steps: [Step] = []
    public private(set) var ops: [RandomOp] = []
    public private(set) var evaluator: Evaluator
    public static let runnerPid: Int32 = 1
    public let initialTasks: [InitialTask]
    public let hostNamespaces: [(name: String, type: NamespaceType, inum: UInt32)]

    private var slots = SlotTable(count: 6)
    private var namespaces: [Int32: [NamespaceType: UInt32]] = [:]
    private var created: [Int: (type: NamespaceType, inum: UInt32)] = [:]
    private var names: [UInt32: String] = [:]
    private var nextPid: Int32 = 100
    private var nextInum: UInt32 = 4_026_532_001
    private var current = 0

    /// `before(evaluator, step, parsedPolicies)` runs before each deciding step is applied, with
    /// the state it is decided in (invariant checks clone it).
    public init(world: RandomWorld, gens: [GeneratedPolicy]) throws(PolicyErrors) {
        self.world = world
        self.gens = gens
        var host: [NamespaceType: UInt32] = [:]
        var hostList: [(name: String, type: NamespaceType, inum: UInt32)] = []
        for (i, t) in world.opTypes.enumerated() {
            host[t] = 4_026_531_835 + UInt32(i)
            hostList.append(("host-\(t.rawValue)", t, host[t]!))
            names[host[t]!] = "host-\(t.rawValue)"
        }
        hostNamespaces = hostList
        namespaces[Self.runnerPid] = host
        let runner = InitialTask(pid: Self.runnerPid, tgid: Self.runnerPid, exe: world.exes[0], xattrs: world.exeXattrs[0], cgroup: .root)
        initialTasks = [runner]
        evaluator = Evaluator()
        evaluator.addTask(TaskState(pid: runner.pid, exe: runner.exe, exeXattrs: Set(runner.xattrs), cgroup: .root))
        for g in gens { _ = try variant(g) }
        evaluator.replacePolicy(parsed[0])
    }

    private mutating func variant(_ g: GeneratedPolicy) throws(PolicyErrors) -> Int {
        if let i = variants.firstIndex(where: { $0.yaml == g.yaml }) { return i }
        parsed.append(try g.parse())
        variants.append(g)
        return variants.count - 1
    }

    /// Runs `count` generated operations.
    public mutating func run(opSeed: UInt64, count: Int,
                             before: (Evaluator, EvalStep, [Policy]) -> Void = { _, _, _ in }) {
        var gen = RandomOpGenerator(world: world, seed: opSeed)
        for _ in 0..<count {
            let op = gen.next(slots: slots, created: created.map { ($0.key, $0.value.type) }.sorted { $0.0 < $1.0 },
                              rules: variants[current].rules.map(\.id), policies: gens.count)
            perform(op, before: before)
        }
    }

    private mutating func apply(_ step: EvalStep, op: Int, before: (Evaluator, EvalStep, [Policy]) -> Void) -> Decision? {
        if step.decides { before(evaluator, step, parsed) }
        let d = step.apply(to: &evaluator, policies: parsed)
        steps.append(Step(step: step, decision: d, op: op))
        return d
    }

    private mutating func newPid() -> Int32 { nextPid += 1; return nextPid }

    /// A fresh inode number for the namespace operation `op` creates, and its scenario name.
    private mutating func newNamespace(op: Int) -> (inum: UInt32, name: String) {
        let inum = nextInum
        nextInum += 1
        let name = "ns-op\(op)"
        names[inum] = name
        return (inum, name)
    }

    private mutating func forked(_ parent: Int32, into slot: Int, thread: Bool, leader: Int?, op: Int,
                                 before: (Evaluator, EvalStep, [Policy]) -> Void) {
        let pid = newPid()
        let tgid = thread ? (evaluator.task(parent)?.tgid ?? parent) : pid
        slots[slot] = SlotInfo(pid: pid, tgid: tgid, leader: leader ?? slot, isThread: thread)
        namespaces[pid] = namespaces[parent]
        _ = apply(.fork(parent: parent, child: pid, thread: thread), op: op, before: before)
    }

    public mutating func perform(_ op: RandomOp, before: (Evaluator, EvalStep, [Policy]) -> Void = { _, _, _ in }) {
        let index = ops.count
        ops.append(op)
        func pid(_ s: Int) -> Int32? { s == RandomOp.runner ? Self.runnerPid : slots[s]?.pid }
        switch op {
        case .spawn(let s):
            guard slots[s] == nil else { return }
            forked(Self.runnerPid, into: s, thread: false, leader: nil, op: index, before: before)
        case .fork(let a, let c):
            guard let p = pid(a), slots[c] == nil else { return }
            forked(p, into: c, thread: false, leader: nil, op: index, before: before)
        case .thread(let a, let c):
            guard let p = pid(a), slots[c] == nil, slots[a]?.isThread == false else { return }
            forked(p, into: c, thread: true, leader: a, op: index, before: before)
        case .exec(let a, let e):
            guard let p = pid(a), slots[a]?.isThread == false else { return }
            for t in slots.threads(of: a) { slots[t] = nil }
            _ = apply(.exec(pid: p, exe: world.exes[e], xattrs: world.exeXattrs[e]), op: index, before: before)
        case .exit(let s):
            guard let info = slots[s] else { return }
            let gone = info.isThread ? [s] : [s] + slots.threads(of: s)
            for g in gone { _ = apply(.exit(pid: slots[g]!.pid), op: index, before: before); slots[g] = nil }
        case .unshare(let a, let t):
            guard let p = pid(a) else { return }
            let (inum, name) = newNamespace(op: index)
            if apply(.alloc(actor: p, type: t, inum: inum, name: name), op: index, before: before)?.permitted == true {
                created[index] = (t, inum)
                namespaces[p, default: [:]][t] = inum
            }
        case .cloneNew(let a, let c, let t):
            guard let p = pid(a), slots[c] == nil else { return }
            let (inum, name) = newNamespace(op: index)
            if apply(.alloc(actor: p, type: t, inum: inum, name: name), op: index, before: before)?.permitted == true {
                created[index] = (t, inum)
                forked(p, into: c, thread: false, leader: nil, op: index, before: before)
                namespaces[slots[c]!.pid, default: [:]][t] = inum
            }
        case .setns(let a, let ref):
            guard let p = pid(a) else { return }
            let target: (type: NamespaceType, inum: UInt32)
            switch ref {
            case .host(let t): target = (t, hostNamespaces.first { $0.type == t }!.inum)
            case .created(let o):
                guard let c = created[o] else { return }
                target = c
            }
            let step = EvalStep.install(actor: p, type: target.type, inum: target.inum, name: names[target.inum]!)
            if apply(step, op: index, before: before)?.permitted == true { namespaces[p, default: [:]][target.type] = target.inum }
        case .setnsPidfd(let a, let t, let types):
            guard let p = pid(a), let target = slots[t] else { return }
            // validate_nsset's order; the first denial ends the call, and nothing is entered then.
            var entered: [NamespaceType: UInt32] = [:]
            var ok = true
            for type in NamespaceType.allCases where types.contains(type) {
                guard let inum = namespaces[target.tgid]?[type] ?? namespaces[target.pid]?[type] else { continue }
                let step = EvalStep.install(actor: p, type: type, inum: inum, name: names[inum]!)
                if apply(step, op: index, before: before)?.permitted != true { ok = false; break }
                entered[type] = inum
            }
            if ok { namespaces[p, default: [:]].merge(entered) { $1 } }
        case .migrate(let a, let t, let cg, let threads):
            guard let actor = pid(a), let target = slots[t] else { return }
            let dst = world.destinations[cg]
            // The kernel's rules the kernel itself enforces before Corral are not modelled here.
            _ = apply(.attach(actor: actor, target: target.pid, dst: dst, via: threads ? .threads : .procs), op: index, before: before)
        case .cloneInto(let a, let c, let cg):
            guard let p = pid(a), slots[c] == nil else { return }
            let child = newPid()
            if apply(.clone3(parent: p, child: child, into: world.destinations[cg]), op: index, before: before)?.permitted == true {
                slots[c] = SlotInfo(pid: child, tgid: child, leader: c, isThread: false)
                namespaces[child] = namespaces[p]
            }
        case .flipMode(let r):
            guard let flipped = variants[current].flippingMode(of: r), let v = try? variant(flipped) else { return }
            current = v
            _ = apply(.policy(index: v), op: index, before: before)
        case .auditAll(let on):
            _ = apply(.auditAll(on), op: index, before: before)
        case .swapPolicy(let k):
            guard k < gens.count, let v = try? variant(gens[k]) else { return }
            current = v
            _ = apply(.policy(index: v), op: index, before: before)
        }
    }

    /// The case as a scenario whose expectations are the evaluator's own decisions.
    public func scenario(description: String) -> (scenario: String, files: [(name: String, text: String)]) {
        ScenarioWriter.render(
            description: description, policies: variants.map(\.yaml),
            tasks: initialTasks,
            steps: steps.map { s in
                (s.step, s.decision.map { ObservedDecision(verdict: $0.verdict, rule: $0.rule, errno: $0.err) }, true)
            })
    }
}
