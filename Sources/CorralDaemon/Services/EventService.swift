// EventService: the pinned ring buffer -> enrichment -> in-memory ring, log file, stdout,
// metrics and `GetEvents --follow` subscribers. Admin actions join the same stream.
import CorralABI
import CorralControl
import CorralKernel
import CorralOps
import CorralSystem
import Logging

public final class EventService: DaemonService {
    public let name = "events"
    let configuration: DaemonConfiguration
    let loader: LoaderService
    let logger: Logger
    var enricher = EventEnricher(bootID: EventEnricher.readBootID())
    public private(set) var ring = EventRing()
    var log: EventLog?
    var reader: EventReader?
    weak var reactor: Reactor?
    public private(set) var metrics = MetricsSnapshot()
    /// The generation whose rules `metrics` labels (MetricsSnapshot.setActiveRules).
    private var metricsGeneration: UInt64?
    public private(set) var eventsSeen: UInt64 = 0
    private var subscribers: [(filter: EventFilter, stream: ControlStream)] = []
    private var logFailed = false
    /// The generation `enricher.ruleOrigins` was taken from.
    private var originsGeneration: UInt64?

    init(configuration: DaemonConfiguration, loader: LoaderService, logger: Logger) {
        self.configuration = configuration
        self.loader = loader
        self.logger = logger
    }

    public func start(_ reactor: Reactor) throws {
        self.reactor = reactor
        if let dir = configuration.logDirectory {
            do { log = try EventLog(directory: dir) } catch {
                logger.warning("event log in \(dir) unavailable (\(error)); events stay in memory and on stdout")
            }
        }
        let session = loader.manager.session
        // listxattr per event only when some policy subject matches on xattrs.
        enricher.readXattrs = loader.manager.policy.subjects.contains { if case .xattr = $0.matcher { true } else { false } }
        let r = try session.events { [weak self] ev in self?.deliver(ev) }
        reader = r
        try reactor.register(r.epollFD, interest: .read) { [weak self] _ in self?.drain() }
        loader.onAction = { [weak self] action in self?.recordAdmin(action) }
        if loader.manager.adopted {
            recordAdmin(AdminAction(action: "adopt", generation: loader.manager.generation,
                                    fields: ["pins": configuration.session.pinDirectory ?? ""]))
        }
        drain() // what the kernel produced while no daemon ran
    }

    /// Event work per reactor turn: records are taken in chunks until this much time has
    /// passed, then the turn ends so the control socket and timers are served even when the
    /// kernel produces events faster than they are recorded (the kernel then counts drops).
    static let turnBudgetNanos: UInt64 = 5_000_000
    static let chunk = 32
    private var drainScheduled = false

    func drain() {
        let start = Sys.monotonicNanos()
        do {
            while let r = reader {
                let n = try r.drain(max: Self.chunk)
                if n < Self.chunk { return }
                if Sys.monotonicNanos() - start >= Self.turnBudgetNanos { break }
            }
        } catch {
            logger.error("ring buffer: \(error)")
            return
        }
        // More is waiting: continue in a later turn, after other ready fds.
        guard !drainScheduled else { return }
        drainScheduled = true
        reactor?.addTimer(after: 1) { [weak self] in
            self?.drainScheduled = false
            self?.drain()
        }
    }

    func deliver(_ ev: Event) {
        eventsSeen += 1
        if metricsGeneration != loader.manager.generation {
            metricsGeneration = loader.manager.generation
            metrics.setActiveRules(Set(loader.manager.policy.rules.map(\.id)))
        }
        metrics.count(hook: ev.hook, verdict: ev.verdict ?? "", mode: ev.mode ?? "", rule: ev.rule)
        let m = loader.manager!
        if originsGeneration != m.generation {
            enricher.ruleOrigins = m.policy.ruleOrigins
            originsGeneration = m.generation
        }
        var recorded = enricher.enrich(ev)
        if ev.exeCarried == true, let tgid = ev.tgid,
           let state = try? loader.manager.session.taskState(pid: Int32(bitPattern: tgid)),
           state.flags & UInt32(CORRAL_TASK_EXE_CARRIED) != 0 {
            let policy = loader.manager.policy
            let subjects = policy.subjects + policy.rules.flatMap(\.subjects)
            let paths = subjects.compactMap { if case .exe(let p) = $0.matcher { p } else { nil } }
            enricher.recordCarriedExecutable(&recorded, dev: state.exe_dev, ino: state.exe_ino, candidates: paths)
        }
        publish(recorded)
    }

    func recordAdmin(_ a: AdminAction) {
        var fields: [String: JSONValue] = [:]
        for (k, v) in a.fields { fields[k] = .string(v) }
        let now = Sys.monotonicNanos()
        var event = Event.admin(id: "admin-\(now)", bootID: enricher.bootID, action: a.action,
                                generation: a.generation, timestampNs: now, fields: fields)
        event.time = WallClock.rfc3339(unixNanos: Sys.realTimeNanos())
        publish(event)
    }

    private func publish(_ e: Event) {
        ring.append(e)
        let line = e.jsonLine // encoded once: log, stdout and subscribers share it
        if let log {
            do { try log.append(line: line); logFailed = false } catch {
                if !logFailed { logger.error("writing \(log.path): \(error)") }
                logFailed = true
            }
        }
        if configuration.printEvents { _ = try? Sys.write(1, Array((line + "\n").utf8)) }
        subscribers.removeAll { !$0.stream.isOpen }
        guard subscribers.contains(where: { $0.filter.matches(e) }), let v = try? JSONValue.parse(line) else { return }
        for s in subscribers where s.filter.matches(e) { s.stream.send(ControlInterface.GetEvents.self, .init(event: v)) }
    }

    /// Sends recent matching events; with `follow` keeps the stream open for new ones.
    func subscribe(filter: EventFilter, follow: Bool, stream: ControlStream) {
        let recent = ring.events(matching: filter)
        for e in recent {
            if let v = try? JSONValue(encoding: e) { stream.send(ControlInterface.GetEvents.self, .init(event: v)) }
        }
        if follow && stream.request.more {
            subscribers.append((EventFilter(rule: filter.rule, verdict: filter.verdict, hook: filter.hook), stream))
        } else {
            stream.finish(ControlInterface.GetEvents.self, .init(count: recent.count))
        }
    }

    public func event(id: String) -> Event? {
        ring.event(id: id, bootID: enricher.bootID) ?? log?.event(id: id, bootID: enricher.bootID)
    }

    public func stop() {
        drain() // one budget's worth; the rest stays in the pinned ring buffer for the next daemon
        if let fd = reader?.epollFD, fd >= 0 { reactor?.remove(fd) }
        reader?.close()
        reader = nil
        for s in subscribers { s.stream.finish(ControlInterface.GetEvents.self, .init()) }
        subscribers.removeAll()
        log?.close()
    }
}
