// Checks that relate several rules: ids, overrides, stable-id collisions, capacities and
// conflicts that the file leaves unresolved (docs/policy.md, "Validation errors").

/// Kernel capacities the validator enforces (bpf/abi/include/corral_abi.h).
public enum PolicyLimits {
    /// CORRAL_MAX_SUBJECTS: distinct subjects per policy (bits of a subject mask).
    public static let maxSubjects = 64
    /// CORRAL_MAX_LABELS: labels named by one rule.
    public static let maxLabelsPerRule = 8
}

extension Policy {
    /// The distinct subject matchers the policy uses: named subjects first, then those its rules
    /// name, in file order. Each needs one bit of the kernel's subject mask.
    public var distinctSubjectMatchers: [SubjectMatcher] {
        var seen: Set<SubjectMatcher> = []
        var result: [SubjectMatcher] = []
        for matcher in subjects.map(\.matcher) + rules.flatMap({ $0.subjects.map(\.matcher) })
        where seen.insert(matcher).inserted {
            result.append(matcher)
        }
        return result
    }
}

struct PolicyValidator {
    var reader: YAMLReader
    let rules: [ParsedRule]
    /// The first rule with each id.
    private var byID: [String: ParsedRule] = [:]
    /// Overrides edges between known, distinct rules.
    private var edges: [String: [String]] = [:]
    private var reachable: [String: Set<String>] = [:]

    init(reader: YAMLReader, rules: [ParsedRule]) {
        self.reader = reader
        self.rules = rules
    }

    mutating func run(namedSubjects: [Located<Subject>]) {
        checkIDs()
        checkOverrides()
        checkStableIDs()
        checkCapacities(namedSubjects: namedSubjects)
        checkConflicts()
    }

    /// Where `location` is, as seen from a diagnostic at `here`: `line N` in the same file, else
    /// `FILE:LINE:COL` (a conflict between two files names both locations).
    private func line(_ location: SourceLocation, from here: SourceLocation) -> String {
        location.file == here.file ? "line \(location.line)" : location.description
    }

    // MARK: ids

    private mutating func checkIDs() {
        for parsed in rules {
            if let first = byID[parsed.rule.id] {
                reader.error("duplicate rule id \(quote(parsed.rule.id)) (first defined at \(line(first.idLocation, from: parsed.idLocation)))",
                             at: parsed.idLocation, "\(parsed.path).id")
            } else {
                byID[parsed.rule.id] = parsed
            }
        }
    }

    // MARK: overrides

    private mutating func checkOverrides() {
        let ids = rules.map(\.rule.id)
        for parsed in rules {
            var targets: [String] = []
            for ref in parsed.overrideRefs {
                if ref.value == parsed.rule.id {
                    reader.error("rule \(quote(parsed.rule.id)) overrides itself", at: ref.location, ref.path)
                } else if byID[ref.value] == nil {
                    var message = "overrides unknown rule id \(quote(ref.value))"
                    if let hint = closestMatch(to: ref.value, in: ids) { message += " (did you mean '\(hint)'?)" }
                    reader.error(message, at: ref.location, ref.path)
                } else if !targets.contains(ref.value) {
                    targets.append(ref.value)
                }
            }
            if byID[parsed.rule.id]?.rule.index == parsed.rule.index { edges[parsed.rule.id] = targets }
        }
        reportCycles()
    }

    /// Iterative depth-first search; each back edge closes a cycle, reported at that `overrides` entry.
    private mutating func reportCycles() {
        enum Color { case white, gray, black }
        var color: [String: Color] = [:]
        for start in rules.map(\.rule.id) where (color[start] ?? .white) == .white && byID[start] != nil {
            var stack: [(id: String, next: Int)] = [(start, 0)]
            color[start] = .gray
            while let top = stack.last {
                let targets = edges[top.id] ?? []
                if top.next >= targets.count {
                    color[top.id] = .black
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].next += 1
                let target = targets[top.next]
                switch color[target] ?? .white {
                case .white:
                    color[target] = .gray
                    stack.append((target, 0))
                case .gray:
                    guard let from = stack.firstIndex(where: { $0.id == target }) else { continue }
                    let cycle = stack[from...].map(\.id) + [target]
                    if let rule = byID[top.id], let ref = rule.overrideRefs.first(where: { $0.value == target }) {
                        reader.error("overrides form a cycle: " + cycle.map(quote).joined(separator: " -> "),
                                     at: ref.location, ref.path)
                    }
                case .black:
                    break
                }
            }
        }
    }

    /// True when `a` outranks `b` through `overrides`, directly or transitively.
    private mutating func outranks(_ a: String, _ b: String) -> Bool {
        if let known = reachable[a] { return known.contains(b) }
        var seen: Set<String> = []
        var queue = edges[a] ?? []
        while let next = queue.popLast() {
            if seen.insert(next).inserted { queue += edges[next] ?? [] }
        }
        reachable[a] = seen
        return seen.contains(b)
    }

    // MARK: stable ids

