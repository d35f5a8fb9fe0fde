// The daemon's end of the control socket (docs/operations.md §4).
//
// A ControlServer listens on a Unix socket and runs on a Reactor (one thread). Per connection it
// keeps an input buffer, split into requests at NUL bytes, and an output buffer, written when
// the socket is writable, so a slow or stalled client never blocks the daemon; a connection whose
// unsent replies exceed `maxOutputBytes` is dropped.
//
// Calls on one connection are answered in order, one at a time (varlink): while a streaming call
// is open, the connection's further requests wait (unread, in the kernel's socket buffer) until
// it finishes. Reading also pauses while more than `outputHighWater` reply bytes are unsent.
//
//   let server = ControlServer(configuration: .init(socketPath: "/run/corral/control.sock"))
//   server.register(ControlInterface.Apply.self) { parameters, call throws(ControlError) in
//       ... parameters.policy ...
//       return ControlInterface.Apply.Reply(generation: 8, ...)
//   }
//   server.register(method: "test.Echo", access: .read) { call in .reply(call.parameters) }  // untyped
//   try server.start(reactor: reactor)
import CorralSystem

public struct ControlServerConfiguration: Sendable {
    public var socketPath: String
    /// The socket file's mode; 0666 because authorization is per method.
    public var socketMode: UInt32 = 0o666
    public var authorization: AuthorizationConfig
    /// A request longer than this (without its NUL) gets RequestTooLarge and the connection closes.
    public var maxRequestBytes: Int = 16 << 20
    /// Connections beyond this many are closed right after accept.
    public var maxConnections: Int = 64
    /// A connection with more unsent reply bytes than this is dropped.
    public var maxOutputBytes: Int = 64 << 20
    /// Reading from a connection pauses while it has more unsent reply bytes than this.
    public var outputHighWater: Int = 1 << 20
    /// `org.varlink.service.GetInfo`'s answer.
    public var vendor = "Corral"
    public var product = "corral"
    public var version = "0"
    public var url = "man:corral(1)"

    public init(socketPath: String, authorization: AuthorizationConfig = AuthorizationConfig()) {
        self.socketPath = socketPath
        self.authorization = authorization
    }
}

/// What a method handler gets.
public struct ControlCall: ControlParameterAccess {
    public let request: ControlRequest
    public let peer: PeerCredentials
    /// Where a streaming handler sends its replies (see `ControlOutcome.streaming`).
    public let stream: ControlStream

    public var method: String { request.method }
    public var parameters: [String: JSONValue] { request.parameters }
    /// The caller accepts several replies.
    public var more: Bool { request.more }
}

/// What a method handler returns.
public enum ControlOutcome {
    /// One (final) reply.
    case reply([String: JSONValue])
    /// A named error.
    case error(ControlError)
    /// The handler replies through `call.stream`, now or from later reactor callbacks, and
    /// must end with `finish` or `fail`. The connection's next request waits until then.
    case streaming
}

/// A method implementation. Throwing a ControlError is the same as returning `.error`.
/// A handler closure of more than one statement that uses `try` must be written
/// `{ call throws(ControlError) in ... }` (Swift infers `any Error` otherwise).
public typealias ControlHandler = (ControlCall) throws(ControlError) -> ControlOutcome

/// The reply channel of one call. Reactor thread only.
public final class ControlStream {
    public let request: ControlRequest
    public let peer: PeerCredentials
    private weak var server: ControlServer?
    private weak var connection: ControlConnection?
    /// A final reply or error was sent, or the client went away.
    public private(set) var isFinished = false
    /// Called once if the client disconnects (or is dropped) before the stream finished.
    public var onClose: (() -> Void)?

    init(request: ControlRequest, peer: PeerCredentials, server: ControlServer, connection: ControlConnection) {
        self.request = request
        self.peer = peer
        self.server = server
        self.connection = connection
    }

    /// True while replies can still be sent.
    public var isOpen: Bool {
        guard !isFinished, let connection else { return false }
        return !connection.closed
    }

    /// Sends one reply. With `continues` more replies follow; without it this is the final one.
    /// If the request did not ask for `more`, every reply is final: the first one ends the call.
    /// Returns false if the stream is no longer open (the client is gone: stop producing).
    @discardableResult
    public func send(_ parameters: [String: JSONValue], continues: Bool = true) -> Bool {
        guard isOpen, let server, let connection else { return false }
        let last = !continues || !request.more
        if !request.oneway { server.enqueue(ControlReply(parameters: parameters, continues: !last), on: connection) }
        if last { complete() }
        return isOpen || last && !connection.closed
    }

