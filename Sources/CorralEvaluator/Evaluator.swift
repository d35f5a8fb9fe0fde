// The reference evaluator: a pure-Swift state machine implementing docs/semantics.md.
// The BPF programs implement the same procedure; differential tests compare the two.
import CorralPolicy

/// Tasks, tracked namespaces, hook counters and the active policy, plus the four hook decisions.
///
/// Unknown pids are never an error: a decision or transition naming a pid the evaluator has not
/// seen registers a default task for it (tgid = pid, no executable, cgroup "/").
public struct Evaluator: Sendable {
    public private(set) var policy: Policy?
    /// The global audit switch (`corral run --audit`): every rule is treated as audit.
    public var auditAll: Bool
    /// CLOCK_BOOTTIME nanoseconds of the decisions, compared with `Rule.auditUntil` (a loosened
    /// rule is audit while `now` is below it). 0, the default, is "during every loosening".
    public var now: UInt64 = 0
    public private(set) var tasks: [Int32: TaskState] = [:]
    /// Tracked namespaces by inum. Not tied to a policy: they survive policy swaps.
    public private(set) var trackedNamespaces: [UInt32: TrackedNamespace] = [:]
    /// Hook invocations so far.
    public private(set) var hookCounts: [Hook: UInt64] = [:]
    /// Cgroup ids for records. Paths without a configured id get synthetic ids from 1000 up.
    public private(set) var cgroupIDs: [CgroupPath: UInt64]
    private var precedence: [String: Int] = [:]
    /// Whether decisions carry their explanation: `reason`, `considered`. false: the same
    /// procedure, verdict, rule, mode, errno, winners, effects and record, with `reason` and
    /// `considered` empty and no text formatted (a replay deciding many events reads neither).
    public var explains = true

    /// `make()` when decisions are explained; else "", and nothing is formatted.
    @inline(__always)
    private func text(_ make: () -> String) -> String { explains ? make() : "" }

    public init(policy: Policy? = nil, auditAll: Bool = false, cgroupIDs: [CgroupPath: UInt64] = [:]) {
        self.init(policy: policy, auditAll: auditAll, cgroupIDs: cgroupIDs, precedence: nil)
    }

    /// `precedence`: `RuleOrder.precedence(of: policy.rules)` when the caller has it already
    /// (a replay deciding many events under one policy); nil computes it.
    public init(policy: Policy?, auditAll: Bool, cgroupIDs: [CgroupPath: UInt64], precedence: [String: Int]?) {
        self.auditAll = auditAll
        self.cgroupIDs = cgroupIDs
        if self.cgroupIDs[.root] == nil, !cgroupIDs.values.contains(1) { self.cgroupIDs[.root] = 1 }
        self.policy = policy
        self.precedence = precedence ?? policy.map { RuleOrder.precedence(of: $0.rules) } ?? [:]
    }

    // MARK: - State

    /// Replaces the active policy (nil: no policy, everything allowed, nothing tracked).
    /// Tracked namespaces and task locks stay; a lock is enforced only while its rule is in the policy.
    public mutating func replacePolicy(_ policy: Policy?) {
        self.policy = policy
        precedence = policy.map { RuleOrder.precedence(of: $0.rules) } ?? [:]
    }

    public func task(_ pid: Int32) -> TaskState? { tasks[pid] }

    /// Adds or replaces a task.
    public mutating func addTask(_ task: TaskState) { tasks[task.pid] = task }

    /// Adds or replaces a tracked namespace, as if a track rule had labelled it earlier
    /// (for reconstructing kernel state, e.g. `Evaluator.decide`).
    public mutating func addTrackedNamespace(_ namespace: TrackedNamespace) {
        trackedNamespaces[namespace.inum] = namespace
    }

    /// The id reported for a cgroup; assigns a synthetic one on first use.
    public mutating func cgroupID(for path: CgroupPath) -> UInt64 {
        if let id = cgroupIDs[path] { return id }
        let id = max(1000, (cgroupIDs.values.max() ?? 0) + 1)
        cgroupIDs[path] = id
        return id
    }

    public mutating func setCgroupID(_ id: UInt64, for path: CgroupPath) { cgroupIDs[path] = id }

    /// Reverse lookup, for kernel events that carry only ids.
    public func cgroupPath(forID id: UInt64) -> CgroupPath? {
        cgroupIDs.first { $0.value == id }?.key
    }

    public func hookCount(_ hook: Hook) -> UInt64 { hookCounts[hook] ?? 0 }

    /// Marks a task traced (inherited by its children, like the lock).
    public mutating func setTraced(_ pid: Int32, _ traced: Bool = true) {
        ensureTask(pid)
        tasks[pid]?.traced = traced
    }

    @discardableResult
    private mutating func ensureTask(_ pid: Int32) -> TaskState {
        if let task = tasks[pid] { return task }
        let task = TaskState(pid: pid)
        tasks[pid] = task
        return task
    }

    // MARK: - Transitions

