// The live state `why` reads on a running system: /proc/<pid>/{status,comm,exe,cgroup}, the
// executable's xattrs, /proc/X/ns/T inodes, cgroup directory inodes, and, through
// `KernelStateReader`, the kernel's task locks (corral_task_state) and tracked namespaces
// (corral_tracked_ns).
import CorralABI
import CorralEvaluator
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

/// A task's lock as the kernel stores it (`struct corral_task_state`).
public struct KernelTaskLock: Sendable, Hashable {
    public var ruleUID: UInt32
    public var labelID: UInt32
    public var inum: UInt32

    public init(ruleUID: UInt32, labelID: UInt32, inum: UInt32) {
        self.ruleUID = ruleUID
        self.labelID = labelID
        self.inum = inum
    }
}

/// A tracked namespace as the kernel stores it (`struct corral_tracked_ns`).
public struct KernelTrackedNamespace: Sendable, Hashable {
    public var labelID: UInt32
    /// CLONE_NEW* flag.
    public var nsType: UInt32
    public var ruleUID: UInt32
    public var creatorTgid: UInt32

    public init(labelID: UInt32, nsType: UInt32, ruleUID: UInt32, creatorTgid: UInt32) {
        self.labelID = labelID
        self.nsType = nsType
        self.ruleUID = ruleUID
        self.creatorTgid = creatorTgid
    }
}

/// Reads Corral's per-task and per-namespace kernel state. The daemon passes a
/// `SessionStateReader` over its session; tests pass a fake.
public protocol KernelStateReader {
    /// The task's lock; nil when it is not locked.
    func taskLock(pid: Int32) throws(WhyError) -> KernelTaskLock?
    /// The namespace's tracked state; nil when it is untracked.
    func trackedNamespace(inum: UInt32) throws(WhyError) -> KernelTrackedNamespace?
}

/// `KernelStateReader` over a loaded or adopted session's maps.
public struct SessionStateReader: KernelStateReader {
    public let session: CorralSession

    public init(session: CorralSession) { self.session = session }

    public func taskLock(pid: Int32) throws(WhyError) -> KernelTaskLock? {
        let state: corral_task_state?
        do { state = try session.taskState(pid: pid) } catch {
            if case .system(_, let errno) = error, errno.rawValue == ESRCH { throw .noSuchProcess(pid) }
            throw .kernel("reading the task state of \(pid): \(error)")
        }
        guard let state, state.flags & UInt32(CORRAL_TASK_LOCKED) != 0 else { return nil }
        return KernelTaskLock(ruleUID: state.lock_rule_uid, labelID: state.lock_label, inum: state.lock_inum)
    }

    public func trackedNamespace(inum: UInt32) throws(WhyError) -> KernelTrackedNamespace? {
        let value: corral_tracked_ns?
        do { value = try session.trackedNamespace(inum: inum) } catch {
            throw .kernel("reading corral_tracked_ns[\(inum)]: \(error)")
        }
        return value.map { KernelTrackedNamespace(labelID: $0.label, nsType: $0.ns_type, ruleUID: $0.rule_uid,
                                                  creatorTgid: $0.creator_tgid) }
    }
}

public struct ProcLiveState: LiveState {
    public let policy: Policy
    public let kernel: any KernelStateReader
    public let procRoot: String
    /// Where the cgroup2 hierarchy /proc/<pid>/cgroup paths are relative to is mounted.
    public let cgroupMount: String

    /// `cgroupMount` nil: the cgroup2 mount from /proc/self/mountinfo (default /sys/fs/cgroup).
    public init(policy: Policy, kernel: any KernelStateReader, procRoot: String = "/proc", cgroupMount: String? = nil) {
        self.policy = policy
        self.kernel = kernel
        self.procRoot = procRoot
        self.cgroupMount = cgroupMount ?? Self.findCgroup2Mount(mountinfo: procRoot + "/self/mountinfo") ?? "/sys/fs/cgroup"
    }

    public func task(pid: Int32) throws(WhyError) -> TaskState {
        let dir = "\(procRoot)/\(pid)"
        guard let status = try? Sys.readFile(dir + "/status") else { throw .noSuchProcess(pid) }
        let tgid = Self.statusField(status, "Tgid").flatMap { Int32($0) } ?? pid
        let comm = (try? Sys.readFile(dir + "/comm")).map { Self.trimmed($0[...]) }
            ?? Self.statusField(status, "Name") ?? ""
        var task = TaskState(pid: pid, tgid: tgid, comm: comm)
        (task.exe, task.exeXattrs) = executable(dir + "/exe")
        guard let cgroupText = try? Sys.readFile(dir + "/cgroup") else { throw .noSuchProcess(pid) }
        task.cgroup = try policyCgroup(cgroupText, pid: pid)
        if let lock = try kernel.taskLock(pid: pid) {
            task.lock = TaskLock(ruleID: ruleName(lock.ruleUID), label: labelName(lock.labelID), inum: lock.inum)
        }
        task.namespaces = Self.namespaces(dir)
        return task
    }

