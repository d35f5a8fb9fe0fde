// `corral replay`: re-decide recorded events under a candidate policy and report what would
// change. Each event is rebuilt from its recorded inputs (EventInputs); an event whose inputs the
// candidate (or its own generation's policy) needs but the record lacks is reported as not
// replayable, never counted. When the policy of the event's generation is known, the event is
// first re-decided under it: if that does not reproduce the kernel's verdict and rule, the
// recorded inputs are not trustworthy and the event is not replayable either.
import CorralEvaluator
import CorralJSON
import CorralPolicy
import CorralSystem

public struct ReplayOutcome: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable, Hashable {
        /// Same verdict and rule.
        case unchanged
        /// The verdict changes.
        case changed
        /// Same verdict, another rule decides.
        case ruleChanged = "rule-changed"
        /// Recorded inputs are incomplete or do not reproduce the kernel's decision: `reason`.
        case notReplayable = "not-replayable"
        /// Not a policy decision (admin events, namespace_free, self-protection): `reason`.
        case skipped
    }

    public var id: String
    public var bootID: String?
    public var hook: String
    public var generation: UInt64?
    /// The operation in words, e.g. "pid 311 (sh) moves 312 /a -> /b".
    public var operation: String
    public var recordedVerdict: String?
    public var recordedRule: String?
    public var candidateVerdict: String?
    public var candidateRule: String?
    public var candidateMode: String?
    public var status: Status
    public var reason: String?
    /// Whether the generation's recorded policy was available and reproduced the kernel's decision.
    public var crossChecked: Bool
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case id, hook, generation, operation, status, reason, notes
        case bootID = "boot_id"
        case recordedVerdict = "recorded_verdict"
        case recordedRule = "recorded_rule"
        case candidateVerdict = "candidate_verdict"
        case candidateRule = "candidate_rule"
        case candidateMode = "candidate_mode"
        case crossChecked = "cross_checked"
    }

    /// "allow->deny" for a changed verdict.
    public var transition: String? {
        guard status == .changed, let from = recordedVerdict, let to = candidateVerdict else { return nil }
        return "\(from)->\(to)"
    }
}

public struct ReplaySummary: Codable, Sendable, Hashable {
    public var events: Int
    public var replayed: Int
    public var changed: Int
    /// Changed verdicts by transition, e.g. {"allow->deny": 2}.
    public var transitions: [String: Int]
    public var ruleChanged: Int
    public var notReplayable: Int
    public var skipped: Int
    /// Replayed events whose generation's policy was not available to cross-check.
    public var notCrossChecked: Int

    enum CodingKeys: String, CodingKey {
        case events, replayed, changed, transitions, skipped
        case ruleChanged = "rule_changed"
        case notReplayable = "not_replayable"
        case notCrossChecked = "not_cross_checked"
    }

    /// "12 events: 9 replayed, 3 would change (2 allow->deny, 1 deny->allow), …".
    public var text: String {
        var parts = ["\(replayed) replayed", "\(changed) would change"
            + (transitions.isEmpty ? "" : " (" + Self.order(transitions).map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")")]
        parts.append("\(ruleChanged) rule-only change\(ruleChanged == 1 ? "" : "s")")
        parts.append("\(notReplayable) not replayable")
        parts.append("\(skipped) skipped (not decisions)")
        var text = "\(events) event\(events == 1 ? "" : "s"): " + parts.joined(separator: ", ")
        if notCrossChecked > 0 {
            text += "; \(notCrossChecked) replayed without their generation's policy (not cross-checked)"
        }
        return text
    }

    static func order(_ t: [String: Int]) -> [(key: String, value: Int)] {
        t.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    }
}

public struct ReplayReport: Codable, Sendable {
    public var candidate: String
    public var summary: ReplaySummary
    public var outcomes: [ReplayOutcome]

    /// True when some verdict would change (the CLI exits 1).
    public var hasVerdictChanges: Bool { summary.changed > 0 }

    /// The human report: changed, rule-changed and not-replayable events, then the summary.
    public var textLines: [String] {
        var lines = ["replay against \(candidate)"]
        func section(_ title: String, _ status: ReplayOutcome.Status, _ line: (ReplayOutcome) -> String) {
            let items = outcomes.filter { $0.status == status }
            guard !items.isEmpty else { return }
            lines.append("\(title) (\(items.count)):")
            for o in items {
                lines.append("  " + line(o))
                for note in o.notes { lines.append("      note: \(note)") }
            }
        }
        section("verdict changes", .changed) { o in
            "event \(o.id) \(o.hook) \(o.operation): \(Self.verdictText(o.recordedVerdict, o.recordedRule)) -> \(Self.verdictText(o.candidateVerdict, o.candidateRule))"
        }
        section("rule changes (same verdict)", .ruleChanged) { o in
            "event \(o.id) \(o.hook) \(o.operation): \(o.candidateVerdict ?? "?") by \(o.recordedRule ?? "no rule") -> by \(o.candidateRule ?? "no rule")"
        }
        section("not replayable", .notReplayable) { o in
            "event \(o.id) \(o.hook) \(o.operation): not replayable: \(o.reason ?? "?")"
        }
        lines.append("summary: " + summary.text)
        return lines
    }

