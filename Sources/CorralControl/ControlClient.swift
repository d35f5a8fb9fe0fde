// The CLI's end of the control socket: a blocking client with timeouts.
//
//   let client = try ControlClient(socketPath: "/run/corral/control.sock")
//   switch try client.call(ControlInterface.GetStatus.self, NoFields()) {
//   case .success(let status): ...
//   case .failure(let error): ...            // a named ControlError: exit 2
//   }                                        // ControlClientError thrown: exit 3
import CorralSystem

/// Why a call could not be made or completed (as opposed to a named error the daemon replied).
public enum ControlClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The socket file does not exist: the daemon is not running (or another --state-directory).
    case socketMissing(path: String)
    /// Nobody listens on the socket: the daemon died and left its socket file.
    case connectionRefused(path: String)
    /// The socket (or a directory above it) is not accessible to this user.
    case permissionDenied(path: String)
    /// The daemon closed the connection (it stopped, refused it at its connection limit, or
    /// closed it after RequestTooLarge).
    case connectionClosed
    /// No reply within the timeout.
    case timedOut(milliseconds: Int)
    /// A reply that is not valid protocol JSON.
    case invalidReply(String)
    /// A reply longer than `Options.maxReplyBytes`.
    case replyTooLarge(limit: Int)
    /// Any other system error.
    case system(operation: String, Errno)

    /// The error for a failed connect(2) to `path`.
    public static func connectFailure(_ error: Errno, path: String) -> ControlClientError {
        switch error {
        case .noSuchFile, Errno(rawValue: 20 /* ENOTDIR */): .socketMissing(path: path)
        case .connectionRefused: .connectionRefused(path: path)
        case .accessDenied, .permissionDenied: .permissionDenied(path: path)
        default: .system(operation: "connect to \(path)", error)
        }
    }

    public var description: String {
        switch self {
        case .socketMissing(let path):
            "cannot reach the corral daemon: \(path) does not exist (is `corral daemon` running?)"
        case .connectionRefused(let path):
            "cannot reach the corral daemon: nothing listens on \(path) (the daemon is not running)"
        case .permissionDenied(let path):
            "cannot reach the corral daemon: permission denied for \(path)"
        case .connectionClosed:
            "the corral daemon closed the connection"
        case .timedOut(let ms):
            "the corral daemon did not answer within \(ms) ms"
        case .invalidReply(let reason):
            "invalid reply from the corral daemon: \(reason)"
        case .replyTooLarge(let limit):
            "reply from the corral daemon exceeds \(limit) bytes"
        case .system(let operation, let errno):
            "\(operation): \(errno)"
        }
    }
}

/// A connection to the daemon. Calls are sequential; not for use from several threads.
public final class ControlClient {
    public struct Options: Sendable {
        /// How long to keep retrying while the daemon's listen backlog is full.
        public var connectTimeoutMillis: Int = 5_000
        /// How long to wait for each reply (and to send a request); nil waits forever (e.g.
        /// `events --follow`).
        public var replyTimeoutMillis: Int? = 30_000
        public var maxReplyBytes: Int = 64 << 20

        public init(connectTimeoutMillis: Int = 5_000, replyTimeoutMillis: Int? = 30_000, maxReplyBytes: Int = 64 << 20) {
            self.connectTimeoutMillis = connectTimeoutMillis
            self.replyTimeoutMillis = replyTimeoutMillis
            self.maxReplyBytes = maxReplyBytes
        }
    }

    /// docs/operations.md §1.
    public static let defaultSocketPath = "/run/corral/control.sock"

    public let socketPath: String
    public var options: Options
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    private var scanned = 0

    /// Connects (retrying while the backlog is full, up to `connectTimeoutMillis`).
    public init(socketPath: String = ControlClient.defaultSocketPath, options: Options = Options()) throws(ControlClientError) {
        self.socketPath = socketPath
        self.options = options
        let deadline = Sys.monotonicMillis() + UInt64(max(0, options.connectTimeoutMillis))
        let fd: Int32
        do { fd = try Sys.socket(.unix) } catch { throw .system(operation: "socket", error) }
        while true {
            do {
                try Sys.connect(fd, unixPath: socketPath)
                break
            } catch {
                if error == .wouldBlock && Sys.monotonicMillis() < deadline {
                    Sys.sleep(millis: 10)
                    continue
                }
                Sys.close(fd)
                if error == .wouldBlock { throw .timedOut(milliseconds: options.connectTimeoutMillis) }
                throw ControlClientError.connectFailure(error, path: socketPath)
            }
        }
        self.fd = fd
    }

    deinit { close() }

    public var isConnected: Bool { fd >= 0 }

    public func close() {
        if fd >= 0 { Sys.close(fd) }
        fd = -1
        buffer = []
        bufferStart = 0
        scanned = 0
    }

    // MARK: calls

    /// One call with one reply: its parameters, or the named error the daemon answered.
    public func call(_ method: String, _ parameters: [String: JSONValue] = [:]) throws(ControlClientError)
        -> Result<[String: JSONValue], ControlError> {
        try sendRequest(ControlRequest(method: method, parameters: parameters, more: false))
        return try receiveReply().result
    }

