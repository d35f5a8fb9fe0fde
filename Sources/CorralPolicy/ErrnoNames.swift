// The errno names a policy may write in `errno:` (docs/policy.md, "errno").
// Values are Linux's (asm-generic/errno-base.h, errno.h); they do not depend on the build host.

public enum ErrnoNames {
    /// Name → value, in the order the docs list them.
    public static let all: [(name: String, value: Int32)] = [
        ("EPERM", 1), ("ENOENT", 2), ("EACCES", 13), ("EBUSY", 16), ("EINVAL", 22), ("EOPNOTSUPP", 95),
    ]

    /// Every errno Corral names in messages and scenario files (a superset of `all`).
    public static let known: [(name: String, value: Int32)] = [
        ("EPERM", 1), ("ENOENT", 2), ("ESRCH", 3), ("EINTR", 4), ("EIO", 5), ("ENXIO", 6), ("E2BIG", 7),
        ("EBADF", 9), ("ECHILD", 10), ("EAGAIN", 11), ("ENOMEM", 12), ("EACCES", 13), ("EFAULT", 14),
        ("EBUSY", 16), ("EEXIST", 17), ("EXDEV", 18), ("ENODEV", 19), ("ENOTDIR", 20), ("EISDIR", 21),
        ("EINVAL", 22), ("ENFILE", 23), ("EMFILE", 24), ("ENOSPC", 28), ("EROFS", 30), ("EMLINK", 31),
        ("ERANGE", 34), ("ENOSYS", 38), ("ENODATA", 61), ("EOPNOTSUPP", 95), ("ECANCELED", 125),
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
