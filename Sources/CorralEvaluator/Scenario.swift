// Scenario files: a policy, tasks, and steps with expected decisions (docs/scenarios.md).
import CorralPolicy

/// A namespace named by a scenario: declared up front (e.g. the host's) or created by `unshare`.
public struct NamedNamespace: Sendable, Hashable {
    public var type: NamespaceType
    public var inum: UInt32
}

public struct ScenarioTask: Sendable, Hashable {
    public var name: String
    public var pid: Int32
    public var tgid: Int32?
    public var comm: String?
    public var exe: String
    public var xattrs: [String]
    public var cgroup: CgroupPath
    public var traced: Bool
    public var location: SourceLocation
    /// Declared namespaces the task is in (setns into one of them, except mnt and user, is not an
    /// entry).
    public var namespaces: [String] = []
}

/// What one step does. Task and namespace names are resolved by the loader.
public enum ScenarioAction: Sendable, Hashable {
    /// unshare(2) of `types`, creating namespaces with `inums` (one per type, in order);
    /// `name` (one type only) names the new namespace.
    case unshare(task: String, types: [NamespaceType], name: String?, inums: [UInt32])
    case fork(parent: String, child: String, pid: Int32, thread: Bool)
    case setns(task: String, ns: String)
    /// `anonymous`: the file has no name (memfd, O_TMPFILE); the task keeps its identity.
    case exec(task: String, exe: String, xattrs: [String], anonymous: Bool)
    case exit(task: String)
    /// `actor` writes `target`'s pid into `to`/cgroup.procs or cgroup.threads.
    case migrate(actor: String, target: String, to: CgroupPath, via: AttachVia)
    case clone3(parent: String, child: String, pid: Int32, into: CgroupPath, thread: Bool)
    case free(ns: String)
    /// Swap to the policy at `path` (resolved), or unload it (nil).
    case policy(path: String?)
    /// The global audit switch.
    case auditAll(Bool)

    public var name: String {
        switch self {
        case .unshare: "unshare"
        case .fork: "fork"
        case .setns: "setns"
        case .exec: "exec"
        case .exit: "exit"
        case .migrate: "migrate"
        case .clone3: "clone3"
        case .free: "free"
        case .policy: "policy"
        case .auditAll: "audit-all"
        }
    }

    /// Steps that produce a decision may carry an expectation.
    public var decides: Bool {
        switch self {
        case .unshare, .setns, .migrate, .clone3, .free: true
        default: false
        }
    }
}

/// Expected record fields (all optional).
public struct RecordExpectation: Sendable, Hashable {
    public var pid: Int32?
    public var tgid: Int32?
    public var targetPID: Int32?
    public var srcCgroup: UInt64?
    public var dstCgroup: UInt64?
    public var threadgroup: UInt8?
    public var nsType: NamespaceType?
    public var nsInum: UInt32?
    public var nsLabel: String?
    public var hookCount: UInt64?
    public var hookCountAtLeast: UInt64?

    public init() {}
}

public struct Expectation: Sendable, Hashable {
    public enum RuleExpectation: Sendable, Hashable {
        /// The decision reports no rule (default allow).
        case none
        case id(String)
    }
    public var verdict: Verdict?
    public var rule: RuleExpectation?
    public var errno: Int32?
    public var record: RecordExpectation?
    /// Label the new namespace is tracked with.
    public var tracked: String?
    /// Rule id the actor becomes locked by.
    public var locked: String?

    public init(verdict: Verdict? = nil) { self.verdict = verdict }
}

public struct ScenarioStep: Sendable, Hashable {
    /// 1-based.
    public var number: Int
    public var action: ScenarioAction
    public var expect: Expectation?
    public var location: SourceLocation
}

public struct Scenario: Sendable {
    public var source: String
    /// The policy named by the scenario, resolved against the scenario's directory.
    public var policyPath: String?
    public var auditAll: Bool
    public var cgroups: [CgroupPath: UInt64]
    public var namespaces: [String: NamedNamespace]
    public var tasks: [ScenarioTask]
    public var steps: [ScenarioStep]

    /// Resolves `path` against the directory of `file` unless it is absolute.
    public static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let slash = file.lastIndex(of: "/") else { return path }
        return String(file[...slash]) + path
    }
}
