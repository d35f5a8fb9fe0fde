// The policy model: what a parsed, validated policy file means.
// The YAML syntax is in docs/policy.md; the decision procedure is in docs/semantics.md.

/// Where something came from in a policy or scenario file (1-based line and column).
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// The eight namespace types. The raw value is the YAML spelling; `cloneFlag` is the
/// kernel's CLONE_NEW* flag, which is also `ns->ops->type` and the ABI's type mask bit.
public enum NamespaceType: String, CaseIterable, Hashable, Sendable, Codable, Comparable {
    case mnt, uts, ipc, user, pid, net, cgroup, time

    public var cloneFlag: UInt32 {
        switch self {
        case .mnt: 0x0002_0000      // CLONE_NEWNS
        case .cgroup: 0x0200_0000   // CLONE_NEWCGROUP
        case .uts: 0x0400_0000      // CLONE_NEWUTS
        case .ipc: 0x0800_0000      // CLONE_NEWIPC
        case .user: 0x1000_0000     // CLONE_NEWUSER
        case .pid: 0x2000_0000      // CLONE_NEWPID
        case .net: 0x4000_0000      // CLONE_NEWNET
        case .time: 0x0000_0080     // CLONE_NEWTIME
        }
    }

    public init?(cloneFlag: UInt32) {
        guard let type = NamespaceType.allCases.first(where: { $0.cloneFlag == cloneFlag }) else { return nil }
        self = type
    }

    /// The name under /proc/PID/ns/ for this type.
    public var procName: String { self == .mnt ? "mnt" : rawValue }

    public static func mask(_ types: some Sequence<NamespaceType>) -> UInt32 {
        types.reduce(0) { $0 | $1.cloneFlag }
    }

    public static func < (a: NamespaceType, b: NamespaceType) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// `enforce` denies; `audit` allows but reports "would deny".
public enum RuleMode: String, Hashable, Sendable, Codable {
    case enforce, audit
}

/// An absolute path under the cgroup2 root, normalised: "/" or "/a/b" (no trailing slash,
/// no "." or ".." components, no empty components).
public struct CgroupPath: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let components: [String]

    public init(components: [String]) { self.components = components }

    /// Parses and normalises a path. Returns nil when it is not absolute, or contains
    /// "..", or a component that cgroupfs would reject (NUL or "/" inside a name).
    public init?(_ path: String) {
        guard path.hasPrefix("/") else { return nil }
        if let components = Self.asciiComponents(path) {
            self.components = components
            return
        }
        var parts: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." || part.utf8.contains(0) { return nil }
            parts.append(String(part))
        }
        components = parts
    }

    /// `init?(_:)` over the bytes of an ASCII path (one character per byte, so splitting at
    /// `/` bytes is splitting at `/` characters): nil for other paths, which take the general way.
    private static func asciiComponents(_ path: String) -> [String]? {
        var path = path
        return path.withUTF8 { bytes -> [String]? in
            var parts: [String] = []
            var start = 0
            for i in 0...bytes.count {
                if i < bytes.count {
                    let c = bytes[i]
                    if c >= 0x80 || c == 0 { return nil }
                    if c != UInt8(ascii: "/") { continue }
                }
                let part = UnsafeBufferPointer(rebasing: bytes[start..<i])
                start = i + 1
                if part.isEmpty || (part.count == 1 && part[0] == UInt8(ascii: ".")) { continue }
                if part.count == 2 && part[0] == UInt8(ascii: ".") && part[1] == UInt8(ascii: ".") { return nil }
                parts.append(String(decoding: part, as: UTF8.self))
            }
            return parts
        }
    }

    public static let root = CgroupPath(components: [])

    /// Depth below the root: "/" is 0, "/a" is 1.
    public var depth: Int { components.count }
    public var description: String { "/" + components.joined(separator: "/") }

    /// True when `self` is `other` or lies below it.
    public func isWithin(_ other: CgroupPath) -> Bool {
        components.count >= other.components.count
            && components.prefix(other.components.count).elementsEqual(other.components)
    }

    /// `self` and every ancestor up to the root, deepest first.
    public var selfAndAncestors: [CgroupPath] {
        (0...components.count).reversed().map { CgroupPath(components: Array(components.prefix($0))) }
    }

    public static func < (a: CgroupPath, b: CgroupPath) -> Bool { a.description < b.description }
}

/// How a subject picks the acting task. Exactly one matcher per subject.
public enum SubjectMatcher: Hashable, Sendable {
    /// Every task.
    case any
    /// The init process (tgid 1 in the initial pid namespace).
    case pid1
    /// Tasks whose executable is this path (resolved to device and inode when loaded).
    case exe(String)
    /// Tasks whose executable file carries this extended attribute.
    case xattr(String)
    /// Tasks whose cgroup is this one or lies below it.
    case cgroup(CgroupPath)

    /// Specificity class used by the conflict order (docs/semantics.md): higher wins.
    public var specificityClass: Int {
        switch self {
        case .any: 0
        case .cgroup: 1
        case .xattr: 2
        case .exe: 3
        case .pid1: 4
        }
    }