    /// fork/clone: the child inherits executable, cgroup, lock and traced flag.
    /// A thread joins the parent's thread group; a process starts its own.
    public mutating func fork(parent: Int32, child: Int32, thread: Bool = false) {
        var task = ensureTask(parent)
        task.pid = child
        if !thread { task.tgid = child }
        tasks[child] = task
    }

    /// execve: new executable; the lock survives. Other threads of the group die.
    /// `anonymous`: the file has no name (a memfd, an O_TMPFILE: `exe` is what /proc shows, e.g.
    /// "/memfd:crun_cloned"); the task keeps its executable identity (docs/semantics.md, "Subjects").
    public mutating func exec(task pid: Int32, exe: String, xattrs: Set<String> = [], anonymous: Bool = false) {
        let task = ensureTask(pid)
        for (other, state) in tasks where state.tgid == task.tgid && other != pid { tasks[other] = nil }
        tasks[pid]?.comm = TaskState.comm(forExe: exe)
        if anonymous { return }
        tasks[pid]?.exe = exe
        tasks[pid]?.exeXattrs = xattrs
    }

    /// Records that `pid` is in namespace `inum` of `type` (for pid and time: for its children).
    public mutating func setNamespace(task pid: Int32, type: NamespaceType, inum: UInt32) {
        var task = ensureTask(pid)
        task.namespaces = (task.namespaces ?? [:]).merging([type: inum]) { $1 }
        tasks[pid] = task
    }

    /// The task exits; its lock goes with it.
    public mutating func exit(task pid: Int32) { tasks[pid] = nil }

    // MARK: - Hooks

    /// namespace_alloc: `actor` creates a namespace of `type` with inode `inum`.
    public mutating func namespaceAlloc(actor pid: Int32, type: NamespaceType, inum: UInt32) -> Decision {
        let count = bump(.namespaceAlloc)
        let actor = ensureTask(pid)
        let record = nsRecord(.namespaceAlloc, actor, type: type, inum: inum, label: nil, count: count)
        if type == .mnt && inum == 0 {
            return Decision(hook: .namespaceAlloc, verdict: .allow, rule: nil, mode: nil, err: 0,
                            reason: text { "anonymous mount namespace (inum 0): not decided, not tracked" },
                            effects: SideEffects(), record: record, wouldBe: nil, effective: nil, considered: [])
        }
        guard let policy else { return noPolicy(.namespaceAlloc, record) }

        var trace = Trace()
        if let lock = actor.lock { considerLock(lock, actor: actor, forAlloc: true, policy: policy, into: &trace) }
        for rule in policy.rules where rule.kind == .denyCreate {
            let holds = rule.namespaceTypes.contains(type)
            let cond = text { holds ? "may not create \(type.rawValue) namespaces"
                : "\(type.rawValue) is not among its types \(typeList(rule.namespaceTypes))" }
            consider(rule, role: .verdict, effect: holds ? .deny : nil, condition: cond, actor: actor, into: &trace)
        }
        var decision = finish(.namespaceAlloc, trace: trace, record: record)

        // Tracking: the highest-ranked matching track rule labels the new namespace.
        var trackTrace = Trace()
        for rule in policy.rules where rule.kind == .track {
            let holds = rule.namespaceTypes.contains(type)
            let cond = text { holds ? "tracks \(type.rawValue) namespaces as '\(rule.trackLabel ?? "")'"
                : "\(type.rawValue) is not among its types \(typeList(rule.namespaceTypes))" }
            consider(rule, role: .track, effect: holds ? .allow : nil, condition: cond, actor: actor, into: &trackTrace)
        }
        decision.considered += trackTrace.entries
        if decision.permitted, inum != 0, let best = trackTrace.best(), let label = best.rule.trackLabel {
            let tracked = TrackedNamespace(inum: inum, label: label, type: type, ruleID: best.rule.id,
                                           creatorTgid: actor.tgid)
            trackedNamespaces[inum] = tracked
            decision.effects.tracked = tracked
            decision.record.nsLabel = label
            decision.record.tracked = true
            decision.reason += text { "; namespace tracked as '\(label)' by rule '\(best.rule.id)'" }
        } else if !decision.permitted, let best = trackTrace.best() {
            decision.reason += text { "; not tracked by '\(best.rule.id)' because creation is denied" }
        }
        return decision
    }

