// Typed wrappers for Linux event-notification fds: epoll, signalfd, timerfd, eventfd. Every fd is
// created O_CLOEXEC and (except epoll) O_NONBLOCK. The Reactor (Reactor.swift) is built on these.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// <sys/epoll.h>, <sys/signalfd.h>, <sys/timerfd.h> and <sys/eventfd.h> are not part of Swift's
// Glibc module, so the calls are declared here (pointer and int arguments only: Swift's calling
// convention equals C's for these on x86_64 and aarch64). Struct layouts are handled as bytes.
@_silgen_name("epoll_create1")
private func c_epoll_create1(_ flags: Int32) -> Int32
@_silgen_name("epoll_ctl")
private func c_epoll_ctl(_ epfd: Int32, _ op: Int32, _ fd: Int32, _ event: UnsafeMutableRawPointer?) -> Int32
@_silgen_name("epoll_wait")
private func c_epoll_wait(_ epfd: Int32, _ events: UnsafeMutableRawPointer, _ maxEvents: Int32,
                          _ timeout: Int32) -> Int32
@_silgen_name("signalfd")
private func c_signalfd(_ fd: Int32, _ mask: UnsafePointer<sigset_t>, _ flags: Int32) -> Int32
@_silgen_name("timerfd_create")
private func c_timerfd_create(_ clock: Int32, _ flags: Int32) -> Int32
@_silgen_name("timerfd_settime")
private func c_timerfd_settime(_ fd: Int32, _ flags: Int32, _ new: UnsafePointer<itimerspec>,
                               _ old: UnsafeMutablePointer<itimerspec>?) -> Int32
@_silgen_name("eventfd")
private func c_eventfd(_ initial: UInt32, _ flags: Int32) -> Int32

// struct epoll_event { uint32_t events; epoll_data_t data; } is packed on x86_64 (12 bytes,
// data at offset 4) and naturally aligned elsewhere (16 bytes, data at offset 8).
#if arch(x86_64) || arch(i386)
private let epollEventSize = 12
private let epollDataOffset = 4
#else
private let epollEventSize = 16
private let epollDataOffset = 8
#endif

private let EPOLL_CTL_ADD: Int32 = 1
private let EPOLL_CTL_DEL: Int32 = 2
private let EPOLL_CTL_MOD: Int32 = 3

