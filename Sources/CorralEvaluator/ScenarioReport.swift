// Text and JSON renderings of a scenario run (`corral simulate`, `corral explain`).
import CorralJSON
import Glibc

public enum ScenarioReport {
    /// One line per step, failures indented below their step, and a final summary line.
    public static func textLines(_ run: ScenarioRun) -> [String] {
        var lines: [String] = []
        for outcome in run.outcomes {
            var line = "step \(outcome.step) \(outcome.description)"
            if let decision = outcome.primary { line += ": " + DecisionExplainer.summary(decision) }
            lines.append(line)
            if !outcome.passed, let expected = outcome.expected {
                lines.append("  expected \(expected): FAILED (\(outcome.failures.joined(separator: "; ")))")
            }
        }
        lines.append(run.summary)
        return lines
    }

    struct StepLine: Encodable {
        var step: Int
        var action: String
        var description: String
        var verdict: Verdict?
        var rule: String?
        var err: Int32?
        var decisions: [Decision]
        var expected: String?
        var passed: Bool
        var failures: [String]
    }

    struct SummaryLine: Encodable {
        var summary: String
        var expectations: Int
        var failed: Int
        var failedSteps: [Int]
        enum CodingKeys: String, CodingKey {
            case summary, expectations, failed
            case failedSteps = "failed_steps"
        }
    }

    /// JSON lines: one object per step (with its decisions), then a summary object.
    public static func jsonLines(_ run: ScenarioRun) -> [String] {
        var lines: [String] = []
        for o in run.outcomes {
            let line = StepLine(step: o.step, action: o.action, description: o.description, verdict: o.primary?.verdict,
                                rule: o.primary?.rule, err: o.primary?.err, decisions: o.decisions,
                                expected: o.expected, passed: o.passed, failures: o.failures)
            lines.append(encode(line))
        }
        let failed = run.failedSteps
        lines.append(encode(SummaryLine(summary: run.summary, expectations: run.expectationCount,
                                                 failed: failed.count, failedSteps: failed)))
        return lines
    }

    /// The explanation of step `number`: every decision it made with its full trace.
    /// Nil when the run has no such step.
    public static func explain(_ run: ScenarioRun, step number: Int) -> String? {
        guard let outcome = run.outcomes.first(where: { $0.step == number }) else { return nil }
        var parts: [String] = ["step \(outcome.step): \(outcome.description)"]
        if outcome.decisions.isEmpty {
            parts.append("this step makes no decision (a \(outcome.action) step only changes state)")
        }
        for (i, decision) in outcome.decisions.enumerated() {
            let title = outcome.decisions.count > 1 ? "decision \(i + 1) of \(outcome.decisions.count)" : nil
            parts.append(DecisionExplainer.render(decision, title: title))
        }
        if let expected = outcome.expected {
            parts.append("expected: \(expected): " + (outcome.passed ? "ok" : "FAILED (\(outcome.failures.joined(separator: "; ")))"))
        }
        return parts.joined(separator: "\n")
    }

    private static func encode(_ value: some Encodable) -> String { (try? JSONOutput.text(value)) ?? "{}" }
}
