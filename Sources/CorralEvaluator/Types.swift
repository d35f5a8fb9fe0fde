// Values the reference evaluator works with: tasks, tracked namespaces, decisions and their traces.
// Semantics: docs/semantics.md. JSON field names follow `struct corral_event` (corral_abi.h).
@_exported import CorralEvents
import CorralPolicy
import CorralSystem

/// The /proc/PID file of a user namespace an id-map decision is about.
public enum IDMapFile: String, Codable, Sendable, Hashable, CaseIterable {
    case uidMap = "uid_map"
    case gidMap = "gid_map"
    case setgroups
}

/// How a cgroup migration was requested.
public enum AttachVia: String, Codable, Sendable, Hashable, CaseIterable {
    /// A write to cgroup.procs (moves the whole thread group).
    case procs
    /// A write to cgroup.threads (moves one thread).
    case threads
    /// clone3(CLONE_INTO_CGROUP): the new child starts in the destination.
    case clone3
}

/// A task lock created by a lock-on-entry rule (`struct corral_task_state`).
public struct TaskLock: Codable, Sendable, Hashable {
    public var ruleID: String
    public var label: String
    public var inum: UInt32

    public init(ruleID: String, label: String, inum: UInt32) {
        self.ruleID = ruleID
        self.label = label
        self.inum = inum
    }

    enum CodingKeys: String, CodingKey {
        case ruleID = "rule"
        case label
        case inum
    }
}

/// One task as the evaluator sees it.
public struct TaskState: Codable, Sendable, Hashable {
    public var pid: Int32
    public var tgid: Int32
    public var comm: String
    /// Path of the executable (the evaluator's stand-in for device and inode).
    public var exe: String
    /// Extended attribute names carried by the executable file.
    public var exeXattrs: Set<String>
    public var cgroup: CgroupPath
    public var lock: TaskLock?
    /// Every decision this task makes is recorded (inherited like the lock).
    public var traced: Bool
    /// The namespaces the task is in, where known (pid and time: the namespace for its children,
    /// which is what setns(2) changes). Entering one of these (except mnt and user) is not an
    /// entry: docs/semantics.md, "namespace_install". nil or a missing type: unknown.
    public var namespaces: [NamespaceType: UInt32]?

    public init(
        pid: Int32, tgid: Int32? = nil, comm: String? = nil, exe: String = "",
        exeXattrs: Set<String> = [], cgroup: CgroupPath = .root, lock: TaskLock? = nil, traced: Bool = false
    ) {
        self.pid = pid
        self.tgid = tgid ?? pid
        self.exe = exe
        self.comm = comm ?? TaskState.comm(forExe: exe)
        self.exeXattrs = exeXattrs
        self.cgroup = cgroup
        self.lock = lock
        self.traced = traced
    }

    /// The kernel's comm: the executable's base name, truncated to 15 bytes.
    public static func comm(forExe exe: String) -> String {
        let base = exe.split(separator: "/").last.map(String.init) ?? ""
        return String(decoding: Array(base.utf8.prefix(15)), as: UTF8.self)
    }
}

extension NamespaceType: CodingKeyRepresentable {
    /// Entering the namespace one is in changes nothing, so it is not an entry. Not for mnt
    /// (setns resets root and cwd to the namespace's root: a way out of a chroot). For user the
    /// kernel refuses it (EINVAL) and Corral does not decide it at all.
    public var reentryIsNoop: Bool { self != .mnt }
}

/// A namespace a track rule labelled (`struct corral_tracked_ns`).
public struct TrackedNamespace: Codable, Sendable, Hashable {
    public var inum: UInt32
    public var label: String
    public var type: NamespaceType
    public var ruleID: String
    public var creatorTgid: Int32

    public init(inum: UInt32, label: String, type: NamespaceType, ruleID: String, creatorTgid: Int32) {
        self.inum = inum
        self.label = label
        self.type = type
        self.ruleID = ruleID
        self.creatorTgid = creatorTgid
    }

    enum CodingKeys: String, CodingKey {
        case inum, label, type
        case ruleID = "rule"
        case creatorTgid = "creator_tgid"
    }
}

