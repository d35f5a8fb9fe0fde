// libFuzzer target: event-log text → EventLog.parse (line split, Event.parse per line,
// error descriptions) → each event re-encoded (jsonLine) and replayed against a fixed policy
// (Replay.replay, through EventInputReconstruction and the evaluator), as `corral replay` does.
//
// Checked: every non-blank line is an event or an error; an event's jsonLine parses back and is
// stable from then on; replay returns an outcome.
import CorralOps
import CorralPolicy
import FuzzSupport

import CFuzzDriver
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func replayFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // Sys.readFile decodes with replacement; do the same so every input reaches the reader.
    let text = data.map { String(decoding: UnsafeBufferPointer(start: $0, count: size), as: UTF8.self) } ?? ""
    let (events, errors) = EventLog.parse(text: text, file: "fuzz.jsonl")
    for e in errors { precondition(e.line >= 1 && !e.message.isEmpty, "bad line error \(e)") }
    for event in events {
        let line = event.jsonLine
        precondition(!line.contains("\n"), "jsonLine spans lines")
        let again: Event
        do { again = try Event.parse(line: line) } catch {
            preconditionFailure("jsonLine does not parse back: \(line): \(error)")
        }
        // One write may normalize (1.0 reads back as 1); from then on the line is fixed.
        let line2 = again.jsonLine
        precondition((try? Event.parse(line: line2))?.jsonLine == line2, "jsonLine is not stable: \(line2)")
        let outcome = Replay.replay(event, candidate: fuzzPolicy, recorded: event.generation == nil ? nil : fuzzPolicy,
                                    resolveExe: { $0 })
        _ = outcome.status
    }
    return 0
}

// libFuzzer parses the command line (-runs=, -max_total_time=, corpus directories) and calls
// replayFuzz for every input.
var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv, replayFuzz))
