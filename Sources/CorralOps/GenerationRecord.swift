// A generation record, `<state>/generations/<N>.json` (docs/operations.md §1): written by the
// daemon (GenerationStore) before each generation switch, read back to adopt, explain and replay.
import CorralJSON
import CorralPolicy

public struct GenerationRecord: Codable, Sendable, Equatable {
    public var generation: UInt64
    public var slot: UInt32
    public var source: String
    public var policy: String
    /// enforce, or audit for every rule.
    public var policyMode: String
    /// Per-rule overrides from `corral mode` / `corral loosen`: rule id -> audit|enforce.
    public var ruleModes: [String: String]
    /// Rule id -> wall-clock second its temporary audit ends (for people; see the next one).
    public var loosened: [String: Double]
    /// Rule id -> CLOCK_BOOTTIME nanosecond its temporary audit ends: the deadline the kernel
    /// enforces (corral_rule.audit_until_ns). Records written before it existed decode as empty.
    public var loosenedUntilBoottime: [String: UInt64]
    public var appliedAt: Double
    /// The drop-in fragments merged after `policy`, in merge order, each with its text (docs/policy.md,
    /// "Fragments"). Records without fragments (and those written before they existed) have none.
    public var fragments: [Fragment] = []
    /// Rules delegated managers registered at run time (docs/policy.md, "Registrations"), merged
    /// after the fragments in registration order, each as one more fragment named
    /// `registration:<id>`. Records without registrations have none.
    public var registrations: [Registration] = []
    /// The number of the last registration id handed out (`reg-<N>`), so ids are never reused.
    public var registrationSerial: UInt64 = 0

    /// One registration: who made it, for which subtree, and its rules' YAML text.
    public struct Registration: Codable, Sendable, Equatable {
        public var id: String
        /// The cgroup (a path under the policy's cgroup root) the rules stay inside.
        public var subtree: String
        /// The `delegated` rule whose manager registered it.
        public var managerRule: String
        public var pid: Int32
        public var uid: UInt32
        public var policy: String
        public var registeredAt: Double
        /// The manager's systemd unit when it registered (`Workload.identify` of its cgroup);
        /// nil when it runs in none or the record predates it.
        public var unit: String?

        public init(id: String, subtree: String, managerRule: String, pid: Int32, uid: UInt32, policy: String,
                    registeredAt: Double, unit: String? = nil) {
            self.unit = unit
            self.id = id
            self.subtree = subtree
            self.managerRule = managerRule
            self.pid = pid
            self.uid = uid
            self.policy = policy
            self.registeredAt = registeredAt
        }

        /// The name its rules' locations carry.
        public var source: String { "registration:" + id }

        /// Its rules' origin (`Policy.origin(of:)`): `registration reg-1 (manager pid 1234, unit x.service)`.
        public var origin: String {
            "registration \(id) (manager pid \(pid)" + (unit.map { ", unit \($0)" } ?? "") + ")"
        }

        enum CodingKeys: String, CodingKey {
            case id, subtree, pid, uid, policy, unit
            case managerRule = "manager_rule"
            case registeredAt = "registered_at"
        }
    }

    public struct Fragment: Codable, Sendable, Equatable {
        public var source: String
        public var policy: String
        public init(source: String, policy: String) {
            self.source = source
            self.policy = policy
        }
    }

    public init(generation: UInt64, slot: UInt32, source: String, policy: String, policyMode: String,
                ruleModes: [String: String], loosened: [String: Double],
                loosenedUntilBoottime: [String: UInt64] = [:], appliedAt: Double) {
        self.generation = generation
        self.slot = slot
        self.source = source
        self.policy = policy
        self.policyMode = policyMode
        self.ruleModes = ruleModes
        self.loosened = loosened
        self.loosenedUntilBoottime = loosenedUntilBoottime
        self.appliedAt = appliedAt
    }

