// Cgroup path patterns (docs/policy.md, "Cgroup paths and patterns"; docs/semantics.md,
// "Patterns"). A policy cgroup path is a pattern when a component holds '*':
//   `*` alone, or `pre*suf` (one '*'): exactly one component whose name starts with pre and
//   ends with suf (non-overlapping);
//   `**`: zero or more whole components.
// A pattern names a set of cgroups, each its own subtree ("instance") for the rule.

/// One component of a policy cgroup path.
public enum CgroupPathComponent: Hashable, Sendable {
    case literal(String)
    case glob(prefix: String, suffix: String)
    case anyDepth

    public init(_ text: String) {
        if text == "**" {
            self = .anyDepth
        } else if let star = text.firstIndex(of: "*") {
            self = .glob(prefix: String(text[..<star]), suffix: String(text[text.index(after: star)...]))
        } else {
            self = .literal(text)
        }
    }

    /// Whether one cgroup name matches this (non-`**`) component.
    public func matches(_ name: String) -> Bool {
        switch self {
        case .literal(let l): return l == name
        case .glob(let p, let s):
            let n = Array(name.utf8), pb = Array(p.utf8), sb = Array(s.utf8)
            return n.count >= pb.count + sb.count && n.starts(with: pb) && n.suffix(sb.count).elementsEqual(sb)
        case .anyDepth: return true
        }
    }
}

extension CgroupPath {
    public var patternComponents: [CgroupPathComponent] { components.map(CgroupPathComponent.init) }

    /// True when a component holds '*'.
    public var isPattern: Bool { components.contains { $0.utf8.contains(UInt8(ascii: "*")) } }

    /// Leading components without '*'.
    public var literalPrefixCount: Int { components.prefix { !$0.utf8.contains(UInt8(ascii: "*")) }.count }

    /// Whether the concrete path `path` matches this pattern (an exact path matches only itself).
    public func matches(_ path: CgroupPath) -> Bool {
        Self.match(patternComponents[...], path.components[...])
    }

    private static func match(_ p: ArraySlice<CgroupPathComponent>, _ c: ArraySlice<String>) -> Bool {
        guard let first = p.first else { return c.isEmpty }
        if first == .anyDepth {
            // zero components, or one more
            return match(p.dropFirst(), c) || (!c.isEmpty && match(p, c.dropFirst()))
        }
        guard let name = c.first, first.matches(name) else { return false }
        return match(p.dropFirst(), c.dropFirst())
    }

    /// The ancestors-or-self of `path` that this pattern matches, root first: the instances of
    /// the scope that `path` lies within. The kernel walks CORRAL_MAX_CGROUP_DEPTH levels
    /// (`maxLevels`), so deeper instances are not seen.
    public func instances(containing path: CgroupPath, maxLevels: Int = 32) -> [CgroupPath] {
        if !isPattern {
            return path.isWithin(self) && depth < maxLevels ? [self] : []
        }
        return (0...min(path.depth, maxLevels - 1)).map { CgroupPath(components: Array(path.components.prefix($0))) }
            .filter(matches)
    }

    /// Whether some cgroup could lie within both subtrees (conservative: true when unsure).
    public func mayOverlap(_ other: CgroupPath) -> Bool {
        let a = patternComponents, b = other.patternComponents
        for i in 0..<min(a.count, b.count) {
            switch (a[i], b[i]) {
            case (.anyDepth, _), (_, .anyDepth): return true
            case (.literal(let x), .literal(let y)): if x != y { return false }
            case (.literal(let x), let g), (let g, .literal(let x)): if !g.matches(x) { return false }
            case (.glob, .glob): continue
            }
        }
        return true
    }
}
