// Rules a delegated manager registers at run time (docs/policy.md, "Registrations"): what a
// registration may contain, checked before the daemon installs it. The daemon authorizes the
// caller (its peer process must match a manager of a `delegated` rule of the installed policy)
// and merges the registration's rules into the policy like a fragment; this file decides whether
// those rules stay inside the registered subtree and only tighten.
//
// The rule, exactly:
//   1. The subtree S is an exact path (no '*') that lies strictly below an instance I of a
//      scope of a `delegated` rule R whose managers the caller matches (S != I).
//   2. Only the kinds `locked`, `stay`, `deny-into` (deny only) and `delegated` (a nested
//      delegation) may be registered.
//   3. Every cgroup scope of every registered rule lies within S: its first |S| components are
//      S's components literally (no '*' or '**' among them), so every cgroup it names is S or
//      below S. ('..' is not a cgroup path at all; the parser refuses it.)
//   4. A nested `delegated` rule's managers are `cgroup:` subjects that lie within S by the same
//      test: its allow results (src and dst in one instance of its scope) and its deny results
//      (a manager moving a task outside that instance) both concern only tasks inside S.
//      Deny-only kinds may name any subject: they deny, and only moves from or into S.
//   5. A nested `delegated` rule has no `overrides:`: its allow results never outrank a rule by
//      precedence. Deny-only kinds may have `overrides:` (the validator asks a `locked` rule that
//      overlaps the manager's own `delegated` rule to say `overrides: [that rule]`): ranking a
//      deny higher only tightens.
//   6. No named subjects (`subjects:`): names are shared by every file, so a registration that
//      defined `pid1` or `any` (or a name the policy uses) would change what the policy's own
//      rules match. Inline subjects only.
//   7. At most `maxRules` rules; the daemon keeps at most `maxRegistrations` registrations.
// So a registration never allows anything outside S, and denies nothing outside S either; what
// a nested delegation allows inside S is what a `delegated` rule allows (docs/semantics.md).

/// Why a registration was refused: one line per problem, naming the rule and field.
public struct RegistrationProblem: Hashable, Sendable, CustomStringConvertible {
    public var rule: String?
    public var field: String
    public var message: String

    public init(rule: String?, field: String, message: String) {
        self.rule = rule
        self.field = field
        self.message = message
    }

    public var description: String {
        rule.map { "rule \($0): \(field): \(message)" } ?? "\(field): \(message)"
    }
}

public enum RegistrationCheck {
    /// The kinds a registration may contain.
    public static let registrableKinds: [RuleKind] = [.locked, .stay, .denyInto, .delegated]

    /// Whether the pattern `scope` names only cgroups within the exact path `subtree`.
    public static func scope(_ scope: CgroupPath, isWithin subtree: CgroupPath) -> Bool {
        scope.components.count >= subtree.components.count
            && scope.literalPrefixCount >= subtree.components.count
            && Array(scope.components.prefix(subtree.components.count)) == subtree.components
    }

    /// The instance of `rule`'s scopes that `subtree` lies strictly below, if any.
    public static func delegatedInstance(of rule: Rule, strictlyContaining subtree: CgroupPath) -> CgroupPath? {
        guard rule.kind == .delegated else { return nil }
        for scope in rule.cgroups {
            if let instance = scope.instances(containing: subtree).first(where: { $0 != subtree }) { return instance }
        }
        return nil
    }

    /// Rule 1 for the subtree itself: an exact path, not the root.
    public static func subtreeProblem(_ subtree: CgroupPath) -> RegistrationProblem? {
        if subtree.isPattern { return RegistrationProblem(rule: nil, field: "subtree", message: "\(subtree) is a pattern; a registration names one cgroup") }
        if subtree == .root { return RegistrationProblem(rule: nil, field: "subtree", message: "the root cgroup is no delegated subtree") }
        return nil
    }

    /// Rules per registration.
    public static let maxRules = 32
    /// Registrations the daemon keeps at once (every manager together).
    public static let maxRegistrations = 256

    /// Rules 2–7 for the registered `rules` and `namedSubjects` (those the registration defines)
    /// and subtree S.
    public static func problems(rules: [Rule], namedSubjects: [Subject] = [], subtree: CgroupPath) -> [RegistrationProblem] {
        var out: [RegistrationProblem] = []
        if rules.isEmpty { out.append(RegistrationProblem(rule: nil, field: "rules", message: "a registration has at least one rule")) }
        if rules.count > maxRules {
            out.append(RegistrationProblem(rule: nil, field: "rules", message: "\(rules.count) rules; a registration has at most \(maxRules)"))
        }
        for s in namedSubjects {
            out.append(RegistrationProblem(rule: nil, field: "subjects",
                message: "\(s.name ?? s.displayName): a registration may not define named subjects (they are shared with the policy); use inline subjects"))
        }
        for rule in rules {
            guard registrableKinds.contains(rule.kind) else {
                out.append(RegistrationProblem(rule: rule.id, field: "kind",
                    message: "\(rule.kind.rawValue) cannot be registered (only \(registrableKinds.map(\.rawValue).joined(separator: ", ")))"))
                continue
            }
            for c in rule.cgroups where !scope(c, isWithin: subtree) {
                out.append(RegistrationProblem(rule: rule.id, field: rule.kind == .delegated ? "cgroup" : "cgroups",
                    message: "\(c) reaches outside the registered subtree \(subtree)"))
            }
            if rule.kind == .delegated {
                if !rule.overrides.isEmpty {
                    out.append(RegistrationProblem(rule: rule.id, field: "overrides", message: "a nested delegation may not override other rules"))
                }
                for s in rule.subjects {
                    if case .cgroup(let p) = s.matcher, scope(p, isWithin: subtree) { continue }
                    out.append(RegistrationProblem(rule: rule.id, field: "manager",
                        message: "\(s.displayName): a nested delegation's managers must be cgroup subjects within \(subtree)"))
                }
            }
        }
        return out
    }
}
