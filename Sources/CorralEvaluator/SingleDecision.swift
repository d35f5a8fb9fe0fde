// One decision against a given world state: the entry point for explaining a recorded kernel
// event, asking "why" about live tasks, and replaying events against another policy.
// It builds a fresh Evaluator from the world and runs the same hook procedure as every other
// decision (docs/semantics.md); nothing here changes the semantics.
import CorralPolicy

extension Evaluator {
    /// One supervised operation.
    public enum Operation: Sendable, Hashable {
        /// `actor` creates a namespace (unshare, clone with CLONE_NEW*).
        case namespaceAlloc(actor: Int32, type: NamespaceType, inum: UInt32)
        /// `actor` enters a namespace (setns).
        case namespaceInstall(actor: Int32, type: NamespaceType, inum: UInt32)
        /// `actor` moves `target` from `src` (nil: the target's cgroup) to `dst`.
        case cgroupAttach(actor: Int32, target: Int32, src: CgroupPath?, dst: CgroupPath, threadgroup: Bool?, via: AttachVia)
        /// `tracer` asks for PTRACE_MODE_ATTACH access to `tracee` (or `tracee` calls PTRACE_TRACEME).
        case ptrace(tracer: Int32, tracee: Int32, traceme: Bool)
        /// `actor` writes `file` of user namespace `inum` (`extents`: the uid_map/gid_map lines).
        case idMapWrite(actor: Int32, inum: UInt32, file: IDMapFile, extents: [IDRange]?)

        public var hook: Hook {
            switch self {
            case .namespaceAlloc: .namespaceAlloc
            case .namespaceInstall: .namespaceInstall
            case .cgroupAttach: .cgroupAttach
            case .ptrace: .ptrace
            case .idMapWrite: .idMap
            }
        }
    }

    /// The state one decision reads: policy, modes, the tasks involved (with cgroup, executable,
    /// lock), tracked namespaces and the cgroup ids to report.
    public struct World: Sendable {
        public var policy: Policy?
        public var auditAll: Bool
        public var tasks: [TaskState]
        public var trackedNamespaces: [TrackedNamespace]
        public var cgroupIDs: [CgroupPath: UInt64]
        /// CLOCK_BOOTTIME of the decision (`Evaluator.now`): decides whether a loosening is over.
        public var now: UInt64
        /// `RuleOrder.precedence(of: policy.rules)`, when known (nil: computed per decision).
        public var precedence: [String: Int]?
        /// `Evaluator.explains`: false leaves the decision's `reason` and `considered` empty.
        public var explains = true

        public init(policy: Policy?, auditAll: Bool = false, tasks: [TaskState] = [],
                    trackedNamespaces: [TrackedNamespace] = [], cgroupIDs: [CgroupPath: UInt64] = [:],
                    now: UInt64 = 0) {
            self.policy = policy
            self.auditAll = auditAll
            self.now = now
            self.tasks = tasks
            self.trackedNamespaces = trackedNamespaces
            self.cgroupIDs = cgroupIDs
        }
    }

    /// Decides `operation` in `world`. Tasks the world does not list are default tasks
    /// (tgid = pid, no executable, cgroup "/"), as everywhere in the evaluator.
    public static func decide(_ operation: Operation, in world: World) -> Decision {
        var evaluator = Evaluator(policy: world.policy, auditAll: world.auditAll, cgroupIDs: world.cgroupIDs,
                                  precedence: world.precedence)
        evaluator.now = world.now
        evaluator.explains = world.explains
        for task in world.tasks { evaluator.addTask(task) }
        for namespace in world.trackedNamespaces { evaluator.addTrackedNamespace(namespace) }
        switch operation {
        case .namespaceAlloc(let actor, let type, let inum):
            return evaluator.namespaceAlloc(actor: actor, type: type, inum: inum)
        case .namespaceInstall(let actor, let type, let inum):
            return evaluator.namespaceInstall(actor: actor, type: type, inum: inum)
        case .cgroupAttach(let actor, let target, let src, let dst, let threadgroup, let via):
            return evaluator.cgroupAttach(actor: actor, target: target, src: src, dst: dst, threadgroup: threadgroup, via: via)
        case .ptrace(let tracer, let tracee, let traceme):
            return evaluator.ptrace(tracer: tracer, tracee: tracee, traceme: traceme)
        case .idMapWrite(let actor, let inum, let file, let extents):
            return evaluator.idMapWrite(actor: actor, inum: inum, file: file, extents: extents)
        }
    }
}
