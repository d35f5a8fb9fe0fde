// Recorded event -> evaluator input: the actor as the kernel saw it (cgroup, executable, pid1,
// lock), the target, the namespace's tracked label, and which of those the event lacks that a
// given policy needs (docs/operations.md §3, "What explain and replay need").
import CorralEvaluator
import CorralPolicy
import CorralSystem

/// An input the policy needs that the event does not carry, and what was assumed instead.
public struct MissingInput: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The recorded field, e.g. `actor_exe`.
    public var field: String
    /// Why it is missing and which rules need it.
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// One recorded decision, ready for `Evaluator.decide`.
public struct EventInputs: Sendable {
    public var hook: Hook
    public var operation: Evaluator.Operation
    public var actor: TaskState
    public var target: TaskState?
    public var trackedNamespace: TrackedNamespace?
    public var cgroupIDs: [CgroupPath: UInt64]
    /// Inputs the policy needs that the event lacks (the evaluator assumed "does not match").
    public var missing: [MissingInput]
    /// Remarks about how inputs were reconstructed.
    public var notes: [String]

    public func world(policy: Policy?, auditAll: Bool = false) -> Evaluator.World {
        Evaluator.World(policy: policy, auditAll: auditAll, tasks: [actor] + (target.map { [$0] } ?? []),
                        trackedNamespaces: trackedNamespace.map { [$0] } ?? [], cgroupIDs: cgroupIDs)
    }

    /// `precedence`: the policy's `RuleOrder.precedence`, when the caller computed it once.
    /// `explains`: `Evaluator.explains` (false: no `reason`, no `considered`).
    public func decide(policy: Policy?, auditAll: Bool = false, precedence: [String: Int]? = nil,
                       explains: Bool = true) -> Decision {
        var w = world(policy: policy, auditAll: auditAll)
        w.precedence = precedence
        w.explains = explains
        return Evaluator.decide(operation, in: w)
    }
}

/// What can be made of a recorded event.
public enum EventReconstruction: Sendable {
    case decision(EventInputs)
    /// Admin actions, namespace_free notifications, self-protection denials: no policy decision.
    case notADecision(String)
    /// The event lacks something every decision of its hook needs (e.g. the destination path).
    case incomplete([MissingInput])
}

public enum EventInputReconstruction {
    /// Resolves a path from a policy to the path /proc would show for the same file (symlinks
    /// resolved); nil when it cannot tell. Used to match `actor_exe` against `exe:` subjects.
    public typealias ExeResolver = @Sendable (String) -> String?

    public static let resolveSymlinks: ExeResolver = { path in
        try? Sys.resolvedPath(path)
    }