    /// namespace_install: `actor` enters the namespace `inum` of `type` with setns(2).
    public mutating func namespaceInstall(actor pid: Int32, type: NamespaceType, inum: UInt32) -> Decision {
        let count = bump(.namespaceInstall)
        let actor = ensureTask(pid)
        let label = trackedNamespaces[inum]?.label
        let record = nsRecord(.namespaceInstall, actor, type: type, inum: inum, label: label, count: count)
        let nsText = describeNamespace(type: type, inum: inum, label: label)
        // Already in it (not mnt or user): nothing changes, so it is not an entry. Only a task lock
        // of the default kind (lock-to: namespace: no setns at all) still applies.
        let alreadyIn = type.reentryIsNoop && inum != 0 && actor.namespaces?[type] == inum
        if alreadyIn && type == .user {
            return Decision(hook: .namespaceInstall, verdict: .allow, rule: nil, mode: nil, err: 0,
                            reason: text { "\(describe(actor)) is already in \(nsText): the kernel refuses that itself (EINVAL); not decided" },
                            effects: SideEffects(), record: record, wouldBe: nil, effective: nil, considered: [])
        }
        guard let policy else {
            setNamespace(task: pid, type: type, inum: inum)
            return noPolicy(.namespaceInstall, record)
        }
        var trace = Trace()
        var enforcedLock = false
        if let lock = actor.lock {
            enforcedLock = considerLock(lock, actor: actor, forAlloc: false, entering: label, alreadyIn: alreadyIn,
                                        policy: policy, into: &trace)
        }
        if alreadyIn {
            var decision = finish(.namespaceInstall, trace: trace, record: record)
            decision.reason += text { "; \(describe(actor)) is already in \(nsText): not an entry, no other rule applies" }
            return decision
        }
        for rule in policy.rules {
            switch rule.kind {
            case .denyEnter:
                let byType = rule.namespaceTypes.contains(type)
                let byLabel = label.map { rule.labels.contains($0) } ?? false
                let cond: String
                if byType { cond = text { "may not enter \(type.rawValue) namespaces (\(nsText))" } }
                else if byLabel { cond = text { "may not enter namespaces labelled '\(label!)' (\(nsText))" } }
                else { cond = text { "\(nsText) matches neither its types \(typeList(rule.namespaceTypes)) nor its labels \(labelList(rule.labels))" } }
                consider(rule, role: .verdict, effect: byType || byLabel ? .deny : nil, condition: cond,
                         actor: actor, into: &trace)
            case .allowEnterOnly:
                let inScope = rule.namespaceTypes.isEmpty || rule.namespaceTypes.contains(type)
                if !inScope {
                    consider(rule, role: .verdict, effect: nil,
                             condition: "\(type.rawValue) is outside its scope \(typeList(rule.namespaceTypes))",
                             actor: actor, into: &trace)
                } else if let label, rule.labels.contains(label) {
                    consider(rule, role: .verdict, effect: .allow,
                             condition: "may enter \(nsText): '\(label)' is among \(labelList(rule.labels))",
                             actor: actor, into: &trace)
                } else {
                    consider(rule, role: .verdict, effect: .deny,
                             condition: "may enter only namespaces labelled \(labelList(rule.labels)), not \(nsText)",
                             actor: actor, into: &trace)
                }
            case .track, .lockOnEntry, .denyCreate, .managers, .delegated, .stay, .locked, .denyInto, .idMap:
                continue
            }
        }
        var decision = finish(.namespaceInstall, trace: trace, record: record)
        if decision.permitted { setNamespace(task: pid, type: type, inum: inum) }

        // Locking: entering a labelled namespace locks an unlocked actor.
        var lockTrace = Trace()
        for rule in policy.rules where rule.kind == .lockOnEntry {
            let holds = label.map { rule.labels.contains($0) } ?? false
            let cond = text { holds ? "locks tasks that enter namespaces labelled '\(label!)'"
                : (label == nil ? "\(type.rawValue) namespace \(inum) is untracked" : "'\(label!)' is not among its labels \(labelList(rule.labels))") }
            consider(rule, role: .lockOnEntry, effect: holds ? .allow : nil, condition: cond, actor: actor,
                     into: &lockTrace)
        }
        decision.considered += lockTrace.entries
        if decision.permitted, let label, let best = lockTrace.best() {
            if enforcedLock {
                decision.reason += text { "; already locked, lock unchanged" }
            } else {
                let lock = TaskLock(ruleID: best.rule.id, label: label, inum: inum)
                tasks[pid]?.lock = lock
                decision.effects.locked = lock
                decision.record.locked = true
                decision.reason += text { "; task \(pid) is now locked by rule '\(best.rule.id)'" }
            }
        }
        return decision
    }

    /// namespace_free: the namespace's tracked state is deleted (no verdict).
    public mutating func namespaceFree(inum: UInt32) -> Decision {
        let count = bump(.namespaceFree)
        let removed = trackedNamespaces.removeValue(forKey: inum)
        let record = Event(id: "", hook: Hook.namespaceFree.rawValue, comm: "", nsType: removed?.type.rawValue,
                           nsInum: inum, nsLabel: removed?.label, hookCount: count)
        let reason = text { removed.map { "namespace \($0.type.rawValue) \(inum) freed; label '\($0.label)' forgotten" }
            ?? "untracked namespace \(inum) freed" }
        return Decision(hook: .namespaceFree, verdict: .allow, rule: nil, mode: nil, err: 0, reason: reason,
                        effects: SideEffects(untracked: removed), record: record, wouldBe: nil, effective: nil,
                        considered: [])
    }

