// `corral replay`: re-decide recorded events (events.jsonl) under a candidate policy, offline,
// and report which verdicts would change (docs/operations.md §3).
import ArgumentParser
import CorralEvaluator
import CorralOps
import CorralPolicy
import CorralSystem
import Foundation

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

    /// The bytes of one events file: `-` is standard input; gzip data is decompressed.
    /// A failure is unreadable (the file) or invalid input (gzip data that does not decompress).
    static func readEvents(_ path: String) -> Result<String, EventsFileError> {
        let bytes: [UInt8]
        do throws(Errno) {
            bytes = path == "-" ? try Sys.readAll(0) : try Sys.readBytes(path)
        } catch {
            return .failure(EventsFileError(status: .unreadable, message: "cannot read events: \(error)"))
        }
        guard Gzip.isCompressed(bytes) else { return .success(String(decoding: bytes, as: UTF8.self)) }
        do throws(Gzip.Failure) {
            return .success(String(decoding: try Gzip.decompress(bytes), as: UTF8.self))
        } catch {
            return .failure(EventsFileError(status: .invalidInput, message: "cannot decompress (gzip): \(error)"))
        }
    }

    struct EventsFileError: Error {
        var status: CorralExit
        var message: String
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
        var events: [Event] = []
        var malformed = 0
        for path in eventsPaths {
            let name = path == "-" ? "<stdin>" : path
            let text: String
            switch readEvents(path) {
            case .success(let t): text = t
            case .failure(let problem):
                output.stderr.append("\(name): error: \(problem.message)")
                output.status = problem.status
                return output
            }
            let parsed = EventLog.parseDetailed(text: text, file: name)
            if let partial = parsed.incompleteLastLine {
                output.stderr.append("\(name):\(partial.line): warning: incomplete last line (still being written?), skipped: \(partial.message)")
            }
            if strict, let first = parsed.errors.first {
                output.stderr.append(first.description)
                output.stderr.append("\(name): stopped at the first malformed line (--strict)")
                output.status = .invalidInput
                return output
            }
            output.stderr += parsed.errors.map(\.description)
            malformed += parsed.errors.count
            events += parsed.events
        }
        if malformed > 0 {
            output.stderr.append("\(malformed) malformed line\(malformed == 1 ? "" : "s") skipped; the report covers the other \(events.count) events")
        }
        let lookup: (UInt64) -> Policy? = generations.map { GenerationPolicies.lookup(directory: $0) } ?? { _ in nil }
        let report = Replay.run(events: events, candidate: candidate, recordedPolicies: lookup)
        output.stdout = json ? [report.json] : report.textLines
        output.status = report.hasVerdictChanges ? .failed : (malformed > 0 ? .invalidInput : .ok)
        return output
    }
}
