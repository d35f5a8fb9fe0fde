// The one event type: what the kernel reports (`struct corral_event`, decoded by CorralKernel's
// EventDecoder), what the daemon records (one JSON line per kernel decision or admin action,
// docs/operations.md §3), what the control socket sends, what replay reads and what the
// evaluator says the kernel would report. Decoding is tolerant: every field but `id` and `hook`
// may be absent, and keys this version does not know are kept in `fields` and written back
// unchanged.
import CorralJSON

/// One event. For kernel decisions every `struct corral_event` field is set (nil where the kernel
/// event has none, e.g. `rule` for a default allow); the daemon adds `bootID` and the actor's
/// executable; admin events (`hook == "admin"`) carry `action`, `generation` and free-form
/// `fields`. The evaluator's events carry the kernel's fields it models, an empty `id` and
/// `hookCount`.
public struct Event: Codable, Sendable, Hashable {
    /// `"<seq>"` for kernel events (per boot: pair it with `bootID`); empty for the evaluator's.
    public var id: String
    /// First 8 hex digits of /proc/sys/kernel/random/boot_id.
    public var bootID: String?
    /// namespace_alloc, namespace_install, namespace_free, cgroup_attach, admin, or what the kernel sent.
    public var hook: String
    public var generation: UInt64?

    // `struct corral_event` fields (absent for admin events).
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
    /// Invocations of this hook so far, this one included (the evaluator's count; not in
    /// kernel events).
    public var hookCount: UInt64?

    // Added by the daemon.
    /// Where `rule` comes from (`Policy.origin(of:)`: `FILE:LINE`, or a registration), looked up
    /// in the daemon's active generation; nil for a default allow or a rule that generation lacks.
    /// The evaluator's events carry it too.
    public var ruleOrigin: String?
    /// `/proc/<tgid>/exe` when the daemon read the event; nil when it could not (task gone).
    public var actorExe: String?
    /// Extended attribute names on that executable (for `xattr:` subjects); nil when not read.
    /// With `exe_carried`, those of the carried executable.
    public var actorExeXattrs: [String]?
    /// With `exe_carried`: the executable whose identity the actor kept (a policy `exe:` path
    /// with that inode, else `inode INO on MAJ:MIN`); nil when it could not be read.
    public var actorExeCarried: String?
    /// The actor's real uid and gid (`/proc/<tgid>/status` when the daemon read the event).
    public var actorUID: UInt32?
    public var actorGID: UInt32?
    /// The workload the actor's cgroup belongs to (`Workload.identify(cgroupPath:)`): its
    /// systemd unit, its container id (podman, docker, CRI-O, containerd), its Kubernetes pod uid.
    public var actorUnit: String?
    public var actorContainer: String?
    public var actorPod: String?
    /// Wall-clock time of the decision, RFC 3339 in UTC with microseconds (the daemon converts
    /// `timestamp_ns`, CLOCK_MONOTONIC, with the offset to CLOCK_REALTIME when it reads the event).
    public var time: String?

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
                actorLockLabel: String? = nil, unclassified: Bool? = nil, alreadyIn: Bool? = nil,
                exeCarried: Bool? = nil, hookCount: UInt64? = nil, actorExe: String? = nil,
                actorExeXattrs: [String]? = nil, actorExeCarried: String? = nil,
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
        self.unclassified = unclassified
        self.alreadyIn = alreadyIn
        self.exeCarried = exeCarried
        self.hookCount = hookCount
        self.actorExe = actorExe
        self.actorExeXattrs = actorExeXattrs
        self.actorExeCarried = actorExeCarried
        self.action = action
        self.fields = fields
    }

    /// An admin event (`apply`, `mode`, `loosen`, `loosen-expired`, `adopt`). `timestampNs` is
    /// CLOCK_MONOTONIC like the kernel's `bpf_ktime_get_ns`, so admin and kernel events order together.
    public static func admin(id: String, bootID: String?, action: String, generation: UInt64,
                             timestampNs: UInt64, fields: [String: JSONValue] = [:]) -> Event {
        var event = Event(id: id, bootID: bootID, hook: "admin", generation: generation,
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
        case ruleOrigin = "rule_origin"
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
        case hookCount = "hook_count"
        case actorExe = "actor_exe"
        case actorExeXattrs = "actor_exe_xattrs"
        case actorExeCarried = "actor_exe_carried"
        case actorUID = "actor_uid"
        case actorGID = "actor_gid"
        case actorUnit = "actor_unit"
        case actorContainer = "actor_container"
        case actorPod = "actor_pod"
        case time
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
        ruleOrigin = try c.decodeIfPresent(String.self, forKey: .ruleOrigin)
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
        hookCount = try c.decodeIfPresent(UInt64.self, forKey: .hookCount)
        actorExe = try c.decodeIfPresent(String.self, forKey: .actorExe)
        actorExeXattrs = try c.decodeIfPresent([String].self, forKey: .actorExeXattrs)
        actorExeCarried = try c.decodeIfPresent(String.self, forKey: .actorExeCarried)
        actorUID = try c.decodeIfPresent(UInt32.self, forKey: .actorUID)
        actorGID = try c.decodeIfPresent(UInt32.self, forKey: .actorGID)
        actorUnit = try c.decodeIfPresent(String.self, forKey: .actorUnit)
        actorContainer = try c.decodeIfPresent(String.self, forKey: .actorContainer)
        actorPod = try c.decodeIfPresent(String.self, forKey: .actorPod)
        time = try c.decodeIfPresent(String.self, forKey: .time)
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
        try c.encodeIfPresent(ruleOrigin, forKey: .ruleOrigin)
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
        try c.encodeIfPresent(hookCount, forKey: .hookCount)
        if isAdmin || id.isEmpty {
            try c.encodeIfPresent(actorExe, forKey: .actorExe)
        } else {
            // The contract writes `"actor_exe": null` when the task was gone (recorded events).
            try c.encode(actorExe, forKey: .actorExe)
        }
        try c.encodeIfPresent(actorExeXattrs, forKey: .actorExeXattrs)
        try c.encodeIfPresent(actorExeCarried, forKey: .actorExeCarried)
        try c.encodeIfPresent(actorUID, forKey: .actorUID)
        try c.encodeIfPresent(actorGID, forKey: .actorGID)
        try c.encodeIfPresent(actorUnit, forKey: .actorUnit)
        try c.encodeIfPresent(actorContainer, forKey: .actorContainer)
        try c.encodeIfPresent(actorPod, forKey: .actorPod)
        try c.encodeIfPresent(time, forKey: .time)
        try c.encodeIfPresent(action, forKey: .action)
    }

    /// One JSON object on one line (keys sorted), as written to events.jsonl.
    public var jsonLine: String {
        guard let value = try? JSONValueEncoder().encode(self) else { return "{}" }
        return String(decoding: value.serialized(), as: UTF8.self)
    }

    /// Parses one line of events.jsonl (the strict JSON reader: duplicate keys and nesting past
    /// `JSONValue.maxDepth` are errors).
    public static func parse(line: String) throws -> Event {
        try JSONValueDecoder().decode(Event.self, from: try JSONValue.parse(line))
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

    public func matches(_ e: Event) -> Bool {
        if let rule, e.rule != rule { return false }
        if let verdict, e.verdict != verdict { return false }
        if let hook, e.hook != hook { return false }
        return true
    }

    /// Filters `events` (oldest first) and keeps the newest `limit`.
    public func apply(_ events: some Sequence<Event>) -> [Event] {
        let matching = events.filter(matches)
        guard let limit else { return matching }
        return Array(matching.suffix(max(0, limit)))
    }
}
