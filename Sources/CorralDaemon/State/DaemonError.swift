// Errors of daemon operations, named as the control protocol names them (docs/operations.md §4).
import CorralControl
import CorralKernel

public enum DaemonError: Error, Sendable, Equatable, CustomStringConvertible {
    case policyInvalid([String])
    case capacityExceeded(String)
    case noSuchRule(String)
    case noSuchEvent(String)
    case noSuchProcess(Int32)
    case invalidParameter(String, String)
    case kernel(String)
    /// Pinned state the daemon cannot adopt (exit status `pinned-state`, docs/cli.md).
    case pinnedState(String)
    /// The kernel lacks what Corral needs (KernelError.unsupported, .modeUnavailable).
    case unsupportedKernel(String)
    /// The method, refused to this caller.
    case permissionDenied(String)
    /// The subtree, and one line per problem.
    case registrationOutsideSubtree(String, [String])
    case noSuchRegistration(String)

    public init(_ e: KernelError) {
        switch e {
        case .compile(let message): self = .capacityExceeded(message)
        case .unsupported, .modeUnavailable: self = .unsupportedKernel(e.description)
        default: self = .kernel(e.description)
        }
    }

    /// The varlink-style error name.
    public var name: String {
        switch self {
        case .policyInvalid: ControlError.Name.policyInvalid
        case .capacityExceeded: ControlError.Name.capacityExceeded
        case .noSuchRule: ControlError.Name.noSuchRule
        case .noSuchEvent: ControlError.Name.noSuchEvent
        case .noSuchProcess: ControlError.Name.noSuchProcess
        case .invalidParameter: ControlError.Name.invalidParameter
        case .kernel, .unsupportedKernel, .pinnedState: ControlError.Name.kernelError
        case .permissionDenied: ControlError.Name.permissionDenied
        case .registrationOutsideSubtree: ControlError.Name.registrationOutsideSubtree
        case .noSuchRegistration: ControlError.Name.noSuchRegistration
        }
    }

    public var description: String {
        switch self {
        case .policyInvalid(let d): "policy invalid:\n" + d.joined(separator: "\n")
        case .capacityExceeded(let r): "policy does not fit the maps: \(r)"
        case .noSuchRule(let r): "no rule '\(r)' in the active policy"
        case .noSuchEvent(let id): "no event with id \(id) (the daemon keeps the last events of this boot)"
        case .noSuchProcess(let pid): "no process \(pid)"
        case .invalidParameter(let p, let why): "invalid parameter '\(p)': \(why)"
        case .kernel(let r), .unsupportedKernel(let r), .pinnedState(let r): r
        case .permissionDenied(let m): "permission denied: \(m)"
        case .registrationOutsideSubtree(let s, let p): "registration outside \(s):\n" + p.joined(separator: "\n")
        case .noSuchRegistration(let id): "no registration '\(id)'"
        }
    }
}
