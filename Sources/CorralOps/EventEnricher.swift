// Kernel event -> recorded event: adds the id, the boot id and what /proc still knows about the
// actor (docs/operations.md §3). Best effort: a task that is gone yields `actor_exe: null`.
import CorralEvents
import CorralSystem
import Glibc

public struct EventEnricher: Sendable {
    /// First 8 hex digits of the boot id; nil when it could not be read.
    public let bootID: String?
    public let procRoot: String
    /// Read the executable's xattr names too (`actor_exe_xattrs`, for `xattr:` subjects).
    public var readXattrs: Bool
    /// Rule id → origin in the active generation (`Policy.ruleOrigins`): fills `rule_origin`.
    public var ruleOrigins: [String: String] = [:]

    public init(procRoot: String = "/proc", bootID: String? = nil, readXattrs: Bool = true) {
        self.procRoot = procRoot
        self.bootID = bootID ?? Self.readBootID(path: procRoot + "/sys/kernel/random/boot_id")
        self.readXattrs = readXattrs
    }

    /// The first 8 hex digits of a boot_id file ("3f1b5a0e-…" -> "3f1b5a0e").
    public static func readBootID(path: String = "/proc/sys/kernel/random/boot_id") -> String? {
        guard let text = try? Sys.readFile(path) else { return nil }
        let hex = text.filter(\.isHexDigit).lowercased()
        return hex.count >= 8 ? String(hex.prefix(8)) : nil
    }

    /// The recorded form of a kernel `event`: the boot id, the origin of its rule and the actor's
    /// executable as /proc shows it now.
    public func enrich(_ event: Event) -> Event {
        var recorded = event
        recorded.bootID = bootID
        recorded.ruleOrigin = event.rule.flatMap { ruleOrigins[$0] }
        let (exe, xattrs) = actorExecutable(tgid: event.tgid ?? 0)
        recorded.actorExe = exe
        recorded.actorExeXattrs = xattrs
        if let path = event.actorCgroupPath {
            let w = Workload.identify(cgroupPath: path)
            recorded.actorUnit = w.unit
            recorded.actorContainer = w.container
            recorded.actorPod = w.pod
        }
        if let ts = event.timestampNs {
            recorded.time = WallClock.rfc3339(monotonicNanos: ts, nowMonotonic: Sys.monotonicNanos(),
                                              nowRealtime: Sys.realTimeNanos())
        }
        return recorded
    }

    /// For an actor that kept its identity across an anonymous exec (`exe_carried`): names the
    /// executable (device and inode from its corral_task_state) by the first of `candidates`
    /// (the policy's `exe:` paths) with that inode, else `inode INO on MAJ:MIN`; sets
    /// `actor_exe_carried` and that file's xattr names.
    public func recordCarriedExecutable(_ recorded: inout Event, dev: UInt32, ino: UInt64,
                                        candidates: [String]) {
        let match = candidates.first { path in
            guard let st = try? FileSystem.status(path) else { return false }
            return st.kernelDevice == dev && st.inode == ino
        }
        recorded.actorExeCarried = match ?? "inode \(ino) on \(dev >> 20):\(dev & 0xF_FFFF)"
        if readXattrs, let match {
            recorded.actorExeXattrs = (try? FileSystem.extendedAttributeNames(match)).map { $0.sorted() }
        }
    }

    /// `/proc/<tgid>/exe` and its xattr names; (nil, nil) when the task is gone or has no executable.
    public func actorExecutable(tgid: UInt32) -> (exe: String?, xattrs: [String]?) {
        guard tgid != 0 else { return (nil, nil) }
        let link = "\(procRoot)/\(tgid)/exe"
        guard let target = try? Sys.readlink(link), !target.isEmpty else {
            return (nil, nil)
        }
        guard readXattrs else { return (target, nil) }
        // listxattr follows the magic link to the very file the task runs, even if renamed or deleted.
        let names = (try? FileSystem.extendedAttributeNames(link)).map { $0.sorted() }
        return (target, names)
    }
}