    /// One JSON document: {candidate, summary, outcomes}.
    public var json: String {
        (try? JSONOutput.text(self)) ?? "{}"
    }

    static func verdictText(_ verdict: String?, _ rule: String?) -> String {
        (verdict ?? "?") + (rule.map { " by \($0)" } ?? "")
    }
}

public enum Replay {
    /// Replays `events` against `candidate`. `recordedPolicies` gives the effective policy of a
    /// generation (nil: unknown; the event is then replayed without the cross-check).
    public static func run(events: [Event], candidate: Policy,
                           recordedPolicies: @escaping (UInt64) -> Policy? = { _ in nil },
                           candidateAuditAll: Bool = false,
                           resolveExe: @escaping EventInputReconstruction.ExeResolver = EventInputReconstruction.resolveSymlinks)
        -> ReplayReport {
        var runner = ReplayRunner(candidate: candidate, keepUnchanged: true, recordedPolicies: recordedPolicies,
                                  candidateAuditAll: candidateAuditAll, resolveExe: resolveExe)
        for event in events { runner.add(event) }
        return runner.report
    }

    /// One event.
    public static func replay(_ event: Event, candidate: Policy, recorded: Policy?,
                              candidateAuditAll: Bool = false,
                              resolveExe: EventInputReconstruction.ExeResolver = EventInputReconstruction.resolveSymlinks,
                              candidatePrecedence: [String: Int]? = nil, recordedPrecedence: [String: Int]? = nil)
        -> ReplayOutcome {
        var outcome = replayUndescribed(event, candidate: candidate, recorded: recorded, candidateAuditAll: candidateAuditAll,
                                        resolveExe: resolveExe, candidatePrecedence: candidatePrecedence,
                                        recordedPrecedence: recordedPrecedence)
        outcome.operation = operationText(event)
        return outcome
    }

