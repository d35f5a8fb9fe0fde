// FileSystemResolver and CorralSystem.FileSystem against real files.
import CorralCompiler
import CorralPolicy
import CorralSystem
import Foundation
import Testing

/// What the host offers, probed once: the tests that need something absent are skipped with
/// the reason (shown by the runner as skipped), never passed without testing.
enum HostFacts {
    /// The mount holding the temporary directory: (mount point, major:minor, fstype).
    static let tempMount: (point: String, majorMinor: String, fstype: String)? = {
        let real = URL(fileURLWithPath: FileManager.default.temporaryDirectory.path).resolvingSymlinksInPath().path
        guard let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        // fields: id parent major:minor root mountpoint options... - fstype source superopts
        var best: (point: String, majorMinor: String, fstype: String)?
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count > 6, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let point = fields[4].replacingOccurrences(of: "\\040", with: " ")
            let within = point == "/" || real == point || real.hasPrefix(point + "/")
            if within, point.count >= (best?.point.count ?? -1) { best = (point, fields[2], fields[dash + 1]) }
        }
        return best
    }()

    /// st_dev of files on overlay, btrfs and fuse is not the mount's major:minor.
    static let tempDevIsMountDev = tempMount.map { m in !["overlay", "btrfs", "fuse"].contains { m.fstype.hasPrefix($0) } } ?? false

    /// The mount point of a cgroup2 mount of the root cgroup, if one is visible.
    static let rootCgroup2: String? = {
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        guard let line = mounts.split(separator: "\n").first(where: { $0.contains(" - cgroup2 ") }) else { return nil }
        let fields = line.split(separator: " ").map(String.init)
        return fields[3] == "/" ? fields[4] : nil
    }()

    /// Whether the temporary directory's filesystem takes user.* xattrs.
    static let tempTakesUserXattrs: Bool = {
        guard let tree = try? TempTree("corral-xattr-probe"), let f = try? tree.executable("f") else { return false }
        return (try? FileSystem.setExtendedAttribute(f, name: "user.corral.probe", value: [])) != nil
    }()
}

@Suite struct ResolverTests {
    @Test func kernelDeviceEncoding() {
        // glibc makedev(8, 1) = 0x801 -> kernel MKDEV(8, 1) = 0x00800001
        #expect(FileSystem.kernelDevice(fromUserDevice: 0x801) == 0x0080_0001)
        // makedev(254, 0) = 0xfe00 -> 0x0fe00000
        #expect(FileSystem.kernelDevice(fromUserDevice: 0xFE00) == 0x0FE0_0000)
        // makedev(259, 65536): minor above 8 bits and major above 8 bits use the high halves.
        let user: UInt64 = (UInt64(259 & 0xFFF) << 8) | (UInt64(65536 & 0xFF)) | (UInt64(65536 & ~0xFF) << 12)
        #expect(user == 0x1001_0300)
        #expect(FileSystem.major(user) == 259 && FileSystem.minor(user) == 65536)
        #expect(FileSystem.kernelDevice(fromUserDevice: user) == (259 << 20 | 65536))
    }

    /// The kernel's dev_t for a file is the major:minor /proc/self/mountinfo shows for its mount.
    @Test(.enabled(if: HostFacts.tempDevIsMountDev,
                   "the temporary directory is on overlay, btrfs or fuse (or its mount is not in mountinfo): st_dev is not the mount's major:minor"))
    func kernelDeviceMatchesMountinfo() throws {
        let tree = try TempTree()
        let exe = try tree.executable("tool")
        let mount = try #require(HostFacts.tempMount)
        let parts = mount.majorMinor.split(separator: ":").compactMap { UInt32($0) }
        let expected = parts[0] << 20 | parts[1]
        let id = try FileSystemResolver(cgroupRoot: "/").executable(at: exe)
        #expect(id.dev == expected, "mount \(mount.point) \(mount.majorMinor)")
        #expect(id.ino == (try FileSystem.status(exe)).inode)
    }

    @Test func statReportsTypeAndInode() throws {
        let tree = try TempTree()
        let dirIno = try tree.mkdir("d")
        let exe = try tree.executable("f")
        try tree.symlink("l", to: exe)
        #expect(try FileSystem.status(tree.path("d")).isDirectory)
        #expect(try FileSystem.status(tree.path("d")).inode == dirIno)
        #expect(try FileSystem.status(exe).isRegularFile)
        #expect(try FileSystem.status(tree.path("l")).isRegularFile)
        #expect(try FileSystem.status(tree.path("l"), followSymlinks: false).isSymbolicLink)
        #expect(throws: Errno.noSuchFile) { try FileSystem.status(tree.path("nope")) }
        let names = try FileSystem.directoryEntries(tree.root).map(\.name).sorted()
        #expect(names == ["d", "f", "l"])
        let kinds = Dictionary(uniqueKeysWithValues: try FileSystem.directoryEntries(tree.root).map { ($0.name, $0.kind) })
        #expect(kinds["d"] == .directory || kinds["d"] == .unknown)
        #expect(throws: Errno.noSuchFile) { try FileSystem.directoryEntries(tree.path("nope")) }
    }