    /// The namespaces the task is in: the inode of each /proc/PID/ns file (as `namespace(at:)`
    /// reads them); pid and time: `*_for_children`, which is what setns(2) changes.
    static func namespaces(_ dir: String) -> [NamespaceType: UInt32] {
        var out: [NamespaceType: UInt32] = [:]
        for type in NamespaceType.allCases {
            let file = type == .pid || type == .time ? "\(type.procName)_for_children" : type.procName
            if let inode = try? Sys.inode("\(dir)/ns/\(file)") { out[type] = UInt32(truncatingIfNeeded: inode) }
        }
        return out
    }

    public func cgroupID(_ path: CgroupPath) -> UInt64? {
        try? Sys.inode(policy.cgroupRoot + (path == .root ? "" : path.description))
    }

    public func namespace(at path: String) throws(WhyError) -> (type: NamespaceType, inum: UInt32) {
        guard let parsed = NamespacePaths.parse(path) else {
            throw .invalidParameter("enter", "'\(path)' is not a /proc/PID/ns/TYPE path")
        }
        do {
            return (parsed.type, UInt32(truncatingIfNeeded: try Sys.inode(path)))
        } catch {
            if let pid = Int32(parsed.pid), !Sys.exists("\(procRoot)/\(pid)") { throw .noSuchProcess(pid) }
            throw .invalidParameter("enter", "cannot stat \(path): \(error)")
        }
    }

    public func trackedLabel(inum: UInt32) throws(WhyError) -> String? {
        try kernel.trackedNamespace(inum: inum).map { labelName($0.labelID) }
    }

    // MARK: helpers

    /// The executable path (the policy's spelling when an `exe:` subject is the same file) and
    /// the xattr names the policy's `xattr:` subjects ask about that it carries.
    func executable(_ link: String) -> (String, Set<String>) {
        guard var exe = try? Sys.readlink(link) else { return ("", []) }
        if exe.hasSuffix(" (deleted)") { exe.removeLast(" (deleted)".count) }
        var exePaths: [String] = []
        var xattrNames: Set<String> = []
        for subject in policy.subjects + policy.rules.flatMap(\.subjects) {
            switch subject.matcher {
            case .exe(let path): exePaths.append(path)
            case .xattr(let name): xattrNames.insert(name)
            default: break
            }
        }
        if !exePaths.contains(exe), let running = try? FileSystem.status(link) {
            for path in exePaths {
                if let st = try? FileSystem.status(path), st.device == running.device, st.inode == running.inode {
                    exe = path
                    break
                }
            }
        }
        var xattrs: Set<String> = []
        if !xattrNames.isEmpty, let names = try? FileSystem.extendedAttributeNames(link) {
            xattrs = Set(names).intersection(xattrNames)
        }
        return (exe, xattrs)
    }

    /// The cgroup2 line of /proc/<pid>/cgroup as a path under the policy's cgroup root.
    func policyCgroup(_ text: String, pid: Int32) throws(WhyError) -> CgroupPath {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else {
            throw .kernel("/proc/\(pid)/cgroup has no cgroup2 entry")
        }
        let relative = String(line.dropFirst(3))
        let absolute = cgroupMount + (relative == "/" ? "" : relative)
        let root = policy.cgroupRoot.hasSuffix("/") ? String(policy.cgroupRoot.dropLast()) : policy.cgroupRoot
        guard absolute == root || absolute.hasPrefix(root + "/"), let path = CgroupPath(String(absolute.dropFirst(root.count)).isEmpty ? "/" : String(absolute.dropFirst(root.count))) else {
            throw .invalidParameter("pid", "task \(pid)'s cgroup \(absolute) lies outside the policy's cgroup root \(root)")
        }
        return path
    }

    func ruleName(_ uid: UInt32) -> String {
        policy.rules.first { StableID.of($0.id) == uid }?.id ?? Sys.format("uid:%08x", uid)
    }

    func labelName(_ id: UInt32) -> String {
        for rule in policy.rules {
            for label in rule.labels + (rule.trackLabel.map { [$0] } ?? []) where StableID.of(label) == id { return label }
        }
        return Sys.format("id:%08x", id)
    }

    /// `text` without leading and trailing whitespace (spaces, tabs, newlines).
    static func trimmed(_ text: Substring) -> String {
        var s = text
        while let c = s.first, c == " " || c == "\t" || c == "\n" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" { s.removeLast() }
        return String(s)
    }

    static func statusField(_ status: String, _ name: String) -> String? {
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return trimmed(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// The mount point of the first cgroup2 filesystem in a mountinfo file.
    public static func findCgroup2Mount(mountinfo path: String) -> String? {
        guard let text = try? Sys.readFile(path) else { return nil }
        for line in text.split(separator: "\n") {
            let halves = line.split(separator: " - ", omittingEmptySubsequences: false)
            guard halves.count >= 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count >= 5 { return String(fields[4].replacing("\\040", with: " ")) }
        }
        return nil
    }
}