extension CgroupPath: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let path = CgroupPath(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad cgroup path \(text)"))
        }
        self = path
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// What a decision changed besides its verdict.
public struct SideEffects: Codable, Sendable, Hashable {
    /// The namespace became tracked (namespace_alloc).
    public var tracked: TrackedNamespace?
    /// The actor became locked (namespace_install).
    public var locked: TaskLock?
    /// Tasks whose cgroup changed (cgroup_attach).
    public var moved: [Int32]
    /// A tracked namespace was forgotten (namespace_free).
    public var untracked: TrackedNamespace?

    public init(tracked: TrackedNamespace? = nil, locked: TaskLock? = nil, moved: [Int32] = [],
                untracked: TrackedNamespace? = nil) {
        self.tracked = tracked
        self.locked = locked
        self.moved = moved
        self.untracked = untracked
    }

    public var isEmpty: Bool { tracked == nil && locked == nil && moved.isEmpty && untracked == nil }
}

/// Why a rule was looked at.
public enum ConsiderationRole: String, Codable, Sendable, Hashable {
    /// The rule can produce a result for the verdict.
    case verdict
    /// The actor's task lock (a lock-on-entry rule acting through the lock).
    case taskLock = "task-lock"
    /// A track rule: decides the label of a new namespace.
    case track
    /// A lock-on-entry rule: decides whether the actor becomes locked.
    case lockOnEntry = "lock-on-entry"
}

/// One line of the trace: a rule (or one matched subject of it) and what it contributed.
public struct Consideration: Codable, Sendable, Hashable {
    public var rule: String
    public var kind: RuleKind
    /// The mode at decision time (audit under the global audit switch).
    public var mode: RuleMode
    public var role: ConsiderationRole
    /// The matched subject (display name), or the rule's subjects when none matched.
    public var subject: String
    public var applicable: Bool
    /// The effect of an applicable verdict result; nil otherwise.
    public var effect: Effect?
    public var rank: UInt64?
    /// Why the rule applies or not, in words.
    public var note: String
    /// An audit-mode deny, dropped when computing the effective winner.
    public var droppedAsAudit: Bool

    public init(rule: String, kind: RuleKind, mode: RuleMode, role: ConsiderationRole, subject: String,
                applicable: Bool, effect: Effect? = nil, rank: UInt64? = nil, note: String,
                droppedAsAudit: Bool = false) {
        self.rule = rule
        self.kind = kind
        self.mode = mode
        self.role = role
        self.subject = subject
        self.applicable = applicable
        self.effect = effect
        self.rank = rank
        self.note = note
        self.droppedAsAudit = droppedAsAudit
    }

    enum CodingKeys: String, CodingKey {
        case rule, kind, mode, role, subject, applicable, effect, rank, note
        case droppedAsAudit = "dropped_as_audit"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rule = try c.decode(String.self, forKey: .rule)
        kind = try c.decode(RuleKind.self, forKey: .kind)
        mode = try c.decode(RuleMode.self, forKey: .mode)
        role = try c.decode(ConsiderationRole.self, forKey: .role)
        subject = try c.decode(String.self, forKey: .subject)
        applicable = try c.decode(Bool.self, forKey: .applicable)
        effect = try c.decodeIfPresent(String.self, forKey: .effect).flatMap(EffectText.parse)
        rank = try c.decodeIfPresent(String.self, forKey: .rank).flatMap(EffectText.parseRank)
        note = try c.decode(String.self, forKey: .note)
        droppedAsAudit = try c.decodeIfPresent(Bool.self, forKey: .droppedAsAudit) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rule, forKey: .rule)
        try c.encode(kind, forKey: .kind)
        try c.encode(mode, forKey: .mode)
        try c.encode(role, forKey: .role)
        try c.encode(subject, forKey: .subject)
        try c.encode(applicable, forKey: .applicable)
        try c.encodeIfPresent(effect.map(EffectText.text), forKey: .effect)
        try c.encodeIfPresent(rank.map(EffectText.rankText), forKey: .rank)
        try c.encode(note, forKey: .note)
        try c.encode(droppedAsAudit, forKey: .droppedAsAudit)
    }
}