    @Test func cgroupIDIsTheDirectoryInode() throws {
        let tree = try TempTree()
        let rootIno = try FileSystem.status(tree.root).inode
        let child = try tree.mkdir("a/b")
        try tree.executable("file")
        let resolver = FileSystemResolver(cgroupRoot: tree.root + "/")
        #expect(resolver.hostPath(of: cg("/a/b")) == tree.root + "/a/b")
        #expect(try resolver.cgroupID(of: cg("/a/b")) == child)
        #expect(try resolver.cgroupID(of: .root) == rootIno)
        #expect(throws: Errno.noSuchFile) { try resolver.cgroupID(of: cg("/a/c")) }
        #expect(throws: Errno(rawValue: 20)) { try resolver.cgroupID(of: cg("/file")) }  // ENOTDIR
        #expect(throws: Errno(rawValue: 21)) { try resolver.executable(at: tree.path("a")) }  // EISDIR
    }

    /// On a real cgroup2 mount the root cgroup's directory has inode 1 (its cgroup id).
    @Test(.enabled(if: HostFacts.rootCgroup2 != nil, "no cgroup2 mount of the root cgroup is visible here"))
    func realCgroup2RootHasIDOne() throws {
        let mountPoint = try #require(HostFacts.rootCgroup2)
        #expect(try FileSystemResolver(cgroupRoot: mountPoint).cgroupID(of: .root) == 1)
    }

    @Test(.enabled(if: HostFacts.tempTakesUserXattrs, "the temporary directory's filesystem does not take user.* xattrs"))
    func xattrScanFindsMarkedRegularFilesNonRecursively() throws {
        let tree = try TempTree()
        let marked = try tree.executable("bin/marked")
        let plain = try tree.executable("bin/plain")
        let nested = try tree.executable("bin/sub/nested")
        try tree.symlink("bin/alias", to: marked)
        let other = try tree.executable("sbin/other")
        try FileSystem.setExtendedAttribute(marked, name: "user.corral.role", value: Array("manager".utf8))
        try FileSystem.setExtendedAttribute(nested, name: "user.corral.role", value: [])
        try FileSystem.setExtendedAttribute(tree.path("bin/sub"), name: "user.corral.role", value: [])
        try FileSystem.setExtendedAttribute(other, name: "user.corral.other", value: [])
        #expect(try FileSystem.extendedAttribute(marked, name: "user.corral.role") == Array("manager".utf8))
        #expect(try FileSystem.hasExtendedAttribute(marked, name: "user.corral.role"))
        #expect(try !FileSystem.hasExtendedAttribute(plain, name: "user.corral.role"))
        #expect(try FileSystem.extendedAttributeNames(marked).contains("user.corral.role"))
        #expect(throws: Errno.noData) { try FileSystem.extendedAttribute(plain, name: "user.corral.role") }

        let resolver = FileSystemResolver(cgroupRoot: tree.root)
        let found = resolver.executables(withAttributes: ["user.corral.role", "user.corral.other"],
                                         in: [tree.path("bin"), tree.path("sbin"), tree.path("missing")])
        let markedID = try resolver.executable(at: marked)
        // The symlink resolves to the same file (the kernel sees the target when it is exec'd).
        #expect(Set(found["user.corral.role"]?.map(\.path) ?? []) == [marked, tree.path("bin/alias")])
        #expect(found["user.corral.role"]?.allSatisfy { $0.id == markedID } == true)
        #expect(found["user.corral.other"]?.map(\.path) == [other])

        // Through the compiler: one xattr subject and one exe subject on the same file OR their bits.
        let policy = Policy(cgroupRoot: tree.root, rules: numbered([
            Rule(id: "x", kind: .managers, subjects: [Subject(matcher: .xattr("user.corral.role"))]),
            Rule(id: "e", kind: .managers, subjects: [Subject(matcher: .exe(marked))]),
            Rule(id: "o", kind: .managers, subjects: [Subject(matcher: .xattr("user.corral.other"))]),
        ]))
        let image = try PolicyCompiler.compile(policy, gen: 0, generation: 1, resolver: resolver,
                                               options: CompileOptions(xattrSearchPaths: [tree.path("bin"), tree.path("sbin")]))
        #expect(image.unresolved.isEmpty)
        #expect(image.subjectExes.count == 2)
        let entry = try #require(image.subjectExes.first { $0.key.ino == markedID.ino })
        #expect(entry.key.dev == markedID.dev && entry.value == 0b011)
        #expect(image.subjectExes.first { $0.key.ino != markedID.ino }?.value == 0b100)
    }
}
