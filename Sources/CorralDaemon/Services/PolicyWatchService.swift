// PolicyWatchService (`corral daemon --policy FILE --watch-policy`): applies FILE whenever its
// content changes, or with fragments (--fragments, --policy-dir) whenever a fragment is added,
// edited, masked or removed in one of their directories, the way io.corral.Apply does (PolicyManager.apply: validated, compiled, one
// atomic generation switch, a generation record). A file with errors changes nothing: the
// running generation stays, the diagnostics (FILE:LINE:COL) go to the log and to the event
// trail (admin action `apply-refused`), and the next change is tried again. Applies are admin
// actions `apply` with `origin: watch`. PolicyFileWatcher decides when the content changed.
import CorralControl
import CorralPolicy
import CorralSystem
import Logging

public final class PolicyWatchService: DaemonService {
    public let name = "policy-watch"
    public let path: String
    let loader: LoaderService
    let logger: Logger
    let timing: PolicyFileWatcher.Timing
    public private(set) var watcher: PolicyFileWatcher?

    /// What became of the last change the watch saw.
    public enum Outcome: Equatable, Sendable {
        case none
        case applied(generation: UInt64)
        /// Not applied; the diagnostics (or the kernel's reason).
        case refused([String])
        /// Already the running policy (e.g. applied through the socket before): nothing to do.
        case unchanged
    }
    public private(set) var lastOutcome: Outcome = .none

    init(path: String, loader: LoaderService, logger: Logger, timing: PolicyFileWatcher.Timing) {
        self.path = path
        self.loader = loader
        self.logger = logger
        self.timing = timing
    }

    public func start(_ reactor: Reactor) throws {
        // The loader read the file at start: that content is the baseline.
        let w = PolicyFileWatcher(path: path, baseline: loader.manager.record.policy,
                                  fragmentDirectories: loader.configuration.policyFragments?.directories ?? [],
                                  timing: timing, logger: logger) { [weak self] text, fileChanged in
            self?.apply(text, fileChanged: fileChanged)
        }
        do { try w.start(reactor) } catch {
            throw DaemonError.kernel("--watch-policy: cannot watch \(PolicyFileWatcher.directory(of: path)): \(error)")
        }
        watcher = w
        let directories = w.fragmentDirectories.isEmpty ? "" : " and the fragments of \(w.fragmentDirectories.joined(separator: ", "))"
        logger.info("watching \(path)\(directories): a change is applied as the next generation")
    }

    public func stop() {
        watcher?.stop()
        watcher = nil
    }

    /// `text`: the main file now; `fileChanged`: false when only a fragment directory saw events.
    func apply(_ text: String, fileChanged: Bool = true) {
        let m = loader.manager!
        do throws(DaemonError) {
            // With fragments (--fragments, --policy-dir), every active fragment is read again,
            // whichever file changed (docs/policy.md, "Fragments").
            var fragments = m.record.fragments
            if let set = loader.configuration.policyFragments {
                do { fragments = try LoaderService.readFragments(set) } catch {
                    throw DaemonError.policyInvalid(error.diagnostics.map(\.description))
                }
            }
            // Bytes, not String ==, which equates canonically equivalent Unicode (two spellings
            // of a cgroup name are two cgroups).
            guard !text.utf8.elementsEqual(m.record.policy.utf8) || fragments != m.record.fragments else {
                // Events in a fragment directory that changed nothing (an editor's swap file) are no change.
                guard fileChanged else { return }
                lastOutcome = .unchanged
                logger.info("policy file \(path) changed back to the running policy (generation \(m.generation)): nothing to apply")
                return
            }
            try m.apply(text: text, source: path, fragments: fragments, origin: "watch")
            lastOutcome = .applied(generation: m.generation)
            logger.notice("policy \(path)\(fragments.isEmpty ? "" : " with \(fragments.count) fragment(s)") changed: applied as generation \(m.generation) (\(m.policy.rules.count) rules)")
        } catch {
            let reasons: [String]
            switch error {
            case .policyInvalid(let diagnostics): reasons = diagnostics
            default: reasons = [error.description]
            }
            lastOutcome = .refused(reasons)
            // One line per diagnostic, each a journal entry of its own.
            logger.error("policy file \(path) changed but was not applied; generation \(m.generation) stays (\(reasons.count) error(s) below)")
            for reason in reasons { logger.error("\(reason)") }
            loader.onAction(AdminAction(action: "apply-refused", generation: m.generation,
                                        fields: ["source": path, "origin": "watch", "error": error.name,
                                                 "diagnostics": reasons.prefix(20).joined(separator: "\n")]))
        }
    }

    /// `policy_watch` in io.corral.GetStatus.
    func status() -> ControlInterface.GetStatus.PolicyWatchStatus {
        var s = ControlInterface.GetStatus.PolicyWatchStatus(path: path, lastChange: "none")
        switch lastOutcome {
        case .none: break
        case .unchanged: s.lastChange = "unchanged"
        case .applied(let g):
            s.lastChange = "applied"
            s.generation = g
        case .refused(let reasons):
            s.lastChange = "refused"
            s.diagnostics = reasons
        }
        s.unreadable = watcher?.unreadable
        return s
    }
}
