// CorralSystem: every libc call Corral makes goes through this target, as typed wrappers that
// return Swift values or throw `Errno`. libbpf calls go through CorralKernel/System/LibBPF.swift.
//
// A typed errno, in the style of swift-system's `Errno`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current errno.
    public static var current: Errno { Errno(rawValue: errno) }

    public static let permissionDenied = Errno(rawValue: EPERM)   // EPERM
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let accessDenied = Errno(rawValue: EACCES)
    public static let busy = Errno(rawValue: EBUSY)
    public static let invalid = Errno(rawValue: EINVAL)
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let noData = Errno(rawValue: ENODATA)

    /// Symbolic name, e.g. "EPERM", or "errno N".
    public var name: String {
        switch rawValue {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case ESRCH: "ESRCH"
        case EINTR: "EINTR"
        case EBADF: "EBADF"
        case EAGAIN: "EAGAIN"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EBUSY: "EBUSY"
        case EEXIST: "EEXIST"
        case EINVAL: "EINVAL"
        case ENOSPC: "ENOSPC"
        case ENOSYS: "ENOSYS"
        case ENODATA: "ENODATA"
        case E2BIG: "E2BIG"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case ENOTSUP where ENOTSUP != EOPNOTSUPP: "ENOTSUP"
        default: "errno \(rawValue)"
        }
    }

    public var description: String {
        "\(name): \(String(cString: strerror(rawValue)))"
    }
}