    /// Specificity within the total order: class * 256 + cgroup specificity, where a cgroup path
    /// scores 2 * (leading components without '*') + 1 if it is exact: a longer literal prefix
    /// wins, and at equal prefixes an exact path beats a pattern (docs/semantics.md).
    public var specificity: Int {
        if case .cgroup(let path) = self { return specificityClass * 256 + Self.cgroupSpecificity(path) }
        return specificityClass * 256
    }

    public static func cgroupSpecificity(_ path: CgroupPath) -> Int {
        min(2 * path.literalPrefixCount + (path.isPattern ? 0 : 1), 255)
    }
}

/// A subject: a named or inline matcher.
public struct Subject: Hashable, Sendable {
    /// Name under `subjects:`; nil for an inline subject.
    public var name: String?
    public var matcher: SubjectMatcher
    public var location: SourceLocation?

    public init(name: String? = nil, matcher: SubjectMatcher, location: SourceLocation? = nil) {
        self.name = name
        self.matcher = matcher
        self.location = location
    }

    public static let any = Subject(name: "any", matcher: .any)

    public var displayName: String {
        if let name { return name }
        switch matcher {
        case .any: return "any"
        case .pid1: return "pid1"
        case .exe(let path): return "exe:\(path)"
        case .xattr(let name): return "xattr:\(name)"
        case .cgroup(let path): return "cgroup:\(path)"
        }
    }
}

/// The ten rule kinds of policy language v1.
public enum RuleKind: String, CaseIterable, Hashable, Sendable, Codable {
    // Namespace rules
    case track
    case lockOnEntry = "lock-on-entry"
    case denyCreate = "deny-create"
    case denyEnter = "deny-enter"
    case allowEnterOnly = "allow-enter-only"
    // Cgroup rules
    case managers
    case delegated
    case stay
    case locked
    case denyInto = "deny-into"
    // Id-map rules
    case idMap = "id-map"

    public var isNamespaceRule: Bool {
        switch self {
        case .track, .lockOnEntry, .denyCreate, .denyEnter, .allowEnterOnly, .idMap: true
        case .managers, .delegated, .stay, .locked, .denyInto: false
        }
    }

    /// Lock-tier rules outrank every non-lock rule unless `overrides` says otherwise.
    public var isLockTier: Bool { self == .locked || self == .lockOnEntry }
}

/// One rule of a policy. Fields that do not apply to a kind are empty.
public struct Rule: Hashable, Sendable {
    public var id: String
    public var kind: RuleKind
    /// The effective mode (the rule's own `mode:`, or the policy default).
    public var mode: RuleMode
    public var description: String?
    /// Who the rule applies to (OR). `[Subject.any]` when the rule names none.
    /// For `delegated` these are the subtree's managers.
    public var subjects: [Subject]
    /// Namespace types (track, deny-create, deny-enter, allow-enter-only scope). Empty means all
    /// for allow-enter-only; track and deny-create require at least one.
    public var namespaceTypes: Set<NamespaceType>
    /// Tracked labels (lock-on-entry, deny-enter, allow-enter-only).
    public var labels: [String]
    /// The label a `track` rule gives the namespaces it tracks.
    public var trackLabel: String?
    /// lock-on-entry: a locked task may not create namespaces either.
    public var denyUnshare: Bool
    /// lock-on-entry `lock-to: label`: a locked task may still enter the other namespaces that
    /// carry the label whose entry locked it (a container's namespaces), and its ptrace domain is
    /// every task locked with that label. false (`lock-to: namespace`, the default): it is
    /// confined to the one namespace it entered.
    public var lockToLabel: Bool = false
    /// id-map: uid_map / gid_map extents that may be written (each written extent must lie within
    /// one of these at the same offset); empty: no write of that file. `setgroups`: whether
    /// /proc/PID/setgroups may be written.
    public var uidRanges: [IDRange] = []
    public var gidRanges: [IDRange] = []
    public var setgroupsAllowed: Bool = false
    /// `ptrace-scope` (lock-on-entry, deny-create, deny-enter; default true): the rule also
    /// confines PTRACE_MODE_ATTACH access and PTRACE_TRACEME to its domain: for a lock, the tasks
    /// locked by the same entry; for deny-create/deny-enter, the subtree of each `cgroup:`
    /// subject (other subjects have no domain and are not scoped). docs/semantics.md §Scope.
    public var ptraceScope: Bool = true
    /// Cgroup scopes: the subtree(s) of delegated/stay/locked, the destinations of deny-into.
    public var cgroups: [CgroupPath]
    /// The errno a denial returns where the kernel lets Corral choose it (native hooks, task_alloc,
    /// cgroup writes in compat mode). Positive, e.g. 1 for EPERM.
    public var errno: Int32
    /// Ids of rules this rule outranks when both apply.
    public var overrides: [String]
    /// Position in the policy (0-based), the last tie-break of the total order. With fragments,
    /// the position in the merged policy: the main file's rules, then each fragment's in merge order.
    public var index: Int
    public var location: SourceLocation?
    /// Set by `corral loosen`, never by a policy file: the rule is audit while CLOCK_BOOTTIME is
    /// below this (nanoseconds), then `mode` applies again. The kernel compares the same value
    /// (corral_rule.audit_until_ns), so the loosening ends without a daemon.
    public var auditUntil: UInt64? = nil

