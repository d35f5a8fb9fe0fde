// The event as the daemon records it: one JSON line per kernel decision or admin action
// (docs/operations.md §3). Decoding is tolerant: every field but `id` and `hook` may be absent,
// and keys this version does not know are kept in `fields` and written back unchanged.
import CorralJSON

/// One recorded event. For kernel decisions every `DecisionEvent` field is set (nil where the
/// kernel event has none, e.g. `rule` for a default allow); admin events (`hook == "admin"`) carry
/// `action`, `generation` and free-form `fields`.
public struct RecordedEvent: Codable, Sendable, Hashable {
    /// `"<seq>"` for kernel events (per boot: pair it with `bootID`).
    public var id: String
    /// First 8 hex digits of /proc/sys/kernel/random/boot_id.
    public var bootID: String?
    /// namespace_alloc, namespace_install, namespace_free, cgroup_attach, admin, or what the kernel sent.
    public var hook: String
    public var generation: UInt64?

    // DecisionEvent fields (absent for admin events).
    public var seq: UInt64?
    public var timestampNs: UInt64?
    public var verdict: String?
    public var mode: String?
    public var rule: String?
    public var ruleUID: UInt32?
    public var pid: UInt32?
    public var tgid: UInt32?
    public var comm: String?
    public var targetPID: UInt32?
    public var srcCgroup: UInt64?
    public var dstCgroup: UInt64?
    public var srcCgroupPath: String?
    public var dstCgroupPath: String?
    public var threadgroup: UInt8?
    public var nsType: String?
    public var nsInum: UInt32?
    public var nsLabel: String?
    public var errno: String?
    public var err: Int32?
    public var compat: Bool?
    public var locked: Bool?
    public var tracked: Bool?
    /// cgroup_attach denied because the destination had no classification (kernel only).
    public var unclassified: Bool?
    /// namespace_install into a namespace the actor was already in: not an entry (kernel only).
    public var alreadyIn: Bool?
    /// The actor kept its executable identity across the exec of an anonymous file (kernel only):
    /// `actor_exe` shows the memfd, the kernel matched the executable it was copied from.
    public var exeCarried: Bool?
    public var actorCgroup: UInt64?
    public var actorCgroupPath: String?
    public var actorLockRule: String?
    public var actorLockLabel: String?

    // Added by the daemon.
    /// `/proc/<tgid>/exe` when the daemon read the event; nil when it could not (task gone).
    public var actorExe: String?
    /// Extended attribute names on that executable (for `xattr:` subjects); nil when not read.
    /// With `exe_carried`, those of the carried executable.
    public var actorExeXattrs: [String]?
    /// With `exe_carried`: the executable whose identity the actor kept (a policy `exe:` path
    /// with that inode, else `inode INO on MAJ:MIN`); nil when it could not be read.
    public var actorExeCarried: String?

    // Admin events.
    public var action: String?
    /// Admin request fields, and any key this version does not know.
    public var fields: [String: JSONValue]

    public var isAdmin: Bool { hook == "admin" }

