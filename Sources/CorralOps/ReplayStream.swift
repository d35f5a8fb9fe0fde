// Streaming replay: events are read from the file in blocks, decided one at a time, and only
// what the report shows is kept (`corral replay`, `corral bench replay`). The per-policy work
// the reconstruction repeats per event (resolving the policy's `exe:` paths) is cached.
import CorralEvaluator
import CorralJSON
import CorralPolicy
import CorralSystem
import Dispatch
import Glibc

/// Calls `body` with each non-blank line (without its newline and surrounding spaces and tabs),
/// its 1-based line number, and whether a newline ended it (false only for an unfinished last line).
public enum LineStream {
    public typealias Body = (_ line: UnsafeBufferPointer<UInt8>, _ number: Int, _ terminated: Bool) -> Void

    /// Reads the file `blockSize` bytes at a time.
    public static func forEachLine(path: String, blockSize: Int = 4 << 20, _ body: Body) throws(Errno) {
        let fd = try Sys.open(path, O_RDONLY)
        defer { Sys.close(fd) }
        try forEachLine(fd: fd, blockSize: blockSize, body)
    }

    public static func forEachLine(fd: Int32, blockSize: Int = 4 << 20, _ body: Body) throws(Errno) {
        var buffer = [UInt8](repeating: 0, count: blockSize)
        var carry = 0 // bytes of an unfinished line at the start of buffer
        var number = 0
        var eof = false
        while !eof {
            if carry == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) } // a line longer than the buffer
            var failure: Errno?
            let n = buffer.withUnsafeMutableBytes { b -> Int in
                do throws(Errno) { return try Sys.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: b[carry...])) }
                catch { failure = error; return 0 }
            }
            if let failure { throw failure }
            eof = n == 0
            let end = carry + n
            let consumed = buffer.withUnsafeBufferPointer { b in
                split(UnsafeBufferPointer(rebasing: b[..<end]), atEnd: eof, number: &number, body)
            }
            carry = end - consumed
            if carry > 0 && consumed > 0 {
                buffer.withUnsafeMutableBytes { b in _ = memmove(b.baseAddress!, b.baseAddress! + consumed, carry) }
            }
        }
    }

    /// The lines of bytes already in memory.
    public static func forEachLine(bytes: [UInt8], _ body: Body) {
        var number = 0
        bytes.withUnsafeBufferPointer { b in _ = split(b, atEnd: true, number: &number, body) }
    }

    /// Emits the lines of `b`; `atEnd`: what follows the last newline is a line too. Returns
    /// the bytes consumed.
    private static func split(_ b: UnsafeBufferPointer<UInt8>, atEnd: Bool, number: inout Int, _ body: Body) -> Int {
        var start = 0
        for i in 0..<b.count where b[i] == 0x0A {
            number += 1
            emit(b, start, i, number, true, body)
            start = i + 1
        }
        if atEnd && start < b.count {
            number += 1
            emit(b, start, b.count, number, false, body)
            start = b.count
        }
        return start
    }

    @inline(__always)
    private static func emit(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ number: Int,
                             _ terminated: Bool, _ body: Body) {
        var s = start, e = end
        while s < e && (b[s] == 0x20 || b[s] == 0x09) { s += 1 }
        while e > s && (b[e - 1] == 0x20 || b[e - 1] == 0x09) { e -= 1 }
        if s == e { return }
        body(UnsafeBufferPointer(rebasing: b[s..<e]), number, terminated)
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
    /// The resolver as given (`resolveExe` caches it): each worker of `add(file:strict:workers:)` caches its own.
    let uncachedResolveExe: EventInputReconstruction.ExeResolver
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
        uncachedResolveExe = resolveExe
        let cached = CachedExeResolver(resolveExe)
        self.resolveExe = { cached($0) }
    }

    public mutating func add(_ event: Event) {
        var recorded: (policy: Policy, precedence: [String: Int])?
        if let gen = event.generation {
            if let hit = policies[gen] { recorded = hit } else {
                recorded = recordedPolicies(gen).map { ($0, RuleOrder.precedence(of: $0.rules)) }
                policies[gen] = recorded
            }
        }
        var o = Replay.replayUndescribed(event, candidate: candidate, recorded: recorded?.policy,
                                         candidateAuditAll: candidateAuditAll, resolveExe: resolveExe,
                                         candidatePrecedence: candidatePrecedence, recordedPrecedence: recorded?.precedence)
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
            o.operation = Replay.operationText(event)
            outcomes.append(o)
        }
    }

    /// Adds what another runner of the same settings replayed after this one's events.
    mutating func append(_ other: ReplayRunner) {
        summary.events += other.summary.events
        summary.replayed += other.summary.replayed
        summary.changed += other.summary.changed
        summary.transitions.merge(other.summary.transitions, uniquingKeysWith: +)
        summary.ruleChanged += other.summary.ruleChanged
        summary.notReplayable += other.summary.notReplayable
        summary.skipped += other.summary.skipped
        summary.notCrossChecked += other.summary.notCrossChecked
        outcomes += other.outcomes
    }

    /// Forgets what was replayed (the caches stay).
    mutating func clearResults() {
        summary = ReplaySummary(events: 0, replayed: 0, changed: 0, transitions: [:], ruleChanged: 0, notReplayable: 0,
                                skipped: 0, notCrossChecked: 0)
        outcomes.removeAll(keepingCapacity: true)
    }

    /// A runner of the same settings with nothing replayed yet (and its own caches).
    func emptyCopy() -> ReplayRunner {
        ReplayRunner(candidate: candidate, keepUnchanged: keepUnchanged, recordedPolicies: recordedPolicies,
                     candidateAuditAll: candidateAuditAll, resolveExe: uncachedResolveExe)
    }

    /// Workers for `add(file:strict:workers:)`: the online CPUs, at most 8.
    public static var defaultWorkers: Int { min(Sys.onlineCPUs(), 8) }

    /// `add(file:strict:)` with the lines parsed and replayed on `workers` threads: chunks of
    /// `chunkLines` consecutive lines, one per worker, then merged in file order, so the summary,
    /// the outcomes and the problems are those of `add(file:strict:)`. Memory stays bounded (one
    /// chunk per worker). `strict`, standard input and gzip files are read on this thread.
    public mutating func add(file path: String, strict: Bool = false, workers: Int,
                             chunkLines: Int = 4096) -> EventLog.FileProblems {
        guard workers > 1, !strict, path != "-" else { return add(file: path, strict: strict) }
        let fd: Int32
        do throws(Errno) { fd = try Sys.open(path, O_RDONLY) } catch { return add(file: path, strict: strict) }
        defer { Sys.close(fd) }
        guard let head = try? Sys.read(fd, offset: 0, count: 2), !Gzip.isCompressed(head) else {
            return add(file: path, strict: strict)
        }
        var lanes = (0..<workers).map { _ in ReplayLane(runner: emptyCopy(), file: path) }
        var problems = EventLog.FileProblems()
        var filling = 0
        func runLanes(_ count: Int) {
            lanes.withUnsafeMutableBufferPointer { buffer in
                nonisolated(unsafe) let lanes = buffer
                DispatchQueue.concurrentPerform(iterations: count) { lanes[$0].run() }
            }
            for i in 0..<count {
                append(lanes[i].runner)
                problems.errors += lanes[i].problems.errors
                if let last = lanes[i].problems.incompleteLastLine { problems.incompleteLastLine = last }
                lanes[i].reset()
            }
        }
        do throws(Errno) {
            try LineStream.forEachLine(fd: fd) { line, number, terminated in
                lanes[filling].add(line, number, terminated)
                if lanes[filling].lines.count == chunkLines {
                    filling += 1
                    if filling == workers {
                        runLanes(workers)
                        filling = 0
                    }
                }
            }
        } catch {
            return EventLog.FileProblems(unreadable: "cannot read events: \(error)")
        }
        runLanes(lanes[filling].lines.isEmpty ? filling : filling + 1)
        return problems
    }

    public var report: ReplayReport { ReplayReport(candidate: candidate.source, summary: summary, outcomes: outcomes) }

    /// Streams one events file through `add` (`EventLog.forEachEvent`: `-` is standard input,
    /// gzip is decompressed). `strict`: stop at the first malformed line.
    public mutating func add(file path: String, strict: Bool = false) -> EventLog.FileProblems {
        EventLog.forEachEvent(file: path, strict: strict) { add($0) }
    }
}

/// One worker's chunk of lines for `ReplayRunner.add(file:strict:workers:)`, and what it made of them.
struct ReplayLane {
    var runner: ReplayRunner
    let file: String
    var bytes: [UInt8] = []
    var lines: [(range: Range<Int>, number: Int, terminated: Bool)] = []
    var problems = EventLog.FileProblems()

    mutating func add(_ line: UnsafeBufferPointer<UInt8>, _ number: Int, _ terminated: Bool) {
        let start = bytes.count
        bytes.append(contentsOf: line)
        lines.append((start..<bytes.count, number, terminated))
    }

    /// Parses and replays the chunk, as `EventLog.forEachEvent` and `ReplayRunner.add` would.
    mutating func run() {
        var runner = self.runner
        var problems = self.problems
        bytes.withUnsafeBufferPointer { all in
            for line in lines {
                EventLog.take(UnsafeBufferPointer(rebasing: all[line.range]), line.number, line.terminated, file, false,
                              &problems) { runner.add($0) }
            }
        }
        self.runner = runner
        self.problems = problems
    }

    mutating func reset() {
        runner.clearResults()
        bytes.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        problems = EventLog.FileProblems()
    }
}
