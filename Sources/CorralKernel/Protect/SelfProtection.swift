// Self-protection (docs/security.md, bpf/self-protect/): fills `corral_protect` so that only
// the daemon identity can get writable fds for Corral's maps, change its maps, programs and
// links through any fd, open or remove its pins, unmount their bpffs, or ptrace-attach the
// daemon. Program and link fds and read-only map fds stay open to root (bpftool). In the style of systemd's
// src/core/bpf-*.c features: supported / setup / update / cleanup.
//
//   let p = try SelfProtection.setup(object: object, pinDirectory: "/sys/fs/bpf/corral")
//   ... pin more, then: try p.update()
//   ... before unloading: try p.cleanup()
import CorralABI
import CorralSystem
import Glibc

public final class SelfProtection {
    /// One `corral_protect` key.
    public struct Entry: Hashable, Sendable, CustomStringConvertible {
        public var kind: Kind
        public var id: UInt64
        /// Kernel-internal dev_t (major << 20 | minor); 0 for map/program/link ids.
        public var dev: UInt32

        public init(kind: Kind, id: UInt64, dev: UInt32 = 0) {
            self.kind = kind
            self.id = id
            self.dev = dev
        }

        public var key: corral_protect_key {
            var k = corral_protect_key()
            k.id = id
            k.dev = dev
            k.kind = kind.rawValue
            return k
        }

        init?(_ k: corral_protect_key) {
            guard let kind = Kind(rawValue: k.kind) else { return nil }
            self.init(kind: kind, id: k.id, dev: k.dev)
        }

        public var description: String {
            let d = "\(dev >> 20):\(dev & 0xF_FFFF)"
            return switch kind {
            case .daemonExecutable: "daemon-exe \(d)/\(id)"
            case .map, .program, .link: "\(kind.name) id \(id)"
            case .inode: "pin inode \(d)/\(id)"
            case .superblock: "bpffs \(d)"
            }
        }
    }

    /// enum corral_protect_kind.
    public enum Kind: UInt32, Sendable, CaseIterable {
        case daemonExecutable = 1, map = 2, program = 3, link = 4, inode = 5, superblock = 6

        public var name: String {
            switch self {
            case .daemonExecutable: "daemon-exe"
            case .map: "map"
            case .program: "program"
            case .link: "link"
            case .inode: "inode"
            case .superblock: "superblock"
            }
        }
    }

    /// enum corral_protect_op: what a self-protection denial event (`ns_type`) refused.
    public enum Operation: UInt32, Sendable, CaseIterable {
        case mapByID = 1, programByID = 2, linkByID = 3, open = 4, directoryWrite = 5
        case unlink = 6, rename = 7, rmdir = 8, umount = 9, ptrace = 10, mapFD = 11, programFD = 12
        case linkUpdate = 13, linkDetach = 14, objPin = 15, programUse = 16, mapWrite = 17, mapUse = 18

        public var name: String {
            switch self {
            case .mapByID: "map-get-writable-fd-by-id"
            case .programByID: "prog-get-fd-by-id" // retired (no longer refused)
            case .linkByID: "link-get-fd-by-id" // retired
            case .open: "open-pin"
            case .directoryWrite: "write-pin-directory"
            case .unlink: "unlink"
            case .rename: "rename"
            case .rmdir: "rmdir"
            case .umount: "umount"
            case .ptrace: "ptrace-attach"
            case .mapFD: "map-new-writable-fd"
            case .programFD: "prog-new-fd" // retired
            case .linkUpdate: "link-update"
            case .linkDetach: "link-detach"
            case .objPin: "obj-pin"
            case .programUse: "prog-use"
            case .mapWrite: "map-write"
            case .mapUse: "map-use"
            }
        }

        /// The operation a raw `corral_event` with hook CORRAL_HOOK_SELF_PROTECT refused.
        public init?(event e: corral_event) {
            guard e.hook == UInt32(CORRAL_HOOK_SELF_PROTECT) else { return nil }
            self.init(rawValue: e.ns_type)
        }
    }

    /// The BPF programs (bpf/self-protect/self_protect.bpf.h) and the LSM hooks they attach to.
    public static let programs: [(name: String, hook: String)] = [
        ("protect_bpf", "bpf_lsm_bpf"), ("protect_perm", "bpf_lsm_inode_permission"),
        ("protect_unlink", "bpf_lsm_inode_unlink"), ("protect_rename", "bpf_lsm_inode_rename"),
        ("protect_rmdir", "bpf_lsm_inode_rmdir"), ("protect_umount", "bpf_lsm_sb_umount"),
        ("protect_ptrace", "bpf_lsm_ptrace_access_check"), ("protect_map", "bpf_lsm_bpf_map"),
        ("protect_prog", "bpf_lsm_bpf_prog"),
    ]
    public static let mapName = "corral_protect"