    /// Sends the final reply.
    public func finish(_ parameters: [String: JSONValue] = [:]) {
        send(parameters, continues: false)
    }

    /// Sends one typed reply of method `M` (see `send(_:continues:)`); a reply that cannot be
    /// encoded ends the call with that error.
    @discardableResult
    public func send<M: ControlMethodSpec>(_ method: M.Type, _ reply: M.Reply, continues: Bool = true) -> Bool {
        do throws(ControlError) {
            return send(try M.encode(reply: reply), continues: continues)
        } catch {
            fail(error)
            return false
        }
    }

    /// Sends the final typed reply.
    public func finish<M: ControlMethodSpec>(_ method: M.Type, _ reply: M.Reply) {
        send(method, reply, continues: false)
    }

    /// Ends the call with an error.
    public func fail(_ error: ControlError) {
        guard isOpen, let server, let connection else { return }
        if !request.oneway { server.enqueue(ControlReply(error: error), on: connection) }
        complete()
    }

    private func complete() {
        guard !isFinished else { return }
        isFinished = true
        onClose = nil
        if let connection { server?.callCompleted(self, on: connection) }
    }

    /// The connection closed first.
    func connectionClosed() {
        guard !isFinished else { return }
        isFinished = true
        let handler = onClose
        onClose = nil
        handler?()
    }
}

/// One accepted connection's state.
final class ControlConnection {
    let fd: Int32
    let peer: PeerCredentials
    /// /proc/<pid>/status read at accept (nil: unavailable or not needed).
    let identity: ProcessIdentity?
    var input: [UInt8] = []
    var inputStart = 0          // first byte of the next request
    var scanned = 0             // bytes before this index contain no NUL past inputStart
    var output: [UInt8] = []
    var outputStart = 0         // first unsent byte
    var active: ControlStream?  // the call being answered
    var inputClosed = false     // the peer shut down its sending side
    var closeAfterFlush = false // RequestTooLarge was queued
    var closed = false
    var driving = false         // inside ControlServer.drive (reentrancy guard)

    init(fd: Int32, peer: PeerCredentials, identity: ProcessIdentity?) {
        self.fd = fd
        self.peer = peer
        self.identity = identity
    }

    var pendingOutput: Int { output.count - outputStart }
}

public final class ControlServer {
    public let configuration: ControlServerConfiguration
    /// Receives one line per notable event (dropped or refused connections, accept failures).
    public var log: ((String) -> Void)?

    public struct Statistics: Sendable, Hashable {
        public var accepted = 0
        /// Closed at accept because `maxConnections` were open.
        public var refused = 0
        /// Dropped because their unsent output exceeded `maxOutputBytes`.
        public var dropped = 0
        /// Complete requests received (including malformed ones).
        public var requests = 0
        /// Error replies sent.
        public var errors = 0
    }
    public private(set) var statistics = Statistics()

    private struct Method {
        var access: AccessLevel
        var handler: ControlHandler
    }
    private var methods: [String: Method] = [:]
    private var reactor: Reactor?
    private var listenFD: Int32 = -1
    private var socketInode: UInt64?
    private var connections: [Int32: ControlConnection] = [:]
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    public init(configuration: ControlServerConfiguration) {
        self.configuration = configuration
        register(ControlInterface.GetInfo.self) { [unowned self] _, _ in
            ControlInterface.GetInfo.Reply(vendor: self.configuration.vendor, product: self.configuration.product,
                                           version: self.configuration.version, url: self.configuration.url,
                                           interfaces: self.interfaces)
        }
        register(ControlInterface.GetInterfaceDescription.self) { [unowned self] parameters, _ throws(ControlError) in
            switch parameters.interface {
            case "org.varlink.service": return .init(description: ControlInterface.serviceDescription)
            case ControlInterface.interfaceName where self.interfaces.contains(ControlInterface.interfaceName):
                return .init(description: ControlInterface.interfaceDescription)
            default: throw .interfaceNotFound(parameters.interface)
            }
        }
    }

    deinit { stop() }

    // MARK: methods

    /// Adds (or replaces) a method.
    public func register(method: String, access: AccessLevel, handler: @escaping ControlHandler) {
        methods[method] = Method(access: access, handler: handler)
    }

