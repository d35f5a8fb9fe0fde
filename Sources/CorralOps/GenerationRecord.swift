// A generation record, `<state>/generations/<N>.json` (docs/operations.md §1): written by the
// daemon (GenerationStore) before each generation switch, read back to adopt, explain and replay.
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
    /// Rule id -> wall-clock second its temporary audit ends.
    public var loosened: [String: Double]
    public var appliedAt: Double

    public init(generation: UInt64, slot: UInt32, source: String, policy: String, policyMode: String,
                ruleModes: [String: String], loosened: [String: Double], appliedAt: Double) {
        self.generation = generation
        self.slot = slot
        self.source = source
        self.policy = policy
        self.policyMode = policyMode
        self.ruleModes = ruleModes
        self.loosened = loosened
        self.appliedAt = appliedAt
    }

    enum CodingKeys: String, CodingKey {
        case generation, slot, source, policy, loosened
        case policyMode = "policy_mode"
        case ruleModes = "rule_modes"
        case appliedAt = "applied_at"
    }

    /// `base` with this record's overrides: loosened rules audit until their time, then the
    /// per-rule modes. (Policy-wide audit is the generation's audit flag, not applied here.)
    public func applyingOverrides(to base: Policy) -> Policy {
        var p = base
        for i in p.rules.indices {
            let id = p.rules[i].id
            if loosened[id] != nil { p.rules[i].mode = .audit }
            else if let m = ruleModes[id] { p.rules[i].mode = m == "audit" ? .audit : .enforce }
        }
        return p
    }
}
