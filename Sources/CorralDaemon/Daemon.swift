// `corral daemon`: services on one epoll reactor (docs/operations.md §2).
//
//   LoaderService           load or adopt, apply, modes, loosen timers, classification consistency check
//   EventService            ring buffer -> enrich -> ring + log file + stdout + subscribers
//   ControlService          the control socket (CorralControl)
//   MetricsService          Prometheus text on 127.0.0.1 (off by default)
//   PolicyWatchService      applies the --policy file when its content changes (--watch-policy)
//
// SIGTERM/SIGINT stop the reactor; the pins stay (the next daemon adopts them).
import CorralControl
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc
import Logging

public struct DaemonConfiguration: Sendable {
    /// Policy file; optional when adopting pinned state that has a generation record.
    public var policyPath: String?
    public var session: SessionOptions
    public var stateDirectory: String
    /// nil: no event log file.
    public var logDirectory: String?
    public var controlSocket: String
    public var authorization: AuthorizationConfig
    /// "127.0.0.1:PORT"; nil: no metrics endpoint.
    public var metricsAddress: String?
    /// Print each event as a JSON line on stdout.
    public var printEvents: Bool
    /// How often the cgroup classification consistency check runs (CgroupConsistencyService).
    public var classificationCheckMillis: UInt64 = 30_000
    /// Drop-in fragments merged after `policyPath` (docs/policy.md, "Fragments"); nil: none.
    public var policyFragments: FragmentSet?
    /// Apply `policyPath` whenever its content changes (PolicyWatchService).
    public var watchPolicy = false
    /// `corral_build_info`'s labels (the CLI passes its BuildInfo).
    public var buildVersion = "unknown"
    public var buildRevision = "unknown"
    public var policyWatchTiming = PolicyFileWatcher.Timing()

    public init(policyPath: String?, session: SessionOptions, stateDirectory: String = "/run/corral",
                logDirectory: String? = "/var/log/corral", controlSocket: String? = nil,
                authorization: AuthorizationConfig = AuthorizationConfig(), metricsAddress: String? = nil,
                printEvents: Bool = true) {
        self.policyPath = policyPath
        self.session = session
        self.stateDirectory = stateDirectory
        self.logDirectory = logDirectory
        self.controlSocket = controlSocket ?? stateDirectory + "/control.sock"
        self.authorization = authorization
        self.metricsAddress = metricsAddress
        self.printEvents = printEvents
    }
}

/// A long-running part of the daemon.
public protocol DaemonService: AnyObject {
    var name: String { get }
    func start(_ reactor: Reactor) throws
    func stop()
}

public final class Daemon {
    public let configuration: DaemonConfiguration
    let logger: Logger
    let reactor: Reactor
    public private(set) var loader: LoaderService!
    public private(set) var events: EventService!
    var services: [DaemonService] = []
    /// Set by io.corral.Unload: remove the pins when the loop ends.
    var unloadRequested = false

    public init(configuration: DaemonConfiguration, logger: Logger) throws(DaemonError) {
        self.configuration = configuration
        self.logger = logger
        do { reactor = try Reactor() } catch { throw .kernel("epoll: \(error)") }
    }

    /// The signals that stop the daemon (the pins stay). The daemon reads them from a signalfd, so
    /// a process that runs a Daemon blocks them in all its threads, as `corral daemon` does by
    /// blocking them on the main thread before any other thread starts.
    public static let stopSignals: [Int32] = [SIGTERM, SIGINT]

    /// Runs until a signal or io.corral.Unload. Errors before READY end the daemon.
    public func run() throws(DaemonError) {
        // SIGTERM and SIGINT through the reactor's signalfd. `corral daemon` runs this on the main
        // thread, where they were blocked before any other thread started (CorralCommand.runProcess);
        // onSignals blocks them in this thread too.
        do {
            try reactor.onSignals(Self.stopSignals) { [reactor, logger] info in
                logger.notice("signal \(info.signal) from pid \(info.senderPID): stopping; the programs stay pinned for the next daemon")
                reactor.stop()
            }
        } catch {
            throw .kernel("signalfd: \(error)")
        }

        let loader = LoaderService(configuration: configuration, logger: logger)
        let events = EventService(configuration: configuration, loader: loader, logger: logger)
        let control = ControlService(configuration: configuration, loader: loader, events: events, logger: logger) { [weak self] in
            self?.unloadRequested = true
            self?.reactor.stop()
        }
        self.loader = loader
        self.events = events
        services = [loader, events]
        if configuration.watchPolicy, let path = configuration.policyPath {
            let watch = PolicyWatchService(path: path, loader: loader, logger: logger, timing: configuration.policyWatchTiming)
            control.policyWatch = watch
            services.append(watch)
        }
        services.append(control)
        if let addr = configuration.metricsAddress {
            services.append(MetricsService(address: addr, configuration: configuration, loader: loader, events: events, logger: logger))
        }
        for s in services {
            do { try s.start(reactor) } catch {
                logger.error("\(s.name): \(error)")
                for started in services.prefix(while: { $0 !== s }).reversed() { started.stop() }
                throw (error as? DaemonError) ?? .kernel("\(s.name): \(error)")
            }
        }
        ServiceNotify.send("READY=1\nSTATUS=enforcing generation \(loader.manager.generation) (\(loader.manager.session.mode.rawValue) mode)")
        logger.info("ready: \(loader.manager.session.mode.rawValue) mode, generation \(loader.manager.generation), control socket \(configuration.controlSocket)")
        do { try reactor.run() } catch { logger.error("reactor: \(error)") }
        ServiceNotify.send("STOPPING=1")
        for s in services.reversed() { s.stop() }
        if unloadRequested {
            loader.liftProtection()
            loader.manager.session.stop()
            logger.notice("unloaded: pins removed, enforcement stops")
        } else {
            loader.manager.session.release()
        }
    }
}