    /// cgroup_attach: `actor` moves `target` from `src` (default: the target's cgroup) to `dst`.
    /// `threadgroup` defaults to true for procs and clone3, false for threads.
    /// When permitted, the target (its whole thread group for procs) moves to `dst`.
    public mutating func cgroupAttach(
        actor pid: Int32, target: Int32, src: CgroupPath? = nil, dst: CgroupPath,
        threadgroup: Bool? = nil, via: AttachVia
    ) -> Decision {
        let count = bump(.cgroupAttach)
        let actor = ensureTask(pid)
        let targetTask = ensureTask(target)
        let src = src ?? targetTask.cgroup
        let group = threadgroup ?? (via != .threads)
        var record = Self.event(.cgroupAttach, actor: actor, count: count)
        record.targetPID = UInt32(bitPattern: target)
        record.srcCgroup = cgroupID(for: src)
        record.dstCgroup = cgroupID(for: dst)
        record.srcCgroupPath = src.description
        record.dstCgroupPath = dst.description
        record.threadgroup = group ? 1 : 0
        var decision: Decision
        if let policy {
            var trace = Trace()
            for rule in policy.rules {
                let effect: Effect?
                let cond: String
                switch rule.kind {
                case .managers:
                    effect = .allow
                    cond = text { "may move tasks between any cgroups" }
                case .delegated:
                    // Inside when src and dst lie within one instance of the (pattern) scope.
                    guard let scope = rule.cgroups.first else { continue }
                    let instance = scope.instances(containing: src).first { dst.isWithin($0) }
                    effect = instance == nil ? .deny : .allow
                    if let instance {
                        cond = text { "manages \(Self.describe(scope, instance)), and \(src) and \(dst) lie within it" }
                    } else {
                        cond = text {
                            let outside = scope.instances(containing: src).isEmpty ? src : dst
                            return "manages \(scope) only, and \(outside) lies outside \(scope.isPattern ? "the instance" : "it")"
                                + (scope.isPattern && outside == dst && !scope.instances(containing: dst).isEmpty
                                    ? " of the source (each match is its own subtree)" : "")
                        }
                    }
                case .stay:
                    var left: (CgroupPath, CgroupPath)?
                    for scope in rule.cgroups {
                        if let s = scope.instances(containing: src).first(where: { !dst.isWithin($0) }) { left = (scope, s); break }
                    }
                    if let (scope, s) = left {
                        effect = .deny
                        cond = text { "moves \(target == pid ? "itself" : describe(targetTask)) out of \(Self.describe(scope, s)), where it must stay (\(src) -> \(dst))" }
                    } else {
                        effect = nil
                        cond = text { "\(src) -> \(dst) does not leave \(pathList(rule.cgroups))" }
                    }
                case .locked:
                    var hit: (CgroupPath, CgroupPath, Bool)?
                    for scope in rule.cgroups {
                        if let c = scope.instances(containing: src).first { hit = (scope, c, true); break }
                        if let c = scope.instances(containing: dst).first { hit = (scope, c, false); break }
                    }
                    if let (scope, c, fromSrc) = hit {
                        effect = .deny
                        cond = text { "\(Self.describe(scope, c)) is locked (\(fromSrc ? "source \(src)" : "destination \(dst)") lies within it)" }
                    } else {
                        effect = nil
                        cond = text { "neither \(src) nor \(dst) lies within \(pathList(rule.cgroups))" }
                    }
                case .denyInto:
                    var hit: (CgroupPath, CgroupPath)?
                    for scope in rule.cgroups {
                        if let d = scope.instances(containing: dst).first { hit = (scope, d); break }
                    }
                    if let (scope, d) = hit {
                        effect = .deny
                        cond = text { "may not move tasks into \(Self.describe(scope, d)) (destination \(dst))" }
                    } else {
                        effect = nil
                        cond = text { "destination \(dst) is outside \(pathList(rule.cgroups))" }
                    }
                case .track, .lockOnEntry, .denyCreate, .denyEnter, .allowEnterOnly, .idMap:
                    continue
                }
                consider(rule, role: .verdict, effect: effect, condition: cond, actor: actor, into: &trace)
            }
            decision = finish(.cgroupAttach, trace: trace, record: record)
        } else {
            decision = noPolicy(.cgroupAttach, record)
        }
        if decision.permitted {
            var movers = [target]
            if via == .procs {
                movers.removeAll()
                for task in tasks.values where task.tgid == targetTask.tgid { movers.append(task.pid) }
                movers.sort()
            }
            for mover in movers { tasks[mover]?.cgroup = dst }
            decision.effects.moved = movers
        }
        return decision
    }