    public init(id: String, bootID: String? = nil, hook: String, generation: UInt64? = nil,
                seq: UInt64? = nil, timestampNs: UInt64? = nil, verdict: String? = nil, mode: String? = nil,
                rule: String? = nil, ruleUID: UInt32? = nil, pid: UInt32? = nil, tgid: UInt32? = nil,
                comm: String? = nil, targetPID: UInt32? = nil, srcCgroup: UInt64? = nil, dstCgroup: UInt64? = nil,
                srcCgroupPath: String? = nil, dstCgroupPath: String? = nil, threadgroup: UInt8? = nil,
                nsType: String? = nil, nsInum: UInt32? = nil, nsLabel: String? = nil, errno: String? = nil,
                err: Int32? = nil, compat: Bool? = nil, locked: Bool? = nil, tracked: Bool? = nil,
                actorCgroup: UInt64? = nil, actorCgroupPath: String? = nil, actorLockRule: String? = nil,
                actorLockLabel: String? = nil, actorExe: String? = nil, actorExeXattrs: [String]? = nil,
                action: String? = nil, fields: [String: JSONValue] = [:]) {
        self.id = id
        self.bootID = bootID
        self.hook = hook
        self.generation = generation
        self.seq = seq
        self.timestampNs = timestampNs
        self.verdict = verdict
        self.mode = mode
        self.rule = rule
        self.ruleUID = ruleUID
        self.pid = pid
        self.tgid = tgid
        self.comm = comm
        self.targetPID = targetPID
        self.srcCgroup = srcCgroup
        self.dstCgroup = dstCgroup
        self.srcCgroupPath = srcCgroupPath
        self.dstCgroupPath = dstCgroupPath
        self.threadgroup = threadgroup
        self.nsType = nsType
        self.nsInum = nsInum
        self.nsLabel = nsLabel
        self.errno = errno
        self.err = err
        self.compat = compat
        self.locked = locked
        self.tracked = tracked
        self.actorCgroup = actorCgroup
        self.actorCgroupPath = actorCgroupPath
        self.actorLockRule = actorLockRule
        self.actorLockLabel = actorLockLabel
        self.actorExe = actorExe
        self.actorExeXattrs = actorExeXattrs
        self.action = action
        self.fields = fields
    }

    /// An admin event (`apply`, `mode`, `loosen`, `loosen-expired`, `adopt`). `timestampNs` is
    /// CLOCK_MONOTONIC like the kernel's `bpf_ktime_get_ns`, so admin and kernel events order together.
    public static func admin(id: String, bootID: String?, action: String, generation: UInt64,
                             timestampNs: UInt64, fields: [String: JSONValue] = [:]) -> RecordedEvent {
        var event = RecordedEvent(id: id, bootID: bootID, hook: "admin", generation: generation,
                                  timestampNs: timestampNs, action: action)
        for (key, value) in fields {
            switch (key, value) {
            // Request fields that share a name with an event field go into it, so filters see them.
            case ("rule", .string(let rule)): event.rule = rule
            case ("mode", .string(let mode)): event.mode = mode
            case _ where knownKeys.contains(key): event.fields["request_" + key] = value
            default: event.fields[key] = value
            }
        }
        return event
    }