    public init(
        id: String, kind: RuleKind, mode: RuleMode = .enforce, description: String? = nil,
        subjects: [Subject] = [.any], namespaceTypes: Set<NamespaceType> = [], labels: [String] = [],
        trackLabel: String? = nil, denyUnshare: Bool = false, cgroups: [CgroupPath] = [],
        errno: Int32 = 1, overrides: [String] = [], index: Int = 0, location: SourceLocation? = nil
    ) {
        self.id = id
        self.kind = kind
        self.mode = mode
        self.description = description
        self.subjects = subjects
        self.namespaceTypes = namespaceTypes
        self.labels = labels
        self.trackLabel = trackLabel
        self.denyUnshare = denyUnshare
        self.cgroups = cgroups
        self.errno = errno
        self.overrides = overrides
        self.index = index
        self.location = location
    }
}

/// One line of a uid_map / gid_map: `count` ids from `inside` (in the namespace) map to ids from
/// `outside` (in the parent namespace).
public struct IDRange: Hashable, Sendable, CustomStringConvertible {
    public var inside: UInt32
    public var outside: UInt32
    public var count: UInt32

    public init(inside: UInt32, outside: UInt32, count: UInt32) {
        self.inside = inside
        self.outside = outside
        self.count = count
    }

    /// Parses "INSIDE OUTSIDE COUNT" (the file's own format); nil when malformed, when count is
    /// 0 or when a range passes 2^32.
    public init?(text: String) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 3, let i = UInt32(parts[0]), let o = UInt32(parts[1]), let c = UInt32(parts[2]),
              c > 0, UInt64(i) + UInt64(c) <= 1 << 32, UInt64(o) + UInt64(c) <= 1 << 32 else { return nil }
        self.init(inside: i, outside: o, count: c)
    }

    /// Whether `extent` lies within this range at the same offset (the kernel's check).
    public func contains(_ extent: IDRange) -> Bool {
        UInt64(extent.inside) >= UInt64(inside)
            && UInt64(extent.inside) + UInt64(extent.count) <= UInt64(inside) + UInt64(count)
            && UInt64(extent.outside) + UInt64(inside) == UInt64(outside) + UInt64(extent.inside)
    }

    public var description: String { "\(inside) \(outside) \(count)" }
}

/// A validated policy.
public struct Policy: Hashable, Sendable {
    public var version: Int
    /// Policy-wide default mode for rules that do not set `mode:`.
    public var defaultMode: RuleMode
    /// Where cgroup2 is mounted; cgroup paths in the policy are relative to it.
    public var cgroupRoot: String
    /// `events: {rate-limit: N}`: at most N decision events per rule per second reach the
    /// daemon (the rest are counted as suppressed); 0: no limit. Verdicts do not depend on it.
    public var eventRateLimit: UInt32 = 0
    /// Named subjects, in file order.
    public var subjects: [Subject]
    /// Rules, in file order (`rule.index` is the position).
    public var rules: [Rule]
    /// The file the policy came from, for messages (the main file when there are fragments).
    public var source: String
    /// The drop-in fragment files merged after the main file, in merge order (PolicyFragments.swift);
    /// each rule's `location.file` names the file it came from.
    public var fragments: [String] = []
    /// How `origin(of:)` names a source that is no file: a registration's rules carry the
    /// location file `registration:reg-1`, named `registration reg-1 (manager pid 1234, unit …)`.
    public var sourceNames: [String: String] = [:]

    public init(
        version: Int = 1, defaultMode: RuleMode = .enforce, cgroupRoot: String = "/sys/fs/cgroup",
        subjects: [Subject] = [], rules: [Rule] = [], source: String = "<memory>"
    ) {
        self.version = version
        self.defaultMode = defaultMode
        self.cgroupRoot = cgroupRoot
        self.subjects = subjects
        self.rules = rules
        self.source = source
    }

    public func rule(id: String) -> Rule? { rules.first { $0.id == id } }

    /// Where `rule` comes from (docs/policy.md, "Where a rule comes from"): `FILE:LINE` for a rule
    /// of the main file or a fragment, the registration's description for a registered rule; nil
    /// for a rule built in code (no location).
    public func origin(of rule: Rule) -> String? {
        guard let location = rule.location else { return nil }
        return sourceNames[location.file] ?? "\(location.file):\(location.line)"
    }

    /// The origin of the rule with id `id`; nil when there is no such rule or it has no location.
    public func origin(ofRule id: String) -> String? { rule(id: id).flatMap(origin(of:)) }

    /// Rule id → origin, for every rule with a location.
    public var ruleOrigins: [String: String] {
        Dictionary(rules.compactMap { rule in origin(of: rule).map { (rule.id, $0) } }, uniquingKeysWith: { a, _ in a })
    }
}