extension Sys {
    /// epoll event bits (EPOLLIN, EPOLLOUT, ...).
    public struct EpollEvents: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// EPOLLIN
        public static let readable = EpollEvents(rawValue: 0x001)
        /// EPOLLOUT
        public static let writable = EpollEvents(rawValue: 0x004)
        /// EPOLLERR (always reported)
        public static let error = EpollEvents(rawValue: 0x008)
        /// EPOLLHUP (always reported): both directions are shut, e.g. the peer closed a socket.
        public static let hangup = EpollEvents(rawValue: 0x010)
        /// EPOLLRDHUP: the peer shut down its sending side.
        public static let readHangup = EpollEvents(rawValue: 0x2000)
    }

    /// A reusable buffer for `epollWait`'s results.
    public final class EpollEventBuffer {
        public let capacity: Int
        /// The number of events the last `epollWait` stored.
        public internal(set) var count = 0
        let storage: UnsafeMutableRawPointer

        public init(capacity: Int = 64) {
            self.capacity = max(1, capacity)
            storage = .allocate(byteCount: self.capacity * epollEventSize, alignment: 8)
            storage.initializeMemory(as: UInt8.self, repeating: 0, count: self.capacity * epollEventSize)
        }

        deinit { storage.deallocate() }

        /// The event bits of result `index` (< count).
        public func events(at index: Int) -> EpollEvents {
            precondition(index >= 0 && index < count)
            return EpollEvents(rawValue: storage.loadUnaligned(fromByteOffset: index * epollEventSize, as: UInt32.self))
        }

        /// The user data of result `index` (< count), as given to `epollAdd`/`epollModify`.
        public func data(at index: Int) -> UInt64 {
            precondition(index >= 0 && index < count)
            return storage.loadUnaligned(fromByteOffset: index * epollEventSize + epollDataOffset, as: UInt64.self)
        }
    }

    /// epoll_create1(EPOLL_CLOEXEC).
    public static func epollCreate() throws(Errno) -> Int32 {
        try retrying { c_epoll_create1(O_CLOEXEC) }
    }

    private static func epollControl(_ epfd: Int32, _ op: Int32, _ fd: Int32, _ events: EpollEvents,
                                     _ data: UInt64) throws(Errno) {
        var raw = [UInt8](repeating: 0, count: 16)
        let rc = raw.withUnsafeMutableBytes { buffer -> Int32 in
            buffer.storeBytes(of: events.rawValue, toByteOffset: 0, as: UInt32.self)
            buffer.storeBytes(of: data, toByteOffset: epollDataOffset, as: UInt64.self)
            return c_epoll_ctl(epfd, op, fd, buffer.baseAddress)
        }
        guard rc == 0 else { throw Errno.current }
    }

    /// epoll_ctl(EPOLL_CTL_ADD): watch `fd` for `events` (error and hangup are always reported),
    /// reporting `data` with each readiness.
    public static func epollAdd(_ epfd: Int32, fd: Int32, events: EpollEvents, data: UInt64) throws(Errno) {
        try epollControl(epfd, EPOLL_CTL_ADD, fd, events, data)
    }

    /// epoll_ctl(EPOLL_CTL_MOD).
    public static func epollModify(_ epfd: Int32, fd: Int32, events: EpollEvents, data: UInt64) throws(Errno) {
        try epollControl(epfd, EPOLL_CTL_MOD, fd, events, data)
    }

    /// epoll_ctl(EPOLL_CTL_DEL).
    public static func epollRemove(_ epfd: Int32, fd: Int32) throws(Errno) {
        guard c_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil) == 0 else { throw Errno.current }
    }

    /// epoll_wait(2) into `buffer`; returns the number of ready fds (0 on timeout, and on EINTR so
    /// the caller recomputes its timers). `timeoutMillis` < 0 waits forever.
    @discardableResult
    public static func epollWait(_ epfd: Int32, into buffer: EpollEventBuffer, timeoutMillis: Int32) throws(Errno) -> Int {
        let n = c_epoll_wait(epfd, buffer.storage, Int32(clamping: buffer.capacity), timeoutMillis)
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

    private static func signalSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        return set
    }

    /// signalfd(2) with SFD_NONBLOCK | SFD_CLOEXEC for `signals`. Pass `existing` to replace the
    /// mask of an existing signalfd (returns the same fd). Block the signals first
    /// (`blockSignals`), or they are still delivered the ordinary way.
    public static func signalFD(_ signals: [Int32], existing: Int32 = -1) throws(Errno) -> Int32 {
        var set = signalSet(signals)
        return try retrying { c_signalfd(existing, &set, O_NONBLOCK | O_CLOEXEC) }
    }

    /// Reads every pending signal from a non-blocking signalfd; [] when none.
    public static func readSignals(_ fd: Int32) throws(Errno) -> [SignalInfo] {
        // sizeof(struct signalfd_siginfo) == 128; ssi_signo at 0, ssi_pid at 12, ssi_uid at 16.
        let size = 128
        var out: [SignalInfo] = []
        var buffer = [UInt8](repeating: 0, count: size * 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let e = Errno.current
                if e.rawValue == EINTR { continue }
                if e.rawValue == EAGAIN || e.rawValue == EWOULDBLOCK { return out }
                throw e
            }
            if n == 0 { return out }
            buffer.withUnsafeBytes { raw in
                var off = 0
                while off + size <= n {
                    out.append(SignalInfo(
                        signal: Int32(bitPattern: raw.loadUnaligned(fromByteOffset: off, as: UInt32.self)),
                        senderPID: Int32(bitPattern: raw.loadUnaligned(fromByteOffset: off + 12, as: UInt32.self)),
                        senderUID: raw.loadUnaligned(fromByteOffset: off + 16, as: UInt32.self)))
                    off += size
                }
            }
        }
    }

    // MARK: timerfd

    /// timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), disarmed.
    public static func timerFD() throws(Errno) -> Int32 {
        try retrying { c_timerfd_create(CLOCK_MONOTONIC, O_NONBLOCK | O_CLOEXEC) }
    }

    /// Arms a timerfd to expire `initialNanos` from now and then every `intervalNanos`
    /// (0: once). `initialNanos` 0 disarms it.
    public static func setTimer(_ fd: Int32, initialNanos: UInt64, intervalNanos: UInt64 = 0) throws(Errno) {
        func spec(_ ns: UInt64) -> timespec {
            timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        }
        var value = itimerspec(it_interval: spec(intervalNanos), it_value: spec(initialNanos))
        try retrying { c_timerfd_settime(fd, 0, &value, nil) }
    }

    /// The number of expirations since the last read; 0 when none (EAGAIN).
    public static func readTimer(_ fd: Int32) throws(Errno) -> UInt64 {
        try readCounter(fd)
    }

    // MARK: eventfd

    /// eventfd(2) with EFD_NONBLOCK | EFD_CLOEXEC.
    public static func eventFD(initial: UInt32 = 0) throws(Errno) -> Int32 {
        try retrying { c_eventfd(initial, O_NONBLOCK | O_CLOEXEC) }
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