    /// Builds the evaluator input of `event` for deciding it under `policy` (names of rules and
    /// labels the decoder could not resolve, `uid:…`/`id:…`, are resolved against `policy`).
    public static func reconstruct(_ event: Event, policy: Policy,
                                   resolveExe: ExeResolver = resolveSymlinks) -> EventReconstruction {
        let hook: Hook
        switch event.hook {
        case "admin": return .notADecision("admin event (\(event.action ?? "action unknown"))")
        case Hook.namespaceFree.rawValue: return .notADecision("namespace_free is a notification, not a decision")
        case "self_protect", "self-protect", "hook5": return .notADecision("self-protection denial (not decided by policy rules)")
        case Hook.cgroupAttach.rawValue where event.unclassified == true:
            return .notADecision("the destination cgroup, or an ancestor, has no classification: the kernel could not "
                + "record it when the cgroup was created (corral_cgroups full, or more overlapping patterns than one "
                + "entry holds), so every move into it is denied; see docs/compiler.md, \"Cgroup paths and patterns\"")
        default:
            guard let known = Hook(rawValue: event.hook) else {
                return .incomplete([MissingInput(field: "hook", reason: "unknown hook '\(event.hook)'")])
            }
            hook = known
        }

        var incomplete: [MissingInput] = []
        var notes: [String] = []
        guard let pid = event.pid, let tgid = event.tgid else {
            return .incomplete([MissingInput(field: event.pid == nil ? "pid" : "tgid", reason: "the event names no actor")])
        }
        let actorPID = Int32(bitPattern: pid)
        var cgroupIDs = [CgroupPath: UInt64](minimumCapacity: 4) // actor, src, dst, and the evaluator's root

        // The actor.
        var actor = TaskState(pid: actorPID, tgid: Int32(bitPattern: tgid), comm: event.comm ?? "")
        if let text = event.actorCgroupPath, let path = CgroupPath(text) {
            actor.cgroup = path
            if let id = event.actorCgroup, id != 0 { cgroupIDs[path] = id }
        }
        if var exe = event.actorExe {
            if exe.hasSuffix(" (deleted)") {
                exe.removeLast(" (deleted)".count)
                notes.append("the actor's executable \(exe) had been deleted or replaced when the event was read")
            }
            actor.exe = alias(exe, in: policy, resolve: resolveExe, notes: &notes)
            actor.exeXattrs = Set(event.actorExeXattrs ?? [])
        }
        if event.exeCarried == true {
            if let carried = event.actorExeCarried {
                actor.exe = alias(carried, in: policy, resolve: resolveExe, notes: &notes)
                actor.exeXattrs = Set(event.actorExeXattrs ?? [])
                notes.append("the actor runs an anonymous copy of \(carried) and kept its identity")
            } else {
                return .incomplete([MissingInput(field: "actor_exe_carried", reason: "the actor kept the identity of the "
                    + "executable it re-executed from an anonymous file (memfd), and which one was not recorded")])
            }
        }
        if let ruleText = event.actorLockRule {
            let rule = resolveRule(ruleText, in: policy)
            let label = event.actorLockLabel.map { resolveLabel($0, in: policy) } ?? ""
            actor.lock = TaskLock(ruleID: rule, label: label, inum: 0)
        }

        // The operation.
        var target: TaskState?
        var tracked: TrackedNamespace?
        let operation: Evaluator.Operation
        switch hook {
        case .cgroupAttach:
            let src = cgroupPath(event.srcCgroupPath, id: event.srcCgroup, field: "src_cgroup_path", into: &incomplete)
            let dst = cgroupPath(event.dstCgroupPath, id: event.dstCgroup, field: "dst_cgroup_path", into: &incomplete)
            guard let targetPID = event.targetPID else {
                incomplete.append(MissingInput(field: "target_pid", reason: "the event names no migrating task"))
                return .incomplete(incomplete)
            }
            guard let src, let dst else { return .incomplete(incomplete) }
            if let id = event.srcCgroup, id != 0 { cgroupIDs[src] = id }
            if let id = event.dstCgroup, id != 0 { cgroupIDs[dst] = id }
            let group = (event.threadgroup ?? 1) != 0
            let t = Int32(bitPattern: targetPID)
            if t != actorPID { target = TaskState(pid: t, cgroup: src) }
            operation = .cgroupAttach(actor: actorPID, target: t, src: src, dst: dst, threadgroup: group,
                                      via: group ? .procs : .threads)
        case .namespaceAlloc, .namespaceInstall:
            guard let typeName = event.nsType, let type = NamespaceType(rawValue: typeName) else {
                return .incomplete([MissingInput(field: "ns_type", reason: event.nsType.map { "unknown namespace type '\($0)'" }
                                                 ?? "the event names no namespace type")])
            }
            var inum = event.nsInum ?? 0
            if hook == .namespaceAlloc {
                if inum == 0 {
                    // Compat mode decides before the inode exists; the kernel did decide this one.
                    inum = 1
                    notes.append("the namespace's inode was not known at decision time (compat mode); decided as a new namespace")
                }
                operation = .namespaceAlloc(actor: actorPID, type: type, inum: inum)
            } else {
                if let text = event.nsLabel {
                    let label = resolveLabel(text, in: policy)
                    tracked = TrackedNamespace(inum: inum, label: label, type: type, ruleID: "", creatorTgid: 0)
                }
                if event.alreadyIn == true { actor.namespaces = [type: inum] }
                operation = .namespaceInstall(actor: actorPID, type: type, inum: inum)
            }
        case .namespaceFree:
            return .notADecision("namespace_free is a notification, not a decision")
        case .idMap:
            // The event names the namespace and the file, not the extents written.
            return .incomplete([MissingInput(field: "extents", reason: "an id_map event does not record the extents written, which the decision compared")])
        case .ptrace:
            // The event carries the caller's cgroup and lock, not the other task's.
            return .incomplete([MissingInput(field: "target_pid", reason: "a ptrace event does not record the other task's cgroup and lock, which the decision compared")])
        }

        let missing = missingInputs(event, hook: hook, type: event.nsType.flatMap(NamespaceType.init(rawValue:)),
                                    policy: policy)
        return .decision(EventInputs(hook: hook, operation: operation, actor: actor, target: target,
                                     trackedNamespace: tracked, cgroupIDs: cgroupIDs, missing: missing, notes: notes))
    }