    /// A `more` call: `onReply` gets each reply's parameters and returns false to stop early
    /// (the connection is then closed, as unread replies may follow). Returns success when the
    /// final reply arrived (or `onReply` stopped), or the error that ended the stream.
    public func stream(_ method: String, _ parameters: [String: JSONValue] = [:],
                       onReply: ([String: JSONValue]) -> Bool) throws(ControlClientError) -> Result<Void, ControlError> {
        try sendRequest(ControlRequest(method: method, parameters: parameters, more: true))
        while true {
            let reply = try receiveReply()
            switch reply.result {
            case .failure(let error):
                return .failure(error)
            case .success(let p):
                if !onReply(p) {
                    if reply.continues { close() }
                    return .success(())
                }
                if !reply.continues { return .success(()) }
            }
        }
    }

    /// One call of a ControlInterface method: its typed reply, or the named error the daemon
    /// answered. A reply that does not decode (a key missing or mistyped) is `invalidReply`
    /// naming the key.
    public func call<M: ControlMethodSpec>(_ method: M.Type, _ parameters: M.Parameters) throws(ControlClientError)
        -> Result<M.Reply, ControlError> {
        switch try call(M.name, M.encode(parameters: parameters)) {
        case .failure(let error): return .failure(error)
        case .success(let p): return .success(try Self.decode(M.self, p))
        }
    }

    /// A `more` call of a ControlInterface method, each reply typed (see `stream(_:_:onReply:)`).
    public func stream<M: ControlMethodSpec>(_ method: M.Type, _ parameters: M.Parameters,
                                             onReply: (M.Reply) -> Bool) throws(ControlClientError) -> Result<Void, ControlError> {
        var invalid: ControlClientError?
        let result = try stream(M.name, M.encode(parameters: parameters)) { p in
            do throws(ControlClientError) { return onReply(try Self.decode(M.self, p)) } catch {
                invalid = error
                return false
            }
        }
        if let invalid { throw invalid }
        return result
    }

    private static func decode<M: ControlMethodSpec>(_ method: M.Type, _ p: [String: JSONValue]) throws(ControlClientError) -> M.Reply {
        do { return try M.decode(reply: p) } catch { throw .invalidReply("\(M.name): \(error)") }
    }

    /// Sends a request. If the daemon closes the connection meanwhile (e.g. RequestTooLarge),
    /// its error reply is still read by the next `receiveReply`.
    public func sendRequest(_ request: ControlRequest) throws(ControlClientError) {
        var bytes = request.encoded()
        bytes.append(controlMessageTerminator)
        do {
            try sendRaw(bytes)
        } catch .connectionClosed {
            // Keep the connection so a reply the daemon sent before closing can be read.
            return
        }
    }

    /// Writes bytes as they are (tests use this for malformed input).
    public func sendRaw(_ bytes: [UInt8]) throws(ControlClientError) {
        guard fd >= 0 else { throw .connectionClosed }
        let deadline = options.replyTimeoutMillis.map { Sys.monotonicMillis() + UInt64(max(0, $0)) }
        var sent = 0
        while sent < bytes.count {
            let result: Sys.Transfer
            do { result = try Sys.send(fd, bytes[sent...]) } catch {
                if error == .brokenPipe || error == .connectionReset { throw .connectionClosed }
                throw .system(operation: "send", error)
            }
            switch result {
            case .count(let n): sent += n
            case .wouldBlock, .endOfStream: try wait(for: .writable, until: deadline)
            }
        }
    }

    /// Reads the next reply.
    public func receiveReply() throws(ControlClientError) -> ControlReply {
        let message = try receiveMessage()
        switch ControlReply.decode(message) {
        case .success(let reply): return reply
        case .failure(let error): throw .invalidReply(error.description)
        }
    }

    /// Reads the next NUL-terminated message (without the NUL).
    public func receiveMessage() throws(ControlClientError) -> [UInt8] {
        let deadline = options.replyTimeoutMillis.map { Sys.monotonicMillis() + UInt64(max(0, $0)) }
        while true {
            if let nul = buffer[scanned...].firstIndex(of: controlMessageTerminator) {
                let message = Array(buffer[bufferStart..<nul])
                bufferStart = nul + 1
                scanned = bufferStart
                if bufferStart == buffer.count {
                    buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
                    bufferStart = 0
                    scanned = 0
                }
                return message
            }
            scanned = buffer.count
            if buffer.count - bufferStart > options.maxReplyBytes {
                close()
                throw .replyTooLarge(limit: options.maxReplyBytes)
            }
            guard fd >= 0 else { throw .connectionClosed }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let result: Result<Sys.Transfer, Errno> = chunk.withUnsafeMutableBytes { raw in
                do throws(Errno) { return .success(try Sys.receive(fd, into: raw)) } catch { return .failure(error) }
            }
            switch result {
            case .success(.count(let n)):
                buffer.append(contentsOf: chunk[0..<n])
            case .success(.wouldBlock):
                try wait(for: .readable, until: deadline)
            case .success(.endOfStream):
                close()
                throw .connectionClosed
            case .failure(let error):
                close()
                if error == .connectionReset { throw .connectionClosed }
                throw .system(operation: "recv", error)
            }
        }
    }

    private func wait(for events: Sys.PollEvents, until deadline: UInt64?) throws(ControlClientError) {
        let timeout: Int32
        if let deadline {
            let now = Sys.monotonicMillis()
            guard now < deadline else { throw .timedOut(milliseconds: options.replyTimeoutMillis ?? 0) }
            timeout = Int32(clamping: deadline - now)
        } else {
            timeout = -1
        }
        do {
            _ = try Sys.poll(fd, for: events, timeoutMillis: timeout)
        } catch {
            throw .system(operation: "poll", error)
        }
    }
}
