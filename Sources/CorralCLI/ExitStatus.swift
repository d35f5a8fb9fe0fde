// Every exit status `corral` uses, for every verb: docs/cli.md's table "Exit status" lists the
// same codes and names (ExitStatusTests compares them). `corral run` exits with the command's
// own status when it ran it.
import ArgumentParser
import CorralControl
import CorralDaemon
import CorralKernel
import CorralPolicy

enum CorralExit: Int32, CaseIterable, Sendable {
    /// Done; the answer is yes (check: valid, simulate: expectations hold, replay: no verdict
    /// changes, why: allowed, probe: native or compat).
    case ok = 0
    /// The answer is no: check found errors, an expectation failed, a verdict would change, why: denied.
    case failed = 1
    /// A policy, scenario, event log, option or argument is not valid, or the daemon refused the
    /// request as such (PolicyInvalid, InvalidParameter, NoSuchRule, NoSuchEvent, …).
    case invalidInput = 2
    /// A file cannot be read (missing, a directory, no permission).
    case unreadable = 3
    /// The kernel lacks what Corral needs (probe: unsupported; run/daemon: the mode is not available).
    case unsupportedKernel = 4
    /// No daemon answers on the control socket, or its reply is not valid.
    case daemonUnreachable = 5
    /// The daemon refused the caller (org.varlink.service.PermissionDenied).
    case permissionDenied = 6
    /// Loading, attaching or another kernel operation failed (io.corral.KernelError), or a system call did.
    case kernelError = 7
    /// daemon: pinned state a new daemon cannot adopt.
    case pinnedState = 8

    /// The name docs/cli.md gives the code.
    var name: String {
        switch self {
        case .ok: "ok"
        case .failed: "failed"
        case .invalidInput: "invalid-input"
        case .unreadable: "unreadable"
        case .unsupportedKernel: "unsupported-kernel"
        case .daemonUnreachable: "daemon-unreachable"
        case .permissionDenied: "permission-denied"
        case .kernelError: "kernel-error"
        case .pinnedState: "pinned-state"
        }
    }

    /// What to throw from a verb's `run()` to exit with this status.
    var exit: ExitCode { ExitCode(rawValue) }

    /// A policy or scenario that did not load: unreadable when a file could not be read,
    /// invalid otherwise.
    static func of(_ errors: PolicyErrors) -> CorralExit { errors.isUnreadable ? .unreadable : .invalidInput }

    /// A named error from the daemon.
    static func of(_ error: ControlError) -> CorralExit {
        switch error.name {
        case ControlError.Name.permissionDenied: .permissionDenied
        case ControlError.Name.kernelError: .kernelError
        default: .invalidInput
        }
    }

    /// A kernel failure of `run`: unsupported, or another failure.
    static func of(_ error: KernelError) -> CorralExit {
        switch error {
        case .unsupported, .modeUnavailable: .unsupportedKernel
        default: .kernelError
        }
    }

    /// Why the daemon did not start or stopped with an error.
    static func of(_ error: DaemonError) -> CorralExit {
        switch error {
        case .policyInvalid, .invalidParameter, .capacityExceeded, .noSuchRule, .noSuchEvent, .noSuchProcess,
             .registrationOutsideSubtree, .noSuchRegistration: .invalidInput
        case .unsupportedKernel: .unsupportedKernel
        case .pinnedState: .pinnedState
        case .kernel: .kernelError
        case .permissionDenied: .permissionDenied
        }
    }
}