    /// Adds a method of ControlInterface: its parameters are decoded before `handler` runs (a
    /// missing or mistyped one is InvalidParameter naming it) and its reply encoded after.
    public func register<M: ControlMethodSpec>(
        _ method: M.Type, handler: @escaping (M.Parameters, ControlCall) throws(ControlError) -> M.Reply
    ) {
        register(method: M.name, access: M.access) { call throws(ControlError) in
            if M.rootOnly && call.peer.uid != 0 { throw .permissionDenied(method: M.name) }
            let parameters = try M.decode(parameters: call.parameters)
            return .reply(try M.encode(reply: try handler(parameters, call)))
        }
    }

    /// Adds a streaming method of ControlInterface: `handler` answers through `call.stream`
    /// (`send(M.self, reply)`, `finish(M.self, reply)` or `fail`), now or later.
    public func registerStreaming<M: ControlMethodSpec>(
        _ method: M.Type, handler: @escaping (M.Parameters, ControlCall) throws(ControlError) -> Void
    ) {
        register(method: M.name, access: M.access) { call throws(ControlError) in
            if M.rootOnly && call.peer.uid != 0 { throw .permissionDenied(method: M.name) }
            try handler(try M.decode(parameters: call.parameters), call)
            return .streaming
        }
    }

    /// Method name → required access.
    public var accessTable: [String: AccessLevel] { methods.mapValues(\.access) }

    /// The interfaces of the registered methods (names up to their last dot), sorted.
    public var interfaces: [String] {
        Set(methods.keys.compactMap { name in name.lastIndex(of: ".").map { String(name[..<$0]) } }).sorted()
    }

    // MARK: lifecycle

    public var isListening: Bool { listenFD >= 0 }
    public var connectionCount: Int { connections.count }

    /// Creates the socket (replacing a stale socket file; EADDRINUSE if a server answers there,
    /// EEXIST if the path is not a socket), sets its mode, listens and registers on `reactor`.
    public func start(reactor: Reactor) throws(Errno) {
        precondition(listenFD < 0, "ControlServer already started")
        let path = configuration.socketPath
        try Self.removeStaleSocket(path)
        let fd = try Sys.socket(.unix)
        do {
            try Sys.bind(fd, unixPath: path)
        } catch {
            Sys.close(fd)
            throw error
        }
        do {
            socketInode = try FileSystem.status(path, followSymlinks: false).inode
            try Sys.chmod(path, configuration.socketMode)
            // A backlog above maxConnections, so excess clients are accepted and refused (EOF)
            // rather than left hanging in connect.
            try Sys.listen(fd, backlog: Int32(clamping: max(128, configuration.maxConnections * 2)))
            try reactor.register(fd, interest: .read) { [weak self] _ in self?.acceptPending() }
        } catch {
            Sys.close(fd)
            try? Sys.unlink(path)
            socketInode = nil
            throw error
        }
        listenFD = fd
        self.reactor = reactor
    }

    /// Stops listening, removes the socket file, and closes every connection (open streams
    /// see `onClose`). Reactor thread only.
    public func stop() {
        if listenFD >= 0 {
            reactor?.remove(listenFD)
            Sys.close(listenFD)
            listenFD = -1
            // Unlink only our own socket file (a newer server may have replaced it).
            if let inode = socketInode,
               let st = try? FileSystem.status(configuration.socketPath, followSymlinks: false),
               st.inode == inode {
                try? Sys.unlink(configuration.socketPath)
            }
            socketInode = nil
        }
        for c in Array(connections.values) { close(c) }
        reactor = nil
    }

    /// Removes a socket file nobody listens on.
    static func removeStaleSocket(_ path: String) throws(Errno) {
        guard let st = try? FileSystem.status(path, followSymlinks: false) else { return }
        guard st.isSocket else { throw Errno.exists }
        let probe = try Sys.socket(.unix)
        defer { Sys.close(probe) }
        var live = false
        do {
            try Sys.connect(probe, unixPath: path)
            live = true
        } catch {
            live = error == .wouldBlock   // listening, backlog full
        }
        if live { throw Errno.addressInUse }
        do { try Sys.unlink(path) } catch { if error != .noSuchFile { throw error } }
    }

    // MARK: accepting

