// Host resolution: turning policy paths into the numbers the kernel compares
// (cgroup ids, executable device + inode). See docs/compiler.md.
import CorralPolicy
import CorralSystem
#if canImport(Glibc)
import Glibc  // errno constants only; calls go through CorralSystem
#elseif canImport(Musl)
import Musl
#endif

/// An executable file as the kernel identifies it: kernel-internal dev_t and inode number.
public struct ExecutableID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// `major << 20 | minor` (what `inode->i_sb->s_dev` holds), not the stat(2) encoding.
    public var dev: UInt32
    public var ino: UInt64

    public init(dev: UInt32, ino: UInt64) {
        self.dev = dev
        self.ino = ino
    }

    public var description: String { "\(dev >> 20):\(dev & 0xF_FFFF) ino \(ino)" }

    public static func < (a: ExecutableID, b: ExecutableID) -> Bool { (a.dev, a.ino) < (b.dev, b.ino) }
}

/// A file found by an xattr scan.
public struct MarkedExecutable: Hashable, Sendable {
    public var path: String
    public var id: ExecutableID

    public init(path: String, id: ExecutableID) {
        self.path = path
        self.id = id
    }
}

/// Answers the compiler's questions about the host. Failures are reported as `Errno`
/// (ENOENT: does not exist yet); the compiler turns them into unresolved references.
public protocol HostResolver {
    /// The host path of a policy cgroup path, for messages.
    func hostPath(of cgroup: CgroupPath) -> String
    /// The cgroup id of `cgroup`: the inode number of its cgroup2 directory.
    func cgroupID(of cgroup: CgroupPath) throws(Errno) -> UInt64
    /// The device and inode of the file an `exe:` subject names (symlinks followed, as exec does).
    func executable(at path: String) throws(Errno) -> ExecutableID
    /// Files directly inside `directories` (not recursive) that resolve to regular files and carry
    /// the named extended attributes: for each name, the matching files in directory order.
    func executables(withAttributes names: Set<String>, in directories: [String]) -> [String: [MarkedExecutable]]
}

/// The real resolver: stat(2), listxattr(2), readdir(3) through CorralSystem.
public struct FileSystemResolver: HostResolver, Sendable {
    /// Where cgroup2 is mounted (normally `policy.cgroupRoot`).
    public var cgroupRoot: String

    public init(cgroupRoot: String) {
        self.cgroupRoot = cgroupRoot
    }

    public func hostPath(of cgroup: CgroupPath) -> String {
        let root = cgroupRoot.hasSuffix("/") ? String(cgroupRoot.dropLast()) : cgroupRoot
        return cgroup.components.isEmpty ? (root.isEmpty ? "/" : root) : root + cgroup.description
    }

    public func cgroupID(of cgroup: CgroupPath) throws(Errno) -> UInt64 {
        let status = try FileSystem.status(hostPath(of: cgroup))
        guard status.isDirectory else { throw Errno(rawValue: ENOTDIR) }
        return status.inode
    }

    public func executable(at path: String) throws(Errno) -> ExecutableID {
        let status = try FileSystem.status(path)
        guard status.isRegularFile else {
            throw Errno(rawValue: status.isDirectory ? EISDIR : Errno.accessDenied.rawValue)
        }
        return ExecutableID(dev: status.kernelDevice, ino: status.inode)
    }

    public func executables(withAttributes names: Set<String>, in directories: [String]) -> [String: [MarkedExecutable]] {
        var found: [String: [MarkedExecutable]] = [:]
        guard !names.isEmpty else { return found }
        for directory in directories {
            // A missing or unreadable search directory contributes nothing.
            guard let entries = try? FileSystem.directoryEntries(directory) else { continue }
            let base = directory.hasSuffix("/") ? directory : directory + "/"
            for entry in entries where entry.kind != .directory {
                let path = base + entry.name
                guard let status = try? FileSystem.status(path), status.isRegularFile,
                      let attributes = try? FileSystem.extendedAttributeNames(path) else { continue }
                let id = ExecutableID(dev: status.kernelDevice, ino: status.inode)
                for name in attributes where names.contains(name) {
                    found[name, default: []].append(MarkedExecutable(path: path, id: id))
                }
            }
        }
        return found
    }
}
