// LoaderService: owns the session through PolicyManager (load or adopt, apply, modes,
// loosen expiry) and the consistency check of cgroup classification.
import CorralControl
import CorralKernel
import CorralPolicy
import CorralOps
import CorralSystem
import Glibc
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
        var fragments: [GenerationRecord.Fragment] = []
        if initial != nil, let set = configuration.policyFragments {
            do { fragments = try Self.readFragments(set) } catch { throw DaemonError.policyInvalid(error.diagnostics.map(\.description)) }
        }
        let m = try PolicyManager(options: configuration.session, stateDirectory: configuration.stateDirectory, initial: initial,
                                  initialFragments: fragments)
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
            if m.adopted, let dropped = try? protection!.dropIdentities(), dropped > 0 {
                logger.notice("self-protection: \(dropped) earlier daemon executable(s) no longer trusted (handed over to this one)")
            }
        } catch {
            logger.warning("self-protection off: \(error)")
        }

        let consistency = CgroupConsistencyService(session: m.session, intervalMillis: configuration.classificationCheckMillis,
                                                   log: { [logger] in logger.warning("\($0)") })
        self.consistency = consistency
        consistency.tick()
        timers.append(reactor.addTimer(after: 1000, repeating: 1000) { [weak consistency] in consistency?.tick() })
        timers.append(reactor.addTimer(after: 1000, repeating: 1000) { [weak self] in self?.expireLoosened() })
        dropVanishedRegistrations()
        timers.append(reactor.addTimer(after: 1000, repeating: 1000) { [weak self] in self?.dropVanishedRegistrations() })
    }

    /// A registration ends with its subtree's cgroup: checked every second (a stat per registration).
    func dropVanishedRegistrations() {
        guard let m = manager, !m.record.registrations.isEmpty else { return }
        do {
            let gone = try m.dropVanishedRegistrations()
            if !gone.isEmpty { logger.notice("registrations \(gone.joined(separator: ", ")) removed: their cgroup is gone; generation \(m.generation)") }
        } catch {
            logger.error("removing the registrations of removed cgroups failed (their rules stay until the next change): \(error)")
        }
    }

    /// Every active fragment of `set` with its text, in merge order.
    static func readFragments(_ set: FragmentSet) throws(PolicyErrors) -> [GenerationRecord.Fragment] {
        var result: [GenerationRecord.Fragment] = []
        for path in try set.activeFiles() { result.append(.init(source: path, policy: try PolicyLoader.read(path: path))) }
        return result
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

    /// `corral handover` (io.corral.TrustExecutable): trusts the executable at `path` as a daemon
    /// identity, so a daemon started from it (after a package upgrade replaced this one's file)
    /// can adopt the pinned programs. Only a root-owned regular file that only root can write.
    /// Returns the trusted file's inode; nil when self-protection is off (nothing to hand over).
    func trust(executable path: String) throws(ControlError) -> UInt64? {
        guard path.hasPrefix("/") else { throw .invalidParameter("path", reason: "'\(path)' is not an absolute path") }
        let st: stat
        do { st = try Sys.fileStatus(path) } catch {
            throw .invalidParameter("path", reason: "\(path): \(error)")
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .invalidParameter("path", reason: "\(path) is not a regular file") }
        guard st.st_uid == 0 else { throw .invalidParameter("path", reason: "\(path) is owned by uid \(st.st_uid), not root") }
        guard st.st_mode & 0o022 == 0 else {
            throw .invalidParameter("path", reason: "\(path) is writable by its group or others (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
        guard st.st_mode & 0o100 != 0 else { throw .invalidParameter("path", reason: "\(path) is not executable") }
        guard let protection else { return nil }
        do { try protection.trust(executable: path) } catch { throw .kernelError(reason: "\(error)") }
        logger.notice("self-protection: \(path) (inode \(st.st_ino)) trusted as a daemon executable (handover)")
        return UInt64(st.st_ino)
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