    enum CodingKeys: String, CodingKey {
        case generation, slot, source, policy, loosened
        case fragments, registrations
        case registrationSerial = "registration_serial"
        case policyMode = "policy_mode"
        case ruleModes = "rule_modes"
        case loosenedUntilBoottime = "loosened_until_boottime_ns"
        case appliedAt = "applied_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        generation = try c.decode(UInt64.self, forKey: .generation)
        slot = try c.decode(UInt32.self, forKey: .slot)
        source = try c.decode(String.self, forKey: .source)
        policy = try c.decode(String.self, forKey: .policy)
        policyMode = try c.decode(String.self, forKey: .policyMode)
        ruleModes = try c.decode([String: String].self, forKey: .ruleModes)
        loosened = try c.decode([String: Double].self, forKey: .loosened)
        loosenedUntilBoottime = try c.decodeIfPresent([String: UInt64].self, forKey: .loosenedUntilBoottime) ?? [:]
        appliedAt = try c.decode(Double.self, forKey: .appliedAt)
        fragments = try c.decodeIfPresent([Fragment].self, forKey: .fragments) ?? []
        registrations = try c.decodeIfPresent([Registration].self, forKey: .registrations) ?? []
        registrationSerial = try c.decodeIfPresent(UInt64.self, forKey: .registrationSerial) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(generation, forKey: .generation)
        try c.encode(slot, forKey: .slot)
        try c.encode(source, forKey: .source)
        try c.encode(policy, forKey: .policy)
        try c.encode(policyMode, forKey: .policyMode)
        try c.encode(ruleModes, forKey: .ruleModes)
        try c.encode(loosened, forKey: .loosened)
        try c.encode(loosenedUntilBoottime, forKey: .loosenedUntilBoottime)
        try c.encode(appliedAt, forKey: .appliedAt)
        if !fragments.isEmpty { try c.encode(fragments, forKey: .fragments) }
        if !registrations.isEmpty { try c.encode(registrations, forKey: .registrations) }
        if registrationSerial != 0 { try c.encode(registrationSerial, forKey: .registrationSerial) }
    }

    /// The recorded policy: the main text, its fragments and the registrations, validated as one
    /// policy. `registrations: false`: without the registrations (what the admin applied).
    public func parsePolicy(registrations withRegistrations: Bool = true) throws(PolicyErrors) -> Policy {
        var policy = try PolicyLoader.parse(main: PolicyText(source: source, text: policy),
                               fragments: fragments.map { PolicyText(source: $0.source, text: $0.policy) }
                                   + (withRegistrations ? registrations.map { PolicyText(source: $0.source, text: $0.policy) } : []))
        if withRegistrations {
            for registration in registrations { policy.sourceNames[registration.source] = registration.origin }
        }
        return policy
    }

    /// `base` with this record's overrides: the per-rule modes, and for a loosened rule its
    /// kernel deadline (`Rule.auditUntil`): audit until then, its mode after. A loosening with
    /// no boot-time deadline (a record from before CORRAL_ABI_VERSION 2) is audit for the whole
    /// generation, as it was then; such records are only replayed, never installed again
    /// (`dropExpiredLoosenings` removes them at adoption). Policy-wide audit is the
    /// generation's audit flag, not applied here.
    public func applyingOverrides(to base: Policy) -> Policy {
        var p = base
        for i in p.rules.indices {
            let id = p.rules[i].id
            if let m = ruleModes[id] { p.rules[i].mode = m == "audit" ? .audit : .enforce }
            if loosened[id] != nil { p.rules[i].auditUntil = loosenedUntilBoottime[id] ?? .max }
        }
        return p
    }

    /// The loosenings that are over at `boottime` (or have no boot-time deadline), sorted.
    public func expiredLoosenings(boottime: UInt64) -> [String] {
        loosened.keys.filter { id in loosenedUntilBoottime[id].map { $0 <= boottime } ?? true }.sorted()
    }

    /// Drops the loosenings that are over at `boottime` (or have no boot-time deadline).
    /// Returns their rule ids, sorted.
    public mutating func dropExpiredLoosenings(boottime: UInt64) -> [String] {
        let due = expiredLoosenings(boottime: boottime)
        for id in due { loosened[id] = nil; loosenedUntilBoottime[id] = nil }
        for id in loosenedUntilBoottime.keys where loosened[id] == nil { loosenedUntilBoottime[id] = nil }
        return due
    }
}

extension GenerationRecord {
    /// The file's text: one JSON object, keys sorted.
    public var jsonText: String? {
        (try? JSONValueEncoder().encode(self)).map { String(decoding: $0.serialized(), as: UTF8.self) }
    }

    /// A record file's text; nil when it is not a record.
    public static func parse(text: String) -> GenerationRecord? {
        guard let value = try? JSONValue.parse(text) else { return nil }
        return try? JSONValueDecoder().decode(GenerationRecord.self, from: value)
    }
}
