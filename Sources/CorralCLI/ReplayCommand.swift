// `corral replay`: re-decide recorded events (events.jsonl) under a candidate policy, offline,
// and report which verdicts would change (docs/operations.md §3).
import ArgumentParser
import CorralEvaluator
import CorralOps
import CorralPolicy
import Foundation

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay recorded events against a candidate policy and report verdicts that would change.",
        discussion: """
            Reads events as the daemon records them (one JSON object per line). Each decision is \
            decided again by the reference evaluator under the candidate policy; events whose \
            recorded inputs are incomplete are listed as not replayable. With --generations, each \
            event is first checked against the policy of its own generation. Exits 0 when no \
            verdict changes, 1 when some would change, 2 for bad input.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The candidate policy (YAML).", valueName: "candidate.yaml"))
    var policy: String

    @Option(name: .long, help: ArgumentHelp(
        "Directory of generation records (<N>.json, e.g. /run/corral/generations) to cross-check each event against its own generation's policy.",
        valueName: "dir"))
    var generations: String?

    @Flag(help: "Print one JSON document instead of text.")
    var json = false

    @Argument(help: ArgumentHelp("Recorded events, one JSON object per line (the daemon's events.jsonl).", valueName: "events.jsonl"))
    var events: String

    func run() async throws {
        try Self.execute(policy: policy, events: events, generations: generations, json: json).emit()
    }

    static func execute(policy policyPath: String, events eventsPath: String, generations: String? = nil,
                        json: Bool = false) -> CommandOutput {
        var output = CommandOutput()
        let candidate: Policy
        do {
            candidate = try PolicyLoader.load(fileOrDirectory: policyPath)
        } catch {
            output.stderr = error.diagnostics.map(\.description)
            output.status = 2
            return output
        }
        guard FileManager.default.isReadableFile(atPath: eventsPath) else {
            output.stderr = ["\(eventsPath):0: error: cannot read events"]
            output.status = 2
            return output
        }
        // Streamed: the file is read in blocks and only what the report lists is kept.
        let lookup: (UInt64) -> Policy? = generations.map { GenerationPolicies.lookup(directory: $0) } ?? { _ in nil }
        var runner = ReplayRunner(candidate: candidate, keepUnchanged: json, recordedPolicies: lookup)
        let errors = runner.add(file: eventsPath)
        if !errors.isEmpty {
            output.stderr = errors.map(\.description) + ["\(eventsPath): \(errors.count) malformed line\(errors.count == 1 ? "" : "s")"]
            output.status = 2
            return output
        }
        let report = runner.report
        output.stdout = json ? [report.json] : report.textLines
        output.status = report.hasVerdictChanges ? 1 : 0
        return output
    }
}