    private func acceptPending() {
        guard let reactor else { return }
        for _ in 0..<64 {
            let fd: Int32
            do {
                guard let accepted = try Sys.accept(listenFD) else { return }
                fd = accepted
            } catch {
                // Out of fds or memory: stop accepting for a moment rather than spin.
                log?("control socket: accept failed: \(error); pausing accepts for 100 ms")
                try? reactor.setInterest(listenFD, [])
                reactor.addTimer(after: 100) { [weak self] in
                    guard let self, self.listenFD >= 0 else { return }
                    try? self.reactor?.setInterest(self.listenFD, .read)
                }
                return
            }
            if connections.count >= configuration.maxConnections {
                Sys.close(fd)
                statistics.refused += 1
                log?("control socket: refused a connection (\(configuration.maxConnections) open)")
                continue
            }
            guard let cred = try? Sys.peerCredentials(fd) else {
                Sys.close(fd)
                continue
            }
            let peer = PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
            let auth = configuration.authorization
            let needsIdentity = peer.uid != 0 && (auth.adminGroup != nil || auth.readerGroup != nil)
            let identity = needsIdentity ? Authorization.identity(of: peer.pid, procRoot: auth.procRoot) : nil
            let connection = ControlConnection(fd: fd, peer: peer, identity: identity)
            do {
                try reactor.register(fd, interest: .read) { [weak self] readiness in
                    self?.connectionReady(connection, readiness)
                }
            } catch {
                Sys.close(fd)
                continue
            }
            connections[fd] = connection
            statistics.accepted += 1
        }
    }

    // MARK: per-connection I/O

    private func connectionReady(_ c: ControlConnection, _ readiness: Reactor.Readiness) {
        if readiness.contains(.error) || readiness.contains(.hangup) {
            // Both directions are gone: nothing can be answered any more.
            close(c)
            return
        }
        if wantsInput(c) && !readiness.isDisjoint(with: [.readable, .readHangup]) {
            readInput(c)
            if c.closed { return }
        }
        if readiness.contains(.writable) {
            flush(c)
            if c.closed { return }
        }
        drive(c)
    }

    private func wantsInput(_ c: ControlConnection) -> Bool {
        !c.closed && !c.inputClosed && !c.closeAfterFlush && c.active == nil
            && c.pendingOutput <= configuration.outputHighWater
    }

    /// Reads what is available (up to 1 MiB per turn, and not far past the request limit).
    private func readInput(_ c: ControlConnection) {
        var budget = 1 << 20
        while budget > 0 && c.input.count - c.inputStart <= configuration.maxRequestBytes {
            let result: Result<Sys.Transfer, Errno> = scratch.withUnsafeMutableBytes { raw in
                do throws(Errno) { return .success(try Sys.receive(c.fd, into: raw)) } catch { return .failure(error) }
            }
            switch result {
            case .success(.count(let n)):
                c.input.append(contentsOf: scratch[0..<n])
                budget -= n
            case .success(.wouldBlock):
                return
            case .success(.endOfStream):
                c.inputClosed = true
                return
            case .failure:
                close(c)
                return
            }
        }
    }

    private enum NextMessage {
        case none
        case message(Range<Int>)
        case tooLarge
    }

    private func nextMessage(_ c: ControlConnection) -> NextMessage {
        let end = c.input.count
        let limit = configuration.maxRequestBytes
        if let nul = c.input[c.scanned..<end].firstIndex(of: controlMessageTerminator) {
            let range = c.inputStart..<nul
            c.inputStart = nul + 1
            c.scanned = c.inputStart
            return range.count > limit ? .tooLarge : .message(range)
        }
        c.scanned = end
        return end - c.inputStart > limit ? .tooLarge : .none
    }

    /// Answers the connection's complete requests, in order, until one opens a stream, output
    /// backs up, or none is left; then closes the connection or updates its epoll interest.
    private func drive(_ c: ControlConnection) {
        if c.driving || c.closed { return }
        c.driving = true
        var exhausted = false
        loop: while !c.closed && c.active == nil && !c.closeAfterFlush
            && c.pendingOutput <= configuration.outputHighWater {
            switch nextMessage(c) {
            case .none:
                exhausted = true
                break loop
            case .tooLarge:
                statistics.requests += 1
                c.closeAfterFlush = true
                c.input = []
                c.inputStart = 0
                c.scanned = 0
                enqueue(ControlReply(error: .requestTooLarge(limit: configuration.maxRequestBytes)), on: c)
            case .message(let range):
                handle(c, c.input[range])
            }
        }
        c.driving = false
        if c.closed { return }
        compactInput(c)
        let finishedReading = c.inputClosed && exhausted && c.active == nil
        if (c.closeAfterFlush || finishedReading) && c.pendingOutput == 0 {
            close(c)
            return
        }
        updateInterest(c)
    }