    /// Why self-protection cannot work with `object`, or nil when it can: the object must have
    /// `corral_protect` and every protect_* program enabled, and the kernel every hook.
    public static func unsupportedReason(object: CorralObject) -> String? {
        if object.isAdopted {
            let attached = Set(object.attachedProgramNames)
            for p in programs where !attached.contains(p.name) {
                return "the adopted pins have no link \(p.name) (loaded by an older corral.bpf.o)"
            }
        } else {
            let progs = object.programNames
            for p in programs {
                guard let found = progs.first(where: { $0.name == p.name }) else {
                    return "\(object.path) has no program \(p.name) (rebuild with scripts/build-bpf)"
                }
                if !found.enabled { return "program \(p.name) is not loaded (the session was opened without SessionOptions.selfProtection)" }
            }
        }
        if (try? object.map(mapName)) == nil { return "\(object.path) has no map \(mapName)" }
        if let btf = KernelBTF() {
            let missing = programs.map(\.hook).filter { btf.functionID($0) == nil }
            if !missing.isEmpty { return "kernel BTF lacks " + missing.joined(separator: ", ") }
        }
        return nil
    }

    public static func supported(object: CorralObject) -> Bool { unsupportedReason(object: object) == nil }

    public let map: BPFMap
    public let pinDirectory: String?
    private let linkFDs: () -> [Int32]
    /// Daemon identities written by this instance (or found in the map at adoption).
    public private(set) var identities: Set<Entry> = []
    /// Protected objects after the last setup/update.
    public private(set) var protected: Set<Entry> = []

    /// For a daemon that adopted pinned maps and links: `protectMap` is the pinned
    /// `corral_protect`, `linkFDs` the link fds it holds (pins under `pinDirectory` are scanned too).
    public init(protectMap: BPFMap, pinDirectory: String?, linkFDs: @escaping () -> [Int32] = { [] }) {
        map = protectMap
        self.pinDirectory = pinDirectory
        self.linkFDs = linkFDs
    }

    /// Records the calling process's executable as the daemon identity, then every map,
    /// program and link of `object` (through its links: link -> program -> maps) and every
    /// entry under `pinDirectory` (any depth), its bpffs superblock, and the ids of pinned objects.
    /// An adopted object works too: its pins are scanned (it holds no link handles).
    @discardableResult
    public static func setup(object: CorralObject, pinDirectory: String?,
                             executable: String = "/proc/self/exe") throws(KernelError) -> SelfProtection {
        if let why = unsupportedReason(object: object) { throw .object(path: object.path, reason: "self-protection: \(why)") }
        let p = SelfProtection(protectMap: try object.map(mapName), pinDirectory: pinDirectory ?? object.pinDirectory,
                               linkFDs: { object.links.map(\.fd) })
        try p.trust(executable: executable)
        try p.update()
        return p
    }

    /// Adds `executable` (its inode, following symlinks; /proc/self/exe is the caller's) as a
    /// daemon identity. More than one may be trusted, e.g. a new binary before an upgrade.
    public func trust(executable: String) throws(KernelError) {
        let st: FileStatus
        do { st = try FileSystem.status(executable) } catch { throw .system(call: "stat(\(executable))", errno: error) }
        let e = Entry(kind: .daemonExecutable, id: st.inode, dev: st.kernelDevice)
        try map.update(e.key, UInt32(1))
        identities.insert(e)
    }

    /// Removes every daemon identity except `executable`'s (the caller's by default): a daemon
    /// that adopted after an upgrade drops the old binary's inode, whose number the file system
    /// may give to another file once it is freed.
    @discardableResult
    public func dropIdentities(except executable: String = "/proc/self/exe") throws(KernelError) -> Int {
        let st: FileStatus
        do { st = try FileSystem.status(executable) } catch { throw .system(call: "stat(\(executable))", errno: error) }
        let keep = Entry(kind: .daemonExecutable, id: st.inode, dev: st.kernelDevice)
        try map.update(keep.key, UInt32(1))  // first, so there is never no identity
        var dropped = 0
        for k in try map.keys(as: corral_protect_key()) where k.kind == Kind.daemonExecutable.rawValue {
            guard let e = Entry(k), e != keep else { continue }
            try map.delete(k)
            dropped += 1
        }
        identities = [keep]
        return dropped
    }

    /// Re-scans links and pins: adds what is new, removes entries for objects and pins that
    /// are gone (identities stay). Returns how many entries were added and removed.
    @discardableResult
    public func update() throws(KernelError) -> (added: Int, removed: Int) {
        let want = try scan()
        let have = Set(try map.keys(as: corral_protect_key()).compactMap(Entry.init))
        identities.formUnion(have.filter { $0.kind == .daemonExecutable })
        guard !identities.isEmpty else {
            throw .map(name: Self.mapName, operation: "protect without a daemon identity", errno: .invalid)
        }
        let add = want.subtracting(have)
        let drop = have.filter { $0.kind != .daemonExecutable && !want.contains($0) }
        for e in add { try map.update(e.key, UInt32(1)) }
        for e in drop { try map.delete(e.key) }
        protected = want
        return (add.count, drop.count)
    }

