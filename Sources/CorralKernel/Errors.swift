// Typed errors of the kernel layer. Every case says what failed and, where it is a missing
// kernel feature, the minimum kernel or config that provides it.
import CorralSystem

/// A kernel feature Corral needs and did not find.
public struct UnsupportedFeature: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Short name, e.g. "bpf-lsm-active".
    public var feature: String
    /// What is missing, phrased for an operator.
    public var detail: String
    /// What provides it, e.g. "Linux >= 5.7 with CONFIG_BPF_LSM=y".
    public var requires: String

    public init(feature: String, detail: String, requires: String) {
        self.feature = feature
        self.detail = detail
        self.requires = requires
    }

    public var description: String { "\(detail) (\(requires))" }
}

public enum KernelError: Error, CustomStringConvertible, Sendable {
    /// The kernel lacks features; each names the missing piece.
    case unsupported([UnsupportedFeature])
    /// A forced mode (`--mode native|compat`) is not available on this kernel.
    case modeUnavailable(requested: String, probed: String, missing: [UnsupportedFeature])
    /// The BPF object file was not found or could not be opened.
    case object(path: String?, reason: String)
    /// A program failed to load; `verifierLog` is the kernel verifier's log, if any.
    case load(program: String, errno: Errno, verifierLog: String)
    /// A program failed to attach.
    case attach(program: String, errno: Errno)
    /// A map operation failed.
    case map(name: String, operation: String, errno: Errno)
    /// Pinning or unpinning under bpffs failed.
    case pin(path: String, errno: Errno)
    /// The ring buffer could not be created or polled.
    case ringBuffer(reason: String, errno: Errno)
    /// A syscall made on the kernel layer's behalf failed.
    case system(call: String, errno: Errno)
    /// The policy could not be compiled into map images.
    case compile(String)

    public var description: String {
        switch self {
        case .unsupported(let missing):
            return "kernel not supported:\n" + missing.map { "  missing: \($0)" }.joined(separator: "\n")
        case .modeUnavailable(let requested, let probed, let missing):
            return "mode \(requested) is not available (probe says \(probed))"
                + (missing.isEmpty ? "" : ":\n" + missing.map { "  missing: \($0)" }.joined(separator: "\n"))
        case .object(let path, let reason):
            return "BPF object \(path ?? "corral.bpf.o"): \(reason)"
        case .load(let program, let errno, let log):
            let tail = log.isEmpty ? "" : "\nverifier log:\n" + String(log.suffix(8000))
            return "loading BPF program \(program) failed: \(errno)\(tail)"
        case .attach(let program, let errno):
            return "attaching BPF program \(program) failed: \(errno)"
        case .map(let name, let op, let errno):
            return "map \(name): \(op) failed: \(errno)"
        case .pin(let path, let errno):
            return "pin \(path): \(errno)"
        case .ringBuffer(let reason, let errno):
            return "ring buffer: \(reason): \(errno)"
        case .system(let call, let errno):
            return "\(call): \(errno)"
        case .compile(let message):
            return "policy compile: \(message)"
        }
    }
}
