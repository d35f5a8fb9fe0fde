// Streaming replay: events are read from the file in blocks, decided one at a time, and only
// what the report shows is kept (`corral replay`, `corral bench replay`). The per-policy work
// the reconstruction repeats per event (resolving the policy's `exe:` paths) is cached.
import CorralEvaluator
import CorralJSON
import CorralPolicy
import CorralSystem
import Glibc

/// Calls `body` with each non-blank line of a file (without its newline and surrounding spaces
/// and tabs) and its 1-based line number, reading `blockSize` bytes at a time.
public enum LineStream {
    public static func forEachLine(path: String, blockSize: Int = 4 << 20,
                                   _ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) throws(Errno) {
        let fd = try Sys.open(path, O_RDONLY)
        defer { Sys.close(fd) }
        var buffer = [UInt8](repeating: 0, count: blockSize)
        var carry = 0 // bytes of an unfinished line at the start of buffer
        var number = 0
        var eof = false
        while !eof {
            if carry == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) } // a line longer than the buffer
            let n = buffer.withUnsafeMutableBytes { b in Glibc.read(fd, b.baseAddress! + carry, b.count - carry) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            eof = n == 0
            let end = carry + n
            let consumed: Int = buffer.withUnsafeBufferPointer { b in
                var start = 0
                var i = 0
                while i < end {
                    if b[i] == 0x0A {
                        number += 1
                        emit(b, start, i, number, body)
                        start = i + 1
                    }
                    i += 1
                }
                if eof && start < end {
                    number += 1
                    emit(b, start, end, number, body)
                    start = end
                }
                return start
            }
            carry = end - consumed
            if carry > 0 && consumed > 0 {
                buffer.withUnsafeMutableBytes { b in _ = memmove(b.baseAddress!, b.baseAddress! + consumed, carry) }
            }
        }
    }

    @inline(__always)
    private static func emit(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ number: Int,
                             _ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        var s = start, e = end
        while s < e && (b[s] == 0x20 || b[s] == 0x09) { s += 1 }
        while e > s && (b[e - 1] == 0x20 || b[e - 1] == 0x09) { e -= 1 }
        if s == e { return }
        body(UnsafeBufferPointer(rebasing: b[s..<e]), number)
    }
}

extension RecordedEvent {
    /// Parses one line of events.jsonl given as bytes (see `parse(line:)`).
    public static func parse(bytes: UnsafeBufferPointer<UInt8>) throws -> RecordedEvent {
        try decode(try JSONValue.parse(bytes))
    }
}

/// Resolves each path once (the resolver touches the file system).
final class CachedExeResolver: @unchecked Sendable {
    private var cache: [String: String?] = [:]
    private let resolve: EventInputReconstruction.ExeResolver
    init(_ resolve: @escaping EventInputReconstruction.ExeResolver) { self.resolve = resolve }
    func callAsFunction(_ path: String) -> String? {
        if let hit = cache[path] { return hit }
        let r = resolve(path)
        cache[path] = r
        return r
    }
}

/// Replays events one at a time and keeps the summary and the outcomes the report lists:
/// every outcome with `keepUnchanged` (the JSON report), else the changed, rule-changed and
/// not-replayable ones (the text report). `Replay.run` is this over an array.
public struct ReplayRunner {
    public let candidate: Policy
    public let keepUnchanged: Bool
    let recordedPolicies: (UInt64) -> Policy?
    let candidateAuditAll: Bool
    let resolveExe: EventInputReconstruction.ExeResolver
    var policies: [UInt64: (policy: Policy, precedence: [String: Int])?] = [:]
    let candidatePrecedence: [String: Int]
    public private(set) var summary = ReplaySummary(events: 0, replayed: 0, changed: 0, transitions: [:], ruleChanged: 0,
                                                    notReplayable: 0, skipped: 0, notCrossChecked: 0)
    public private(set) var outcomes: [ReplayOutcome] = []

    public init(candidate: Policy, keepUnchanged: Bool, recordedPolicies: @escaping (UInt64) -> Policy? = { _ in nil },
                candidateAuditAll: Bool = false,
                resolveExe: @escaping EventInputReconstruction.ExeResolver = EventInputReconstruction.resolveSymlinks) {
        self.candidate = candidate
        self.keepUnchanged = keepUnchanged
        self.recordedPolicies = recordedPolicies
        self.candidateAuditAll = candidateAuditAll
        candidatePrecedence = RuleOrder.precedence(of: candidate.rules)
        let cached = CachedExeResolver(resolveExe)
        self.resolveExe = { cached($0) }
    }

    public mutating func add(_ event: RecordedEvent) {
        var recorded: (policy: Policy, precedence: [String: Int])?
        if let gen = event.generation {
            if let hit = policies[gen] { recorded = hit } else {
                recorded = recordedPolicies(gen).map { ($0, RuleOrder.precedence(of: $0.rules)) }
                policies[gen] = recorded
            }
        }
        let o = Replay.replay(event, candidate: candidate, recorded: recorded?.policy, candidateAuditAll: candidateAuditAll,
                              resolveExe: resolveExe, candidatePrecedence: candidatePrecedence,
                              recordedPrecedence: recorded?.precedence)
        summary.events += 1
        switch o.status {
        case .unchanged, .changed, .ruleChanged:
            summary.replayed += 1
            if !o.crossChecked { summary.notCrossChecked += 1 }
            if o.status == .ruleChanged { summary.ruleChanged += 1 }
            if let t = o.transition {
                summary.changed += 1
                summary.transitions[t, default: 0] += 1
            }
        case .notReplayable: summary.notReplayable += 1
        case .skipped: summary.skipped += 1
        }
        if keepUnchanged || o.status == .changed || o.status == .ruleChanged || o.status == .notReplayable {
            outcomes.append(o)
        }
    }

    public var report: ReplayReport { ReplayReport(candidate: candidate.source, summary: summary, outcomes: outcomes) }

    /// Streams a JSONL file through `add`. Malformed lines are returned (and not replayed).
    public mutating func add(file path: String) -> [EventLogLineError] {
        var errors: [EventLogLineError] = []
        do throws(Errno) {
            try LineStream.forEachLine(path: path) { line, number in
                do { add(try RecordedEvent.parse(bytes: line)) } catch {
                    errors.append(EventLogLineError(file: path, line: number, message: EventLog.describe(error)))
                }
            }
        } catch {
            errors.append(EventLogLineError(file: path, line: 0, message: "cannot read: \(error)"))
        }
        return errors
    }
}
