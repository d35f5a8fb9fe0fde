// The daemon's event loop: one thread, one epoll fd.
//
// Services register file descriptors with a read/write interest and a callback; the reactor calls
// the callback with the readiness epoll reported. Timers are kept in the reactor (not one timerfd
// each): `run` sleeps in epoll_wait until the next deadline, then fires what is due. Signals come
// through one signalfd. Another thread can stop the loop or run a closure on it through `remote`,
// which writes an eventfd the loop watches.
//
// Everything except `Reactor.Remote` must be used on the thread that calls `run`. Callbacks may
// register, modify and remove fds (their own too), start and cancel timers, and call `stop`.
//
// epoll is level-triggered here: a callback that leaves data unread is called again on the next
// turn, so a callback may do a bounded amount of work per call (fairness between connections).
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public final class Reactor {
    /// What a registration wants to hear about.
    public struct Interest: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Readable, and the peer shutting down its sending side.
        public static let read = Interest(rawValue: 1)
        /// Writable.
        public static let write = Interest(rawValue: 2)
    }

    /// What epoll reported for an fd. `error` and `hangup` arrive whatever the interest, so a
    /// registration with an empty interest still learns that its socket's peer went away.
    public typealias Readiness = Sys.EpollEvents

    public typealias IOHandler = (Readiness) -> Void

    /// Identifies a timer for `cancelTimer`.
    public struct TimerID: Hashable, Sendable {
        fileprivate let value: UInt64
    }

    private struct Registration {
        var token: UInt32              // distinguishes a re-registered fd number from a removed one
        var interest: Interest
        var handler: IOHandler
    }

    private struct Timer {
        var deadline: UInt64           // CLOCK_MONOTONIC milliseconds
        var interval: UInt64?          // nil: one-shot
        var body: () -> Void
    }

    private let epollFD: Int32
    private let events = Sys.EpollEventBuffer(capacity: 128)
    private var registrations: [Int32: Registration] = [:]
    private var nextToken: UInt32 = 1
    private var timers: [UInt64: Timer] = [:]
    private var nextTimer: UInt64 = 1
    private var signalFD: Int32 = -1
    private var signalHandlers: [Int32: (Sys.SignalInfo) -> Void] = [:]
    private let channel: Channel
    private var stopRequested = false
    public private(set) var isRunning = false

    public init() throws(Errno) {
        epollFD = try Sys.epollCreate()
        do {
            channel = Channel(fd: try Sys.eventFD())
        } catch {
            Sys.close(epollFD)
            throw error
        }
        do {
            try register(channel.fd, interest: .read) { [unowned self] _ in self.drainChannel() }
        } catch {
            Sys.close(epollFD)
            throw error
        }
    }

    deinit {
        Sys.close(epollFD)   // the Channel closes its eventfd when the last Remote is gone
        if signalFD >= 0 { Sys.close(signalFD) }
    }

    private static func epollEvents(_ interest: Interest) -> Sys.EpollEvents {
        var e: Sys.EpollEvents = []
        if interest.contains(.read) { e.formUnion([.readable, .readHangup]) }
        if interest.contains(.write) { e.insert(.writable) }
        return e
    }

    // MARK: file descriptors

    /// Watches `fd`; `handler` runs on this thread whenever it is ready. The reactor does not
    /// own the fd: `remove` it before closing it. Registering an fd number that is still
    /// registered replaces the old registration (its fd was closed without `remove`, and the
    /// number reused).
    public func register(_ fd: Int32, interest: Interest, handler: @escaping IOHandler) throws(Errno) {
        if registrations[fd] != nil { remove(fd) }
        let token = nextToken
        nextToken = nextToken &+ 1 == 0 ? 1 : nextToken &+ 1
        try Sys.epollAdd(epollFD, fd: fd, events: Self.epollEvents(interest), data: UInt64(UInt32(bitPattern: fd)) << 32 | UInt64(token))
        registrations[fd] = Registration(token: token, interest: interest, handler: handler)
    }

    /// Changes what `fd` is watched for (no system call when it is unchanged).
    public func setInterest(_ fd: Int32, _ interest: Interest) throws(Errno) {
        guard var r = registrations[fd] else { throw Errno(rawValue: EBADF) }
        if r.interest == interest { return }
        try Sys.epollModify(epollFD, fd: fd, events: Self.epollEvents(interest), data: UInt64(UInt32(bitPattern: fd)) << 32 | UInt64(r.token))
        r.interest = interest
        registrations[fd] = r
    }

    /// The current interest of a registered fd, nil when not registered.
    public func interest(of fd: Int32) -> Interest? { registrations[fd]?.interest }

    /// Stops watching `fd`. Readiness already collected for it in this turn is dropped.
    public func remove(_ fd: Int32) {
        guard registrations.removeValue(forKey: fd) != nil else { return }
        try? Sys.epollRemove(epollFD, fd: fd)
    }

    /// The number of registered fds, not counting the reactor's own.
    public var registrationCount: Int { registrations.count - 1 - (signalFD >= 0 ? 1 : 0) }

    // MARK: timers

    /// Runs `body` once after `millis`, or every `interval` ms after that when `interval` is given.
    @discardableResult
    public func addTimer(after millis: UInt64, repeating interval: UInt64? = nil,
                         _ body: @escaping () -> Void) -> TimerID {
        let id = nextTimer
        nextTimer += 1
        timers[id] = Timer(deadline: Sys.monotonicMillis() + millis, interval: interval.map { max($0, 1) }, body: body)
        return TimerID(value: id)
    }

    /// Cancels a timer (nothing happens if it already fired or was cancelled).
    public func cancelTimer(_ id: TimerID) {
        timers.removeValue(forKey: id.value)
    }

    /// The number of pending timers.
    public var timerCount: Int { timers.count }

    /// Milliseconds until the earliest timer (0 if overdue), or nil without timers. A linear
    /// scan: the daemon has a handful of timers (loosen expiries, rescans).
    private func millisUntilNextTimer(now: UInt64) -> UInt64? {
        var earliest: UInt64?
        for t in timers.values where earliest == nil || t.deadline < earliest! { earliest = t.deadline }
        return earliest.map { $0 > now ? $0 - now : 0 }
    }

    private func fireDueTimers() {
        let now = Sys.monotonicMillis()
        let due = timers.filter { $0.value.deadline <= now }.sorted {
            ($0.value.deadline, $0.key) < ($1.value.deadline, $1.key)
        }
        for (id, _) in due {
            // An earlier callback may have cancelled this one.
            guard var t = timers[id] else { continue }
            if let interval = t.interval {
                t.deadline = max(t.deadline + interval, now + 1)
                timers[id] = t
            } else {
                timers.removeValue(forKey: id)
            }
            t.body()
            if stopRequested { return }
        }
    }

    // MARK: signals

    /// Delivers `signals` to `handler` through a signalfd. Blocks them in the calling thread
    /// first; call this on the main thread before other threads start, so they inherit the mask
    /// (a process-directed signal goes to any thread that has it unblocked).
    public func onSignals(_ signals: [Int32], handler: @escaping (Sys.SignalInfo) -> Void) throws(Errno) {
        Sys.blockSignals(signals)
        for s in signals { signalHandlers[s] = handler }
        let all = Array(signalHandlers.keys)
        if signalFD >= 0 {
            _ = try Sys.signalFD(all, existing: signalFD)
        } else {
            let fd = try Sys.signalFD(all)
            do {
                try register(fd, interest: .read) { [unowned self] _ in self.dispatchSignals() }
            } catch {
                Sys.close(fd)
                throw error
            }
            signalFD = fd
        }
    }

    private func dispatchSignals() {
        guard let infos = try? Sys.readSignals(signalFD) else { return }
        for info in infos { signalHandlers[info.signal]?(info) }
    }

    // MARK: running

    /// Runs until `stop` (or `remote.stop()`); returns at the end of the turn in which it was
    /// called. Errors from epoll_wait itself (not from callbacks) end the loop.
    public func run() throws(Errno) {
        precondition(!isRunning, "Reactor.run is not reentrant")
        isRunning = true
        defer { isRunning = false }
        stopRequested = false
        while !stopRequested {
            try runOnce(timeoutMillis: -1)
        }
    }

    /// One turn: waits up to `timeoutMillis` (< 0: until something happens or a timer is due),
    /// then runs the callbacks of ready fds and due timers.
    public func runOnce(timeoutMillis: Int) throws(Errno) {
        var timeout = timeoutMillis
        if let next = millisUntilNextTimer(now: Sys.monotonicMillis()) {
            let t = Int(min(next, UInt64(Int32.max)))
            timeout = timeout < 0 ? t : min(timeout, t)
        }
        let n = try Sys.epollWait(epollFD, into: events, timeoutMillis: Int32(clamping: timeout))
        for i in 0..<n {
            let data = events.data(at: i)
            let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data >> 32))
            let token = UInt32(truncatingIfNeeded: data)
            // Skip fds an earlier callback of this turn removed (or removed and re-registered).
            guard let r = registrations[fd], r.token == token else { continue }
            r.handler(events.events(at: i))
            if stopRequested { return }
        }
        fireDueTimers()
    }

    /// Makes `run` return at the end of the current turn. Reactor thread only; other threads
    /// use `remote.stop()`.
    public func stop() {
        stopRequested = true
    }

    // MARK: other threads

    /// A handle other threads may use to stop the loop or run code on it.
    public var remote: Remote { Remote(channel: channel) }

    /// Thread-safe handle to a reactor. It stays valid after the reactor is gone (its calls then
    /// do nothing visible).
    public struct Remote: Sendable {
        fileprivate let channel: Channel

        /// Makes the reactor's `run` return (at the end of the turn that notices it).
        public func stop() {
            channel.state.withLock { $0.stop = true }
            try? Sys.signalEvent(channel.fd)
        }

        /// Runs `body` on the reactor's thread during a later turn, in posting order.
        public func post(_ body: @escaping @Sendable () -> Void) {
            channel.state.withLock { $0.posted.append(body) }
            try? Sys.signalEvent(channel.fd)
        }
    }

    /// The eventfd and queue shared with `Remote`s; protected by the Mutex. A class so the fd
    /// is closed only when neither the reactor nor any Remote can still write it.
    fileprivate final class Channel: Sendable {
        struct State {
            var stop = false
            var posted: [@Sendable () -> Void] = []
        }
        let fd: Int32
        let state = Mutex(State())
        init(fd: Int32) { self.fd = fd }
        deinit { Sys.close(fd) }
    }

    private func drainChannel() {
        _ = try? Sys.drainEvent(channel.fd)
        let (stop, posted) = channel.state.withLock { state in
            defer { state.stop = false; state.posted = [] }
            return (state.stop, state.posted)
        }
        for body in posted { body() }
        if stop { stopRequested = true }
    }
}
