// `corral explain EVENT-ID` (io.corral.Explain): the recorded event re-decided by the reference
// evaluator under the policy of its generation, rendered with DecisionExplainer, with a header
// that compares the kernel's verdict to the evaluator's and names any missing input.
import CorralEvaluator
import CorralPolicy

public struct EventExplanation: Sendable {
    public var event: Event
    public var generation: UInt64?
    /// The evaluator's decision; nil when the event is not a decision or could not be reconstructed.
    public var decision: Decision?
    /// nil when there is nothing to compare (no decision).
    public var agrees: Bool?
    public var missing: [MissingInput]
    public var notes: [String]
    /// The full text: header, then the DecisionExplainer rendering.
    public var text: String

    /// Explains `event` under `policy`, the effective policy of the event's generation (rule modes
    /// as overridden then); `auditAll` when that generation audited every rule. A nil policy
    /// (no record of the generation) yields a header that says so and no decision.
    public static func explain(_ event: Event, policy: Policy?, auditAll: Bool = false,
                               resolveExe: EventInputReconstruction.ExeResolver = EventInputReconstruction.resolveSymlinks)
        -> EventExplanation {
        var lines = [headline(event)]
        let kernel = kernelText(event)
        if let kernel { lines.append("kernel:    " + kernel) }
        var result = EventExplanation(event: event, generation: event.generation, decision: nil, agrees: nil,
                                      missing: [], notes: [], text: "")
        guard let policy else {
            lines.append("cannot re-evaluate: no policy record for generation \(event.generation.map(String.init) ?? "(not recorded)")")
            result.text = lines.joined(separator: "\n")
            return result
        }
        switch EventInputReconstruction.reconstruct(event, policy: policy, resolveExe: resolveExe) {
        case .notADecision(let why):
            lines.append("nothing to evaluate: \(why)")
            if event.isAdmin { lines.append(contentsOf: adminLines(event)) }
        case .incomplete(let missing):
            result.missing = missing
            lines.append("cannot re-evaluate: the event lacks inputs every \(event.hook) decision needs")
            for m in missing { lines.append("input missing: \(m)") }
        case .decision(let inputs):
            var decision = inputs.decide(policy: policy, auditAll: auditAll)
            decision.record.hookCount = 0
            result.decision = decision
            result.missing = inputs.missing
            result.notes = inputs.notes + EventInputReconstruction.sideEffectGaps(event, hook: inputs.hook, policy: policy)
            lines.append("evaluator: " + evaluatorText(decision) + " (policy \(policy.source), generation \(event.generation.map(String.init) ?? "?"))")
            let agrees = Self.agrees(event, decision, policy: policy)
            result.agrees = agrees
            if agrees {
                lines.append("agreement: the evaluator reproduces the kernel's decision")
            } else {
                lines.append("DISAGREEMENT: the kernel decided \(kernel ?? "(no verdict recorded)"), the evaluator decides \(evaluatorText(decision))")
                if inputs.missing.isEmpty {
                    lines.append("  (the recorded inputs are complete for this policy: check that generation \(event.generation.map(String.init) ?? "?")'s record matches what the kernel ran)")
                }
            }
            for m in inputs.missing {
                lines.append("input missing: \(m) — evaluated as not matching")
            }
            if inputs.actor.lock != nil {
                lines.append("note: the actor was locked by '\(inputs.actor.lock!.ruleID)' (namespace '\(inputs.actor.lock!.label)'); the lock's namespace inode is not recorded")
            }
            for note in result.notes { lines.append("note: \(note)") }
            lines.append(contentsOf: sideEffectLines(event, decision))
            lines.append("")
            lines.append(DecisionExplainer.render(decision).replacing(
                "hook: \(decision.hook.rawValue) (count 0)", with: "hook: \(decision.hook.rawValue)"))
        }
        result.text = lines.joined(separator: "\n")
        return result
    }

    /// Verdict and rule equal (a recorded `uid:…` rule equals the policy rule with that uid).
    public static func agrees(_ event: Event, _ decision: Decision, policy: Policy) -> Bool {
        guard event.verdict == decision.verdict.rawValue else { return false }
        let recorded = event.rule.map { EventInputReconstruction.resolveRule($0, in: policy) }
        return recorded == decision.rule
    }

    static func headline(_ e: Event) -> String {
        var text = "event \(e.id)"
        if let boot = e.bootID { text += " (boot \(boot))" }
        text += ", generation \(e.generation.map(String.init) ?? "?"), \(e.hook)"
        if e.isAdmin { return text + " \(e.action ?? "?")" }
        if let pid = e.pid { text += ": actor pid \(pid)" + (e.comm.map { $0.isEmpty ? "" : " (\($0))" } ?? "") }
        if e.compat == true { text += " [compat hooks]" }
        return text
    }

    static func kernelText(_ e: Event) -> String? {
        guard let verdict = e.verdict else { return nil }
        var text = verdict
        if let rule = e.rule { text += " by " + DecisionExplainer.named(rule, origin: e.ruleOrigin) }
        if let mode = e.mode, e.rule != nil { text += " [\(mode)]" }
        if let errno = e.errno, verdict == "deny" { text += " \(errno)" }
        return text
    }

    static func evaluatorText(_ d: Decision) -> String {
        var text = d.verdict.rawValue
        if let rule = d.rule { text += " by " + DecisionExplainer.named(rule, origin: d.ruleOrigin) } else { text += " (no rule)" }
        if let mode = d.mode { text += " [\(mode.rawValue)]" }
        if d.err != 0 { text += " \(ErrnoNames.symbol(of: d.err))" }
        return text
    }

    static func sideEffectLines(_ e: Event, _ d: Decision) -> [String] {
        var lines: [String] = []
        if d.hook == .namespaceAlloc, let recorded = e.tracked, recorded != (d.effects.tracked != nil) {
            lines.append("side effect differs: the kernel \(recorded ? "tracked" : "did not track") the namespace, the evaluator \(d.effects.tracked != nil ? "tracks" : "does not track") it")
        }
        if d.hook == .namespaceInstall, let recorded = e.locked, recorded != (d.effects.locked != nil) {
            lines.append("side effect differs: the kernel \(recorded ? "locked" : "did not lock") the actor, the evaluator \(d.effects.locked != nil ? "locks" : "does not lock") it")
        }
        return lines
    }

    static func adminLines(_ e: Event) -> [String] {
        var lines: [String] = []
        if let rule = e.rule { lines.append("rule: \(rule)") }
        if let mode = e.mode { lines.append("mode: \(mode)") }
        for key in e.fields.keys.sorted() {
            let value = e.fields[key]!
            lines.append("\(key): \(value.stringValue ?? value.description)")
        }
        return lines
    }
}