    /// Rules that can decide a verdict at `hook` (rules of other hooks never need the inputs).
    static func verdictRules(_ policy: Policy, hook: Hook, type: NamespaceType?) -> [Rule] {
        policy.rules.filter { isVerdictRule($0, hook: hook, type: type) }
    }

    static func isVerdictRule(_ rule: Rule, hook: Hook, type: NamespaceType?) -> Bool {
        switch rule.kind {
        case .denyCreate: hook == .namespaceAlloc && (type.map { rule.namespaceTypes.contains($0) } ?? true)
        case .denyEnter, .allowEnterOnly: hook == .namespaceInstall
        case .managers, .delegated, .stay, .locked, .denyInto: hook == .cgroupAttach
        // Side effects (sideEffectRules); id-map writes are not reconstructed from events.
        case .track, .lockOnEntry, .idMap: false
        }
    }

    /// Track (alloc) and lock-on-entry (install) rules: they decide side effects, not the verdict.
    static func sideEffectRules(_ policy: Policy, hook: Hook, type: NamespaceType?) -> [Rule] {
        policy.rules.filter { rule in
            switch rule.kind {
            case .track: hook == .namespaceAlloc && (type.map { rule.namespaceTypes.contains($0) } ?? true)
            case .lockOnEntry: hook == .namespaceInstall
            case .denyCreate, .denyEnter, .allowEnterOnly, .managers, .delegated, .stay, .locked, .denyInto, .idMap: false
            }
        }
    }

    /// The recorded fields `policy`'s rules for this hook read that `event` lacks.
    static func missingInputs(_ event: Event, hook: Hook, type: NamespaceType?, policy: Policy) -> [MissingInput] {
        func ids(_ pick: (SubjectMatcher) -> Bool) -> [String] {
            var ids: [String] = []
            for rule in policy.rules where isVerdictRule(rule, hook: hook, type: type)
                && rule.subjects.contains(where: { pick($0.matcher) }) { ids.append(rule.id) }
            return ids
        }
        // Rule lists are gathered only for what the event lacks.
        let exeRules = { ids { if case .exe = $0 { true } else { false } } }
        let xattrRules = { ids { if case .xattr = $0 { true } else { false } } }
        let cgroupRules = { ids { if case .cgroup = $0 { true } else { false } } }
        var missing: [MissingInput] = []
        let predates = event.actorCgroup == nil
        if event.actorExe == nil {
            let rules = exeRules() + xattrRules()
            if !rules.isEmpty {
                let why = predates ? "not recorded" : "the actor was gone when the daemon read the event"
                missing.append(MissingInput(field: "actor_exe", reason: "\(why); needed by \(list(rules)) (exe/xattr subjects)"))
            }
        } else if event.actorExeXattrs == nil, case let rules = xattrRules(), !rules.isEmpty {
            missing.append(MissingInput(field: "actor_exe_xattrs", reason: "not recorded; needed by \(list(rules)) (xattr subjects)"))
        }
        if event.actorCgroupPath == nil, case let cgroupRules = cgroupRules(), !cgroupRules.isEmpty {
            let why = predates ? "not recorded (the event predates actor state)"
                : "cgroup id \(event.actorCgroup!) could not be named (removed before the event was read?)"
            missing.append(MissingInput(field: "actor_cgroup_path", reason: "\(why); needed by \(list(cgroupRules)) (cgroup subjects)"))
        }
        if predates {
            // Without actor state the lock is unknown: it matters wherever a lock-on-entry rule can deny.
            let lockRules = policy.rules.filter {
                $0.kind == .lockOnEntry && (hook == .namespaceInstall || (hook == .namespaceAlloc && $0.denyUnshare))
            }.map(\.id)
            if !lockRules.isEmpty {
                missing.append(MissingInput(field: "actor_lock_rule", reason: "not recorded (the event predates actor state); needed by \(list(lockRules)) (task locks)"))
            }
        }
        return missing
    }

