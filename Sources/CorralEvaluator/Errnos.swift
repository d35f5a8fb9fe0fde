// errno names for messages and scenario files. Linux generic values (x86_64, aarch64).

public enum ErrnoName {
    static let table: [(String, Int32)] = [
        ("EPERM", 1), ("ENOENT", 2), ("ESRCH", 3), ("EINTR", 4), ("EIO", 5), ("ENXIO", 6), ("E2BIG", 7),
        ("EBADF", 9), ("ECHILD", 10), ("EAGAIN", 11), ("ENOMEM", 12), ("EACCES", 13), ("EFAULT", 14),
        ("EBUSY", 16), ("EEXIST", 17), ("EXDEV", 18), ("ENODEV", 19), ("ENOTDIR", 20), ("EISDIR", 21),
        ("EINVAL", 22), ("ENFILE", 23), ("EMFILE", 24), ("ENOSPC", 28), ("EROFS", 30), ("EMLINK", 31),
        ("ERANGE", 34), ("ENOSYS", 38), ("ENODATA", 61), ("EOPNOTSUPP", 95), ("ECANCELED", 125),
    ]

    /// "EPERM", or "errno N" for values without a name here.
    public static func name(_ value: Int32) -> String {
        table.first { $0.1 == value }?.0 ?? "errno \(value)"
    }

    /// Accepts "EPERM" (any case) or a positive decimal number.
    public static func value(_ text: String) -> Int32? {
        if let number = Int32(text), number > 0 { return number }
        return table.first { $0.0 == text.uppercased() }?.1
    }
}