    /// Domain scope: `tracer` asks for PTRACE_MODE_ATTACH access to `tracee` (ptrace attach or
    /// seize, /proc/PID/mem, process_vm_readv/writev, pidfd_getfd), or `tracee` calls
    /// PTRACE_TRACEME (`traceme`) to make its parent `tracer` trace it. Denied when the tracer is
    /// confined by a ptrace-scope rule and the tracee lies outside that domain: its task lock
    /// (tracee not locked by the same entry), or a deny-create / deny-enter rule of a `cgroup:`
    /// subject the tracer matches and the tracee does not. The record names the caller: the
    /// tracer, or for `traceme` the tracee (with the tracer as target).
    public mutating func ptrace(tracer pid: Int32, tracee: Int32, traceme: Bool = false) -> Decision {
        let count = bump(.ptrace)
        let tracerTask = ensureTask(pid)
        let traceeTask = ensureTask(tracee)
        let caller = traceme ? traceeTask : tracerTask
        var record = Self.event(.ptrace, actor: caller, count: count)
        record.targetPID = UInt32(bitPattern: traceme ? tracerTask.pid : traceeTask.pid)
        guard let policy else { return noPolicy(.ptrace, record) }
        var trace = Trace()
        if let lock = tracerTask.lock {
            if let rule = policy.rule(id: lock.ruleID), rule.kind == .lockOnEntry, rule.ptraceScope {
                let mode = mode(of: rule)
                let subject = rule.subjects.first ?? .any
                let same = traceeTask.lock.map { $0.label == lock.label && (rule.lockToLabel || $0.inum == lock.inum) } ?? false
                if same {
                    trace.entries.append(Consideration(
                        rule: rule.id, kind: rule.kind, mode: mode, role: .taskLock, subject: subject.displayName,
                        applicable: false, note: "\(describe(traceeTask)) is locked by the same entry as \(describe(tracerTask))"))
                } else {
                    addDeny(rule, subject: subject, mode: mode, role: .taskLock, into: &trace,
                            why: "\(describe(tracerTask)) is locked since it entered \(lockedNamespaceText(lock)) and "
                                + "\(describe(traceeTask)) is outside that domain (ptrace-scope)")
                }
            }
        }
        for rule in policy.rules where rule.kind == .denyCreate || rule.kind == .denyEnter {
            guard rule.ptraceScope else { continue }
            let mode = mode(of: rule)
            for subject in rule.subjects {
                guard case .cgroup(let jail) = subject.matcher,
                      Evaluator.match(subject, tracerTask).matches else { continue }
                if !jail.instances(containing: traceeTask.cgroup).isEmpty {
                    trace.entries.append(Consideration(
                        rule: rule.id, kind: rule.kind, mode: mode, role: .verdict, subject: subject.displayName,
                        applicable: false, note: "\(describe(traceeTask)) lies within \(jail) as well"))
                    continue
                }
                addDeny(rule, subject: subject, mode: mode, role: .verdict, into: &trace,
                        why: "\(describe(tracerTask)) is jailed in \(jail) and \(describe(traceeTask)) (cgroup \(traceeTask.cgroup)) "
                            + "is outside it (ptrace-scope)")
            }
        }
        return finish(.ptrace, trace: trace, record: record)
    }

    /// CORRAL_MAX_ID_EXTENTS (corral_abi.h; CompilerTests ties the two): the extents of one
    /// uid_map/gid_map write the kernel side reads.
    public static let maxIDMapExtents = 4

    /// A write by `actor` to `file` of the user namespace `inum`. `extents` are the lines of a
    /// uid_map/gid_map write, nil when they could not be read (a write the kernel side refuses
    /// wherever an id-map rule applies: see corral_abi.h CORRAL_ID_MAP_WRITE_MAX).
    /// An id-map rule applies when the actor matches and the namespace carries one of its labels
    /// (no labels: every user namespace); it allows a uid_map/gid_map write whose every extent lies
    /// within one of its ranges, and a setgroups write when it says `setgroups: allow`.
    public mutating func idMapWrite(actor pid: Int32, inum: UInt32, file: IDMapFile, extents: [IDRange]?) -> Decision {
        let count = bump(.idMap)
        let actor = ensureTask(pid)
        let label = trackedNamespaces[inum]?.label
        let record = nsRecord(.idMap, actor, type: .user, inum: inum, label: label, count: count)
        guard let policy else { return noPolicy(.idMap, record) }
        let nsText = describeNamespace(type: .user, inum: inum, label: label)
        var trace = Trace()
        for rule in policy.rules where rule.kind == .idMap {
            if !rule.labels.isEmpty, !(label.map { rule.labels.contains($0) } ?? false) {
                consider(rule, role: .verdict, effect: nil,
                         condition: "\(nsText) carries none of its labels \(labelList(rule.labels))", actor: actor, into: &trace)
                continue
            }
            let allowed: Bool
            let cond: String
            switch file {
            case .setgroups:
                allowed = rule.setgroupsAllowed
                cond = allowed ? "may write setgroups of \(nsText)" : "may not write setgroups of \(nsText)"
            case .uidMap, .gidMap:
                let ranges = file == .uidMap ? rule.uidRanges : rule.gidRanges
                if let extents, extents.count <= Self.maxIDMapExtents {
                    let outside = extents.first { e in !ranges.contains { $0.contains(e) } }
                    allowed = outside == nil
                    let rangeText = ranges.isEmpty ? "no ranges" : ranges.map { "'\($0)'" }.joined(separator: ", ")
                    cond = text { outside.map { "may map only \(rangeText) in \(file.rawValue) of \(nsText), not '\($0)'" }
                        ?? "may write \(file.rawValue) of \(nsText): every extent lies within \(rangeText)" }
                } else {
                    allowed = false
                    cond = text { "the \(file.rawValue) write could not be read or holds more than \(Self.maxIDMapExtents) extents" }
                }
            }
            consider(rule, role: .verdict, effect: allowed ? .allow : .deny, condition: cond, actor: actor, into: &trace)
        }
        return finish(.idMap, trace: trace, record: record)
    }