    private mutating func checkStableIDs() {
        var labels: [UInt32: Located<String>] = [:]
        var reported: Set<[String]> = []
        for ref in rules.flatMap(\.labelRefs) {
            let hash = StableID.of(ref.value)
            if let first = labels[hash] {
                if first.value != ref.value, reported.insert([first.value, ref.value].sorted()).inserted {
                    reader.error("label \(quote(ref.value)) has the same stable id (\(hex(hash))) as label "
                        + "\(quote(first.value)) (\(line(first.location, from: ref.location))); rename one of them", at: ref.location, ref.path)
                }
            } else {
                labels[hash] = ref
            }
        }
        var ids: [UInt32: ParsedRule] = [:]
        for parsed in rules {
            let hash = StableID.of(parsed.rule.id)
            if let first = ids[hash] {
                if first.rule.id != parsed.rule.id {
                    reader.error("rule id \(quote(parsed.rule.id)) has the same stable id (\(hex(hash))) as rule "
                        + "\(quote(first.rule.id)) (\(line(first.idLocation, from: parsed.idLocation))); rename one of them",
                        at: parsed.idLocation, "\(parsed.path).id")
                }
            } else {
                ids[hash] = parsed
            }
        }
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    // MARK: capacities

    private mutating func checkCapacities(namedSubjects: [Located<Subject>]) {
        for parsed in rules where parsed.rule.labels.count > PolicyLimits.maxLabelsPerRule {
            let location = parsed.labelsField?.location ?? parsed.location
            reader.error("a rule may name at most \(PolicyLimits.maxLabelsPerRule) labels; this one names "
                + "\(parsed.rule.labels.count)", at: location, parsed.labelsField?.path ?? parsed.path)
        }
        var seen: Set<SubjectMatcher> = []
        for ref in namedSubjects + rules.flatMap(\.subjectRefs) where seen.insert(ref.value.matcher).inserted {
            if seen.count > PolicyLimits.maxSubjects {
                reader.error("the policy uses more than \(PolicyLimits.maxSubjects) distinct subjects (this is number "
                    + "\(seen.count)); share subjects between rules or use a cgroup subject", at: ref.location, ref.path)
                return
            }
        }
    }

    // MARK: conflicts

    private mutating func checkConflicts() {
        let unique = rules.filter { $0.complete && byID[$0.rule.id]?.rule.index == $0.rule.index }
        let byKind = Dictionary(grouping: unique, by: \.rule.kind)
        // Only these kind pairs can conflict (see `conflict`); pairing just them keeps a policy of
        // thousands of deny-into rules linear instead of comparing every pair of rules.
        let conflictingKinds: [(RuleKind, RuleKind)] = [
            (.stay, .locked), (.locked, .delegated), (.denyEnter, .allowEnterOnly), (.track, .track),
        ]
        var candidates: [(earlier: ParsedRule, later: ParsedRule)] = []
        for (a, b) in conflictingKinds {
            let left = byKind[a] ?? [], right = byKind[b] ?? []
            for (i, x) in left.enumerated() {
                for y in a == b ? left[(i + 1)...] : right[...] {
                    candidates.append(x.rule.index < y.rule.index ? (x, y) : (y, x))
                }
            }
        }
        candidates.sort { ($0.later.rule.index, $0.earlier.rule.index) < ($1.later.rule.index, $1.earlier.rule.index) }
        for (earlier, later) in candidates {
            guard let (location, path, detail) = conflict(earlier, later) else { continue }
            if outranks(earlier.rule.id, later.rule.id) || outranks(later.rule.id, earlier.rule.id) { continue }
            let a = earlier.rule.id, b = later.rule.id
            reader.error("rule \(quote(b)) conflicts with rule \(quote(a)) (\(line(earlier.location, from: location))): \(detail); "
                + "add 'overrides: [\(a)]' to \(quote(b)) or 'overrides: [\(b)]' to \(quote(a))", at: location, path)
        }
    }

    /// Where and why `later` conflicts with `earlier`, if it does.
    private func conflict(_ earlier: ParsedRule, _ later: ParsedRule) -> (SourceLocation, String, String)? {
        let kinds: Set = [earlier.rule.kind, later.rule.kind]
        if kinds == [.stay, .locked] || kinds == [.locked, .delegated] {
            for ref in later.cgroupRefs {
                for other in earlier.cgroupRefs where ref.value.mayOverlap(other.value) {
                    return (ref.location, ref.path, "\(later.rule.kind.rawValue) '\(show(ref.value.description))' overlaps "
                        + "\(earlier.rule.kind.rawValue) '\(show(other.value.description))'")
                }
            }
            return nil
        }
        let shared = later.rule.subjects.first { subject in earlier.rule.subjects.contains { $0.matcher == subject.matcher } }
        guard let subject = shared else { return nil }
        if kinds == [.denyEnter, .allowEnterOnly] {
            let deny = earlier.rule.kind == .denyEnter ? earlier : later
            let allow = earlier.rule.kind == .denyEnter ? later : earlier
            guard let label = allow.rule.labels.first(where: deny.rule.labels.contains) else { return nil }
            let ref = later.labelRefs.first { $0.value == label }
            return (ref?.location ?? later.location, ref?.path ?? later.path,
                    "for subject \(quote(subject.displayName)), label \(quote(label)) is both denied (deny-enter) "
                        + "and allowed (allow-enter-only)")
        }
        if earlier.rule.kind == .track, later.rule.kind == .track,
           let a = earlier.rule.trackLabel, let b = later.rule.trackLabel, a != b,
           let type = NamespaceType.allCases.first(where: {
               earlier.rule.namespaceTypes.contains($0) && later.rule.namespaceTypes.contains($0)
           }) {
            let ref = later.labelRefs.first
            return (ref?.location ?? later.location, ref?.path ?? later.path,
                    "both track \(type.rawValue) namespaces of subject \(quote(subject.displayName)) with different "
                        + "labels (\(quote(b)) and \(quote(a)))")
        }
        return nil
    }
}