    private func compactInput(_ c: ControlConnection) {
        if c.inputStart == c.input.count {
            c.input.removeAll(keepingCapacity: c.input.capacity <= 1 << 20)
            c.inputStart = 0
            c.scanned = 0
        } else if c.inputStart >= 64 * 1024 && c.inputStart * 2 >= c.input.count {
            c.input.removeFirst(c.inputStart)
            c.scanned -= c.inputStart
            c.inputStart = 0
        }
    }

    private func updateInterest(_ c: ControlConnection) {
        guard !c.closed, let reactor else { return }
        var interest: Reactor.Interest = []
        if wantsInput(c) { interest.insert(.read) }
        if c.pendingOutput > 0 { interest.insert(.write) }
        do { try reactor.setInterest(c.fd, interest) } catch { close(c) }
    }

    private func handle(_ c: ControlConnection, _ bytes: ArraySlice<UInt8>) {
        statistics.requests += 1
        let request: ControlRequest
        switch ControlRequest.decode(bytes) {
        case .failure(let error):
            enqueue(ControlReply(error: error), on: c)
            return
        case .success(let r):
            request = r
        }
        guard let method = methods[request.method] else {
            if !request.oneway { enqueue(ControlReply(error: .methodNotFound(method: request.method)), on: c) }
            return
        }
        guard Authorization.isAllowed(method.access, peer: c.peer, identity: c.identity,
                                      config: configuration.authorization) else {
            if !request.oneway { enqueue(ControlReply(error: .permissionDenied(method: request.method)), on: c) }
            return
        }
        let stream = ControlStream(request: request, peer: c.peer, server: self, connection: c)
        c.active = stream
        let outcome: ControlOutcome
        do {
            outcome = try method.handler(ControlCall(request: request, peer: c.peer, stream: stream))
        } catch {
            outcome = .error(error)
        }
        switch outcome {
        case .reply(let parameters): stream.finish(parameters)
        case .error(let error): stream.fail(error)
        case .streaming: break
        }
    }

    /// Called by a stream that sent its final reply.
    func callCompleted(_ stream: ControlStream, on c: ControlConnection) {
        guard c.active === stream else { return }
        c.active = nil
        drive(c)   // a no-op inside drive's own loop, which then continues
    }

    /// Queues one reply (sending what the socket takes right away).
    func enqueue(_ reply: ControlReply, on c: ControlConnection) {
        guard !c.closed else { return }
        if case .failure = reply.result { statistics.errors += 1 }
        var bytes = reply.encoded()
        bytes.append(controlMessageTerminator)
        if c.pendingOutput == 0 {
            switch send(c, bytes[...]) {
            case nil: return   // closed
            case let n?:
                if n == bytes.count { return }
                c.output.append(contentsOf: bytes[n...])
            }
        } else {
            c.output.append(contentsOf: bytes)
        }
        if c.pendingOutput > configuration.maxOutputBytes {
            statistics.dropped += 1
            log?("control socket: dropped \(c.peer): more than \(configuration.maxOutputBytes) bytes of replies unread")
            close(c)
            return
        }
        if !c.driving { updateInterest(c) }
    }

    /// Sends as much as the socket takes; nil if the connection failed (and is now closed).
    private func send(_ c: ControlConnection, _ bytes: ArraySlice<UInt8>) -> Int? {
        var sent = 0
        while sent < bytes.count {
            do {
                switch try Sys.send(c.fd, bytes[(bytes.startIndex + sent)...]) {
                case .count(let n): sent += n
                case .wouldBlock, .endOfStream: return sent
                }
            } catch {
                close(c)
                return nil
            }
        }
        return sent
    }

    private func flush(_ c: ControlConnection) {
        guard c.pendingOutput > 0 else { return }
        guard let n = send(c, c.output[c.outputStart...]) else { return }
        c.outputStart += n
        if c.outputStart == c.output.count {
            c.output.removeAll(keepingCapacity: c.output.capacity <= 1 << 20)
            c.outputStart = 0
        } else if c.outputStart >= 1 << 20 {
            c.output.removeFirst(c.outputStart)
            c.outputStart = 0
        }
    }

    private func close(_ c: ControlConnection) {
        guard !c.closed else { return }
        c.closed = true
        reactor?.remove(c.fd)
        Sys.close(c.fd)
        connections.removeValue(forKey: c.fd)
        c.input = []
        c.output = []
        c.outputStart = 0
        let stream = c.active
        c.active = nil
        stream?.connectionClosed()
    }
}