    /// clone3(CLONE_INTO_CGROUP): forks `child` from `parent`, decides its attach to `into`,
    /// and removes the child again when denied (the clone fails).
    public mutating func clone3(parent: Int32, child: Int32, into dst: CgroupPath, thread: Bool = false) -> Decision {
        fork(parent: parent, child: child, thread: thread)
        let src = tasks[parent]?.cgroup ?? .root
        let decision = cgroupAttach(actor: parent, target: child, src: src, dst: dst, threadgroup: !thread, via: .clone3)
        if !decision.permitted { tasks[child] = nil }
        return decision
    }

    // MARK: - Subjects

    /// Whether `subject` matches `task`, and why (or why not).
    public static func match(_ subject: Subject, _ task: TaskState) -> (matches: Bool, why: String) {
        let ok = matches(subject, task)
        switch subject.matcher {
        case .any:
            return (true, "every task matches")
        case .pid1:
            return ok ? (true, "tgid is 1") : (false, "tgid \(task.tgid) is not 1")
        case .exe(let path):
            return ok ? (true, "executable is \(path)")
                : (false, "executable \(task.exe.isEmpty ? "(unknown)" : task.exe) is not \(path)")
        case .xattr(let name):
            return ok ? (true, "executable carries xattr \(name)")
                : (false, "executable \(task.exe.isEmpty ? "(unknown)" : task.exe) lacks xattr \(name)")
        case .cgroup(let path):
            if ok, let instance = path.instances(containing: task.cgroup).first {
                return (true, "cgroup \(task.cgroup) lies within \(Self.describe(path, instance))")
            }
            return (false, "cgroup \(task.cgroup) is outside \(path)")
        }
    }

    /// Whether `subject` matches `task` (`match` without the why).
    public static func matches(_ subject: Subject, _ task: TaskState) -> Bool {
        switch subject.matcher {
        case .any: true
        case .pid1: task.tgid == 1
        case .exe(let path): task.exe == path
        case .xattr(let name): task.exeXattrs.contains(name)
        case .cgroup(let path): !path.instances(containing: task.cgroup).isEmpty
        }
    }

    /// A rule's mode at decision time.
    public func mode(of rule: Rule) -> RuleMode {
        if auditAll { return .audit }
        if let until = rule.auditUntil, now < until { return .audit }
        return rule.mode
    }

    public func rank(_ rule: Rule, _ subject: Subject, _ effect: Effect) -> UInt64 {
        RuleOrder.rank(rule: rule, subject: subject, effect: effect, precedence: precedence[rule.id] ?? 0)
    }

    // MARK: - Internals

    struct Result {
        var rule: Rule
        var subject: Subject
        var effect: Effect
        var rank: UInt64
        var mode: RuleMode
        var why: String
    }

    struct Trace {
        var entries: [Consideration] = []
        var results: [Result] = []

        func best() -> Result? { Trace.top(results) }

        /// The first highest-ranked result; `excludingAuditDenies`: among those that are not a
        /// deny of an audit-mode rule (the effective winner).
        static func top(_ results: [Result], excludingAuditDenies: Bool = false) -> Result? {
            topIndex(results, excludingAuditDenies: excludingAuditDenies).map { results[$0] }
        }

        /// The index of `top`'s result (reading fields, not copying results).
        static func topIndex(_ results: [Result], excludingAuditDenies: Bool = false) -> Int? {
            var best: Int?
            for index in results.indices where best == nil || results[index].rank > results[best!].rank {
                if excludingAuditDenies && results[index].effect == .deny && results[index].mode == .audit { continue }
                best = index
            }
            return best
        }
    }

    private mutating func bump(_ hook: Hook) -> UInt64 {
        let value = (hookCounts[hook] ?? 0) &+ 1
        hookCounts[hook] = value
        return value
    }

