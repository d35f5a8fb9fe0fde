// Typed wrappers for the file-system calls the compiler's host resolution needs:
// stat, extended attributes, directory listing. Every failure throws `Errno`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// <sys/xattr.h> is not part of Swift's Glibc module: the calls come from the C shim.
internal import CCorralSystem

/// The parts of `struct stat` Corral uses.
public struct FileStatus: Hashable, Sendable {
    /// `st_dev` as stat(2) returns it (glibc's 64-bit encoding).
    public var device: UInt64
    public var inode: UInt64
    /// `st_mode`: file type and permission bits.
    public var mode: UInt32

    public init(device: UInt64, inode: UInt64, mode: UInt32) {
        self.device = device
        self.inode = inode
        self.mode = mode
    }

    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }
    public var isRegularFile: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFREG) }
    public var isSymbolicLink: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFLNK) }

    /// The device as the kernel stores it internally (`sb->s_dev`, what BPF sees):
    /// `major << 20 | minor`.
    public var kernelDevice: UInt32 { FileSystem.kernelDevice(fromUserDevice: device) }
}

/// One entry of a directory listing ("." and ".." are left out).
public struct DirectoryEntry: Hashable, Sendable {
    public enum Kind: Sendable, Hashable { case regular, directory, symlink, other, unknown }
    public var name: String
    /// From `d_type`; `.unknown` on file systems that do not fill it in.
    public var kind: Kind
}

public enum FileSystem {
    /// glibc's `major()` of a stat(2) device number.
    public static func major(_ dev: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~UInt64(0xFFF)))
    }

    /// glibc's `minor()` of a stat(2) device number.
    public static func minor(_ dev: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: (dev & 0xFF) | ((dev >> 12) & ~UInt64(0xFF)))
    }

    /// Converts glibc's `st_dev` to the kernel-internal dev_t (`MKDEV`: major << 20 | minor,
    /// 12-bit major, 20-bit minor).
    public static func kernelDevice(fromUserDevice dev: UInt64) -> UInt32 {
        (major(dev) << 20) | (minor(dev) & 0xF_FFFF)
    }

    /// stat(2), or lstat(2) when `followSymlinks` is false.
    public static func status(_ path: String, followSymlinks: Bool = true) throws(Errno) -> FileStatus {
        var st = stat()
        let rc = followSymlinks ? stat(path, &st) : lstat(path, &st)
        guard rc == 0 else { throw Errno.current }
        return FileStatus(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), mode: UInt32(st.st_mode))
    }

    /// The value of extended attribute `name` (follows symlinks).
    public static func extendedAttribute(_ path: String, name: String) throws(Errno) -> [UInt8] {
        while true {
            let size = corral_getxattr(path, name, nil, 0)
            guard size >= 0 else { throw Errno.current }
            var buffer = [UInt8](repeating: 0, count: max(size, 1))
            let got = buffer.withUnsafeMutableBytes { corral_getxattr(path, name, $0.baseAddress, $0.count) }
            if got >= 0 { return Array(buffer.prefix(got)) }
            let error = Errno.current
            if error.rawValue != ERANGE { throw error }  // grew in between: retry
        }
    }

    /// True when the file carries extended attribute `name` (follows symlinks).
    public static func hasExtendedAttribute(_ path: String, name: String) throws(Errno) -> Bool {
        if corral_getxattr(path, name, nil, 0) >= 0 { return true }
        let error = Errno.current
        if error == .noData { return false }
        throw error
    }

    /// Names of the extended attributes the caller may see on the file (follows symlinks).
    public static func extendedAttributeNames(_ path: String) throws(Errno) -> [String] {
        while true {
            let size = corral_listxattr(path, nil, 0)
            guard size >= 0 else { throw Errno.current }
            if size == 0 { return [] }
            var buffer = [CChar](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBufferPointer { corral_listxattr(path, $0.baseAddress, $0.count) }
            if got < 0 {
                let error = Errno.current
                if error.rawValue == ERANGE { continue }
                throw error
            }
            // NUL-separated names.
            return buffer.prefix(got).split(separator: 0).map {
                String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
    }

    /// setxattr(2) (follows symlinks).
    public static func setExtendedAttribute(_ path: String, name: String, value: [UInt8]) throws(Errno) {
        let rc = value.withUnsafeBytes { corral_setxattr(path, name, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw Errno.current }
    }

    /// removexattr(2) (follows symlinks).
    public static func removeExtendedAttribute(_ path: String, name: String) throws(Errno) {
        guard corral_removexattr(path, name) == 0 else { throw Errno.current }
    }

    /// The entries of a directory, in the order readdir returns them.
    public static func directoryEntries(_ path: String) throws(Errno) -> [DirectoryEntry] {
        guard let dir = opendir(path) else { throw Errno.current }
        defer { closedir(dir) }
        var entries: [DirectoryEntry] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw Errno.current }
                return entries
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let kind: DirectoryEntry.Kind = switch Int32(entry.pointee.d_type) {
            case Int32(DT_REG): .regular
            case Int32(DT_DIR): .directory
            case Int32(DT_LNK): .symlink
            case Int32(DT_UNKNOWN): .unknown
            default: .other
            }
            entries.append(DirectoryEntry(name: name, kind: kind))
        }
    }
}