    /// `replay` with `operation` left empty: a replay that drops unchanged outcomes describes
    /// only those it keeps.
    static func replayUndescribed(_ event: Event, candidate: Policy, recorded: Policy?, candidateAuditAll: Bool,
                                  resolveExe: EventInputReconstruction.ExeResolver,
                                  candidatePrecedence: [String: Int]?, recordedPrecedence: [String: Int]?)
        -> ReplayOutcome {
        var outcome = ReplayOutcome(id: event.id, bootID: event.bootID, hook: event.hook, generation: event.generation,
                                    operation: "", recordedVerdict: event.verdict,
                                    recordedRule: event.rule, candidateVerdict: nil, candidateRule: nil,
                                    candidateMode: nil, status: .notReplayable, reason: nil, crossChecked: false,
                                    notes: [])
        func fail(_ reason: String) -> ReplayOutcome {
            outcome.status = .notReplayable
            outcome.reason = reason
            return outcome
        }
        let inputs: EventInputs
        switch EventInputReconstruction.reconstruct(event, policy: candidate, resolveExe: resolveExe) {
        case .notADecision(let why):
            outcome.status = .skipped
            outcome.reason = why
            return outcome
        case .incomplete(let missing):
            return fail("missing " + missing.map(\.description).joined(separator: "; "))
        case .decision(let built):
            inputs = built
        }
        guard let verdict = event.verdict else { return fail("missing verdict: the event records no kernel verdict") }
        guard Verdict(rawValue: verdict) != nil else { return fail("unknown recorded verdict '\(verdict)'") }
        if verdict != Verdict.allow.rawValue && event.rule == nil {
            return fail("missing rule: the kernel's \(verdict) names no rule")
        }
        // The recorded rule, named through whichever policy knows its uid.
        var recordedRule = event.rule
        if let rule = recordedRule, rule.hasPrefix("uid:") {
            let byCandidate = EventInputReconstruction.resolveRule(rule, in: candidate)
            let byRecorded = recorded.map { EventInputReconstruction.resolveRule(rule, in: $0) } ?? rule
            recordedRule = byRecorded != rule ? byRecorded : byCandidate
            if recordedRule == rule {
                return fail("unknown rule: the recorded rule \(rule) is not a rule of generation \(event.generation.map(String.init) ?? "?")'s policy\(recorded == nil ? " (not available)" : "") nor of the candidate")
            }
        }
        outcome.recordedRule = recordedRule

        if !inputs.missing.isEmpty {
            return fail("missing " + inputs.missing.map(\.description).joined(separator: "; "))
        }

        // Cross-check: the generation's own policy must reproduce the kernel's decision.
        if let recorded {
            guard case .decision(let baseInputs) = EventInputReconstruction.reconstruct(event, policy: recorded, resolveExe: resolveExe) else {
                return fail("the event cannot be rebuilt under generation \(event.generation!)'s policy")
            }
            if !baseInputs.missing.isEmpty {
                return fail("missing " + baseInputs.missing.map(\.description).joined(separator: "; ")
                            + " (under generation \(event.generation!)'s policy)")
            }
            let base = baseInputs.decide(policy: recorded, precedence: recordedPrecedence, explains: false)
            guard base.verdict.rawValue == verdict, base.rule == recordedRule else {
                return fail("generation \(event.generation!)'s policy does not reproduce the kernel's decision "
                            + "(kernel: \(ReplayReport.verdictText(verdict, recordedRule)); evaluator: "
                            + "\(ReplayReport.verdictText(base.verdict.rawValue, base.rule))): the recorded inputs are incomplete")
            }
            outcome.crossChecked = true
        }

        let decision = inputs.decide(policy: candidate, auditAll: candidateAuditAll, precedence: candidatePrecedence,
                                     explains: false)
        outcome.candidateVerdict = decision.verdict.rawValue
        outcome.candidateRule = decision.rule
        outcome.candidateMode = decision.mode?.rawValue
        if decision.verdict.rawValue != verdict {
            outcome.status = .changed
        } else if decision.rule != recordedRule {
            outcome.status = .ruleChanged
        } else {
            outcome.status = .unchanged
        }
        outcome.reason = nil
        outcome.notes = inputs.notes + EventInputReconstruction.sideEffectGaps(event, hook: inputs.hook, policy: candidate)
        if decision.hook == .namespaceAlloc, let was = event.tracked, was != (decision.effects.tracked != nil) {
            outcome.notes.append(was ? "would no longer be tracked" : "would be tracked as '\(decision.effects.tracked!.label)'")
        }
        if decision.hook == .namespaceInstall, let was = event.locked, was != (decision.effects.locked != nil) {
            outcome.notes.append(was ? "the actor would no longer be locked" : "the actor would be locked by '\(decision.effects.locked!.ruleID)'")
        }
        return outcome
    }

    /// The operation in words, from the recorded fields.
    static func operationText(_ e: Event) -> String {
        let actor = "pid \(e.pid.map(String.init) ?? "?")" + (e.comm.map { $0.isEmpty ? "" : " (\($0))" } ?? "")
        switch e.hook {
        case Hook.cgroupAttach.rawValue:
            let target = e.targetPID.map { $0 == e.pid ? "itself" : String($0) } ?? "?"
            return "\(actor) moves \(target) \(e.srcCgroupPath ?? "?") -> \(e.dstCgroupPath ?? "?")"
        case Hook.namespaceAlloc.rawValue:
            return "\(actor) creates \(e.nsType ?? "?") namespace \(e.nsInum.map(String.init) ?? "?")"
        case Hook.namespaceInstall.rawValue:
            return "\(actor) enters \(e.nsType ?? "?") namespace \(e.nsInum.map(String.init) ?? "?")"
                + (e.nsLabel.map { " '\($0)'" } ?? "")
        case "admin":
            return e.action ?? "?"
        default:
            return actor
        }
    }
}

/// Effective policies of recorded generations, from a directory of generation records
/// (`<state>/generations/<N>.json`, docs/operations.md §1), for offline replay and explain.
public enum GenerationPolicies {
    /// The effective policy recorded for `generation` in `directory`: the YAML with the record's
    /// rule modes applied (loosened rules audit; `policy_mode: audit` audits every rule).
    /// nil when there is no readable, valid record.
    public static func load(directory: String, generation: UInt64) -> Policy? {
        let path = "\(directory)/\(generation).json"
        guard let text = try? Sys.readFile(path),
              let record = GenerationRecord.parse(text: text),
              let base = try? record.parsePolicy() else { return nil }
        var policy = record.applyingOverrides(to: base)
        if record.policyMode == "audit" { for i in policy.rules.indices { policy.rules[i].mode = .audit } }
        return policy
    }

    /// A lookup for `Replay.run(recordedPolicies:)` (which asks once per generation).
    public static func lookup(directory: String) -> (UInt64) -> Policy? {
        { generation in load(directory: directory, generation: generation) }
    }
}