    /// Adds the trace entries and results of one rule. `effect` nil means the rule's own condition
    /// does not hold (`condition` says why); otherwise each matching subject yields one result.
    private func consider(_ rule: Rule, role: ConsiderationRole, effect: Effect?, condition: @autoclosure () -> String,
                          actor: TaskState, into trace: inout Trace) {
        let mode = mode(of: rule)
        guard explains else {
            guard let effect else { return }
            func add(_ subject: Subject) {
                trace.results.append(Result(rule: rule, subject: subject, effect: effect, rank: rank(rule, subject, effect),
                                            mode: mode, why: ""))
            }
            if rule.subjects.isEmpty { add(.any) } // no subject: every task
            for subject in rule.subjects where Evaluator.matches(subject, actor) { add(subject) }
            return
        }
        let subjects = rule.subjects.isEmpty ? [Subject.any] : rule.subjects
        let condition = condition()
        let allNames = subjects.map(\.displayName).joined(separator: ", ")
        guard let effect else {
            trace.entries.append(Consideration(rule: rule.id, kind: rule.kind, mode: mode, role: role,
                                               subject: allNames, applicable: false, note: condition))
            return
        }
        var misses: [String] = []
        var matched = false
        for subject in subjects {
            let (ok, why) = Evaluator.match(subject, actor)
            guard ok else {
                misses.append("\(subject.displayName): \(why)")
                continue
            }
            matched = true
            let rank = rank(rule, subject, effect)
            let dropped = effect == .deny && mode == .audit && role == .verdict
            let text = "\(describe(actor)) matches subject '\(subject.displayName)' and \(condition)"
            trace.entries.append(Consideration(rule: rule.id, kind: rule.kind, mode: mode, role: role,
                                               subject: subject.displayName, applicable: true, effect: effect,
                                               rank: rank, note: text, droppedAsAudit: dropped))
            trace.results.append(Result(rule: rule, subject: subject, effect: effect, rank: rank, mode: mode, why: text))
        }
        if !matched {
            trace.entries.append(Consideration(rule: rule.id, kind: rule.kind, mode: mode, role: role,
                                               subject: allNames, applicable: false,
                                               note: "no subject matches (\(misses.joined(separator: "; ")))"))
        }
    }

    /// Adds the actor's task lock to the trace. Returns whether the lock is enforced (its rule is a
    /// lock-on-entry rule of the active policy).
    @discardableResult
    private func considerLock(_ lock: TaskLock, actor: TaskState, forAlloc: Bool, entering: String? = nil,
                              alreadyIn: Bool = false, policy: Policy, into trace: inout Trace) -> Bool {
        let nsText = lockedNamespaceText(lock)
        guard let rule = policy.rule(id: lock.ruleID), rule.kind == .lockOnEntry else {
            trace.entries.append(Consideration(
                rule: lock.ruleID, kind: .lockOnEntry, mode: auditAll ? .audit : .enforce, role: .taskLock,
                subject: "-", applicable: false,
                note: "task \(actor.pid) holds a lock by '\(lock.ruleID)', which is not a lock-on-entry rule of the active policy: not enforced"))
            return false
        }
        let mode = mode(of: rule)
        let subject = rule.subjects.first ?? .any
        if forAlloc && !rule.denyUnshare {
            trace.entries.append(Consideration(
                rule: rule.id, kind: rule.kind, mode: mode, role: .taskLock, subject: subject.displayName,
                applicable: false, note: "\(describe(actor)) is locked, but the rule does not set deny-unshare"))
            return true
        }
        if !forAlloc, rule.lockToLabel, alreadyIn || entering == lock.label {
            trace.entries.append(Consideration(
                rule: rule.id, kind: rule.kind, mode: mode, role: .taskLock, subject: subject.displayName,
                applicable: false, note: "\(describe(actor)) is locked to the label '\(lock.label)' (lock-to: label), "
                    + (alreadyIn ? "and already in this namespace" : "which this namespace carries")))
            return true
        }
        addDeny(rule, subject: subject, mode: mode, role: .taskLock, into: &trace, why: forAlloc
            ? "\(describe(actor)) is locked since it entered \(nsText) and may not create namespaces (deny-unshare)"
            : "\(describe(actor)) is locked since it entered \(nsText)")
        return true
    }

    /// One applicable deny of `rule` for `subject`: its trace entry and its result (a deny of an
    /// audit-mode rule is marked dropped; `finish` leaves it out of the effective winner).
    private func addDeny(_ rule: Rule, subject: Subject, mode: RuleMode, role: ConsiderationRole,
                         into trace: inout Trace, why: @autoclosure () -> String) {
        let rank = rank(rule, subject, .deny)
        let why = text(why)
        if explains { trace.entries.append(Consideration(rule: rule.id, kind: rule.kind, mode: mode, role: role,
                                           subject: subject.displayName, applicable: true, effect: .deny,
                                           rank: rank, note: why, droppedAsAudit: mode == .audit)) }
        trace.results.append(Result(rule: rule, subject: subject, effect: .deny, rank: rank, mode: mode, why: why))
    }

