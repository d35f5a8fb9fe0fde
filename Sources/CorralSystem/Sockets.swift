// Typed socket wrappers: Unix and IPv4 stream sockets (always SOCK_CLOEXEC, non-blocking unless
// asked otherwise), bind/listen/accept4/connect, non-blocking send/recv, SO_PEERCRED, poll and
// chmod. Every failure throws `Errno`; EINTR is retried; EAGAIN is reported as `.wouldBlock`.
// Used by the control socket (CorralControl) and the metrics endpoint.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// accept4 and struct ucred are declared under _GNU_SOURCE, which Swift's Glibc module does not
// see: they come from the C shim (Sources/CCorralSystem).
internal import CCorralSystem

extension Errno {
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let exists = Errno(rawValue: EEXIST)
    public static let nameTooLong = Errno(rawValue: ENAMETOOLONG)
    public static let notSocket = Errno(rawValue: ENOTSOCK)
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
}

extension FileStatus {
    /// True for a socket inode (S_IFSOCK), e.g. a Unix socket's path.
    public var isSocket: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFSOCK) }
}

extension Sys {
    public enum SocketFamily: Sendable {
        /// AF_UNIX
        case unix
        /// AF_INET
        case ipv4
    }

    /// The outcome of one non-blocking send or receive.
    public enum Transfer: Equatable, Sendable {
        /// This many bytes moved (never 0 for a non-empty buffer).
        case count(Int)
        /// EAGAIN/EWOULDBLOCK: try again when the fd is ready.
        case wouldBlock
        /// recv returned 0: the peer shut down its sending side.
        case endOfStream
    }

    /// SO_PEERCRED: the peer's process and effective ids at connect() time.
    public struct SocketPeerCredentials: Hashable, Sendable {
        public var pid: Int32
        public var uid: UInt32
        public var gid: UInt32
        public init(pid: Int32, uid: UInt32, gid: UInt32) {
            self.pid = pid
            self.uid = uid
            self.gid = gid
        }
    }

