// `corral why` (io.corral.Why): would moving a task to a cgroup, or a task entering a namespace,
// be allowed now, and by which rule? The live state (tasks, cgroups, namespaces, kernel locks and
// tracked namespaces) comes through `LiveState`; the decision is the reference evaluator's.
import CorralEvaluator
import CorralPolicy

public enum WhyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// io.corral.NoSuchProcess.
    case noSuchProcess(Int32)
    /// org.varlink.service.InvalidParameter.
    case invalidParameter(String, String)
    /// io.corral.KernelError.
    case kernel(String)

    public var description: String {
        switch self {
        case .noSuchProcess(let pid): "no such process: \(pid)"
        case .invalidParameter(let name, let reason): "invalid parameter \(name): \(reason)"
        case .kernel(let reason): "kernel: \(reason)"
        }
    }
}

/// What `why` needs to know about the running system.
public protocol LiveState {
    /// The task now: tgid (pid1), comm, executable (spelled as the policy's `exe:` subject when it
    /// is the same file) and its xattrs the policy names, cgroup path under the policy's cgroup
    /// root, and its kernel task lock.
    func task(pid: Int32) throws(WhyError) -> TaskState
    /// The id of a cgroup (path under the policy's cgroup root); nil when it does not exist.
    func cgroupID(_ path: CgroupPath) -> UInt64?
    /// Type and inode of the namespace a `/proc/X/ns/T` path names.
    func namespace(at path: String) throws(WhyError) -> (type: NamespaceType, inum: UInt32)
    /// The tracked label of namespace `inum` (kernel state); nil when untracked.
    func trackedLabel(inum: UInt32) throws(WhyError) -> String?
}

public struct WhyQuery: Sendable, Hashable {
    public enum Destination: Sendable, Hashable {
        /// `to_cgroup`: a path under the policy's cgroup root.
        case cgroup(CgroupPath)
        /// `enter`: a `/proc/X/ns/T` path.
        case namespace(String)
    }

    /// The task to move, or that would setns.
    public var pid: Int32
    /// Who writes cgroup.procs (default: `pid` itself). setns is always decided for `pid`.
    public var actor: Int32
    public var destination: Destination

    public init(pid: Int32, actor: Int32? = nil, destination: Destination) {
        self.pid = pid
        self.actor = actor ?? pid
        self.destination = destination
    }

    /// The Why request's parameters: `pid`, `actor`, and exactly one of `to_cgroup` / `enter`.
    public static func parse(pid: Int32, actor: Int32?, toCgroup: String?, enter: String?) throws(WhyError) -> WhyQuery {
        guard pid > 0 else { throw .invalidParameter("pid", "must be a positive process id") }
        if let actor, actor <= 0 { throw .invalidParameter("actor", "must be a positive process id") }
        switch (toCgroup, enter) {
        case (let path?, nil):
            guard let cgroup = CgroupPath(path) else {
                throw .invalidParameter("to_cgroup", "'\(path)' is not an absolute cgroup path under the cgroup root")
            }
            if cgroup.isPattern {
                throw .invalidParameter("to_cgroup", "'\(path)' is a pattern; name the one cgroup to move to")
            }
            return WhyQuery(pid: pid, actor: actor, destination: .cgroup(cgroup))
        case (nil, let path?):
            if let actor, actor != pid {
                throw .invalidParameter("actor", "setns is decided for the entering task itself; omit actor")
            }
            guard NamespacePaths.parse(path) != nil else {
                throw .invalidParameter("enter", "'\(path)' is not a /proc/PID/ns/TYPE path")
            }
            return WhyQuery(pid: pid, actor: pid, destination: .namespace(path))
        case (nil, nil):
            throw .invalidParameter("to_cgroup", "give one of to_cgroup or enter")
        case (_?, _?):
            throw .invalidParameter("enter", "give only one of to_cgroup or enter")
        }
    }

