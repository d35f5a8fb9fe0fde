// Finds, opens, loads and attaches corral.bpf.o with exactly one hook set enabled
// (programs prefixed `native_` or `compat_`; unprefixed programs are shared and always load).
import CorralSystem
import Glibc

public final class CorralObject {
    public static let defaultPinDirectory = "/sys/fs/bpf/corral"

    public let path: String
    public let mode: KernelMode
    /// nil for an adopted object: its programs run from pinned links, its maps come from pins.
    private let handle: BPFObjectHandle?
    private var adoptedMapFDs: [String: Int32] = [:]
    public private(set) var links: [BPFLinkHandle] = []
    public private(set) var loaded = false
    /// Set once links and maps are pinned (or adopted from pins).
    public private(set) var pinDirectory: String?

    /// Pins: `DIR/links/<program>` and `DIR/maps/<map>` (docs/operations.md §1).
    public static func linksDirectory(_ dir: String) -> String { dir + "/links" }
    public static func mapsDirectory(_ dir: String) -> String { dir + "/maps" }

    /// True when a daemon left pinned state to adopt in `dir`.
    public static func hasPinnedState(_ dir: String) -> Bool {
        Sys.exists(mapsDirectory(dir) + "/corral_control")
    }
    /// Where corral.bpf.o is looked for, in order.
    public static func searchPaths() -> [String] {
        var paths: [String] = []
        if let env = Sys.env("CORRAL_BPF_OBJECT"), !env.isEmpty { paths.append(env) }
        if let exe = Sys.executablePath() {
            let dir = String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)])
            paths += [dir + "/corral.bpf.o", dir + "/../lib/corral.bpf.o", dir + "/../lib/corral/corral.bpf.o"]
        }
        paths.append("/usr/lib/corral/corral.bpf.o")
        return paths
    }

    public static func locate() throws(KernelError) -> String {
        for p in searchPaths() where Sys.exists(p) { return p }
        throw .object(path: nil, reason: "not found; looked in " + searchPaths().joined(separator: ", ")
                      + " (set CORRAL_BPF_OBJECT or run scripts/build-bpf)")
    }

    /// Kernel functions the programs with `prefix` attach to, from their section names
    /// (lsm/X -> bpf_lsm_X, fentry/X and fexit/X -> X). Used by the probe.
    public static func attachTargets(objectPath: String, prefix: String) -> [String]? {
        guard let h = try? BPFObjectHandle(path: objectPath) else { return nil }
        var out: [String] = []
        for p in h.programs where p.name.hasPrefix(prefix) {
            let sec = p.sectionName
            guard let slash = sec.firstIndex(of: "/") else { continue }
            let kind = sec[..<slash], target = String(sec[sec.index(after: slash)...])
            switch kind {
            case "lsm", "lsm.s": out.append("bpf_lsm_" + target)
            case "fentry", "fexit", "fentry.s", "fexit.s", "fmod_ret": out.append(target)
            default: continue
            }
        }
        return Array(Set(out)).sorted()
    }

    /// Opens the object and enables only `mode`'s program set, plus the self-protection
    /// programs (`protect_*`) when `selfProtection`.
    public init(path: String, mode: KernelMode, selfProtection: Bool = false) throws(KernelError) {
        guard mode != .unsupported else { throw .unsupported([]) }
        self.path = path
        self.mode = mode
        let handle = try BPFObjectHandle(path: path)
        self.handle = handle
        let keep = mode == .native ? "native_" : "compat_"
        let drop = mode == .native ? "compat_" : "native_"
        var kept = 0
        for p in handle.programs {
            if p.name.hasPrefix(drop) || (!selfProtection && p.name.hasPrefix("protect_")) { p.setAutoload(false) }
            if p.name.hasPrefix(keep) { kept += 1 }
        }
        if kept == 0 { throw .object(path: path, reason: "has no \(keep)* programs") }
    }

    /// Adopts what a previous daemon pinned in `dir`: opens every pinned map; the pinned links
    /// keep the programs attached throughout (nothing is detached or re-attached). The mode is
    /// read from the pinned links' names.
    public init(adopting dir: String) throws(KernelError) {
        let mapsDir = Self.mapsDirectory(dir), linksDir = Self.linksDirectory(dir)
        let linkNames: [String]
        do { linkNames = try Sys.listDirectory(linksDir).map(\.name) } catch { throw .pin(path: linksDir, errno: error) }
        if linkNames.contains(where: { $0.hasPrefix("native_") }) { mode = .native }
        else if linkNames.contains(where: { $0.hasPrefix("compat_") }) { mode = .compat }
        else { throw .object(path: linksDir, reason: "holds no pinned native_* or compat_* link to adopt") }
        let mapNames: [String]
        do { mapNames = try Sys.listDirectory(mapsDir).map(\.name) } catch { throw .pin(path: mapsDir, errno: error) }
        var fds: [String: Int32] = [:]
        for name in mapNames {
            switch LibBPF.objGet(mapsDir + "/" + name) {
            case .success(let fd): fds[name] = fd
            case .failure(let e):
                for (_, fd) in fds { Sys.close(fd) }
                throw .pin(path: mapsDir + "/" + name, errno: e)
            }
        }
        handle = nil
        path = dir
        adoptedMapFDs = fds
        loaded = true
        pinDirectory = dir
    }

    public var isAdopted: Bool { handle == nil }

    public var programNames: [(name: String, section: String, enabled: Bool)] {
        handle?.programs.map { ($0.name, $0.sectionName, $0.autoload) } ?? []
    }

    /// Names of the pinned links (adopted object) or of the attached programs.
    public var attachedProgramNames: [String] {
        if let dir = pinDirectory, handle == nil {
            return ((try? Sys.listDirectory(Self.linksDirectory(dir))) ?? []).map(\.name).sorted()
        }
        return links.map(\.program)
    }

    /// Run count and run time of every attached program (needs `BPFStats.enableRunTime()` for
    /// the counters to move). Adopted objects read them through the pinned links.
    public func programStats() -> [(name: String, runCount: UInt64, runTimeNs: UInt64)] {
        if handle != nil {
            return links.compactMap { BPFStats.programOfLink(fd: $0.fd) }
        }
        guard let dir = pinDirectory else { return [] }
        return attachedProgramNames.compactMap { name in
            guard case .success(let fd) = LibBPF.objGet(Self.linksDirectory(dir) + "/" + name) else { return nil }
            defer { Sys.close(fd) }
            return BPFStats.programOfLink(fd: fd)
        }
    }

    public func load() throws(KernelError) {
        guard let handle else { return }
        try handle.load()
        loaded = true
    }

    /// Attaches every enabled program. With `pinDirectory`, pins the maps as DIR/maps/MAP first,
    /// then each link as DIR/links/PROGRAM, so the programs outlive this process until unpinned.
    public func attach(pinDirectory: String? = nil) throws(KernelError) {
        guard let handle else { return }
        if let dir = pinDirectory {
            for d in [dir, Self.mapsDirectory(dir), Self.linksDirectory(dir)] {
                do { try Sys.mkdirs(d) } catch { throw .pin(path: d, errno: error) }
            }
            self.pinDirectory = dir
        }
        do {
            if let dir = pinDirectory {
                for name in handle.mapNames {
                    let pin = Self.mapsDirectory(dir) + "/" + name
                    if Sys.exists(pin) { try? Sys.unlink(pin) } // stale pin of an unadoptable daemon
                    try handle.pinMap(name, at: pin)
                }
            }
            for p in handle.programs where p.autoload {
                let link = try handle.attach(p)
                links.append(link)
                if let dir = pinDirectory {
                    let pin = Self.linksDirectory(dir) + "/" + p.name
                    if Sys.exists(pin) { try? Sys.unlink(pin) }
                    try link.pin(at: pin)
                }
            }
        } catch {
            unload()
            throw error
        }
    }

    /// Removes every pin and destroys every link: enforcement stops once no other holder remains.
    public func unload() {
        for l in links.sorted(by: { Self.isPolicyProgram($0.program) && !Self.isPolicyProgram($1.program) }) {
            try? l.unpin()
            l.destroy()
        }
        links.removeAll()
        if let dir = pinDirectory {
            for sub in [Self.linksDirectory(dir), Self.mapsDirectory(dir)] {
                // Policy programs first: each released LSM link waits for its trampoline update,
                // and the shared programs (self-protection) sit on some of the same trampolines.
                let names = ((try? Sys.listDirectory(sub)) ?? []).map(\.name)
                    .sorted { (Self.isPolicyProgram($0) ? 0 : 1, $0) < (Self.isPolicyProgram($1) ? 0 : 1, $1) }
                for name in names { try? Sys.unlink(sub + "/" + name) }
                try? Sys.rmdir(sub)
            }
            try? Sys.rmdir(dir)
            pinDirectory = nil
        }
    }

    static func isPolicyProgram(_ name: String) -> Bool { name.hasPrefix("native_") || name.hasPrefix("compat_") }

    /// Lets go of this process's references and keeps the pins: enforcement continues and the
    /// next daemon adopts it. Without pins this is `unload()`.
    public func release() {
        guard pinDirectory != nil else { unload(); return }
        links.removeAll() // pinned links survive their handles
        pinDirectory = nil
    }

    /// Kept for `corral run` and tests: unpin and detach.
    public func detach() { unload() }

    public func map(_ name: String) throws(KernelError) -> BPFMap {
        if let handle { return BPFMap(name: name, fd: try handle.mapFD(name)) }
        guard let fd = adoptedMapFDs[name] else {
            throw .map(name: name, operation: "find among adopted pins", errno: Errno(rawValue: ENOENT))
        }
        return BPFMap(name: name, fd: fd)
    }

    /// Without an explicit `unload()`, pins survive the object (a pinned daemon keeps enforcing).
    deinit {
        release()
        for (_, fd) in adoptedMapFDs { Sys.close(fd) }
    }
}