    /// Picks would-be and effective winners and builds the reported decision (semantics.md table).
    private func finish(_ hook: Hook, trace: Trace, record: Event) -> Decision {
        // Results by index: a Result holds a Rule, which is costly to copy.
        let results = trace.results
        let wouldBe = Trace.topIndex(results)
        let effective = Trace.topIndex(results, excludingAuditDenies: true)
        func winner(_ i: Int?) -> Winner? {
            i.map { Winner(rule: results[$0].rule.id, subject: results[$0].subject.displayName, effect: results[$0].effect,
                           rank: results[$0].rank, mode: results[$0].mode) }
        }
        let verdict: Verdict
        let reported: Int?
        let reason: String
        if let e = effective, results[e].effect == .deny {
            verdict = .deny
            reported = e
            reason = text { "denied by rule '\(results[e].rule.id)' (\(results[e].mode.rawValue)): \(results[e].why)" }
        } else if let w = wouldBe, results[w].effect == .deny {
            verdict = .audit
            reported = w
            reason = text {
                var text = "allowed, but rule '\(results[w].rule.id)' (audit) would deny: \(results[w].why)"
                if let e = effective { text += "; effective: allowed by rule '\(results[e].rule.id)'" }
                return text
            }
        } else if let e = effective {
            verdict = .allow
            reported = e
            reason = text { "allowed by rule '\(results[e].rule.id)' (\(results[e].mode.rawValue)): \(results[e].why)" }
        } else {
            verdict = .allow
            reported = nil
            reason = text { "allowed: no rule applies" }
        }
        return Decision(hook: hook, verdict: verdict, rule: reported.map { results[$0].rule.id },
                        mode: reported.map { results[$0].mode },
                        err: verdict == .deny ? (reported.map { results[$0].rule.errno } ?? 1) : 0, reason: reason,
                        effects: SideEffects(), record: record, wouldBe: winner(wouldBe),
                        effective: winner(effective), considered: explains ? trace.entries : [],
                        ruleOrigin: reported.flatMap { policy?.origin(of: results[$0].rule) })
    }

    private func noPolicy(_ hook: Hook, _ record: Event) -> Decision {
        Decision(hook: hook, verdict: .allow, rule: nil, mode: nil, err: 0, reason: text { "allowed: no policy loaded" },
                 effects: SideEffects(), record: record, wouldBe: nil, effective: nil, considered: [])
    }

    private func nsRecord(_ hook: Hook, _ actor: TaskState, type: NamespaceType, inum: UInt32, label: String?,
                          count: UInt64) -> Event {
        var record = Self.event(hook, actor: actor, count: count)
        record.nsType = type.rawValue
        record.nsInum = inum
        record.nsLabel = label
        return record
    }

    /// The event the kernel would report for `actor` at `hook`, before the verdict (which
    /// `Decision.init` fills in). `id` is empty: the evaluator's events are not recorded.
    /// The numbers every kernel event has are 0 until the hook sets them, as in the kernel.
    static func event(_ hook: Hook, actor: TaskState, count: UInt64) -> Event {
        Event(id: "", hook: hook.rawValue, pid: UInt32(bitPattern: actor.pid), tgid: UInt32(bitPattern: actor.tgid),
              comm: actor.comm, targetPID: 0, srcCgroup: 0, dstCgroup: 0, threadgroup: 0, nsInum: 0,
              locked: false, tracked: false, actorCgroupPath: actor.cgroup.description, hookCount: count,
              actorExe: actor.exe.isEmpty ? nil : actor.exe)
    }

    private func describe(_ task: TaskState) -> String {
        task.comm.isEmpty ? "task \(task.pid)" : "task \(task.pid) (\(task.comm))"
    }

    private func lockedNamespaceText(_ lock: TaskLock) -> String {
        if let ns = trackedNamespaces[lock.inum], ns.label == lock.label {
            return "namespace '\(lock.label)' (\(ns.type.rawValue) \(lock.inum))"
        }
        return "namespace '\(lock.label)' (inum \(lock.inum))"
    }

    private func describeNamespace(type: NamespaceType, inum: UInt32, label: String?) -> String {
        label.map { "\(type.rawValue) namespace \(inum) labelled '\($0)'" } ?? "untracked \(type.rawValue) namespace \(inum)"
    }

    private func typeList(_ types: Set<NamespaceType>) -> String {
        "[" + types.sorted().map(\.rawValue).joined(separator: ", ") + "]"
    }

    private func labelList(_ labels: [String]) -> String { "[" + labels.joined(separator: ", ") + "]" }

    /// An instance of a scope: "/a/b" for an exact path, "/a/b (matches /a/*)" for a pattern.
    private static func describe(_ scope: CgroupPath, _ instance: CgroupPath) -> String {
        scope.isPattern ? "\(instance) (matches \(scope))" : "\(instance)"
    }

    private func pathList(_ paths: [CgroupPath]) -> String {
        "[" + paths.map(\.description).joined(separator: ", ") + "]"
    }
}
