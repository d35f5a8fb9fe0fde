// PolicyFileWatcher: notices when the content of one policy file changes, however it was
// replaced (docs/operations.md, "Watching the policy file"):
//
//   Kubernetes ConfigMap volume   DIR/policy.yaml -> ..data/policy.yaml, and `..data` (a symlink
//                                 to a timestamped directory) renamed over by kubelet: IN_MOVED_TO
//                                 of `..data` in DIR; the file's own name never changes
//   editors, `install`, Ansible   a temporary file renamed over the name: IN_MOVED_TO
//   in-place writes               IN_MODIFY ... IN_CLOSE_WRITE of the name itself
//   a symlink to elsewhere        the link's target directory is watched too
//
// It watches the file's directory (and the directory the path resolves to) and treats every
// event as "look again": after a burst has been quiet for `Timing.quietMillis` (or at most
// `Timing.maxDelayMillis` after its first event) it re-reads the file through its symlinks and
// calls `onChange` when the bytes differ from the last ones it saw. Reading only after a quiet
// period keeps it from seeing an in-place write half done.
//
// With fragment directories (docs/policy.md, "Fragments") it watches each of them too: any event
// in one (a fragment added, edited, renamed over, masked by a /dev/null symlink, removed) makes
// the look after the burst call `onChange` with `fileChanged: false` even when the main file is
// unchanged; the caller reads the fragments again and compares. A fragment directory that does
// not exist is watched through its nearest existing ancestor, for the next component's name
// only (so /usr/lib's other traffic is ignored); once the directory appears it is watched itself.
import CorralPolicy
import CorralSystem
import Glibc
import Logging

public final class PolicyFileWatcher {
    public struct Timing: Sendable {
        /// A burst of events ends after this much quiet.
        public var quietMillis: UInt64
        /// ...or this long after its first event, so a directory that never rests is still read.
        public var maxDelayMillis: UInt64
        /// While the watched directory is gone, how often to try to watch it again.
        public var rewatchMillis: UInt64

        public init(quietMillis: UInt64 = 250, maxDelayMillis: UInt64 = 2000, rewatchMillis: UInt64 = 1000) {
            self.quietMillis = quietMillis
            self.maxDelayMillis = maxDelayMillis
            self.rewatchMillis = rewatchMillis
        }
    }

    /// Directory events that may mean the file's content changed.
    static let directoryMask = Sys.inotifyCreate | Sys.inotifyMovedTo | Sys.inotifyMovedFrom | Sys.inotifyModify
        | Sys.inotifyCloseWrite | Sys.inotifyAttrib | Sys.inotifyDelete | Sys.inotifyDeleteSelf | Sys.inotifyMoveSelf
        | Sys.inotifyOnlyDirectory

    public let path: String
    /// Fragment directories watched along with `path`.
    public let fragmentDirectories: [String]
    public let timing: Timing
    /// The file's content the last time it was read (or the baseline given at start).
    public private(set) var lastSeen: [UInt8]
    /// Why the file cannot be read now (nil when it can).
    public private(set) var unreadable: String?
    /// Reads done (a read whose bytes equal `lastSeen` counts too).
    public private(set) var reads = 0

    private let onChange: (_ text: String, _ fileChanged: Bool) -> Void
    private let logger: Logger
    private weak var reactor: Reactor?
    private var inotifyFD: Int32 = -1
    /// The watch on the directory that holds `path` (nil while that directory is gone).
    private var directoryWatch: Int32?
    /// The directory `path` resolves to through symlinks, when that is another directory.
    private var target: (directory: String, watch: Int32)?
    private var pendingRead: Reactor.TimerID?
    private var burstStart: UInt64?
    private var rewatchTimer: Reactor.TimerID?
    /// Watch descriptor → the name of the entry in that directory that matters (the missing
    /// fragment directory's next component), or nil when every event there matters.
    private var fragmentWatches: [Int32: String?] = [:]
    /// An event in a fragment directory since the last look.
    private var fragmentsTouched = false

    /// `baseline`: the content already applied (the daemon read the file at start); a different
    /// content found by the first read counts as a change.
    public init(path: String, baseline: String, fragmentDirectories: [String] = [], timing: Timing = Timing(),
                logger: Logger, onChange: @escaping (_ text: String, _ fileChanged: Bool) -> Void) {
        self.path = path
        self.fragmentDirectories = fragmentDirectories
        self.timing = timing
        self.lastSeen = Array(baseline.utf8)
        self.logger = logger
        self.onChange = onChange
    }