/// JSON spellings: effects as "allow"/"deny", ranks as 16-digit hex strings (exact in any JSON reader).
enum EffectText {
    static func text(_ effect: Effect) -> String { effect == .deny ? "deny" : "allow" }
    static func parse(_ text: String) -> Effect? { text == "deny" ? .deny : text == "allow" ? .allow : nil }
    static func rankText(_ rank: UInt64) -> String { DecisionExplainer.hex(rank) }
    static func parseRank(_ text: String) -> UInt64? {
        text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }
}

/// A winning result: rule, matched subject, effect, rank.
public struct Winner: Codable, Sendable, Hashable {
    public var rule: String
    public var subject: String
    public var effect: Effect
    public var rank: UInt64
    public var mode: RuleMode

    public init(rule: String, subject: String, effect: Effect, rank: UInt64, mode: RuleMode) {
        self.rule = rule
        self.subject = subject
        self.effect = effect
        self.rank = rank
        self.mode = mode
    }

    enum CodingKeys: String, CodingKey { case rule, subject, effect, rank, mode }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rule = try c.decode(String.self, forKey: .rule)
        subject = try c.decode(String.self, forKey: .subject)
        guard let effect = EffectText.parse(try c.decode(String.self, forKey: .effect)),
              let rank = EffectText.parseRank(try c.decode(String.self, forKey: .rank)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad effect or rank"))
        }
        self.effect = effect
        self.rank = rank
        mode = try c.decode(RuleMode.self, forKey: .mode)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rule, forKey: .rule)
        try c.encode(subject, forKey: .subject)
        try c.encode(EffectText.text(effect), forKey: .effect)
        try c.encode(EffectText.rankText(rank), forKey: .rank)
        try c.encode(mode, forKey: .mode)
    }
}

/// The outcome of one hook invocation.
public struct Decision: Codable, Sendable, Hashable {
    public var hook: Hook
    public var verdict: Verdict
    /// The reported rule (nil: default allow).
    public var rule: String?
    /// Where the reported rule comes from (`Policy.origin(of:)`): `FILE:LINE` or a registration.
    public var ruleOrigin: String?
    /// Mode of the reported rule at decision time; nil when no rule is reported.
    public var mode: RuleMode?
    /// errno returned to the caller: the rule's errno when denied, else 0.
    public var err: Int32
    /// One line for humans.
    public var reason: String
    public var effects: SideEffects
    public var record: Event
    public var wouldBe: Winner?
    public var effective: Winner?
    public var considered: [Consideration]

    public init(hook: Hook, verdict: Verdict, rule: String?, mode: RuleMode?, err: Int32, reason: String,
                effects: SideEffects, record: Event, wouldBe: Winner?, effective: Winner?,
                considered: [Consideration], ruleOrigin: String? = nil) {
        self.hook = hook
        self.verdict = verdict
        self.rule = rule
        self.ruleOrigin = ruleOrigin
        self.mode = mode
        self.err = err
        self.reason = reason
        self.effects = effects
        // The record carries the verdict as the kernel's event would.
        var event = record
        event.hook = hook.rawValue
        event.verdict = verdict.rawValue
        event.mode = (mode ?? .enforce).rawValue
        event.rule = rule
        event.ruleOrigin = ruleOrigin
        event.ruleUID = rule.map(StableID.of) ?? 0
        event.err = err
        event.errno = err == 0 ? nil : ErrnoNames.symbol(of: err)
        self.record = event
        self.wouldBe = wouldBe
        self.effective = effective
        self.considered = considered
    }

    /// FNV-1a of the reported rule id, as in `corral_event.rule_uid` (0: none).
    public var ruleUID: UInt32 { rule.map(StableID.of) ?? 0 }

    /// True when the operation goes ahead (allow or audit).
    public var permitted: Bool { verdict != .deny }

    enum CodingKeys: String, CodingKey {
        case hook, verdict, rule, mode, err, reason, effects, record
        case ruleOrigin = "rule_origin"
        case wouldBe = "would_be"
        case effective, considered
    }
}
