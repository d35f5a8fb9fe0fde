// Renders a decision and its trace for `corral explain` (and, later, for kernel events).
import CorralPolicy

public enum DecisionExplainer {
    /// One line: `deny by lock-sandbox [enforce] EPERM: <why>`: the reason without the verdict,
    /// rule and mode it opens with, which the head already states.
    public static func summary(_ decision: Decision) -> String {
        if decision.hook == .namespaceFree { return "notified: " + decision.reason }
        var text = decision.verdict.rawValue
        if let rule = decision.rule { text += " by " + named(rule, origin: decision.ruleOrigin) }
        if let mode = decision.mode { text += " [\(mode.rawValue)]" }
        if decision.err != 0 { text += " \(ErrnoNames.symbol(of: decision.err))" }
        return text + ": " + why(decision)
    }

    /// A rule with its origin when known: `stay-web (/etc/corral/policy.d/web.yaml:3)`.
    public static func named(_ rule: String, origin: String?) -> String {
        origin.map { "\(rule) (\($0))" } ?? rule
    }

    /// `decision.reason` without its opening verdict phrase (the prefixes `Evaluator.finish` writes).
    static func why(_ d: Decision) -> String {
        var prefixes = ["allowed: "]
        if let rule = d.rule, let mode = d.mode {
            prefixes = ["denied by rule '\(rule)' (\(mode.rawValue)): ", "allowed by rule '\(rule)' (\(mode.rawValue)): ",
                        "allowed, but rule '\(rule)' (audit) "] + prefixes
        }
        for p in prefixes where d.reason.hasPrefix(p) { return String(d.reason.dropFirst(p.count)) }
        return d.reason
    }

    /// The full explanation: event fields, every rule considered, winners, verdict.
    public static func render(_ decision: Decision, title: String? = nil) -> String {
        var lines: [String] = []
        if let title { lines.append(title) }
        lines.append("hook: \(decision.hook.rawValue) (count \(decision.record.hookCount ?? 0))")
        lines.append("event: " + eventText(decision))
        let verdictEntries = decision.considered.filter { $0.role == .verdict || $0.role == .taskLock }
        let sideEntries = decision.considered.filter { $0.role == .track || $0.role == .lockOnEntry }
        lines.append("rules considered:" + (verdictEntries.isEmpty ? " none" : ""))
        for entry in verdictEntries { lines.append(contentsOf: entryLines(entry)) }
        if !sideEntries.isEmpty {
            let what = decision.hook == .namespaceAlloc ? "tracking" : "locking"
            lines.append("\(what) rules considered:")
            for entry in sideEntries { lines.append(contentsOf: entryLines(entry)) }
        }
        lines.append("would-be winner: " + winnerText(decision.wouldBe))
        lines.append("effective winner: " + winnerText(decision.effective))
        var verdict = "verdict: \(decision.verdict.rawValue)"
        if let rule = decision.rule { verdict += " by " + named(rule, origin: decision.ruleOrigin) }
        if let mode = decision.mode { verdict += " [\(mode.rawValue)]" }
        if decision.err != 0 { verdict += " \(ErrnoNames.symbol(of: decision.err)) (\(decision.err))" }
        lines.append(verdict)
        if let tracked = decision.effects.tracked {
            lines.append("effect: \(tracked.type.rawValue) namespace \(tracked.inum) tracked as '\(tracked.label)' by \(tracked.ruleID)")
        }
        if let lock = decision.effects.locked {
            lines.append("effect: task \(decision.record.pid ?? 0) locked by \(lock.ruleID) (namespace '\(lock.label)', inum \(lock.inum))")
        }
        if !decision.effects.moved.isEmpty, let dst = decision.record.dstCgroupPath {
            lines.append("effect: moved \(decision.effects.moved.map(String.init).joined(separator: ", ")) to \(dst)")
        }
        if let gone = decision.effects.untracked {
            lines.append("effect: label '\(gone.label)' of namespace \(gone.inum) forgotten")
        }
        lines.append("reason: \(decision.reason)")
        return lines.joined(separator: "\n")
    }

    public static func hex(_ rank: UInt64) -> String {
        let digits = String(rank, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    private static func eventText(_ d: Decision) -> String {
        let r = d.record
        func show<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "?" }
        var parts: [String] = []
        if d.hook != .namespaceFree {
            parts.append("actor pid \(show(r.pid)) tgid \(show(r.tgid))" + ((r.comm ?? "").isEmpty ? "" : " (\(r.comm!))"))
        }
        switch d.hook {
        case .namespaceAlloc, .namespaceInstall, .namespaceFree, .idMap:
            parts.append("ns \(r.nsType ?? "?") \(show(r.nsInum))")
            parts.append(r.nsLabel.map { "label '\($0)'" } ?? "untracked")
        case .cgroupAttach:
            parts.append("target \(show(r.targetPID))")
            parts.append("src \(r.srcCgroupPath ?? "?") (id \(show(r.srcCgroup)))")
            parts.append("dst \(r.dstCgroupPath ?? "?") (id \(show(r.dstCgroup)))")
            parts.append("threadgroup \(show(r.threadgroup))")
        case .ptrace:
            parts.append("other task \(show(r.targetPID))")
        }
        return parts.joined(separator: ", ")
    }

    private static func entryLines(_ e: Consideration) -> [String] {
        var head = "  - \(e.rule) (\(e.kind.rawValue), \(e.mode.rawValue)"
        if e.role == .taskLock { head += ", task lock" }
        head += ") subject \(e.subject): "
        if e.applicable {
            head += e.effect.map { $0 == .deny ? "deny" : (e.role == .verdict || e.role == .taskLock ? "allow" : "applies") } ?? "applies"
            if let rank = e.rank { head += ", rank \(hex(rank)) (\(RuleOrder.describe(rank)))" }
            if e.droppedAsAudit { head += ", audit: dropped from the effective winner" }
        } else {
            head += "not applicable"
        }
        return [head, "      \(e.note)"]
    }

    private static func winnerText(_ w: Winner?) -> String {
        guard let w else { return "none (default allow)" }
        return "\(w.rule) (\(w.effect == .deny ? "deny" : "allow"), subject \(w.subject), \(w.mode.rawValue), rank \(hex(w.rank)): \(RuleOrder.describe(w.rank)))"
    }
}
