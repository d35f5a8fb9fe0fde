// Typed wrappers for Linux event-notification fds: epoll, signalfd, timerfd, eventfd. Every fd is
// created O_CLOEXEC and (except epoll) O_NONBLOCK. The Reactor (Reactor.swift) is built on these.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The calls and struct layouts come from the C shim (Sources/CCorralSystem): <sys/epoll.h>,
// <sys/signalfd.h>, <sys/timerfd.h> and <sys/eventfd.h> are not part of Swift's Glibc module.
internal import CCorralSystem

extension Sys {
    /// epoll event bits (EPOLLIN, EPOLLOUT, ...).
    public struct EpollEvents: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// EPOLLIN
        public static let readable = EpollEvents(rawValue: corral_epollin)
        /// EPOLLOUT
        public static let writable = EpollEvents(rawValue: corral_epollout)
        /// EPOLLERR (always reported)
        public static let error = EpollEvents(rawValue: corral_epollerr)
        /// EPOLLHUP (always reported): both directions are shut, e.g. the peer closed a socket.
        public static let hangup = EpollEvents(rawValue: corral_epollhup)
        /// EPOLLRDHUP: the peer shut down its sending side.
        public static let readHangup = EpollEvents(rawValue: corral_epollrdhup)
    }

    /// A reusable buffer for `epollWait`'s results.
    public final class EpollEventBuffer {
        public let capacity: Int
        /// The number of events the last `epollWait` stored.
        public internal(set) var count = 0
        let storage: UnsafeMutableRawPointer

        public init(capacity: Int = 64) {
            self.capacity = max(1, capacity)
            let bytes = self.capacity * corral_epoll_event_size()
            storage = .allocate(byteCount: bytes, alignment: 8)
            storage.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        }

        deinit { storage.deallocate() }

        /// The event bits of result `index` (< count).
        public func events(at index: Int) -> EpollEvents {
            precondition(index >= 0 && index < count)
            return EpollEvents(rawValue: corral_epoll_event_events(storage, Int32(index)))
        }

        /// The user data of result `index` (< count), as given to `epollAdd`/`epollModify`.
        public func data(at index: Int) -> UInt64 {
            precondition(index >= 0 && index < count)
            return corral_epoll_event_data(storage, Int32(index))
        }
    }

    /// epoll_create1(EPOLL_CLOEXEC).
    public static func epollCreate() throws(Errno) -> Int32 {
        try retrying { corral_epoll_create() }
    }

    /// epoll_ctl(EPOLL_CTL_ADD): watch `fd` for `events` (error and hangup are always reported),
    /// reporting `data` with each readiness.
    public static func epollAdd(_ epfd: Int32, fd: Int32, events: EpollEvents, data: UInt64) throws(Errno) {
        guard corral_epoll_add(epfd, fd, events.rawValue, data) == 0 else { throw Errno.current }
    }

    /// epoll_ctl(EPOLL_CTL_MOD).
    public static func epollModify(_ epfd: Int32, fd: Int32, events: EpollEvents, data: UInt64) throws(Errno) {
        guard corral_epoll_modify(epfd, fd, events.rawValue, data) == 0 else { throw Errno.current }
    }

    /// epoll_ctl(EPOLL_CTL_DEL).
    public static func epollRemove(_ epfd: Int32, fd: Int32) throws(Errno) {
        guard corral_epoll_remove(epfd, fd) == 0 else { throw Errno.current }
    }

    /// epoll_wait(2) into `buffer`; returns the number of ready fds (0 on timeout, and on EINTR so
    /// the caller recomputes its timers). `timeoutMillis` < 0 waits forever.
    @discardableResult
    public static func epollWait(_ epfd: Int32, into buffer: EpollEventBuffer, timeoutMillis: Int32) throws(Errno) -> Int {
        let n = corral_epoll_wait(epfd, buffer.storage, Int32(clamping: buffer.capacity), timeoutMillis)
        if n < 0 {
            buffer.count = 0
            let e = Errno.current
            if e.rawValue == EINTR { return 0 }
            throw e
        }
        buffer.count = Int(n)
        return Int(n)
    }

    // MARK: signalfd

    /// One signal read from a signalfd (the leading fields of `struct signalfd_siginfo`).
    public struct SignalInfo: Hashable, Sendable {
        public var signal: Int32
        /// The sender's pid and real uid (for kill(2)/sigqueue; 0 for kernel-generated signals).
        public var senderPID: Int32
        public var senderUID: UInt32
        public init(signal: Int32, senderPID: Int32, senderUID: UInt32) {
            self.signal = signal
            self.senderPID = senderPID
            self.senderUID = senderUID
        }
    }

    /// signalfd(2) with SFD_NONBLOCK | SFD_CLOEXEC for `signals`. Pass `existing` to replace the
    /// mask of an existing signalfd (returns the same fd). Block the signals first
    /// (`blockSignals`), or they are still delivered the ordinary way.
    public static func signalFD(_ signals: [Int32], existing: Int32 = -1) throws(Errno) -> Int32 {
        try retrying { corral_signalfd(existing, signals, Int32(signals.count)) }
    }

    /// Reads every pending signal from a non-blocking signalfd; [] when none.
    public static func readSignals(_ fd: Int32) throws(Errno) -> [SignalInfo] {
        var out: [SignalInfo] = []
        var buffer = [corral_signal_info](repeating: corral_signal_info(), count: 16)
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { corral_signalfd_read(fd, $0.baseAddress, Int32($0.count)) }
            if n < 0 { throw Errno.current }
            for info in buffer.prefix(Int(n)) {
                out.append(SignalInfo(signal: info.signal, senderPID: info.sender_pid, senderUID: info.sender_uid))
            }
            if n < buffer.count { return out }
        }
    }

    // MARK: timerfd

    /// timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), disarmed.
    public static func timerFD() throws(Errno) -> Int32 {
        try retrying { corral_timerfd_create() }
    }

    /// Arms a timerfd to expire `initialNanos` from now and then every `intervalNanos`
    /// (0: once). `initialNanos` 0 disarms it.
    public static func setTimer(_ fd: Int32, initialNanos: UInt64, intervalNanos: UInt64 = 0) throws(Errno) {
        try retrying { corral_timerfd_set(fd, initialNanos, intervalNanos) }
    }

    /// The number of expirations since the last read; 0 when none (EAGAIN).
    public static func readTimer(_ fd: Int32) throws(Errno) -> UInt64 {
        try readCounter(fd)
    }

    // MARK: eventfd

    /// eventfd(2) with EFD_NONBLOCK | EFD_CLOEXEC.
    public static func eventFD(initial: UInt32 = 0) throws(Errno) -> Int32 {
        try retrying { corral_eventfd(initial) }
    }

    /// Adds `value` to an eventfd's counter (makes it readable). A counter at its maximum
    /// (EAGAIN) is already readable, so that is not an error.
    public static func signalEvent(_ fd: Int32, _ value: UInt64 = 1) throws(Errno) {
        var v = value
        while true {
            let n = Glibc.write(fd, &v, 8)
            if n == 8 { return }
            let e = Errno.current
            if e.rawValue == EINTR { continue }
            if e.rawValue == EAGAIN || e.rawValue == EWOULDBLOCK { return }
            throw e
        }
    }

    /// Reads and resets an eventfd's counter; 0 when it was zero (EAGAIN).
    public static func drainEvent(_ fd: Int32) throws(Errno) -> UInt64 {
        try readCounter(fd)
    }

    /// One 8-byte read from a non-blocking timerfd/eventfd; 0 on EAGAIN.
    private static func readCounter(_ fd: Int32) throws(Errno) -> UInt64 {
        var v: UInt64 = 0
        while true {
            let n = Glibc.read(fd, &v, 8)
            if n == 8 { return v }
            if n >= 0 { throw Errno.invalid }
            let e = Errno.current
            if e.rawValue == EINTR { continue }
            if e.rawValue == EAGAIN || e.rawValue == EWOULDBLOCK { return 0 }
            throw e
        }
    }
}
