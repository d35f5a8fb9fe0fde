// LoaderService: owns the session through PolicyManager (load or adopt, apply, modes,
// loosen expiry) and the consistency check of cgroup classification.
import CorralKernel
import CorralSystem
import Foundation
import Logging

public final class LoaderService: DaemonService {
    public let name = "loader"
    let configuration: DaemonConfiguration
    let logger: Logger
    public private(set) var manager: PolicyManager!
    /// nil when the kernel or object cannot protect itself (logged at start).
    public private(set) var protection: SelfProtection?
    var consistency: CgroupConsistencyService?
    var timers: [Reactor.TimerID] = []
    weak var reactor: Reactor?
    /// Admin actions go to the event trail (EventService sets this).
    var onAction: (AdminAction) -> Void = { _ in }

    init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func start(_ reactor: Reactor) throws {
        self.reactor = reactor
        var initial: (text: String, source: String)?
        if let path = configuration.policyPath {
            do { initial = (try Sys.readFile(path), path) } catch {
                throw DaemonError.policyInvalid(["\(path):1:1: error: cannot read policy: \(error)"])
            }
        }
        let m = try PolicyManager(options: configuration.session, stateDirectory: configuration.stateDirectory, initial: initial)
        manager = m
        m.onAction = { [weak self] action in self?.onAction(action) }
        if m.adopted {
            logger.notice("adopted pinned programs under \(configuration.session.pinDirectory ?? "?"): \(m.session.mode.rawValue) mode, now generation \(m.generation) (\(m.record.source)); no re-attach")
        } else {
            logger.info("loaded \(m.session.mode.rawValue) programs, generation \(m.generation) (\(m.record.source)), pinned under \(configuration.session.pinDirectory ?? "(none)")")
        }
        for w in m.session.unresolvedWarnings { logger.warning("\(w)") }
        do {
            protection = try m.session.protect()
            logger.info("self-protection: \(protection!.protected.count) objects and pins only this executable may touch")
        } catch {
            logger.warning("self-protection off: \(error)")
        }

        let consistency = CgroupConsistencyService(session: m.session, intervalMillis: configuration.classificationCheckMillis,
                                                   log: { [logger] in logger.warning("\($0)") })
        self.consistency = consistency
        consistency.tick()
        timers.append(reactor.addTimer(after: 1000, repeating: 1000) { [weak consistency] in consistency?.tick() })
        timers.append(reactor.addTimer(after: 1000, repeating: 1000) { [weak self] in self?.expireLoosened() })
    }

    func expireLoosened() {
        guard let m = manager, m.hasExpiredLoosening else { return }
        do {
            let rules = try m.expire()
            if !rules.isEmpty { logger.notice("loosen expired for \(rules.joined(separator: ", ")): enforced again from generation \(m.generation)") }
        } catch {
            logger.error("writing the generation that drops expired loosenings failed (the kernel enforces those rules anyway; status still lists them): \(error)")
        }
    }

    /// Before an unload: lift protection so the pins can go.
    func liftProtection() {
        do { try protection?.cleanup() } catch { logger.error("self-protection cleanup: \(error)") }
        protection = nil
    }

    public func stop() {
        for t in timers { reactor?.cancelTimer(t) }
        timers.removeAll()
        consistency = nil
    }
}
