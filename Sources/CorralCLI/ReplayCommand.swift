// `corral replay`: re-decide recorded events (events.jsonl) under a candidate policy, offline,
// and report which verdicts would change (docs/operations.md §3).
import ArgumentParser
import CorralEvaluator
import CorralOps
import CorralPolicy
import CorralSystem
import Glibc

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay recorded events against a candidate policy and report verdicts that would change.",
        discussion: """
            Reads events as the daemon records them (one JSON object per line), from each file in \
            turn: gzip-compressed files (rotated logs) too, and - for standard input. Each decision is \
            decided again by the reference evaluator under the candidate policy; events whose \
            recorded inputs are incomplete are listed as not replayable. A malformed line is reported \
            with its number and skipped (--strict stops there); an incomplete last line, a log still \
            being written, is skipped with a warning. With --generations, each event is first checked \
            against the policy of its own generation. Exits 0 when no verdict changes, 1 when some \
            would change, 2 for invalid input (an invalid policy, malformed lines and no changes), 3 for a \
            file that cannot be read (docs/cli.md).
            """
    )

    @Option(name: .long, help: ArgumentHelp("The candidate policy (YAML).", valueName: "candidate.yaml"), completion: .yaml)
    var policy: String

    @Option(name: .long, help: ArgumentHelp(
        "Directory of generation records (<N>.json, e.g. /run/corral/generations) to cross-check each event against its own generation's policy.",
        valueName: "dir"), completion: .directory)
    var generations: String?

    @Flag(help: "Print one JSON document instead of text.")
    var json = false

    @Flag(help: "Stop at the first malformed line (exit 2) instead of reporting it and going on.")
    var strict = false

    @Argument(help: ArgumentHelp(
        "Recorded events, one JSON object per line (the daemon's events.jsonl and its rotations), read in the order given; gzip-compressed files are read as such; - is standard input.",
        valueName: "events.jsonl"), completion: .file())
    var events: [String]

    func validate() throws {
        if events.isEmpty { throw ValidationError("give at least one events file (- for standard input)") }
        if events.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read once") }
    }

    func run() async throws {
        try Self.execute(policy: policy, events: events, generations: generations, json: json, strict: strict).emit()
    }

    /// Exit 0: no verdict changes; 1: some would change; 2: invalid input (an invalid policy; with
    /// --strict, a malformed line; without it, malformed lines and no changes); 3: a file that
    /// cannot be read.
    static func execute(policy policyPath: String, events eventsPaths: [String], generations: String? = nil,
                        json: Bool = false, strict: Bool = false) -> CommandOutput {
        var output = CommandOutput()
        let candidate: Policy
        do {
            candidate = try PolicyLoader.load(fileOrDirectory: policyPath)
        } catch {
            output.stderr = error.diagnostics.map(\.description)
            output.status = CorralExit.of(error)
            return output
        }
        // Streamed: each file is read in blocks and only what the report lists is kept.
        let lookup: (UInt64) -> Policy? = generations.map { GenerationPolicies.lookup(directory: $0) } ?? { _ in nil }
        var runner = ReplayRunner(candidate: candidate, keepUnchanged: json, recordedPolicies: lookup)
        var malformed = 0
        for path in eventsPaths {
            let name = path == "-" ? "<stdin>" : path
            let problems = runner.add(file: path, strict: strict, workers: ReplayRunner.defaultWorkers)
            if let unreadable = problems.unreadable {
                output.stderr.append("\(name): error: \(unreadable)")
                output.status = .unreadable
                return output
            }
            if let corrupt = problems.corrupt {
                output.stderr.append("\(name): error: \(corrupt)")
                output.status = .invalidInput
                return output
            }
            if let partial = problems.incompleteLastLine {
                output.stderr.append("\(name):\(partial.line): warning: incomplete last line (still being written?), skipped: \(partial.message)")
            }
            if strict, let first = problems.errors.first {
                output.stderr.append(first.description)
                output.stderr.append("\(name): stopped at the first malformed line (--strict)")
                output.status = .invalidInput
                return output
            }
            output.stderr += problems.errors.map(\.description)
            malformed += problems.errors.count
        }
        if malformed > 0 {
            output.stderr.append("\(malformed) malformed line\(malformed == 1 ? "" : "s") skipped; the report covers the other \(runner.summary.events) events")
        }
        let report = runner.report
        output.stdout = json ? [report.json] : report.textLines
        output.status = report.hasVerdictChanges ? .failed : (malformed > 0 ? .invalidInput : .ok)
        return output
    }
}
