// Randomized differential testing (issue 17), part 1: a small fixed world and a seeded generator
// of random valid policies over it. Shared by the host twin (Tests/CorralEvaluatorTests) and the
// guest runner (corral-ktest differential/random).
import CorralPolicy

/// The fixed world random policies and operations talk about: a cgroup subtree (with a threaded
/// part), three executables with their xattrs, labels. Paths are relative to `base`.
public struct RandomWorld: Sendable {
    /// The subtree's root, relative to the cgroup root ("/ktest/random").
    public var base: String
    /// Cgroups below `base` (parents before children). `t` is a threaded domain, `t/t1`, `t/t2`
    /// are threaded (cgroup.threads moves happen between them).
    public var cgroups: [String] = ["a", "a/x", "a/y", "b", "b/x", "c-1.svc", "c-2.svc", "c-2.svc/sub", "t", "t/t1", "t/t2"]
    public var threaded: Set<String> = ["t/t1", "t/t2"]
    /// Executables workers can run: [0] is the runner's own binary. Each has its xattrs.
    public var exes: [String]
    public var exeXattrs: [[String]]
    /// An `exe:` path that exists nowhere (an unresolved subject: matches nothing).
    public var missingExe = "/nonexistent/corral-rand"
    public var xattrNames = ["trusted.corral.rand-x", "trusted.corral.rand-y", "trusted.corral.rand-z"]
    public var labels = ["red", "green", "blue"]
    /// Namespace types the operations create and enter (user, pid, time and net namespaces are
    /// left out: see docs/testing.md, "Randomized differential testing"). Policies name every type.
    public var opTypes: [NamespaceType] = [.uts, .ipc, .cgroup, .mnt]

    public init(base: String = "/ktest/random", exes: [String], exeXattrs: [[String]]) {
        self.base = base
        self.exes = exes
        self.exeXattrs = exeXattrs
    }

    /// The host twin's world: three executables, [1] carries x and y, [2] carries y.
    public static let host = RandomWorld(exes: ["/opt/rand/orig", "/opt/rand/exe-a", "/opt/rand/exe-b"],
                                         exeXattrs: [[], ["trusted.corral.rand-y"], ["trusted.corral.rand-x", "trusted.corral.rand-y"]])

    public func path(_ rel: String) -> CgroupPath { CgroupPath(rel.isEmpty ? base : base + "/" + rel)! }
    /// Every cgroup operations move tasks to: the root, the base and the cgroups below it.
    public var destinations: [CgroupPath] { [.root, path("")] + cgroups.map(path) }

    /// Scopes policies use: exact paths and patterns (`*`, `pre*suf`, `**`) over the subtree.
    public var scopes: [String] {
        let b = base
        return [b, b + "/a", b + "/a/x", b + "/b", b + "/c-2.svc", b + "/t", b + "/t/t1",
                b + "/*", b + "/c-*.svc", b + "/**", b + "/a/*", b + "/**/x", b + "/*/x", b + "/c-*", b + "/t/*",
                b + "/*.svc/**", b + "/nowhere"]
    }
}

/// One generated rule before rendering (the YAML is the artefact: it is what the scenario file
/// names, and parsing it is what validates it).
public struct GeneratedRule: Sendable, Hashable {
    public var id: String
    public var kind: RuleKind
    /// Rendered matcher maps, e.g. `{exe: /x}`; empty: no `subject:` key (any).
    public var subjects: [String] = []
    public var types: [NamespaceType] = []
    public var labels: [String] = []
    public var label: String? = nil
    public var denyUnshare: Bool? = nil
    public var ptraceScope: Bool? = nil
    public var cgroups: [String] = []
    public var mode: RuleMode? = nil
    public var errno: String? = nil
    public var overrides: [String] = []
    public var uids: [String] = []
    public var setgroups: Bool? = nil