    /// Empties `corral_protect`: protected objects first, identities last. Call before unloading.
    public func cleanup() throws(KernelError) {
        let all = try map.keys(as: corral_protect_key())
        let ordered = all.filter { $0.kind != Kind.daemonExecutable.rawValue } + all.filter { $0.kind == Kind.daemonExecutable.rawValue }
        for k in ordered { try map.delete(k) }
        protected = []
        identities = []
    }

    /// What should be protected now.
    public func scan() throws(KernelError) -> Set<Entry> {
        var out: Set<Entry> = []
        var programIDs: Set<UInt32> = []
        for fd in linkFDs() where fd >= 0 {
            let ids = try unwrap("link info", LibBPF.linkIDs(fd: fd))
            out.insert(Entry(kind: .link, id: UInt64(ids.link)))
            programIDs.insert(ids.program)
        }
        if let dir = pinDirectory, Sys.exists(dir) {
            let st = try status(dir)
            out.insert(Entry(kind: .superblock, id: 0, dev: st.kernelDevice))
            try walk(dir, st, into: &out, programs: &programIDs)
        }
        for pid in programIDs {
            let fd = try unwrap("program \(pid) by id", LibBPF.fd(byID: pid, kind: .program))
            defer { Sys.close(fd) }
            let ids = try unwrap("program \(pid) info", LibBPF.programIDs(fd: fd))
            out.insert(Entry(kind: .program, id: UInt64(ids.program)))
            for m in ids.maps {
                out.insert(Entry(kind: .map, id: UInt64(m)))
                for inner in try innerMaps(m) { out.insert(Entry(kind: .map, id: UInt64(inner))) }
            }
        }
        return out
    }

    /// The inner maps of a map-of-maps (the per-slot maps, corral_abi.h): they are written by
    /// the daemon and reachable only through the outer map, which programs use.
    private func innerMaps(_ id: UInt32) throws(KernelError) -> [UInt32] {
        let fd = try unwrap("map \(id) by id", LibBPF.fd(byID: id, kind: .map))
        defer { Sys.close(fd) }
        guard case .success(12 /* BPF_MAP_TYPE_ARRAY_OF_MAPS */) = LibBPF.mapType(fd: fd) else { return [] }
        var out: [UInt32] = []
        for slot: UInt32 in 0..<2 {
            if case .success(let v) = LibBPF.mapLookup(fd: fd, key: RawBytes.of(slot), valueSize: 4) {
                out.append(RawBytes.load(UInt32.self, from: v, zero: 0))
            }
        }
        return out
    }

    private func walk(_ path: String, _ st: FileStatus, into out: inout Set<Entry>, programs: inout Set<UInt32>) throws(KernelError) {
        out.insert(Entry(kind: .inode, id: st.inode, dev: st.kernelDevice))
        switch st.mode & UInt32(S_IFMT) {
        case UInt32(S_IFDIR):
            let entries: [(name: String, isDirectory: Bool)]
            do { entries = try Sys.listDirectory(path) } catch { throw .pin(path: path, errno: error) }
            for e in entries {
                let child = path + "/" + e.name
                try walk(child, try status(child), into: &out, programs: &programs)
            }
        case UInt32(S_IFREG):
            let fd: Int32
            switch LibBPF.objGet(path) {
            case .success(let f): fd = f
            case .failure(let e): throw .pin(path: path, errno: e)
            }
            defer { Sys.close(fd) }
            switch LibBPF.objectKind(fd: fd) {
            case .map: out.insert(Entry(kind: .map, id: UInt64(try unwrap("map info \(path)", LibBPF.mapID(fd: fd)))))
            case .link:
                let ids = try unwrap("link info \(path)", LibBPF.linkIDs(fd: fd))
                out.insert(Entry(kind: .link, id: UInt64(ids.link)))
                programs.insert(ids.program)
            case .program: programs.insert(try unwrap("program info \(path)", LibBPF.programIDs(fd: fd)).program)
            case nil: break
            }
        default: break // symlinks: the inode is protected, not followed
        }
    }

    private func status(_ path: String) throws(KernelError) -> FileStatus {
        do { return try FileSystem.status(path, followSymlinks: false) } catch { throw .pin(path: path, errno: error) }
    }

    private func unwrap<T>(_ what: String, _ r: Result<T, Errno>) throws(KernelError) -> T {
        switch r {
        case .success(let v): return v
        case .failure(let e): throw .system(call: what, errno: e)
        }
    }
}

extension CorralSession {
    /// Sets up self-protection for this session's object and pin directory (the caller's
    /// executable becomes the daemon identity). Keep the result to `update()` and `cleanup()`.
    public func protect() throws(KernelError) -> SelfProtection {
        try SelfProtection.setup(object: object, pinDirectory: object.pinDirectory ?? options.pinDirectory)
    }
}