    /// The directory part of `path` ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public func start(_ reactor: Reactor) throws(Errno) {
        self.reactor = reactor
        inotifyFD = try Sys.inotifyInit()
        do {
            try reactor.register(inotifyFD, interest: .read) { [weak self] _ in self?.readEvents() }
            directoryWatch = try Sys.inotifyAddWatch(inotifyFD, Self.directory(of: path), mask: Self.directoryMask)
        } catch {
            stop()
            throw error
        }
        watchTarget()
        watchFragmentDirectories()
        // The file (or a fragment) may have changed between the daemon's first read and this watch.
        fragmentsTouched = !fragmentDirectories.isEmpty
        scheduleRead()
    }

    public func stop() {
        if let t = pendingRead { reactor?.cancelTimer(t) }
        if let t = rewatchTimer { reactor?.cancelTimer(t) }
        pendingRead = nil
        rewatchTimer = nil
        if inotifyFD >= 0 {
            reactor?.remove(inotifyFD)
            Sys.close(inotifyFD)
            inotifyFD = -1
        }
        directoryWatch = nil
        target = nil
        fragmentWatches = [:]
    }

    private func readEvents() {
        let events: [Sys.InotifyEvent]
        do { events = try Sys.readInotifyEvents(inotifyFD) } catch {
            logger.error("watching \(path): reading inotify events: \(error)")
            return
        }
        guard !events.isEmpty else { return }
        var relevant = false
        var rewatchFragments = false
        for e in events {
            if let name = fragmentWatches[e.wd], name == nil || name == e.name {
                fragmentsTouched = true
                relevant = true
                // The directory appeared, or went away: watch it (or its ancestor) afresh.
                rewatchFragments = rewatchFragments || name != nil
                    || e.mask & (Sys.inotifyIgnored | Sys.inotifyDeleteSelf | Sys.inotifyMoveSelf) != 0
            }
            if e.wd == directoryWatch || e.wd == target?.watch { relevant = true }
            if e.wd == directoryWatch, e.mask & (Sys.inotifyIgnored | Sys.inotifyDeleteSelf | Sys.inotifyMoveSelf) != 0 {
                lostDirectory()
            } else if e.wd == target?.watch, e.mask & Sys.inotifyIgnored != 0 {
                target = nil // the old timestamped directory of a ConfigMap, removed after the swap
            }
        }
        if rewatchFragments { watchFragmentDirectories() }
        if relevant { scheduleRead() }
    }

    /// Debounce: one read per burst, `quietMillis` after its last event, at most
    /// `maxDelayMillis` after its first.
    private func scheduleRead() {
        guard let reactor else { return }
        let now = Sys.monotonicMillis()
        let first = burstStart ?? now
        burstStart = first
        if let t = pendingRead { reactor.cancelTimer(t) }
        let latest = first + timing.maxDelayMillis
        let delay = min(timing.quietMillis, latest > now ? latest - now : 0)
        pendingRead = reactor.addTimer(after: delay) { [weak self] in
            guard let self else { return }
            self.pendingRead = nil
            self.burstStart = nil
            self.readFile()
        }
    }

    private func readFile() {
        watchTarget()
        watchFragmentDirectories()
        reads += 1
        let bytes: [UInt8]
        // One byte over the loader's limit is enough for it to refuse the file by its size.
        do { bytes = try Sys.readRegularFile(path, limit: PolicyLoader.maxFileSize + 1) } catch {
            let reason = error.rawValue == EINVAL ? "not a regular file" : "\(error)"
            if unreadable != reason {
                logger.warning("policy file \(path) cannot be read (\(reason)); the running generation stays, watching for it to come back")
            }
            unreadable = reason
            return
        }
        if unreadable != nil {
            logger.info("policy file \(path) can be read again")
            unreadable = nil
        }
        let fileChanged = bytes != lastSeen
        guard fileChanged || fragmentsTouched else { return }
        lastSeen = bytes
        fragmentsTouched = false
        onChange(String(decoding: bytes, as: UTF8.self), fileChanged)
    }

    /// Watches each fragment directory, or while it does not exist its nearest existing ancestor
    /// for the name of the next component. Watches no longer needed are removed, except one that
    /// is also the main file's.
    private func watchFragmentDirectories() {
        guard !fragmentDirectories.isEmpty, inotifyFD >= 0 else { return }
        var next: [Int32: String?] = [:]
        for directory in fragmentDirectories {
            var watched = directory
            var name: String? = nil
            while true {
                if let wd = try? Sys.inotifyAddWatch(inotifyFD, watched, mask: Self.directoryMask) {
                    // Two entries on one directory with different names: every event there matters.
                    if let existing = next[wd] { next[wd] = .some(existing == name ? name : nil) } else { next[wd] = .some(name) }
                    break
                }
                guard watched != "/", watched != "." else { break }
                name = watched.split(separator: "/").last.map(String.init)
                watched = Self.directory(of: watched)
            }
        }
        for wd in fragmentWatches.keys where next[wd] == nil && wd != directoryWatch && wd != target?.watch {
            Sys.inotifyRemoveWatch(inotifyFD, wd)
        }
        fragmentWatches = next
    }

    /// The directory holding `path` was removed, renamed or unmounted: watch it again by name
    /// once it is back.
    private func lostDirectory() {
        guard let wd = directoryWatch else { return }
        directoryWatch = nil
        Sys.inotifyRemoveWatch(inotifyFD, wd) // after a rename the old watch would follow the moved directory
        logger.warning("watching \(path): its directory \(Self.directory(of: path)) is gone; retrying every \(timing.rewatchMillis) ms")
        guard rewatchTimer == nil, let reactor else { return }
        rewatchTimer = reactor.addTimer(after: timing.rewatchMillis, repeating: timing.rewatchMillis) { [weak self] in
            self?.rewatch()
        }
    }

    private func rewatch() {
        guard let wd = try? Sys.inotifyAddWatch(inotifyFD, Self.directory(of: path), mask: Self.directoryMask) else { return }
        directoryWatch = wd
        if let t = rewatchTimer { reactor?.cancelTimer(t) }
        rewatchTimer = nil
        logger.info("watching \(path) again")
        scheduleRead()
    }

    /// Watches the directory `path` resolves to when it differs from the one holding `path`
    /// (a symlink to a file elsewhere, so that a rename over the target is seen too).
    private func watchTarget() {
        guard let resolved = try? Sys.resolvedPath(path) else { return }
        let dir = Self.directory(of: resolved)
        if target?.directory == dir { return }
        if let old = target, old.watch != directoryWatch { Sys.inotifyRemoveWatch(inotifyFD, old.watch) }
        target = nil
        // The same directory under another name gets the same watch descriptor: nothing to add.
        guard let wd = try? Sys.inotifyAddWatch(inotifyFD, dir, mask: Self.directoryMask), wd != directoryWatch else { return }
        target = (dir, wd)
    }
}
