// Finds, opens, loads and attaches corral.bpf.o with exactly one hook set enabled
// (programs prefixed `native_` or `compat_`; unprefixed programs are shared and always load).
import CorralSystem
import Glibc

/// Where Corral's BPF object comes from (`CorralObject.locate()`).
public enum BPFObjectSource: Equatable, Sendable, CustomStringConvertible {
    /// A corral.bpf.o file: `CORRAL_BPF_OBJECT`, or the first one on the search path.
    case file(String)
    /// Section `.corral_bpf` of the running executable (scripts/build-static puts it there). It
    /// is read from /proc/self/exe, so a binary replaced on disk still loads its own object;
    /// `executable` is that binary's path, for messages.
    case embedded(executable: String)

    public var description: String {
        switch self {
        case .file(let path): path
        case .embedded(let executable): "(embedded in \(executable))"
        }
    }
}

public final class CorralObject {
    public static let defaultPinDirectory = "/sys/fs/bpf/corral"
    /// The development override: a corral.bpf.o file that wins over the embedded object.
    public static let overrideVariable = "CORRAL_BPF_OBJECT"
    /// The section of the corral binary that holds the object (added by scripts/build-static).
    public static let embeddedSection = ".corral_bpf"

    /// Where the object came from (`source.description`), or the pin directory of an adopted object.
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
    /// Files tried when neither `CORRAL_BPF_OBJECT` nor an embedded object is there (builds
    /// without scripts/build-static), in order.
    public static func searchPaths() -> [String] {
        var paths: [String] = []
        if let exe = Sys.executablePath() {
            let dir = String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)])
            paths += [dir + "/corral.bpf.o", dir + "/../lib/corral.bpf.o", dir + "/../lib/corral/corral.bpf.o"]
        }
        paths.append("/usr/lib/corral/corral.bpf.o")
        return paths
    }

    /// What the running executable holds in `embeddedSection`.
    public enum EmbeddedObject: Equatable, Sendable {
        case present(executable: String)
        case absent(executable: String)
        /// Its section table could not be read (the reason names the file).
        case unreadable(String)
    }

    /// The running executable's embedded object, if it has one (only the section table is read).
    public static func embeddedObject() -> EmbeddedObject {
        let executable = Sys.executablePath() ?? "/proc/self/exe"
        do {
            let extent = try ELFSection.find(embeddedSection, inFile: "/proc/self/exe")
            return (extent?.size ?? 0) > 0 ? .present(executable: executable) : .absent(executable: executable)
        } catch {
            return .unreadable("\(executable): \(error.reason)")
        }
    }

    /// Finds the object: `CORRAL_BPF_OBJECT`, else the object embedded in this executable, else
    /// the first file of `searchPaths()` (docs/install.md, "Where the BPF object comes from").
    public static func locate() throws(KernelError) -> BPFObjectSource {
        try choose(override: Sys.env(overrideVariable), embedded: embeddedObject,
                   searchPaths: searchPaths(), exists: Sys.exists).get()
    }

    /// The lookup order of `locate()`, given what each place holds:
    /// 1. `override` (`CORRAL_BPF_OBJECT`) when set and not empty; a file that does not exist is
    ///    an error, not a reason to load something else;
    /// 2. the object embedded in the executable;
    /// 3. the first of `searchPaths` that exists.
    /// The error names every place it looked.
    public static func choose(override: String?, embedded: () -> EmbeddedObject, searchPaths: [String],
                              exists: (String) -> Bool) -> Result<BPFObjectSource, KernelError> {
        if let override, !override.isEmpty {
            guard exists(override) else {
                return .failure(.object(path: override, reason: "not found (named by \(overrideVariable); unset it to use "
                                        + "the object embedded in the binary or the search path)"))
            }
            return .success(.file(override))
        }
        let embeddedState: String
        switch embedded() {
        case .present(let executable): return .success(.embedded(executable: executable))
        case .absent(let executable): embeddedState = "section \(embeddedSection) of \(executable) (absent)"
        case .unreadable(let reason): embeddedState = "section \(embeddedSection) (unreadable: \(reason))"
        }
        if let found = searchPaths.first(where: exists) { return .success(.file(found)) }
        let files = searchPaths.isEmpty ? "no search path" : searchPaths.joined(separator: ", ") + " (none exists)"
        return .failure(.object(path: nil, reason: "not found; looked in: \(overrideVariable) (not set), \(embeddedState), \(files). "
                                + "Build with scripts/build-static (it embeds the object), or run scripts/build-bpf and set \(overrideVariable)"))
    }

    /// Kernel functions the programs with `prefix` attach to, from their section names
    /// (lsm/X -> bpf_lsm_X, fentry/X and fexit/X -> X). Used by the probe.
    public static func attachTargets(source: BPFObjectSource, prefix: String) -> [String]? {
        guard let h = try? open(source) else { return nil }
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

    /// Opens the object's ELF image from its file or from the executable's section.
    static func open(_ source: BPFObjectSource) throws(KernelError) -> BPFObjectHandle {
        switch source {
        case .file(let path):
            return try BPFObjectHandle(path: path)
        case .embedded:
            let bytes: [UInt8]?
            do { bytes = try ELFSection.contents(embeddedSection, inFile: "/proc/self/exe") } catch {
                throw .object(path: source.description, reason: "reading section \(embeddedSection): \(error.reason)")
            }
            guard let bytes, !bytes.isEmpty else {
                throw .object(path: source.description, reason: "section \(embeddedSection) is missing or empty")
            }
            return try BPFObjectHandle(bytes: bytes, objectName: "corral", path: source.description)
        }
    }

    /// Opens the object and enables only `mode`'s program set, plus the self-protection
    /// programs (`protect_*`) when `selfProtection`.
    public init(source: BPFObjectSource, mode: KernelMode, selfProtection: Bool = false) throws(KernelError) {
        guard mode != .unsupported else { throw .unsupported([]) }
        self.path = source.description
        self.mode = mode
        let handle = try Self.open(source)
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
