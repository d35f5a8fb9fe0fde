// Finds, opens, loads and attaches corral.bpf.o with exactly one hook set enabled
// (programs prefixed `native_` or `compat_`; unprefixed programs are shared and always load).
import CorralSystem
import Glibc

public final class CorralObject {
    public static let defaultPinDirectory = "/sys/fs/bpf/corral"

    public let path: String
    public let mode: KernelMode
    private let handle: BPFObjectHandle
    public private(set) var links: [BPFLinkHandle] = []
    public private(set) var loaded = false
    private var pinnedDirectory: String?

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

    /// Opens the object and enables only `mode`'s program set.
    public init(path: String, mode: KernelMode) throws(KernelError) {
        guard mode != .unsupported else { throw .unsupported([]) }
        self.path = path
        self.mode = mode
        handle = try BPFObjectHandle(path: path)
        let keep = mode == .native ? "native_" : "compat_"
        let drop = mode == .native ? "compat_" : "native_"
        var kept = 0
        for p in handle.programs {
            if p.name.hasPrefix(drop) { p.setAutoload(false) }
            if p.name.hasPrefix(keep) { kept += 1 }
        }
        if kept == 0 { throw .object(path: path, reason: "has no \(keep)* programs") }
    }

    public var programNames: [(name: String, section: String, enabled: Bool)] {
        handle.programs.map { ($0.name, $0.sectionName, $0.autoload) }
    }

    public func load() throws(KernelError) {
        try handle.load()
        loaded = true
    }

    /// Attaches every enabled program. With `pinDirectory`, pins each link as DIR/PROGRAM so the
    /// programs outlive this process until unpinned.
    public func attach(pinDirectory: String? = nil) throws(KernelError) {
        if let dir = pinDirectory {
            do { try Sys.mkdirs(dir) } catch { throw .pin(path: dir, errno: error) }
            pinnedDirectory = dir
        }
        do {
            for p in handle.programs where p.autoload {
                let link = try handle.attach(p)
                links.append(link)
                if let dir = pinDirectory {
                    let pin = dir + "/" + p.name
                    if Sys.exists(pin) { try? Sys.unlink(pin) } // stale pin from a crashed daemon
                    try link.pin(at: pin)
                }
            }
        } catch {
            detach()
            throw error
        }
    }

    /// Unpins and destroys every link: enforcement stops once no other holder remains.
    public func detach() {
        for l in links {
            try? l.unpin()
            l.destroy()
        }
        links.removeAll()
        if let dir = pinnedDirectory { try? Sys.rmdir(dir); pinnedDirectory = nil }
    }

    public func map(_ name: String) throws(KernelError) -> BPFMap {
        BPFMap(name: name, fd: try handle.mapFD(name))
    }

    deinit { detach() }
}