    enum Key: String, CodingKey, CaseIterable {
        case id, hook, generation, seq, verdict, mode, rule, pid, tgid, comm, threadgroup, errno, err, compat
        case locked, tracked, unclassified, action
        case alreadyIn = "already_in"
        case exeCarried = "exe_carried"
        case bootID = "boot_id"
        case timestampNs = "timestamp_ns"
        case ruleUID = "rule_uid"
        case targetPID = "target_pid"
        case srcCgroup = "src_cgroup"
        case dstCgroup = "dst_cgroup"
        case srcCgroupPath = "src_cgroup_path"
        case dstCgroupPath = "dst_cgroup_path"
        case nsType = "ns_type"
        case nsInum = "ns_inum"
        case nsLabel = "ns_label"
        case actorCgroup = "actor_cgroup"
        case actorCgroupPath = "actor_cgroup_path"
        case actorLockRule = "actor_lock_rule"
        case actorLockLabel = "actor_lock_label"
        case actorExe = "actor_exe"
        case actorExeXattrs = "actor_exe_xattrs"
        case actorExeCarried = "actor_exe_carried"
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let knownKeys = Set(Key.allCases.map(\.rawValue))

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        id = try c.decode(String.self, forKey: .id)
        hook = try c.decode(String.self, forKey: .hook)
        bootID = try c.decodeIfPresent(String.self, forKey: .bootID)
        generation = try c.decodeIfPresent(UInt64.self, forKey: .generation)
        seq = try c.decodeIfPresent(UInt64.self, forKey: .seq)
        timestampNs = try c.decodeIfPresent(UInt64.self, forKey: .timestampNs)
        verdict = try c.decodeIfPresent(String.self, forKey: .verdict)
        mode = try c.decodeIfPresent(String.self, forKey: .mode)
        rule = try c.decodeIfPresent(String.self, forKey: .rule)
        ruleUID = try c.decodeIfPresent(UInt32.self, forKey: .ruleUID)
        pid = try c.decodeIfPresent(UInt32.self, forKey: .pid)
        tgid = try c.decodeIfPresent(UInt32.self, forKey: .tgid)
        comm = try c.decodeIfPresent(String.self, forKey: .comm)
        targetPID = try c.decodeIfPresent(UInt32.self, forKey: .targetPID)
        srcCgroup = try c.decodeIfPresent(UInt64.self, forKey: .srcCgroup)
        dstCgroup = try c.decodeIfPresent(UInt64.self, forKey: .dstCgroup)
        srcCgroupPath = try c.decodeIfPresent(String.self, forKey: .srcCgroupPath)
        dstCgroupPath = try c.decodeIfPresent(String.self, forKey: .dstCgroupPath)
        threadgroup = try c.decodeIfPresent(UInt8.self, forKey: .threadgroup)
        nsType = try c.decodeIfPresent(String.self, forKey: .nsType)
        nsInum = try c.decodeIfPresent(UInt32.self, forKey: .nsInum)
        nsLabel = try c.decodeIfPresent(String.self, forKey: .nsLabel)
        errno = try c.decodeIfPresent(String.self, forKey: .errno)
        err = try c.decodeIfPresent(Int32.self, forKey: .err)
        compat = try c.decodeIfPresent(Bool.self, forKey: .compat)
        locked = try c.decodeIfPresent(Bool.self, forKey: .locked)
        tracked = try c.decodeIfPresent(Bool.self, forKey: .tracked)
        unclassified = try c.decodeIfPresent(Bool.self, forKey: .unclassified)
        alreadyIn = try c.decodeIfPresent(Bool.self, forKey: .alreadyIn)
        exeCarried = try c.decodeIfPresent(Bool.self, forKey: .exeCarried)
        actorCgroup = try c.decodeIfPresent(UInt64.self, forKey: .actorCgroup)
        actorCgroupPath = try c.decodeIfPresent(String.self, forKey: .actorCgroupPath)
        actorLockRule = try c.decodeIfPresent(String.self, forKey: .actorLockRule)
        actorLockLabel = try c.decodeIfPresent(String.self, forKey: .actorLockLabel)
        actorExe = try c.decodeIfPresent(String.self, forKey: .actorExe)
        actorExeXattrs = try c.decodeIfPresent([String].self, forKey: .actorExeXattrs)
        actorExeCarried = try c.decodeIfPresent(String.self, forKey: .actorExeCarried)
        action = try c.decodeIfPresent(String.self, forKey: .action)
        let all = try decoder.container(keyedBy: AnyKey.self)
        var extra: [String: JSONValue] = [:]
        for key in all.allKeys where !Self.knownKeys.contains(key.stringValue) {
            extra[key.stringValue] = try all.decode(JSONValue.self, forKey: key)
        }
        fields = extra
    }

