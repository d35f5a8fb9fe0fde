// Randomized differential testing (issue 17), part 3: shrinking a failing case and writing it as a
// scenario file (docs/scenarios.md) that `corral simulate` replays.
import CorralEvaluator
import CorralPolicy

public enum Shrinker {
    /// Delta debugging (ddmin, complement-only): removes chunks of `items` while `fails` holds,
    /// from halves down to single items. `budget` caps the calls of `fails`.
    public static func minimize<T>(_ items: [T], budget: inout Int, fails: ([T]) -> Bool) -> [T] {
        var current = items
        var chunks = 2
        while current.count >= 1 && budget > 0 {
            let size = max(1, (current.count + chunks - 1) / chunks)
            var reduced = false
            var start = 0
            while start < current.count && budget > 0 {
                var candidate = current
                candidate.removeSubrange(start..<min(start + size, current.count))
                budget -= 1
                if fails(candidate) {
                    current = candidate
                    reduced = true
                } else {
                    start += size
                }
            }
            if reduced { chunks = max(chunks - 1, 2); continue }
            if size == 1 { break }
            chunks = min(chunks * 2, current.count)
        }
        return current
    }
}

/// A task that exists before the first step.
public struct InitialTask: Hashable, Sendable {
    public var pid: Int32
    public var tgid: Int32
    public var exe: String
    public var xattrs: [String]
    public var cgroup: CgroupPath

    public init(pid: Int32, tgid: Int32, exe: String, xattrs: [String], cgroup: CgroupPath) {
        self.pid = pid
        self.tgid = tgid
        self.exe = exe
        self.xattrs = xattrs
        self.cgroup = cgroup
    }
}

public enum ScenarioWriter {
    /// Renders a scenario: `policies[0]` is the starting policy (file `policy-0.yaml`), `.policy(i)`
    /// steps swap to `policy-i.yaml`. Steps with an observation get an `expect:` (`errno` only where
    /// given). Returns the scenario text and the policy files (name, text).
    public static func render(
        description: String, policies: [String],
        tasks: [InitialTask], steps: [(step: EvalStep, observed: ObservedDecision?, compareErrno: Bool)]
    ) -> (scenario: String, files: [(name: String, text: String)]) {
        func name(_ pid: Int32) -> String { "p\(pid)" }
        var out = "# \(description)\n"
        out += "policy: policy-0.yaml\n"
        // The namespaces steps enter that no step creates are declared up front (the host's).
        let created: Set<String> = Set(steps.compactMap { if case .alloc(_, _, _, let n) = $0.step { n } else { nil } })
        var declared: [(name: String, type: NamespaceType, inum: UInt32)] = []
        for s in steps {
            if case .install(_, let type, let inum, let n) = s.step, !created.contains(n), !declared.contains(where: { $0.name == n }) {
                declared.append((n, type, inum))
            }
        }
        if !declared.isEmpty {
            out += "namespaces:\n"
            for ns in declared { out += "  \(ns.name): {type: \(ns.type.rawValue), inum: \(ns.inum)}\n" }
        }
        out += "tasks:\n"
        for t in tasks {
            out += "  - {name: \(name(t.pid)), pid: \(t.pid)\(t.tgid != t.pid ? ", tgid: \(t.tgid)" : ""), exe: \(t.exe)"
            if !t.xattrs.isEmpty { out += ", xattrs: [\(t.xattrs.joined(separator: ", "))]" }
            out += ", cgroup: '\(t.cgroup)'}\n"
        }
        out += "steps:\n"
        for (step, observed, compareErrno) in steps {
            var line: String
            switch step {
            case .fork(let p, let c, let t):
                line = "fork: {parent: \(name(p)), child: \(name(c)), pid: \(c)\(t ? ", thread: true" : "")}"
            case .exec(let p, let exe, let x):
                line = "exec: {task: \(name(p)), exe: \(exe)\(x.isEmpty ? "" : ", xattrs: [\(x.joined(separator: ", "))]")}"
            case .exit(let p):
                line = "exit: \(name(p))"
            case .alloc(let a, let t, let i, let n):
                line = "unshare: {task: \(name(a)), types: [\(t.rawValue)], as: \(n), inum: \(i)}"
            case .install(let a, _, _, let n):
                line = "setns: {task: \(name(a)), ns: \(n)}"
            case .attach(let a, let t, let d, let v):
                line = "migrate: {task: \(name(a)), target: \(name(t)), to: '\(d)', via: \(v.rawValue)}"
            case .clone3(let p, let c, let d):
                line = "clone3: {parent: \(name(p)), child: \(name(c)), pid: \(c), into: '\(d)'}"
            case .policy(let i):
                line = "policy: policy-\(i).yaml"
            case .auditAll(let on):
                line = "audit-all: \(on)"
            }
            out += "  - " + line + "\n"
            if let o = observed {
                var e = "verdict: \(o.verdict.rawValue), rule: \(o.rule ?? "~")"
                if compareErrno { e += ", errno: \(o.errno)" }
                out += "    expect: {\(e)}\n"
            }
        }
        let files = policies.enumerated().map { (name: "policy-\($0.offset).yaml", text: $0.element) }
        return (out, files)
    }
}