    public var yaml: String {
        var lines = ["  - id: \(id)", "    kind: \(kind.rawValue)"]
        if !subjects.isEmpty {
            let key = kind == .delegated ? "manager" : "subject"
            lines.append(subjects.count == 1 ? "    \(key): \(subjects[0])" : "    \(key): [\(subjects.joined(separator: ", "))]")
        }
        if !types.isEmpty { lines.append("    types: [\(types.map(\.rawValue).joined(separator: ", "))]") }
        if !labels.isEmpty { lines.append("    labels: [\(labels.joined(separator: ", "))]") }
        if let label { lines.append("    label: \(label)") }
        if let denyUnshare { lines.append("    deny-unshare: \(denyUnshare)") }
        if let ptraceScope { lines.append("    ptrace-scope: \(ptraceScope)") }
        if kind == .delegated, let c = cgroups.first { lines.append("    cgroup: \(c)") }
        else if !cgroups.isEmpty { lines.append("    cgroups: [\(cgroups.map { "'\($0)'" }.joined(separator: ", "))]") }
        if let mode { lines.append("    mode: \(mode.rawValue)") }
        if let errno { lines.append("    errno: \(errno)") }
        if !overrides.isEmpty { lines.append("    overrides: [\(overrides.joined(separator: ", "))]") }
        if !uids.isEmpty { lines.append("    uids: [\(uids.map { "\"\($0)\"" }.joined(separator: ", "))]") }
        if let setgroups { lines.append("    setgroups: \(setgroups ? "allow" : "deny")") }
        return lines.joined(separator: "\n")
    }
}

/// A generated policy: its rules, its YAML and the parsed `Policy`.
public struct GeneratedPolicy: Sendable {
    public var defaultMode: RuleMode
    public var rules: [GeneratedRule]
    public var cgroupRoot: String

    public init(defaultMode: RuleMode, rules: [GeneratedRule], cgroupRoot: String) {
        self.defaultMode = defaultMode
        self.rules = rules
        self.cgroupRoot = cgroupRoot
    }

    public var yaml: String {
        var text = "# generated by RandomPolicyGenerator (issue 17)\nversion: 1\nmode: \(defaultMode.rawValue)\n"
        text += "cgroup-root: \(cgroupRoot)\n"
        text += rules.isEmpty ? "rules: []\n" : "rules:\n" + rules.map(\.yaml).joined(separator: "\n") + "\n"
        return text
    }

    public func parse(source: String = "random-policy.yaml") throws(PolicyErrors) -> Policy {
        try PolicyLoader.parse(yaml: yaml, source: source)
    }

    /// The same policy with one rule's mode flipped (a mode switch between operations).
    public func flippingMode(of id: String) -> GeneratedPolicy? {
        guard let index = rules.firstIndex(where: { $0.id == id }) else { return nil }
        var copy = self
        let current = copy.rules[index].mode ?? defaultMode
        copy.rules[index].mode = current == .audit ? .enforce : .audit
        return copy
    }

    /// Removes rules (and overrides naming them).
    public func keeping(_ keep: (Int) -> Bool) -> GeneratedPolicy {
        var copy = self
        copy.rules = rules.enumerated().filter { keep($0.offset) }.map(\.element)
        let ids = Set(copy.rules.map(\.id))
        for i in copy.rules.indices { copy.rules[i].overrides = copy.rules[i].overrides.filter(ids.contains) }
        return copy
    }
}

/// Seeded generator of valid random policies over a `RandomWorld`.
public struct RandomPolicyGenerator {
    public var world: RandomWorld
    public var cgroupRoot: String
    public var rng: SplitMix

    public init(world: RandomWorld, cgroupRoot: String = "/sys/fs/cgroup", seed: UInt64) {
        self.world = world
        self.cgroupRoot = cgroupRoot
        rng = SplitMix(seed: seed)
    }

    public mutating func chance(_ p: Double) -> Bool { Double(rng.next() >> 11) / Double(1 << 53) < p }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    mutating func some<T: Hashable>(_ xs: [T], max: Int) -> [T] {
        let n = 1 + Int(rng.next() % UInt64(Swift.min(max, xs.count)))
        var out: [T] = []
        while out.count < n { let x = pick(xs); if !out.contains(x) { out.append(x) } }
        return out
    }

    /// A subject matcher map; biased towards matchers that match the world's tasks.
    mutating func subject() -> String {
        switch rng.next() % 12 {
        case 0: return "{any: true}"
        case 1: return "{pid1: true}"
        case 2, 3: return "{exe: \(pick(world.exes + [world.missingExe]))}"
        case 4, 5: return "{xattr: \(pick(world.xattrNames))}"
        default: return "{cgroup: '\(pick(world.scopes + ["/"]))'}"
        }
    }

    mutating func subjects(optional: Bool) -> [String] {
        if optional && chance(0.3) { return [] }
        return chance(0.75) ? [subject()] : Array(Set((0..<2).map { _ in subject() })).sorted()
    }

    mutating func errno() -> String? {
        chance(0.6) ? nil : pick(["EPERM", "EACCES", "ENOENT", "EBUSY", "EINVAL", "EOPNOTSUPP", "77"])
    }

