// Re-resolves a running policy's cgroup references when the cgroups appear.
//
// While the installed image has unresolved cgroup references (scopes or `cgroup:` subjects that
// did not exist at compile time), the service watches the nearest existing ancestor directory of
// each with inotify (IN_CREATE, IN_MOVED_TO; kernfs delivers these for cgroup mkdir/rename) and,
// as a fallback, rescans every `rescanIntervalMillis`. When one of them exists as a directory it
// recompiles the same policy (next generation number) and installs it through the atomic
// generation switch (CorralSession.reresolve). A failed compile or install leaves the running
// generation in place; it is logged once per set of ready paths. With nothing unresolved the
// service closes its inotify fd and does nothing.
import CorralCompiler
import CorralKernel
import CorralSystem
import Glibc

public final class CgroupResolutionService {
    public let session: CorralSession
    public let rescanIntervalMillis: UInt64
    private let log: (String) -> Void
    private var inotifyFD: Int32 = -1
    private var inotifyFailed = false
    private var watches: [String: Int32] = [:]   // directory -> watch descriptor
    private var lastScan: UInt64?                 // monotonic millis
    private var failedReady: Set<String>?         // ready paths whose last attempt failed

    /// inotify events read so far (diagnostics and tests).
    public private(set) var inotifyEvents = 0
    /// Successful re-resolutions (installed generations).
    public private(set) var installs = 0

    /// Installs a recompiled generation when references resolve (the daemon passes
    /// PolicyManager.reresolve so the generation gets its record).
    let reresolve: () throws -> [UnresolvedReference]

    public init(session: CorralSession, rescanIntervalMillis: UInt64 = 2000,
                reresolve: (() throws -> [UnresolvedReference])? = nil, log: @escaping (String) -> Void) {
        self.session = session
        self.reresolve = reresolve ?? { try session.reresolve() }
        self.rescanIntervalMillis = rescanIntervalMillis
        self.log = log
    }

    deinit { stopWatching() }

    /// Unresolved cgroup references of the running image.
    public var pending: [UnresolvedReference] {
        session.image.unresolved.filter { $0.kind == .cgroupScope || $0.kind == .cgroupSubject }
    }

    /// The fd to wait on for inotify events (-1 while not watching).
    public var fileDescriptor: Int32 { inotifyFD }

    /// Non-blocking step for the daemon loop: reads inotify events, rescans when one arrived or
    /// the interval passed, and re-resolves when an unresolved cgroup now exists.
    public func tick() {
        let refs = pending
        guard !refs.isEmpty else {
            if inotifyFD >= 0 || lastScan != nil {
                stopWatching()
                lastScan = nil
            }
            return
        }
        var trigger: String?
        if lastScan == nil {
            trigger = "start"
            startWatching(refs)
        }
        if inotifyFD >= 0 {
            do {
                let evs = try Sys.readInotifyEvents(inotifyFD)
                inotifyEvents += evs.count
                if !evs.isEmpty { trigger = trigger ?? "inotify" }
            } catch {
                log("cgroup watch: reading inotify failed: \(error); falling back to rescans")
                stopWatching()
                inotifyFailed = true
            }
        }
        let now = Sys.monotonicMillis()
        if trigger == nil, let last = lastScan, now &- last >= rescanIntervalMillis { trigger = "rescan" }
        guard let trigger else { return }
        lastScan = now
        updateWatches(refs)
        resolveIfReady(refs, trigger: trigger)
    }

    // MARK: resolving

    private func resolveIfReady(_ refs: [UnresolvedReference], trigger: String) {
        let ready = Set(refs.map(\.path).filter(Self.isDirectory))
        guard !ready.isEmpty else { return }
        if ready == failedReady { return }  // already failed for exactly these; wait for a change
        let before = session.image.generation.value.generation
        do {
            let resolved = try reresolve()
            failedReady = nil
            guard !resolved.isEmpty else { return }
            installs += 1
            let gen = session.image.generation.value.generation
            for r in resolved {
                let id = (try? Sys.inode(r.path)).map { " (cgroup id \($0))" } ?? ""
                log("rule \(r.ruleID): \(r.kind.rawValue) \(r.path)\(id) resolved, enforced from generation \(gen) (was \(before); \(trigger))")
            }
            let left = pending.count
            if left == 0 { log("cgroup watch: every cgroup reference resolved; watch stopped") }
        } catch {
            failedReady = ready
            log("cgroup watch: re-resolution failed, generation \(before) stays active: \(error)")
        }
        if pending.isEmpty { stopWatching() } else { updateWatches(pending) }
    }

    // MARK: watching

    private func startWatching(_ refs: [UnresolvedReference]) {
        if !inotifyFailed && inotifyFD < 0 {
            do { inotifyFD = try Sys.inotifyInit() } catch {
                inotifyFailed = true
                log("cgroup watch: inotify unavailable (\(error)); rescanning every \(rescanIntervalMillis) ms")
            }
        }
        updateWatches(refs)
        let paths = refs.map(\.path)
        log("cgroup watch: \(refs.count) unresolved cgroup reference(s) (\(paths.joined(separator: ", "))); watching \(watches.keys.sorted().joined(separator: ", ")), rescan every \(rescanIntervalMillis) ms")
    }

    /// Watches the nearest existing ancestor of every unresolved path; drops watches no longer needed.
    private func updateWatches(_ refs: [UnresolvedReference]) {
        guard inotifyFD >= 0 else { return }
        var wanted = Set<String>()
        for r in refs { if let dir = Self.nearestExistingAncestor(of: r.path) { wanted.insert(dir) } }
        for (dir, wd) in watches where !wanted.contains(dir) {
            Sys.inotifyRemoveWatch(inotifyFD, wd)
            watches[dir] = nil
        }
        for dir in wanted where watches[dir] == nil {
            do {
                watches[dir] = try Sys.inotifyAddWatch(inotifyFD, dir, mask: Sys.inotifyCreate | Sys.inotifyMovedTo)
            } catch {
                log("cgroup watch: cannot watch \(dir): \(error); relying on rescans")
            }
        }
    }

    private func stopWatching() {
        if inotifyFD >= 0 { Sys.close(inotifyFD) }
        inotifyFD = -1
        watches = [:]
    }

    static func nearestExistingAncestor(of path: String) -> String? {
        var p = path
        while let slash = p.lastIndex(of: "/") {
            p = slash == p.startIndex ? "/" : String(p[..<slash])
            if isDirectory(p) { return p }
            if p == "/" { return nil }
        }
        return nil
    }

    static func isDirectory(_ path: String) -> Bool {
        guard let st = try? Sys.fileStatus(path) else { return false }
        return st.st_mode & S_IFMT == S_IFDIR
    }
}
