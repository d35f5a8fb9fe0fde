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

    /// Symbolic name, e.g. "EPERM", or "errno N" (from `ErrnoNames.known`).
    public var name: String { ErrnoNames.symbol(of: rawValue) }

    public var description: String {
        "\(name): \(String(cString: strerror(rawValue)))"
    }
}

// The one errno name table: `Errno.name`, the names a policy may write in `errno:` (docs/policy.md,
// "errno"; CorralPolicy re-exports this enum), scenario files and messages all read it.
// Values are Linux's (asm-generic/errno-base.h, errno.h); they do not depend on the build host.

public enum ErrnoNames {
    /// Name → value, in the order the docs list them.
    public static let all: [(name: String, value: Int32)] = [
        ("EPERM", 1), ("ENOENT", 2), ("EACCES", 13), ("EBUSY", 16), ("EINVAL", 22), ("EOPNOTSUPP", 95),
    ]

    /// Every errno Corral names in messages (`Errno.name`) and scenario files (a superset of `all`).
    public static let known: [(name: String, value: Int32)] = [
        ("EPERM", 1), ("ENOENT", 2), ("ESRCH", 3), ("EINTR", 4), ("EIO", 5), ("ENXIO", 6), ("E2BIG", 7),
        ("EBADF", 9), ("ECHILD", 10), ("EAGAIN", 11), ("ENOMEM", 12), ("EACCES", 13), ("EFAULT", 14),
        ("EBUSY", 16), ("EEXIST", 17), ("EXDEV", 18), ("ENODEV", 19), ("ENOTDIR", 20), ("EISDIR", 21),
        ("EINVAL", 22), ("ENFILE", 23), ("EMFILE", 24), ("ENOSPC", 28), ("EROFS", 30), ("EMLINK", 31),
        ("EPIPE", 32), ("ERANGE", 34), ("ENAMETOOLONG", 36), ("ENOSYS", 38), ("ELOOP", 40), ("ENODATA", 61),
        ("ENOTSOCK", 88), ("EOPNOTSUPP", 95), ("EADDRINUSE", 98), ("ECONNABORTED", 103), ("ECONNRESET", 104),
        ("ETIMEDOUT", 110), ("ECONNREFUSED", 111), ("EINPROGRESS", 115), ("ECANCELED", 125),
    ]

    /// "EPERM", or "errno N" for a value without a known name: for messages.
    public static func symbol(of value: Int32) -> String {
        known.first { $0.value == value }?.name ?? "errno \(value)"
    }

    /// A known name (any case) or a positive decimal number: for scenario files.
    public static func parse(_ text: String) -> Int32? {
        if let number = Int32(text), number > 0 { return number }
        return known.first { $0.name == text.uppercased() }?.value
    }

    /// Largest errno a policy may name by number (the kernel's MAX_ERRNO).
    public static let maxValue: Int32 = 4095

    public static func value(of name: String) -> Int32? {
        all.first { $0.name == name }?.value
    }

    /// The symbolic name of `value`, or its decimal text when it has none here.
    public static func name(of value: Int32) -> String {
        all.first { $0.value == value }?.name ?? String(value)
    }
}