    public func encode(to encoder: any Encoder) throws {
        var all = encoder.container(keyedBy: AnyKey.self)
        for (key, value) in fields where !Self.knownKeys.contains(key) {
            try all.encode(value, forKey: AnyKey(stringValue: key))
        }
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(id, forKey: .id)
        try c.encode(hook, forKey: .hook)
        try c.encodeIfPresent(bootID, forKey: .bootID)
        try c.encodeIfPresent(generation, forKey: .generation)
        try c.encodeIfPresent(seq, forKey: .seq)
        try c.encodeIfPresent(timestampNs, forKey: .timestampNs)
        try c.encodeIfPresent(verdict, forKey: .verdict)
        try c.encodeIfPresent(mode, forKey: .mode)
        try c.encodeIfPresent(rule, forKey: .rule)
        try c.encodeIfPresent(ruleUID, forKey: .ruleUID)
        try c.encodeIfPresent(pid, forKey: .pid)
        try c.encodeIfPresent(tgid, forKey: .tgid)
        try c.encodeIfPresent(comm, forKey: .comm)
        try c.encodeIfPresent(targetPID, forKey: .targetPID)
        try c.encodeIfPresent(srcCgroup, forKey: .srcCgroup)
        try c.encodeIfPresent(dstCgroup, forKey: .dstCgroup)
        try c.encodeIfPresent(srcCgroupPath, forKey: .srcCgroupPath)
        try c.encodeIfPresent(dstCgroupPath, forKey: .dstCgroupPath)
        try c.encodeIfPresent(threadgroup, forKey: .threadgroup)
        try c.encodeIfPresent(nsType, forKey: .nsType)
        try c.encodeIfPresent(nsInum, forKey: .nsInum)
        try c.encodeIfPresent(nsLabel, forKey: .nsLabel)
        try c.encodeIfPresent(errno, forKey: .errno)
        try c.encodeIfPresent(err, forKey: .err)
        try c.encodeIfPresent(compat, forKey: .compat)
        try c.encodeIfPresent(locked, forKey: .locked)
        try c.encodeIfPresent(tracked, forKey: .tracked)
        try c.encodeIfPresent(unclassified, forKey: .unclassified)
        try c.encodeIfPresent(alreadyIn, forKey: .alreadyIn)
        try c.encodeIfPresent(exeCarried, forKey: .exeCarried)
        try c.encodeIfPresent(actorCgroup, forKey: .actorCgroup)
        try c.encodeIfPresent(actorCgroupPath, forKey: .actorCgroupPath)
        try c.encodeIfPresent(actorLockRule, forKey: .actorLockRule)
        try c.encodeIfPresent(actorLockLabel, forKey: .actorLockLabel)
        if isAdmin {
            try c.encodeIfPresent(actorExe, forKey: .actorExe)
        } else {
            // The contract writes `"actor_exe": null` when the task was gone.
            try c.encode(actorExe, forKey: .actorExe)
        }
        try c.encodeIfPresent(actorExeXattrs, forKey: .actorExeXattrs)
        try c.encodeIfPresent(actorExeCarried, forKey: .actorExeCarried)
        try c.encodeIfPresent(action, forKey: .action)
    }

    /// One JSON object on one line (keys sorted), as written to events.jsonl.
    public var jsonLine: String {
        guard let value = try? JSONValueEncoder().encode(self) else { return "{}" }
        return String(decoding: value.serialized(), as: UTF8.self)
    }

    /// Parses one line of events.jsonl (the strict JSON reader: duplicate keys and nesting past
    /// `JSONValue.maxDepth` are errors).
    public static func parse(line: String) throws -> RecordedEvent {
        try decode(try JSONValue.parse(line))
    }

    /// A parsed line as a recorded event: the direct reader when every field has its usual type,
    /// else the Codable decoder (which names what is wrong).
    static func decode(_ value: JSONValue) throws -> RecordedEvent {
        if case .object(let o) = value, let event = RecordedEvent(fast: o) { return event }
        return try JSONValueDecoder().decode(RecordedEvent.self, from: value)
    }
}

