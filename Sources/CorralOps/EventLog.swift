// events.jsonl: append-only JSON lines with size-based rotation (docs/operations.md §1, §3).
// `events.jsonl` is the newest file; when the next line would take it past `maxBytes` it becomes
// `events.jsonl.1`, `.1` becomes `.2`, …, and `.<keep>` is dropped. Lines are not fsynced.
import CorralJSON
import CorralSystem
import Glibc
import Synchronization

/// A line of a JSONL file that is not a recorded event.
public struct EventLogLineError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): error: \(message)" }
}

public final class EventLog: @unchecked Sendable {
    public static let defaultMaxBytes = 16 << 20
    public static let defaultKeep = 4

    public let directory: String
    public let name: String
    public let maxBytes: Int
    /// Rotated files kept: `.1` … `.keep`.
    public let keep: Int
    private var fd: Int32 = -1
    private var size = 0
    private let lock = Mutex(())

    /// The file written now.
    public var path: String { directory + "/" + name }

    /// The rotated file `index` (1 = the newest rotated one).
    public func rotatedPath(_ index: Int) -> String { path + ".\(index)" }

    /// Opens (creating the directory and file) for appending.
    public init(directory: String, name: String = "events.jsonl", maxBytes: Int = EventLog.defaultMaxBytes,
                keep: Int = EventLog.defaultKeep) throws(Errno) {
        self.directory = directory
        self.name = name
        self.maxBytes = max(1, maxBytes)
        self.keep = max(0, keep)
        try Sys.mkdirs(directory)
        try open()
    }

    deinit { if fd >= 0 { Sys.close(fd) } }