    mutating func types(includeAll: Bool = true) -> [NamespaceType] {
        // Mostly the types operations use, so rules apply.
        let pool: [NamespaceType] = chance(0.8) ? world.opTypes : NamespaceType.allCases
        return some(pool, max: 3).sorted()
    }

    mutating func rule(_ id: String) -> GeneratedRule {
        let kinds: [RuleKind] = [.track, .track, .lockOnEntry, .lockOnEntry, .denyCreate, .denyEnter, .allowEnterOnly,
                                 .managers, .delegated, .stay, .stay, .locked, .denyInto, .denyInto, .idMap]
        var r = GeneratedRule(id: id, kind: pick(kinds))
        switch r.kind {
        case .track:
            r.subjects = subjects(optional: true); r.types = types(); r.label = pick(world.labels)
        case .lockOnEntry:
            r.subjects = subjects(optional: true); r.labels = some(world.labels, max: 2)
            if chance(0.5) { r.denyUnshare = chance(0.6) }
            if chance(0.3) { r.ptraceScope = false }
            r.errno = errno()
        case .denyCreate:
            r.subjects = subjects(optional: true); r.types = types()
            if chance(0.3) { r.ptraceScope = false }
            r.errno = errno()
        case .denyEnter:
            r.subjects = subjects(optional: true)
            if chance(0.6) { r.types = types() }
            if r.types.isEmpty || chance(0.4) { r.labels = some(world.labels, max: 2) }
            if chance(0.3) { r.ptraceScope = false }
            r.errno = errno()
        case .allowEnterOnly:
            r.subjects = subjects(optional: true); r.labels = some(world.labels, max: 2)
            if chance(0.6) { r.types = types() }
            r.errno = errno()
        case .managers:
            r.subjects = subjects(optional: false)
        case .delegated:
            r.subjects = subjects(optional: false)
            r.cgroups = [pick(world.scopes)]
            r.errno = errno()
        case .stay, .locked, .denyInto:
            r.subjects = subjects(optional: true)
            r.cgroups = some(world.scopes + world.scopes.prefix(7).map { $0 }, max: 2)
            r.errno = errno()
        case .idMap:
            r.subjects = subjects(optional: true)
            if chance(0.5) { r.labels = some(world.labels, max: 1) }
            if chance(0.5) { r.uids = ["0 100000 65536"] }
            if chance(0.5) { r.setgroups = chance(0.5) }
        }
        if chance(0.25) { r.mode = chance(0.7) ? .audit : .enforce }
        return r
    }

    /// A random valid policy of 1...`maxRules` rules. Unresolved conflicts get an `overrides`
    /// in the direction the validator suggests; random extra `overrides` are added too.
    public mutating func policy(maxRules: Int = 7) -> GeneratedPolicy {
        let count = 1 + Int(rng.next() % UInt64(maxRules))
        // Ids r1..r9 recur across policies, so a task lock's rule id may name another kind later.
        var ids = (1...9).map { "r\($0)" }
        var rules: [GeneratedRule] = []
        for _ in 0..<count {
            let id = pick(ids)
            ids.removeAll { $0 == id }
            rules.append(rule(id))
        }
        // Random overrides, forward only (later rules override earlier ones): never a cycle.
        for i in rules.indices where i > 0 && chance(0.2) {
            rules[i].overrides.append(rules[Int(rng.next() % UInt64(i))].id)
        }
        var generated = GeneratedPolicy(defaultMode: chance(0.15) ? .audit : .enforce, rules: rules, cgroupRoot: cgroupRoot)
        for _ in 0..<16 {
            do {
                _ = try generated.parse()
                return generated
            } catch {
                var fixed = false
                for d in error.diagnostics {
                    // "rule 'b' conflicts with rule 'a' (...): ...; add 'overrides: [a]' to 'b' ..."
                    let parts = d.message.split(separator: "'", omittingEmptySubsequences: false).map(String.init)
                    if d.message.hasPrefix("rule '"), parts.count > 3, d.message.contains("conflicts with rule"),
                       let later = generated.rules.firstIndex(where: { $0.id == parts[1] }) {
                        if !generated.rules[later].overrides.contains(parts[3]) { generated.rules[later].overrides.append(parts[3]) }
                        fixed = true
                    }
                }
                if !fixed {
                    // Something else is wrong (should not happen): drop the last rule and retry.
                    generated = generated.keeping { $0 < generated.rules.count - 1 }
                }
            }
        }
        return GeneratedPolicy(defaultMode: .enforce, rules: [], cgroupRoot: cgroupRoot)
    }
}