extension RecordedEvent {
    /// The decoder's result for the common case, without Codable: every known key with the type
    /// the decoder expects (or null), unknown keys into `fields`. nil when some value is of
    /// another type, or `id`/`hook` is missing: the caller then runs the decoder, which reports it.
    init?(fast object: [String: JSONValue]) {
        func str(_ v: JSONValue) -> String?? {
            switch v { case .null: return .some(nil); case .string(let s): return .some(s); default: return nil }
        }
        func int<T: FixedWidthInteger>(_ v: JSONValue, _: T.Type) -> T?? {
            switch v {
            case .null: return .some(nil)
            case .integer(let i): if let x = T(exactly: i) { return .some(x) } else { return nil }
            default: return nil
            }
        }
        func bool(_ v: JSONValue) -> Bool?? {
            switch v { case .null: return .some(nil); case .bool(let b): return .some(b); default: return nil }
        }
        guard case .string(let id)? = object["id"], case .string(let hook)? = object["hook"] else { return nil }
        self.init(id: id, hook: hook)
        for (key, value) in object {
            switch key {
            case "id", "hook": continue
            case "boot_id": guard let v = str(value) else { return nil }; bootID = v
            case "generation": guard let v = int(value, UInt64.self) else { return nil }; generation = v
            case "seq": guard let v = int(value, UInt64.self) else { return nil }; seq = v
            case "timestamp_ns": guard let v = int(value, UInt64.self) else { return nil }; timestampNs = v
            case "verdict": guard let v = str(value) else { return nil }; verdict = v
            case "mode": guard let v = str(value) else { return nil }; mode = v
            case "rule": guard let v = str(value) else { return nil }; rule = v
            case "rule_uid": guard let v = int(value, UInt32.self) else { return nil }; ruleUID = v
            case "pid": guard let v = int(value, UInt32.self) else { return nil }; pid = v
            case "tgid": guard let v = int(value, UInt32.self) else { return nil }; tgid = v
            case "comm": guard let v = str(value) else { return nil }; comm = v
            case "target_pid": guard let v = int(value, UInt32.self) else { return nil }; targetPID = v
            case "src_cgroup": guard let v = int(value, UInt64.self) else { return nil }; srcCgroup = v
            case "dst_cgroup": guard let v = int(value, UInt64.self) else { return nil }; dstCgroup = v
            case "src_cgroup_path": guard let v = str(value) else { return nil }; srcCgroupPath = v
            case "dst_cgroup_path": guard let v = str(value) else { return nil }; dstCgroupPath = v
            case "threadgroup": guard let v = int(value, UInt8.self) else { return nil }; threadgroup = v
            case "ns_type": guard let v = str(value) else { return nil }; nsType = v
            case "ns_inum": guard let v = int(value, UInt32.self) else { return nil }; nsInum = v
            case "ns_label": guard let v = str(value) else { return nil }; nsLabel = v
            case "errno": guard let v = str(value) else { return nil }; errno = v
            case "err": guard let v = int(value, Int32.self) else { return nil }; err = v
            case "compat": guard let v = bool(value) else { return nil }; compat = v
            case "locked": guard let v = bool(value) else { return nil }; locked = v
            case "tracked": guard let v = bool(value) else { return nil }; tracked = v
            case "unclassified": guard let v = bool(value) else { return nil }; unclassified = v
            case "already_in": guard let v = bool(value) else { return nil }; alreadyIn = v
            case "exe_carried": guard let v = bool(value) else { return nil }; exeCarried = v
            case "actor_cgroup": guard let v = int(value, UInt64.self) else { return nil }; actorCgroup = v
            case "actor_cgroup_path": guard let v = str(value) else { return nil }; actorCgroupPath = v
            case "actor_lock_rule": guard let v = str(value) else { return nil }; actorLockRule = v
            case "actor_lock_label": guard let v = str(value) else { return nil }; actorLockLabel = v
            case "actor_exe": guard let v = str(value) else { return nil }; actorExe = v
            case "actor_exe_carried": guard let v = str(value) else { return nil }; actorExeCarried = v
            case "action": guard let v = str(value) else { return nil }; action = v
            case "actor_exe_xattrs":
                switch value {
                case .null: actorExeXattrs = nil
                case .array(let a):
                    var names: [String] = []
                    for x in a { guard case .string(let s) = x else { return nil }; names.append(s) }
                    actorExeXattrs = names
                default: return nil
                }
            default:
                guard !Self.knownKeys.contains(key) else { return nil }
                fields[key] = value
            }
        }
    }
}


/// Selects events: every set field must match; `limit` keeps the last N matches.
public struct EventFilter: Sendable, Hashable {
    public var rule: String?
    public var verdict: String?
    public var hook: String?
    public var limit: Int?

    public init(rule: String? = nil, verdict: String? = nil, hook: String? = nil, limit: Int? = nil) {
        self.rule = rule
        self.verdict = verdict
        self.hook = hook
        self.limit = limit
    }

    public func matches(_ e: RecordedEvent) -> Bool {
        if let rule, e.rule != rule { return false }
        if let verdict, e.verdict != verdict { return false }
        if let hook, e.hook != hook { return false }
        return true
    }

    /// Filters `events` (oldest first) and keeps the newest `limit`.
    public func apply(_ events: some Sequence<RecordedEvent>) -> [RecordedEvent] {
        let matching = events.filter(matches)
        guard let limit else { return matching }
        return Array(matching.suffix(max(0, limit)))
    }
}
