// The total order that resolves conflicting rules (docs/semantics.md, "Conflict order").
//
// Every applicable (rule, matched subject, effect) gets a 64-bit rank; the highest wins.
//
//   bits 63..48  precedence   from `overrides:` (a rule outranks every rule it overrides)
//   bits 47..44  tier         1 for lock rules (locked, lock-on-entry), else 0
//   bits 43..28  specificity  of the matched subject: class * 256 + cgroup specificity
//                             (2 * literal prefix components, + 1 for an exact path)
//   bit  27      effect       1 = deny, 0 = allow  (deny beats allow when all else is equal)
//   bits 26..0   order        0x7FFFFFF - position in the file (earlier rule wins)
//
// The BPF programs compare the same numbers: the compiler writes `rank(…, effect: .allow)`
// into each rule slot, and a deny sets bit 27.

public enum Effect: Int, Sendable, Hashable, Codable {
    case allow = 0
    case deny = 1
}

public enum RuleOrder {
    public static let denyBit: UInt64 = 1 << 27
    public static let maxRules = 0x7FF_FFFF

    /// Precedence levels from `overrides`: level(A) = 1 + max(level(B)) over the rules A overrides.
    /// Rules must be validated first (known ids, no cycles); unknown ids are ignored here.
    public static func precedence(of rules: [Rule]) -> [String: Int] {
        let byID = Dictionary(rules.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var level: [String: Int] = [:]
        var visiting: Set<String> = []
        func visit(_ id: String) -> Int {
            if let known = level[id] { return known }
            guard let rule = byID[id], !visiting.contains(id) else { return 0 }
            visiting.insert(id)
            let value = rule.overrides.map { visit($0) + 1 }.max() ?? 0
            visiting.remove(id)
            level[id] = value
            return value
        }
        for rule in rules { _ = visit(rule.id) }
        return level
    }

    /// A rank's fields in words, highest first: "overrides level 1, lock tier, subject exe,
    /// deny, rule 3 in the file" (level and tier only when set; cgroup subjects with their depth).
    public static func describe(_ rank: UInt64) -> String {
        var parts: [String] = []
        let level = rank >> 48
        if level > 0 { parts.append("overrides level \(level)") }
        if (rank >> 44) & 0xF != 0 { parts.append("lock tier") }
        let spec = Int((rank >> 28) & 0xFFFF)
        let classes = ["any", "cgroup", "xattr", "exe", "pid1"]
        let name = spec / 256 < classes.count ? classes[spec / 256] : "class \(spec / 256)"
        let cg = spec % 256
        parts.append("subject \(name)" + (spec / 256 == 1
            ? " (\(cg % 2 == 1 ? "exact, depth" : "pattern, literal prefix") \(cg / 2))" : ""))
        parts.append(rank & denyBit != 0 ? "deny" : "allow")
        parts.append("rule \(maxRules - Int(rank & UInt64(maxRules)) + 1) in the file")
        return parts.joined(separator: ", ")
    }

    public static func rank(rule: Rule, subject: Subject, effect: Effect, precedence: Int) -> UInt64 {
        let p = UInt64(min(max(precedence, 0), 0xFFFF)) << 48
        let tier: UInt64 = (rule.kind.isLockTier ? 1 : 0) << 44
        let spec = UInt64(min(subject.matcher.specificity, 0xFFFF)) << 28
        let eff: UInt64 = effect == .deny ? denyBit : 0
        let order = UInt64(maxRules - min(rule.index, maxRules))
        return p | tier | spec | eff | order
    }
}