    /// Decides the operation under `policy` (the active generation's effective policy).
    /// `now`: CLOCK_BOOTTIME nanoseconds, which decides whether a loosened rule is still audit.
    public func answer(policy: Policy, generation: UInt64, auditAll: Bool = false, now: UInt64 = 0,
                       live: some LiveState) throws(WhyError) -> WhyAnswer {
        let task = try live.task(pid: pid)
        var tasks = [task]
        var tracked: [TrackedNamespace] = []
        var cgroupIDs: [CgroupPath: UInt64] = [:]
        let operation: Evaluator.Operation
        let question: String
        switch destination {
        case .cgroup(let dst):
            guard let dstID = live.cgroupID(dst) else {
                throw .invalidParameter("to_cgroup", "no cgroup \(dst) under \(policy.cgroupRoot)")
            }
            cgroupIDs[dst] = dstID
            if let id = live.cgroupID(task.cgroup) { cgroupIDs[task.cgroup] = id }
            var actorTask = task
            if actor != pid {
                actorTask = try live.task(pid: actor)
                tasks.append(actorTask)
                if let id = live.cgroupID(actorTask.cgroup) { cgroupIDs[actorTask.cgroup] = id }
            }
            operation = .cgroupAttach(actor: actor, target: pid, src: task.cgroup, dst: dst, threadgroup: true, via: .procs)
            question = "may \(Self.describe(actorTask)) move \(actor == pid ? "itself" : Self.describe(task)) from \(task.cgroup) to \(dst) (cgroup.procs)?"
        case .namespace(let path):
            let ns = try live.namespace(at: path)
            if let label = try live.trackedLabel(inum: ns.inum) {
                tracked.append(TrackedNamespace(inum: ns.inum, label: label, type: ns.type, ruleID: "", creatorTgid: 0))
            }
            operation = .namespaceInstall(actor: pid, type: ns.type, inum: ns.inum)
            question = "may \(Self.describe(task)) enter \(path) (\(ns.type.rawValue) \(ns.inum)\(tracked.first.map { ", label '\($0.label)'" } ?? ", untracked"))?"
        }
        var decision = Evaluator.decide(operation, in: Evaluator.World(
            policy: policy, auditAll: auditAll, tasks: tasks, trackedNamespaces: tracked, cgroupIDs: cgroupIDs,
            now: now))
        decision.record.hookCount = 0
        var lines = ["why: " + question, "answer: " + DecisionExplainer.summary(decision),
                     "policy: \(policy.source), generation \(generation)\(auditAll ? " (audit-all)" : "")"]
        for t in tasks { lines.append("task: " + Self.taskLine(t)) }
        lines.append("")
        lines.append(DecisionExplainer.render(decision).replacing(
            "hook: \(decision.hook.rawValue) (count 0)", with: "hook: \(decision.hook.rawValue)"))
        return WhyAnswer(generation: generation, text: lines.joined(separator: "\n"), decision: decision)
    }

    static func describe(_ t: TaskState) -> String {
        t.comm.isEmpty ? "task \(t.pid)" : "task \(t.pid) (\(t.comm))"
    }

    static func taskLine(_ t: TaskState) -> String {
        var parts = ["pid \(t.pid)", "tgid \(t.tgid)"]
        if !t.comm.isEmpty { parts.append("comm \(t.comm)") }
        parts.append("exe \(t.exe.isEmpty ? "(unknown)" : t.exe)")
        if !t.exeXattrs.isEmpty { parts.append("xattrs [\(t.exeXattrs.sorted().joined(separator: ", "))]") }
        parts.append("cgroup \(t.cgroup)")
        parts.append(t.lock.map { "locked by \($0.ruleID) (label '\($0.label)', inum \($0.inum))" } ?? "not locked")
        return parts.joined(separator: ", ")
    }
}

/// What `corral why` found: the decision against the active generation, and the text. The
/// daemon's `io.corral.Why` reply carries its verdict, rule, mode, errno, generation and text.
public struct WhyAnswer: Sendable {
    public var generation: UInt64
    public var text: String
    public var decision: Decision

    public init(generation: UInt64, text: String, decision: Decision) {
        self.generation = generation
        self.text = text
        self.decision = decision
    }

    public var verdict: Verdict { decision.verdict }
    public var rule: String? { decision.rule }
    /// Where that rule comes from (`Policy.origin(of:)`).
    public var ruleOrigin: String? { decision.ruleOrigin }
    public var mode: RuleMode? { decision.mode }
    /// The errno a denial returns (0 unless denied).
    public var errno: Int32 { decision.err }

    /// The CLI's exit status: 1 for deny, else 0 (docs/operations.md §4).
    public var exitStatus: Int32 { verdict == .deny ? 1 : 0 }
}

/// `/proc/<pid>/ns/<name>` paths.
public enum NamespacePaths {
    /// The owning pid and the namespace type; `pid_for_children`/`time_for_children` name the
    /// namespace the task's children get.
    public static func parse(_ path: String) -> (pid: String, type: NamespaceType)? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard path.hasPrefix("/"), parts.count >= 4, parts[parts.count - 2] == "ns",
              parts[parts.count - 4] == "proc" else { return nil }
        let name = parts[parts.count - 1]
        let base = name.hasSuffix("_for_children") ? name.dropLast("_for_children".count) : name
        guard let type = NamespaceType(rawValue: String(base)) else { return nil }
        return (String(parts[parts.count - 3]), type)
    }
}