    /// Missing inputs that affect only side effects (tracking, locking), as remarks.
    static func sideEffectGaps(_ event: Event, hook: Hook, policy: Policy) -> [String] {
        if event.actorExe != nil && event.actorCgroupPath != nil { return [] } // nothing unknown
        let type = event.nsType.flatMap(NamespaceType.init(rawValue:))
        let rules = sideEffectRules(policy, hook: hook, type: type)
        let needsExe = rules.contains { $0.subjects.contains { if case .exe = $0.matcher { true } else if case .xattr = $0.matcher { true } else { false } } }
        let needsCgroup = rules.contains { $0.subjects.contains { if case .cgroup = $0.matcher { true } else { false } } }
        var gaps: [String] = []
        if needsExe && event.actorExe == nil { gaps.append("actor_exe") }
        if needsCgroup && event.actorCgroupPath == nil { gaps.append("actor_cgroup_path") }
        guard !gaps.isEmpty else { return [] }
        let what = hook == .namespaceAlloc ? "tracking" : "locking"
        return ["\(what) may differ: \(gaps.joined(separator: ", ")) unknown and needed by \(list(rules.map(\.id)))"]
    }

    private static func list(_ ids: [String]) -> String {
        var seen = Set<String>()
        return ids.filter { seen.insert($0).inserted }.map { "'\($0)'" }.joined(separator: ", ")
    }

    private static func cgroupPath(_ text: String?, id: UInt64?, field: String, into missing: inout [MissingInput]) -> CgroupPath? {
        if let text, let path = CgroupPath(text) { return path }
        let why = text.map { "'\($0)' is not a cgroup path" }
            ?? (id.map { "cgroup id \($0) could not be named (removed before the event was read?)" } ?? "not recorded")
        missing.append(MissingInput(field: field, reason: why))
        return nil
    }

    /// `uid:xxxxxxxx` (a rule the decoder did not know) -> the policy's rule with that uid, if any.
    public static func resolveRule(_ text: String, in policy: Policy) -> String {
        guard text.hasPrefix("uid:"), let uid = UInt32(text.dropFirst(4), radix: 16) else { return text }
        return policy.rules.first { StableID.of($0.id) == uid }?.id ?? text
    }

    /// `id:xxxxxxxx` (a label the decoder did not know) -> the policy's label with that id, if any.
    public static func resolveLabel(_ text: String, in policy: Policy) -> String {
        guard text.hasPrefix("id:"), let id = UInt32(text.dropFirst(3), radix: 16) else { return text }
        for rule in policy.rules {
            for label in rule.labels + (rule.trackLabel.map { [$0] } ?? []) where StableID.of(label) == id { return label }
        }
        return text
    }

    /// The policy's spelling of `exe` when an `exe:` subject names the same file through a symlink.
    private static func alias(_ exe: String, in policy: Policy, resolve: ExeResolver, notes: inout [String]) -> String {
        var paths: [String] = []
        func collect(_ subjects: [Subject]) {
            for subject in subjects {
                if case .exe(let path) = subject.matcher, !paths.contains(path) { paths.append(path) }
            }
        }
        collect(policy.subjects)
        for rule in policy.rules { collect(rule.subjects) }
        if paths.isEmpty || paths.contains(exe) { return exe }
        for path in paths where resolve(path) == exe {
            notes.append("executable \(exe) is the policy's \(path) (symlink resolved)")
            return path
        }
        return exe
    }
}
