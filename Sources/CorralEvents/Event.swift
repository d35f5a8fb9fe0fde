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

    /// The `hook` of admin events.
    public static let adminHook = "admin"
    public var isAdmin: Bool { hook == Self.adminHook }

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
        var event = Event(id: id, bootID: bootID, hook: adminHook, generation: generation,
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

    /// Every field but `id`, `hook` and `fields`: its JSON key and its property. The one list
    /// the Codable conformance, the direct reader (`init?(object:)`) and `knownKeys` use; a new
    /// field is a property and a line here.
    static let schema: [EventField] = [
        .init("boot_id", \.bootID), .init("generation", \.generation), .init("seq", \.seq),
        .init("timestamp_ns", \.timestampNs), .init("verdict", \.verdict), .init("mode", \.mode),
        .init("rule", \.rule), .init("rule_uid", \.ruleUID), .init("rule_origin", \.ruleOrigin),
        .init("pid", \.pid), .init("tgid", \.tgid),
        .init("comm", \.comm), .init("target_pid", \.targetPID), .init("src_cgroup", \.srcCgroup),
        .init("dst_cgroup", \.dstCgroup), .init("src_cgroup_path", \.srcCgroupPath),
        .init("dst_cgroup_path", \.dstCgroupPath), .init("threadgroup", \.threadgroup),
        .init("ns_type", \.nsType), .init("ns_inum", \.nsInum), .init("ns_label", \.nsLabel),
        .init("errno", \.errno), .init("err", \.err), .init("compat", \.compat), .init("locked", \.locked),
        .init("tracked", \.tracked), .init("unclassified", \.unclassified), .init("already_in", \.alreadyIn),
        .init("exe_carried", \.exeCarried), .init("actor_cgroup", \.actorCgroup),
        .init("actor_cgroup_path", \.actorCgroupPath), .init("actor_lock_rule", \.actorLockRule),
        .init("actor_lock_label", \.actorLockLabel), .init("hook_count", \.hookCount),
        // Kernel events write `"actor_exe": null` when the task was gone.
        .init("actor_exe", \.actorExe, nullWhenAbsent: { !$0.isAdmin && !$0.id.isEmpty }),
        .init("actor_exe_xattrs", \.actorExeXattrs), .init("actor_exe_carried", \.actorExeCarried),
        .init("actor_uid", \.actorUID), .init("actor_gid", \.actorGID), .init("actor_unit", \.actorUnit),
        .init("actor_container", \.actorContainer), .init("actor_pod", \.actorPod), .init("time", \.time),
        .init("action", \.action),
    ]
    static let schemaByKey = Dictionary(uniqueKeysWithValues: schema.map { ($0.key, $0) })
    static let knownKeys = Set(["id", "hook"] + schema.map(\.key))

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ key: String) { stringValue = key }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        self.init(id: try c.decode(String.self, forKey: AnyKey("id")), hook: try c.decode(String.self, forKey: AnyKey("hook")))
        for field in Self.schema { try field.decode(&self, c) }
        for key in c.allKeys where !Self.knownKeys.contains(key.stringValue) {
            fields[key.stringValue] = try c.decode(JSONValue.self, forKey: key)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        for (key, value) in fields where !Self.knownKeys.contains(key) { try c.encode(value, forKey: AnyKey(key)) }
        try c.encode(id, forKey: AnyKey("id"))
        try c.encode(hook, forKey: AnyKey("hook"))
        for field in Self.schema { try field.encode(self, &c) }
    }

    /// The decoder's result for a parsed object, without Codable, when every known key has the
    /// type the decoder expects (or null); nil otherwise, or when `id`/`hook` is missing: the
    /// caller then runs the decoder, which names what is wrong.
    init?(object: [String: JSONValue]) {
        guard case .string(let id)? = object["id"], case .string(let hook)? = object["hook"] else { return nil }
        self.init(id: id, hook: hook)
        for (key, value) in object where key != "id" && key != "hook" {
            if let field = Self.schemaByKey[key] {
                guard field.read(&self, value) else { return nil }
            } else {
                fields[key] = value
            }
        }
    }

    /// `init?(object:)` read straight from the bytes of one line, without building the object
    /// (`JSONValue.forEachMember`): nil when that reader stops (escaped keys, malformed JSON), a
    /// key repeats, `id`/`hook` is missing, or a known key has another type: the caller then
    /// parses the line in full, which accepts it or says what is wrong.
    init?(line bytes: UnsafeBufferPointer<UInt8>) {
        var event = Event(id: "", hook: "")
        var seen: UInt64 = 0 // bit 0: id, 1: hook, 2 + i: schema[i]
        let complete = JSONValue.forEachMember(ofObject: bytes) { key, value in
            let bit: Int
            if let index = Self.schemaIndex(key) {
                bit = 2 + index
            } else if key.elementsEqual("id".utf8) {
                bit = 0
            } else if key.elementsEqual("hook".utf8) {
                bit = 1
            } else {
                guard let name = String(validating: key, as: UTF8.self) else { return false }
                return event.fields.updateValue(value, forKey: name) == nil
            }
            guard seen & (1 << bit) == 0 else { return false }
            seen |= 1 << bit
            switch bit {
            case 0:
                guard case .string(let id) = value else { return false }
                event.id = id
                return true
            case 1:
                guard case .string(let hook) = value else { return false }
                event.hook = hook
                return true
            default:
                return Self.schema[bit - 2].read(&event, value)
            }
        }
        guard complete, seen & 3 == 3 else { return nil }
        self = event
    }

    /// `schema` indices by key length, for finding a key's field from its bytes.
    private static let schemaByLength: [[(index: Int, key: [UInt8])]] = {
        precondition(schema.count <= 62, "Event(line:) keeps one bit per schema field in a UInt64")
        let keys = schema.map { Array($0.key.utf8) }
        var table = [[(index: Int, key: [UInt8])]](repeating: [], count: (keys.map(\.count).max() ?? 0) + 1)
        for (index, key) in keys.enumerated() { table[key.count].append((index, key)) }
        return table
    }()

    private static func schemaIndex(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        guard key.count < schemaByLength.count else { return nil }
        for candidate in schemaByLength[key.count] where candidate.key.elementsEqual(key) { return candidate.index }
        return nil
    }

    /// The event as a JSON object, from `schema` directly (what the Codable encoder gives, without
    /// its cost: the daemon encodes every event it records).
    public var jsonObject: JSONValue {
        var object = fields.filter { !Self.knownKeys.contains($0.key) }
        object["id"] = .string(id)
        object["hook"] = .string(hook)
        for field in Self.schema { if let value = field.json(self) { object[field.key] = value } }
        return .object(object)
    }

    /// Every key with its `"key":` bytes and its value, in output (key) order: `jsonLine` walks it.
    struct LineField: @unchecked Sendable {
        let key: String
        let prefix: [UInt8]
        let write: (Event, inout [UInt8]) -> Bool
    }
    static let lineOrder: [LineField] = {
        let all: [(String, (Event, inout [UInt8]) -> Bool)] = [
            ("id", { e, out in JSONValue.write(string: e.id, into: &out); return true }),
            ("hook", { e, out in JSONValue.write(string: e.hook, into: &out); return true }),
        ] + schema.map { ($0.key, $0.write) }
        return all.sorted { JSONValue.keyPrecedes($0.0, $1.0) }.map { key, write in
            var prefix: [UInt8] = []
            JSONValue.write(string: key, into: &prefix)
            prefix.append(UInt8(ascii: ":"))
            return LineField(key: key, prefix: prefix, write: write)
        }
    }()

    /// One JSON object on one line (keys sorted), as written to events.jsonl: `jsonObject`
    /// serialized, written without building it (the daemon writes every event it records).
    public var jsonLine: String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(1024)
        let extras = fields.isEmpty ? []
            : fields.filter { !Self.knownKeys.contains($0.key) }.sorted { JSONValue.keyPrecedes($0.key, $1.key) }
        var next = 0
        func separate() { if out.count > 1 { out.append(UInt8(ascii: ",")) } }
        func writeExtra(_ entry: (key: String, value: JSONValue)) {
            separate()
            JSONValue.string(entry.key).write(into: &out)
            out.append(UInt8(ascii: ":"))
            entry.value.write(into: &out)
        }
        for field in Self.lineOrder {
            while next < extras.count && JSONValue.keyPrecedes(extras[next].key, field.key) {
                writeExtra(extras[next])
                next += 1
            }
            let mark = out.count
            separate()
            out.append(contentsOf: field.prefix)
            if !field.write(self, &out) { out.removeSubrange(mark...) }
        }
        while next < extras.count {
            writeExtra(extras[next])
            next += 1
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses one line of events.jsonl (the strict JSON reader: duplicate keys and nesting past
    /// `JSONValue.maxDepth` are errors).
    public static func parse(line: String) throws -> Event {
        try decode(try JSONValue.parse(line))
    }

    /// Parses one line of events.jsonl given as bytes.
    public static func parse(bytes: UnsafeBufferPointer<UInt8>) throws -> Event {
        if let event = Event(line: bytes) { return event }
        return try decode(try JSONValue.parse(bytes))
    }

    static func decode(_ value: JSONValue) throws -> Event {
        if case .object(let o) = value, let event = Event(object: o) { return event }
        return try JSONValueDecoder().decode(Event.self, from: value)
    }
}

/// One optional field of `Event`: its key, and reading and writing it through its key path.
struct EventField: @unchecked Sendable {
    let key: String
    let read: (inout Event, JSONValue) -> Bool
    let decode: (inout Event, KeyedDecodingContainer<Event.AnyKey>) throws -> Void
    let encode: (Event, inout KeyedEncodingContainer<Event.AnyKey>) throws -> Void
    /// The field's JSON value; nil when it is absent (and not written as null).
    let json: (Event) -> JSONValue?
    /// Appends the field's JSON value (what `json` gives, serialized); false when absent.
    let write: (Event, inout [UInt8]) -> Bool

    init<T: Codable & EventFieldValue>(_ key: String, _ path: WritableKeyPath<Event, T?>,
                                       nullWhenAbsent: @escaping @Sendable (Event) -> Bool = { _ in false }) {
        self.key = key
        let codingKey = Event.AnyKey(key)
        read = { event, value in
            if case .null = value { event[keyPath: path] = nil; return true }
            guard let v = T(json: value) else { return false }
            event[keyPath: path] = v
            return true
        }
        decode = { event, c in event[keyPath: path] = try c.decodeIfPresent(T.self, forKey: codingKey) }
        encode = { event, c in
            if let v = event[keyPath: path] { try c.encode(v, forKey: codingKey) }
            else if nullWhenAbsent(event) { try c.encodeNil(forKey: codingKey) }
        }
        json = { event in
            if let v = event[keyPath: path] { return v.jsonValue }
            return nullWhenAbsent(event) ? .null : nil
        }
        write = { event, out in
            if let v = event[keyPath: path] { v.writeJSON(into: &out); return true }
            guard nullWhenAbsent(event) else { return false }
            JSONValue.null.write(into: &out)
            return true
        }
    }
}

/// A field type the direct reader takes from a JSON value, and the direct writer gives as one,
/// as the Codable decoder and encoder would.
protocol EventFieldValue {
    init?(json: JSONValue)
    var jsonValue: JSONValue { get }
    /// `jsonValue` serialized.
    func writeJSON(into out: inout [UInt8])
}
extension EventFieldValue {
    func writeJSON(into out: inout [UInt8]) { jsonValue.write(into: &out) }
}
extension String: EventFieldValue {
    init?(json: JSONValue) { guard case .string(let s) = json else { return nil }; self = s }
    var jsonValue: JSONValue { .string(self) }
    func writeJSON(into out: inout [UInt8]) { JSONValue.write(string: self, into: &out) }
}
extension Bool: EventFieldValue {
    init?(json: JSONValue) { guard case .bool(let b) = json else { return nil }; self = b }
    var jsonValue: JSONValue { .bool(self) }
}
/// Fixed-width integers: JSONValue.integer (Int64) when exact, else a number, as
/// `JSONValue(UInt64)` and the Codable encoder do.
protocol EventFieldInteger: EventFieldValue, FixedWidthInteger {}
extension EventFieldInteger {
    init?(json: JSONValue) { guard case .integer(let i) = json else { return nil }; self.init(exactly: i) }
    var jsonValue: JSONValue { Int64(exactly: self).map(JSONValue.integer) ?? .number(Double(self)) }
    func writeJSON(into out: inout [UInt8]) {
        if let i = Int64(exactly: self) { JSONValue.write(integer: i, into: &out) } else { jsonValue.write(into: &out) }
    }
}
extension UInt64: EventFieldInteger {}
extension UInt32: EventFieldInteger {}
extension UInt8: EventFieldInteger {}
extension Int32: EventFieldInteger {}
extension Array: EventFieldValue where Element == String {
    init?(json: JSONValue) {
        guard case .array(let a) = json else { return nil }
        var strings: [String] = []
        for x in a { guard case .string(let s) = x else { return nil }; strings.append(s) }
        self = strings
    }
    var jsonValue: JSONValue { .array(map(JSONValue.string)) }
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
