// Builders for policies in tests: one function per rule kind, positions assigned by `makePolicy`.
import CorralPolicy

public enum Subjects {
    public static let any = Subject.any
    public static let pid1 = Subject(name: "pid1", matcher: .pid1)
    public static func exe(_ path: String) -> Subject { Subject(matcher: .exe(path)) }
    public static func xattr(_ name: String) -> Subject { Subject(matcher: .xattr(name)) }
    public static func cgroup(_ path: String) -> Subject { Subject(matcher: .cgroup(CgroupPath(path) ?? .root)) }
}

public enum Rules {
    static func paths(_ list: [String]) -> [CgroupPath] { list.map { CgroupPath($0) ?? .root } }

    public static func track(_ id: String, _ subjects: [Subject] = [.any], types: Set<NamespaceType>, label: String,
                             mode: RuleMode = .enforce, overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .track, mode: mode, subjects: subjects, namespaceTypes: types, trackLabel: label,
             overrides: overrides)
    }

    public static func lockOnEntry(_ id: String, _ subjects: [Subject] = [.any], labels: [String],
                                   denyUnshare: Bool = false, mode: RuleMode = .enforce,
                                   errno: Int32 = 1, overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .lockOnEntry, mode: mode, subjects: subjects, labels: labels, denyUnshare: denyUnshare,
             errno: errno, overrides: overrides)
    }

    public static func denyCreate(_ id: String, _ subjects: [Subject] = [.any], types: Set<NamespaceType>,
                                  mode: RuleMode = .enforce, errno: Int32 = 1, overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .denyCreate, mode: mode, subjects: subjects, namespaceTypes: types, errno: errno,
             overrides: overrides)
    }

    public static func denyEnter(_ id: String, _ subjects: [Subject] = [.any], types: Set<NamespaceType> = [],
                                 labels: [String] = [], mode: RuleMode = .enforce, errno: Int32 = 1,
                                 overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .denyEnter, mode: mode, subjects: subjects, namespaceTypes: types, labels: labels,
             errno: errno, overrides: overrides)
    }

    public static func allowEnterOnly(_ id: String, _ subjects: [Subject] = [.any], labels: [String],
                                      types: Set<NamespaceType> = [], mode: RuleMode = .enforce, errno: Int32 = 1,
                                      overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .allowEnterOnly, mode: mode, subjects: subjects, namespaceTypes: types, labels: labels,
             errno: errno, overrides: overrides)
    }

    public static func managers(_ id: String, _ subjects: [Subject], mode: RuleMode = .enforce,
                                overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .managers, mode: mode, subjects: subjects, overrides: overrides)
    }

    public static func delegated(_ id: String, cgroup: String, managers: [Subject], mode: RuleMode = .enforce,
                                 errno: Int32 = 1, overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .delegated, mode: mode, subjects: managers, cgroups: paths([cgroup]), errno: errno,
             overrides: overrides)
    }

    public static func stay(_ id: String, _ subjects: [Subject] = [.any], cgroups: [String], mode: RuleMode = .enforce,
                            errno: Int32 = 1, overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .stay, mode: mode, subjects: subjects, cgroups: paths(cgroups), errno: errno,
             overrides: overrides)
    }

    public static func locked(_ id: String, _ subjects: [Subject] = [.any], cgroups: [String],
                              mode: RuleMode = .enforce, errno: Int32 = 1, overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .locked, mode: mode, subjects: subjects, cgroups: paths(cgroups), errno: errno,
             overrides: overrides)
    }

    public static func denyInto(_ id: String, _ subjects: [Subject] = [.any], cgroups: [String],
                                mode: RuleMode = .enforce, errno: Int32 = 1, overrides: [String] = []) -> Rule {
        Rule(id: id, kind: .denyInto, mode: mode, subjects: subjects, cgroups: paths(cgroups), errno: errno,
             overrides: overrides)
    }
}

/// A policy of `rules` in this order (`index` set to the position).
public func makePolicy(_ rules: [Rule], defaultMode: RuleMode = .enforce) -> Policy {
    Policy(defaultMode: defaultMode, rules: rules.enumerated().map { offset, rule in
        var rule = rule
        rule.index = offset
        return rule
    })
}
