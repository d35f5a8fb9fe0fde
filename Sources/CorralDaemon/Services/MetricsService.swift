// MetricsService: `GET /metrics` in Prometheus text format on a loopback TCP port
// (docs/operations.md §6). Off unless --metrics is given. One request per connection.
// Any local user can connect, so connections are bounded: at most `Limits.maxConnections`
// open at once (further ones are accepted and closed at once), and each must deliver its
// request within `Limits.requestTimeoutMillis` of being accepted or it is closed.
import CorralABI
import CorralKernel
import CorralSystem
import Logging

public final class MetricsService: DaemonService {
    public let name = "metrics"
    /// Connection bounds (docs/operations.md §6).
    public struct Limits: Sendable {
        /// Open connections at most; one more is accepted and closed at once.
        public var maxConnections: Int
        /// A connection that has not sent a whole request this long after it was accepted is closed.
        public var requestTimeoutMillis: UInt64
        /// How often deadlines are checked.
        public var sweepMillis: UInt64

        public init(maxConnections: Int = 16, requestTimeoutMillis: UInt64 = 5000, sweepMillis: UInt64 = 250) {
            self.maxConnections = maxConnections
            self.requestTimeoutMillis = requestTimeoutMillis
            self.sweepMillis = sweepMillis
        }
    }

    let address: String
    let logger: Logger
    public let limits: Limits
    private let body: () -> String
    private let kernelStats: Bool
    var listenFD: Int32 = -1
    var statsFD: Int32 = -1
    weak var reactor: Reactor?
    private var buffers: [Int32: [UInt8]] = [:]
    private var deadlines: [Int32: UInt64] = [:]
    private var sweeper: Reactor.TimerID?
    /// Connections closed because the limit was reached, and because they timed out.
    public private(set) var refused = 0
    public private(set) var timedOut = 0

    init(address: String, configuration: DaemonConfiguration, loader: LoaderService, events: EventService, logger: Logger) {
        self.address = address
        self.logger = logger
        limits = Limits()
        kernelStats = true
        let build = (version: configuration.buildVersion, revision: configuration.buildRevision)
        body = {
            var s = Self.snapshot(loader: loader, events: events)
            (s.version, s.revision) = build
            return s.render()
        }
    }

    /// An endpoint serving `body()` (tests; no kernel statistics are enabled).
    public init(address: String, logger: Logger, limits: Limits = Limits(), body: @escaping () -> String) {
        self.address = address
        self.logger = logger
        self.limits = limits
        kernelStats = false
        self.body = body
    }

    /// Open connections.
    public var connections: Int { buffers.count }

    /// "127.0.0.1:9464" -> port; only loopback addresses are accepted.
    static func parse(_ address: String) -> UInt16? {
        let parts = address.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "127.0.0.1" || parts[0] == "localhost", let port = UInt16(parts[1]), port > 0 else { return nil }
        return port
    }

    public func start(_ reactor: Reactor) throws {
        self.reactor = reactor
        guard let port = Self.parse(address) else {
            throw DaemonError.invalidParameter("metrics", "expected 127.0.0.1:PORT, got '\(address)'")
        }
        if kernelStats {
            switch BPFStats.enableRunTime() {
            case .success(let fd): statsFD = fd
            case .failure(let e): logger.warning("BPF run-time stats unavailable (\(e)); program counters stay 0")
            }
        }
        let fd = try Sys.socket(.ipv4)
        do {
            try Sys.bind(fd, ipv4: "127.0.0.1", port: port)
            try Sys.listen(fd, backlog: 16)
        } catch { Sys.close(fd); throw error }
        listenFD = fd
        try reactor.register(listenFD, interest: .read) { [weak self] _ in self?.accept() }
        sweeper = reactor.addTimer(after: limits.sweepMillis, repeating: limits.sweepMillis) { [weak self] in self?.sweep() }
        logger.info("metrics on http://127.0.0.1:\(port)/metrics")
    }

    func accept() {
        guard let reactor else { return }
        while case let fd?? = try? Sys.accept(listenFD) {
            if buffers.count >= limits.maxConnections {
                // Over the limit: close at once (the client sees end-of-stream or a reset).
                Sys.close(fd)
                refused += 1
                if refused == 1 || refused % 100 == 0 {
                    logger.warning("metrics: \(limits.maxConnections) connections open; refused \(refused) so far")
                }
                continue
            }
            buffers[fd] = []
            deadlines[fd] = Sys.monotonicMillis() + limits.requestTimeoutMillis
            do {
                try reactor.register(fd, interest: .read) { [weak self] _ in self?.read(fd) }
            } catch { Sys.close(fd); buffers[fd] = nil; deadlines[fd] = nil }
        }
    }

    /// Closes connections past their deadline.
    func sweep() {
        let now = Sys.monotonicMillis()
        for (fd, deadline) in deadlines where deadline <= now {
            timedOut += 1
            close(fd)
        }
    }

    func read(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: 8192)
        let got = chunk.withUnsafeMutableBytes { (try? Sys.receive(fd, into: $0)) ?? .endOfStream }
        switch got {
        case .wouldBlock: return
        case .endOfStream: return close(fd)
        case .count(let n): buffers[fd, default: []] += chunk[..<n]
        }
        let text = String(decoding: buffers[fd]!, as: UTF8.self)
        guard text.contains("\r\n\r\n") || text.contains("\n\n") else {
            if buffers[fd]!.count > 16384 { close(fd) }
            return
        }
        let line = text.prefix(while: { $0 != "\r" && $0 != "\n" })
        let response: String
        if line.hasPrefix("GET /metrics ") || line == "GET /metrics" {
            let body = body()
            response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        } else {
            let body = "only GET /metrics is served here\n"
            response = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        }
        // Small responses: the socket buffer takes them whole; a client that does not read gets cut.
        _ = try? Sys.send(fd, Array(response.utf8)[...])
        close(fd)
    }

    static func snapshot(loader: LoaderService, events: EventService) -> MetricsSnapshot {
        var s = events.metrics
        let m = loader.manager!
        s.ringbufDrops = m.session.ringbufDrops
        s.eventsSuppressed = m.session.eventsSuppressed
        s.generation = m.generation
        s.lastApply = m.lastApplyAt
        s.setActiveRules(Set(m.policy.rules.map(\.id))) // also right before the new generation's first event
        s.programs = m.session.object.programStats()
        s.cgroupsClassified = m.session.stat(UInt32(CORRAL_STAT_CLASSIFIED.rawValue))
        s.cgroupsClassifyFailed = m.session.stat(UInt32(CORRAL_STAT_CLASSIFY_FAILED.rawValue))
        s.movesUnclassified = m.session.stat(UInt32(CORRAL_STAT_UNCLASSIFIED.rawValue))
        if let c = loader.consistency {
            s.classificationChecks = c.checks
            s.classificationDifferences = c.differences
            s.classificationStale = c.stale
        }
        return s
    }

    private func close(_ fd: Int32) {
        reactor?.remove(fd)
        Sys.close(fd)
        buffers[fd] = nil
        deadlines[fd] = nil
    }

    public func stop() {
        if let t = sweeper { reactor?.cancelTimer(t); sweeper = nil }
        for fd in Array(buffers.keys) { close(fd) }
        if listenFD >= 0 { reactor?.remove(listenFD); Sys.close(listenFD); listenFD = -1 }
        if statsFD >= 0 { Sys.close(statsFD); statsFD = -1 }
    }
}
