// The errno names a policy may write in `errno:` (docs/policy.md, "errno").
// Values are Linux's (asm-generic/errno-base.h, errno.h); they do not depend on the build host.

public enum ErrnoNames {
    /// Name → value, in the order the docs list them.
    public static let all: [(name: String, value: Int32)] = [
        ("EPERM", 1), ("ENOENT", 2), ("EACCES", 13), ("EBUSY", 16), ("EINVAL", 22), ("EOPNOTSUPP", 95),
    ]

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