    /// poll(2) event bits.
    public struct PollEvents: OptionSet, Sendable, Hashable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let readable = PollEvents(rawValue: Int16(POLLIN))
        public static let writable = PollEvents(rawValue: Int16(POLLOUT))
        public static let error = PollEvents(rawValue: Int16(POLLERR))
        public static let hangup = PollEvents(rawValue: Int16(POLLHUP))
        public static let invalid = PollEvents(rawValue: Int16(POLLNVAL))
    }

    /// socket(2) with SOCK_STREAM | SOCK_CLOEXEC, plus SOCK_NONBLOCK unless `nonBlocking` is false.
    public static func socket(_ family: SocketFamily, nonBlocking: Bool = true) throws(Errno) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let domain: Int32 = switch family {
        case .unix: AF_UNIX
        case .ipv4: AF_INET
        }
        return try retrying { Glibc.socket(domain, type, 0) }
    }

    /// Calls `body` with a `sockaddr_un` for `path`; ENAMETOOLONG when it does not fit sun_path.
    private static func withUnixAddress<R>(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) throws(Errno) -> R {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw bytes.count >= capacity ? Errno.nameTooLong : Errno.invalid
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + 1)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Calls `body` with a `sockaddr_in` for a dotted-quad address and port; EINVAL when
    /// `address` is not a dotted quad.
    private static func withIPv4Address<R>(
        _ address: String, port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) throws(Errno) -> R {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &addr.sin_addr) == 1 else { throw Errno.invalid }
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// bind(2) to a Unix socket path (creates the socket file; EADDRINUSE if the path exists).
    public static func bind(_ fd: Int32, unixPath: String) throws(Errno) {
        let rc = try withUnixAddress(unixPath) { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { throw Errno.current }
    }

    /// bind(2) to `address:port` (e.g. "127.0.0.1", 9464; port 0 picks a free one) with
    /// SO_REUSEADDR set first, so a restarted daemon can rebind while old connections linger.
    public static func bind(_ fd: Int32, ipv4 address: String, port: UInt16) throws(Errno) {
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw Errno.current
        }
        let rc = try withIPv4Address(address, port: port) { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { throw Errno.current }
    }

    /// The local port of a bound IPv4 socket (getsockname), e.g. after binding port 0.
    public static func localPort(_ fd: Int32) throws(Errno) -> UInt16 {
        var addr = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw Errno.current }
        return UInt16(bigEndian: addr.sin_port)
    }

    public static func listen(_ fd: Int32, backlog: Int32) throws(Errno) {
        try retrying { Glibc.listen(fd, backlog) }
    }

    /// accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK. nil when no connection is pending (EAGAIN),
    /// or when the pending one was aborted by its peer before we took it (ECONNABORTED).
    public static func accept(_ fd: Int32) throws(Errno) -> Int32? {
        while true {
            let r = corral_accept(fd)
            if r >= 0 { return r }
            let e = Errno.current
            switch e.rawValue {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ECONNABORTED: return nil
            default: throw e
            }
        }
    }

    /// connect(2) to a Unix socket path. On a non-blocking socket a full listen backlog gives
    /// EAGAIN (Unix sockets do not return EINPROGRESS); callers retry.
    public static func connect(_ fd: Int32, unixPath: String) throws(Errno) {
        while true {
            let rc = try withUnixAddress(unixPath) { Glibc.connect(fd, $0, $1) }
            if rc == 0 { return }
            let e = Errno.current
            if e.rawValue != EINTR { throw e }
        }
    }

    /// connect(2) to `address:port`. On a non-blocking socket this throws `.inProgress`; wait for
    /// writability and read the outcome with `socketError`.
    public static func connect(_ fd: Int32, ipv4 address: String, port: UInt16) throws(Errno) {
        let rc = try withIPv4Address(address, port: port) { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else { throw Errno.current }
    }

    /// SO_ERROR: the pending error of a socket (the result of a non-blocking connect); nil if none.
    public static func socketError(_ fd: Int32) throws(Errno) -> Errno? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { throw Errno.current }
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// send(2) with MSG_NOSIGNAL (a closed peer gives EPIPE, never SIGPIPE).
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Transfer {
        if bytes.isEmpty { return .count(0) }
        while true {
            let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .count(n) }
            let e = Errno.current
            switch e.rawValue {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw e
            }
        }
    }

    /// send(2) of an array slice (see `send(_:_:)`).
    public static func send(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(Errno) -> Transfer {
        let result: Result<Transfer, Errno> = bytes.withUnsafeBytes { raw in
            do throws(Errno) { return .success(try send(fd, raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// recv(2) into `buffer`.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Transfer {
        while true {
            let n = Glibc.recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .count(n) }
            if n == 0 { return buffer.isEmpty ? .count(0) : .endOfStream }
            let e = Errno.current
            switch e.rawValue {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw e
            }
        }
    }

    /// shutdown(2) of the sending side (the peer reads end-of-stream).
    public static func shutdownWrite(_ fd: Int32) throws(Errno) {
        try retrying { Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// getsockopt(SO_PEERCRED) on a connected Unix socket.
    public static func peerCredentials(_ fd: Int32) throws(Errno) -> SocketPeerCredentials {
        var credentials = SocketPeerCredentials(pid: 0, uid: 0, gid: 0)
        guard corral_peer_credentials(fd, &credentials.pid, &credentials.uid, &credentials.gid) == 0 else {
            throw Errno.current
        }
        return credentials
    }

    /// poll(2) on one fd; returns the ready events (empty on timeout). `timeoutMillis` < 0
    /// waits forever. EINTR returns the empty set so callers recompute their deadline.
    public static func poll(_ fd: Int32, for events: PollEvents, timeoutMillis: Int32) throws(Errno) -> PollEvents {
        var p = pollfd(fd: fd, events: events.rawValue, revents: 0)
        let r = Glibc.poll(&p, 1, timeoutMillis)
        if r < 0 {
            let e = Errno.current
            if e.rawValue == EINTR { return [] }
            throw e
        }
        return r == 0 ? [] : PollEvents(rawValue: p.revents)
    }

    /// chmod(2).
    public static func chmod(_ path: String, _ mode: mode_t) throws(Errno) {
        try retrying { Glibc.chmod(path, mode) }
    }

    /// The effective user id of this process.
    public static var effectiveUserID: UInt32 { geteuid() }
    /// The effective group id of this process.
    public static var effectiveGroupID: UInt32 { getegid() }
}