    private func open() throws(Errno) {
        fd = try Sys.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o640)
        size = Int((try? Sys.fileStatus(fd: fd).st_size) ?? 0)
    }

    /// Appends one event as one line.
    public func append(_ event: Event) throws(Errno) { try append(line: event.jsonLine) }

    /// Appends one line (a newline is added). Rotates first when the line would not fit.
    public func append(line: String) throws(Errno) {
        try lock.withLock { _ throws(Errno) in
            let bytes = Array((line + "\n").utf8)
            if size > 0 && size + bytes.count > maxBytes { try rotate() }
            if fd < 0 { try open() }
            try Sys.writeAll(fd, bytes)
            size += bytes.count
        }
    }

    /// Shifts `.i` to `.i+1` (dropping `.keep`) and starts a new file.
    private func rotate() throws(Errno) {
        Sys.close(fd)
        fd = -1
        if keep == 0 {
            try? Sys.unlink(path)
        } else {
            try? Sys.unlink(rotatedPath(keep))
            for i in stride(from: keep - 1, through: 1, by: -1) where Sys.exists(rotatedPath(i)) {
                try Sys.rename(rotatedPath(i), rotatedPath(i + 1))
            }
            try Sys.rename(path, rotatedPath(1))
        }
        try open()
    }

    /// Closes the file; a later append reopens it.
    public func close() {
        lock.withLock { _ in
            if fd >= 0 { Sys.close(fd) }
            fd = -1
        }
    }

    /// The files that exist, oldest first (`.keep` … `.1`, then the current file).
    public var files: [String] {
        let rotated = keep > 0 ? (1...keep).reversed().map(rotatedPath) : []
        return (rotated + [path]).filter { Sys.exists($0) }
    }

    /// Every event in every file, oldest first. Lines that do not parse are skipped (see
    /// `readWithErrors`); a line being written concurrently is at worst the last, incomplete one.
    public func readAll() -> [Event] { readWithErrors().events }

    /// Every event in every file, oldest first, and the lines that did not parse.
    public func readWithErrors() -> (events: [Event], errors: [EventLogLineError]) {
        var events: [Event] = []
        var errors: [EventLogLineError] = []
        for file in files {
            let read = EventLog.read(path: file)
            events += read.events
            errors += read.errors
        }
        return (events, errors)
    }

    /// The newest event with this id (and boot id, when given). Searches newest file first.
    public func event(id: String, bootID: String? = nil) -> Event? {
        for file in files.reversed() {
            let (events, _) = EventLog.read(path: file)
            if let hit = events.last(where: { $0.id == id && (bootID == nil || $0.bootID == bootID) }) { return hit }
        }
        return nil
    }

    /// Events matching `filter`, oldest first; `filter.limit` keeps the newest N.
    public func events(matching filter: EventFilter) -> [Event] {
        filter.apply(readAll())
    }

    // MARK: reading JSONL

    /// Parses JSONL text: events in order, and one error per malformed line (blank lines are
    /// skipped). A last line without its newline that does not parse is a line still being
    /// written: it is skipped, and not an error (`parseDetailed` reports it).
    public static func parse(text: String, file: String) -> (events: [Event], errors: [EventLogLineError]) {
        let parsed = parseDetailed(text: text, file: file)
        return (parsed.events, parsed.errors)
    }

    public struct Parsed: Sendable {
        public var events: [Event] = []
        public var errors: [EventLogLineError] = []
        /// The last line, without its newline, that did not parse (a log still being written).
        public var incompleteLastLine: EventLogLineError?
    }

    /// `parse`, with the skipped incomplete last line.
    public static func parseDetailed(text: String, file: String) -> Parsed {
        var parsed = Parsed()
        let problems = forEachEvent(bytes: Array(text.utf8), file: file, strict: false) { parsed.events.append($0) }
        parsed.errors = problems.errors
        parsed.incompleteLastLine = problems.incompleteLastLine
        return parsed
    }

    /// What went wrong reading one events file.
    public struct FileProblems: Sendable {
        /// Malformed lines, in order (with `strict`, at most the first).
        public var errors: [EventLogLineError] = []
        /// The last line, without its newline, that did not parse (a log still being written).
        public var incompleteLastLine: EventLogLineError?
        /// Why the file could not be read; nothing was read then.
        public var unreadable: String?
        /// Why gzip data did not decompress; nothing was read then.
        public var corrupt: String?
    }

    /// Calls `body` with each event of an events file, in order, without holding the file in
    /// memory: `-` is standard input; a gzip-compressed file (or input) is decompressed whole
    /// first. A decision's `verdict` must be one this version knows (allow, deny, audit).
    /// `strict`: stop at the first malformed line.
    public static func forEachEvent(file path: String, strict: Bool, _ body: (Event) -> Void) -> FileProblems {
        let isStdin = path == "-"
        let fd: Int32
        do throws(Errno) { fd = isStdin ? STDIN_FILENO : try Sys.open(path, O_RDONLY) } catch {
            return FileProblems(unreadable: "cannot read events: \(error)")
        }
        defer { if !isStdin { Sys.close(fd) } }
        let name = isStdin ? "<stdin>" : path
        let compressed: Bool
        do throws(Errno) {
            // Standard input cannot be peeked at: it is read whole.
            compressed = isStdin ? true : Gzip.isCompressed(try Sys.read(fd, offset: 0, count: 2))
            if !compressed {
                var problems = FileProblems()
                try LineStream.forEachLine(fd: fd) { line, number, terminated in
                    take(line, number, terminated, name, strict, &problems, body)
                }
                return problems
            }
        } catch {
            return FileProblems(unreadable: "cannot read events: \(error)")
        }
        var bytes: [UInt8]
        do throws(Errno) { bytes = try Sys.readAll(fd) } catch { return FileProblems(unreadable: "cannot read events: \(error)") }
        if Gzip.isCompressed(bytes) {
            do throws(Gzip.Failure) { bytes = try Gzip.decompress(bytes) } catch {
                return FileProblems(corrupt: "cannot decompress (gzip): \(error)")
            }
        }
        return forEachEvent(bytes: bytes, file: name, strict: strict, body)
    }

    /// `forEachEvent(file:)` over bytes in memory, named `file` in errors.
    public static func forEachEvent(bytes: [UInt8], file: String, strict: Bool, _ body: (Event) -> Void) -> FileProblems {
        var problems = FileProblems()
        LineStream.forEachLine(bytes: bytes) { line, number, terminated in
            take(line, number, terminated, file, strict, &problems, body)
        }
        return problems
    }

    static func take(_ line: UnsafeBufferPointer<UInt8>, _ number: Int, _ terminated: Bool, _ file: String,
                             _ strict: Bool, _ problems: inout FileProblems, _ body: (Event) -> Void) {
        if strict && !problems.errors.isEmpty { return }
        do {
            let event = try Event.parse(bytes: line)
            if let verdict = event.verdict, Verdict(rawValue: verdict) == nil {
                problems.errors.append(EventLogLineError(file: file, line: number,
                    message: "unknown verdict '\(verdict)' (expected allow, deny or audit)"))
                return
            }
            body(event)
        } catch {
            let problem = EventLogLineError(file: file, line: number, message: describe(error))
            if terminated { problems.errors.append(problem) } else { problems.incompleteLastLine = problem }
        }
    }

    /// Reads and parses one JSONL file; an unreadable file is one error at line 0.
    public static func read(path: String) -> (events: [Event], errors: [EventLogLineError]) {
        var events: [Event] = []
        let problems = forEachEvent(file: path, strict: false) { events.append($0) }
        if let failure = problems.unreadable ?? problems.corrupt {
            return ([], [EventLogLineError(file: path, line: 0, message: failure)])
        }
        return (events, problems.errors)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case is JSONParseError:
            return "invalid JSON"
        case let e as JSONDecodeError where e.reason == "missing":
            return "not a recorded event: missing key '\(e.key)'"
        case let e as JSONDecodeError:
            return "not a recorded event: '\(e.key)' has the wrong type (\(e.reason))"
        default:
            return "\(error)"
        }
    }
}
