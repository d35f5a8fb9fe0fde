// YAML nodes → policy model, checking each field on its own (docs/policy.md).
// Checks that relate several rules (ids, overrides, conflicts, capacities) are in PolicyValidator.
import CorralYAML

/// A value with the place it was written, for diagnostics.
struct Located<Value> {
    var value: Value
    var location: SourceLocation
    var path: String
}

/// A rule as parsed, with the positions the cross-rule checks report at.
struct ParsedRule {
    var rule: Rule
    var path: String
    var location: SourceLocation
    var idLocation: SourceLocation
    var overrideRefs: [Located<String>] = []
    /// Parallel to `rule.cgroups`.
    var cgroupRefs: [Located<CgroupPath>] = []
    /// Every label the rule names (`label` or `labels`).
    var labelRefs: [Located<String>] = []
    var labelsField: Located<Int>?
    var subjectRefs: [Located<Subject>] = []
    /// False when the rule had errors of its own; conflict checks skip it (its fields may be defaults).
    var complete = true
}

struct PolicyParser {
    var reader: YAMLReader
    private var named: [String: Subject] = [:]
    private(set) var namedSubjects: [Located<Subject>] = []
    private(set) var parsedRules: [ParsedRule] = []

    /// A fragment (PolicyFragments.swift) may not set `cgroup-root`; its rules default to
    /// `inheritedMode` unless it sets its own `mode:`.
    private let isFragment: Bool
    private let inheritedMode: RuleMode

    init(source: String) {
        reader = YAMLReader(source: source)
        isFragment = false
        inheritedMode = .enforce
    }

    /// A parser for one file of several: `external` are the named subjects the other files define.
    init(source: String, external: [String: Subject], fragment: Bool, inheritedMode: RuleMode) {
        reader = YAMLReader(source: source)
        named = external
        isFragment = fragment
        self.inheritedMode = inheritedMode
    }

    /// Only the `subjects:` section of a document (the first pass over several files).
    mutating func parseSubjectsOnly(_ root: YAMLNode) {
        guard case .mapping(let mapping) = root else { return }
        for (key, value) in mapping {
            if case .scalar(let scalar) = key, scalar.string == "subjects" { parseSubjectDefinitions(value) }
        }
    }

    static let topLevelKeys = ["version", "mode", "cgroup-root", "events", "subjects", "rules"]
    static let eventsKeys = ["rate-limit"]
    /// The largest `events.rate-limit` (events per rule per second).
    public static let maxEventRateLimit = 1_000_000
    static let matcherKeys = ["pid1", "exe", "xattr", "cgroup", "any"]
    static let commonRuleKeys = ["id", "kind", "description", "mode", "overrides"]

    /// Keys a rule of `kind` may have besides the common ones.
    static func kindKeys(_ kind: RuleKind) -> [String] {
        switch kind {
        case .track: ["subject", "types", "label"]
        case .lockOnEntry: ["subject", "labels", "deny-unshare", "lock-to", "ptrace-scope", "errno"]
        case .denyCreate: ["subject", "types", "ptrace-scope", "errno"]
        case .denyEnter: ["subject", "types", "labels", "ptrace-scope", "errno"]
        case .allowEnterOnly: ["subject", "labels", "types", "errno"]
        case .managers: ["subject"]
        case .delegated: ["cgroup", "manager", "errno"]
        case .stay, .locked, .denyInto: ["subject", "cgroups", "errno"]
        case .idMap: ["subject", "labels", "uids", "gids", "setgroups", "errno"]
        }
    }

    static let allRuleKeys: [String] = {
        var keys = commonRuleKeys
        for kind in RuleKind.allCases {
            for key in kindKeys(kind) where !keys.contains(key) { keys.append(key) }
        }
        return keys
    }()

    // MARK: - Document

    mutating func parseDocument(_ root: YAMLNode) -> Policy {
        var policy = Policy(source: reader.source)
        policy.defaultMode = inheritedMode
        guard case .mapping = root else {
            reader.error("expected a mapping at the top level (with 'version: 1' and 'rules'), found "
                + YAMLReader.describe(root), at: root, "")
            return policy
        }
        guard let entries = reader.mapping(root, "") else { return policy }
        var byKey: [String: YAMLEntry] = [:]
        for entry in entries {
            if Self.topLevelKeys.contains(entry.key) {
                byKey[entry.key] = entry
            } else {
                reader.error(unknownKey(entry.key, candidates: Self.topLevelKeys), at: entry.keyNode, show(entry.key))
            }
        }

        if let entry = byKey["version"] {
            if let text = reader.integerText(entry.value, "version") {
                if Int(text) != 1 { reader.error("unsupported version \(show(text)) (expected 1)", at: entry.value, "version") }
            }
        } else {
            reader.error("missing required key 'version' (write 'version: 1')", at: root, "version")
        }
        if let entry = byKey["mode"], let mode = parseMode(entry.value, "mode") { policy.defaultMode = mode }
        if isFragment, let entry = byKey["cgroup-root"] {
            reader.error("'cgroup-root' may only be set in the main policy file, not in a fragment", at: entry.keyNode, "cgroup-root")
        } else if let entry = byKey["cgroup-root"], let root = reader.string(entry.value, "cgroup-root") {
            if !root.hasPrefix("/") {
                reader.error("cgroup-root \(quote(root)) must be an absolute path", at: entry.value, "cgroup-root")
            } else if root.contains("\0") {
                reader.error("cgroup-root contains a NUL byte", at: entry.value, "cgroup-root")
            } else {
                policy.cgroupRoot = root
            }
        }
        if isFragment, let entry = byKey["events"] {
            reader.error("'events' may only be set in the main policy file, not in a fragment", at: entry.keyNode, "events")
        } else if let entry = byKey["events"] {
            policy.eventRateLimit = parseEvents(entry.value)
        }
        if let entry = byKey["subjects"] { parseSubjectDefinitions(entry.value) }
        policy.subjects = namedSubjects.map(\.value)
        if let entry = byKey["rules"], let items = reader.list(entry.value, "rules") {
            for (index, item) in items.enumerated() {
                if let parsed = parseRule(item, index: index, defaultMode: policy.defaultMode) {
                    parsedRules.append(parsed)
                }
            }
        }
        policy.rules = parsedRules.map(\.rule)
        return policy
    }

    // MARK: - Subjects

    private mutating func parseSubjectDefinitions(_ node: YAMLNode) {
        guard let entries = reader.mapping(node, "subjects") else { return }
        for entry in entries {
            let path = "subjects.\(show(entry.key))"
            if !Self.isName(entry.key, lowercaseOnly: false) {
                reader.error("invalid subject name \(quote(entry.key)) (expected 1 to 64 letters, digits, '.', '_' or '-', "
                    + "starting with a letter or digit)", at: entry.keyNode, path)
                continue
            }
            guard let matcher = parseMatcher(entry.value, path) else { continue }
            let subject = Subject(name: entry.key, matcher: matcher, location: reader.location(entry.keyNode))
            named[entry.key] = subject
            namedSubjects.append(Located(value: subject, location: subject.location ?? reader.location(entry.keyNode), path: path))
        }
    }

    /// A matcher mapping with exactly one key.
    private mutating func parseMatcher(_ node: YAMLNode, _ path: String) -> SubjectMatcher? {
        guard let entries = reader.mapping(node, path, expected: "a matcher mapping such as {exe: /usr/bin/x}") else {
            return nil
        }
        if entries.isEmpty {
            reader.error("subject has no matcher (expected one of: pid1, exe, xattr, cgroup, any)", at: node, path)
            return nil
        }
        var result: SubjectMatcher?
        var valid = true
        var seen: [String] = []
        for entry in entries {
            let fieldPath = joinPath(path, entry.key)
            guard Self.matcherKeys.contains(entry.key) else {
                var message = "unknown matcher \(quote(entry.key))"
                if let hint = closestMatch(to: entry.key, in: Self.matcherKeys) {
                    message += " (did you mean '\(hint)'?)"
                } else {
                    message += " (expected one of: pid1, exe, xattr, cgroup, any)"
                }
                reader.error(message, at: entry.keyNode, fieldPath)
                valid = false
                continue
            }
            seen.append(entry.key)
            if seen.count == 2 {
                reader.error("subject has several matchers (\(seen.joined(separator: ", "))); use one matcher per subject "
                    + "and list several subjects for OR", at: entry.keyNode, fieldPath)
                valid = false
            }
            switch entry.key {
            case "pid1", "any":
                if let flag = reader.bool(entry.value, fieldPath) {
                    if flag {
                        result = entry.key == "pid1" ? .pid1 : .any
                    } else {
                        reader.error("'\(entry.key): false' matches no task; write '\(entry.key): true' or remove the subject",
                                     at: entry.value, fieldPath)
                        valid = false
                    }
                } else { valid = false }
            case "exe":
                guard let path = reader.string(entry.value, fieldPath) else { valid = false; continue }
                if !path.hasPrefix("/") {
                    reader.error("exe path \(quote(path)) must be absolute (start with '/')", at: entry.value, fieldPath)
                    valid = false
                } else if path.contains("\0") {
                    reader.error("exe path contains a NUL byte", at: entry.value, fieldPath)
                    valid = false
                } else {
                    result = .exe(path)
                }
            case "xattr":
                guard let name = reader.string(entry.value, fieldPath) else { valid = false; continue }
                if let problem = Self.xattrProblem(name) {
                    reader.error(problem, at: entry.value, fieldPath)
                    valid = false
                } else {
                    result = .xattr(name)
                }
            default: // cgroup
                if let path = parseCgroupPath(entry.value, fieldPath) { result = .cgroup(path) } else { valid = false }
            }
        }
        return valid ? result : nil
    }

    static func xattrProblem(_ name: String) -> String? {
        if name.contains("\0") { return "xattr name contains a NUL byte" }
        guard let prefix = ["trusted.", "user.", "security."].first(where: { name.hasPrefix($0) }) else {
            return "xattr name \(quote(name)) needs a namespace prefix (trusted., user. or security.)"
        }
        if name.count == prefix.count { return "xattr name \(quote(name)) has nothing after its namespace prefix" }
        if name.utf8.count > 255 { return "xattr name is longer than 255 bytes" }
        return nil
    }

    /// A rule's `subject`/`manager`: a subject name, an inline matcher map, or a list of those (OR).
    private mutating func parseSubjectReference(_ node: YAMLNode, _ path: String) -> [Located<Subject>]? {
        switch node {
        case .sequence(let sequence):
            if sequence.isEmpty {
                reader.error("subject list is empty", at: node, path)
                return nil
            }
            var subjects: [Located<Subject>] = []
            var valid = true
            for (index, item) in sequence.enumerated() {
                let itemPath = "\(path)[\(index)]"
                if case .sequence = item {
                    reader.wrongType("a subject name or a matcher mapping", item, itemPath)
                    valid = false
                } else if let subject = parseSingleSubject(item, itemPath) {
                    if !subjects.contains(where: { $0.value.matcher == subject.value.matcher }) { subjects.append(subject) }
                } else {
                    valid = false
                }
            }
            return valid ? subjects : nil
        default:
            return parseSingleSubject(node, path).map { [$0] }
        }
    }

    private mutating func parseSingleSubject(_ node: YAMLNode, _ path: String) -> Located<Subject>? {
        let location = reader.location(node)
        if case .mapping = node {
            guard let matcher = parseMatcher(node, path) else { return nil }
            return Located(value: Subject(matcher: matcher, location: location), location: location, path: path)
        }
        guard let name = reader.string(node, path) else { return nil }
        if let subject = named[name] { return Located(value: subject, location: location, path: path) }
        // Built-in names, unless the policy defines its own subject with that name.
        if name == "any" { return Located(value: .any, location: location, path: path) }
        if name == "pid1" { return Located(value: Subject(name: "pid1", matcher: .pid1), location: location, path: path) }
        var message = "unknown subject \(quote(name))"
        if let hint = closestMatch(to: name, in: namedSubjects.compactMap(\.value.name)) {
            message += " (did you mean '\(hint)'?)"
        } else {
            message += " (define it under 'subjects:' or write a matcher such as {exe: /usr/bin/x})"
        }
        reader.error(message, at: node, path)
        return nil
    }

    // MARK: - Rules

    private mutating func parseRule(_ node: YAMLNode, index: Int, defaultMode: RuleMode) -> ParsedRule? {
        let path = "rules[\(index)]"
        let errorsBefore = reader.diagnostics.count
        guard let entries = reader.mapping(node, path) else { return nil }
        var byKey: [String: YAMLEntry] = [:]
        for entry in entries { byKey[entry.key] = entry }
        let location = reader.location(node)

        var kind: RuleKind?
        if let entry = byKey["kind"], let text = reader.string(entry.value, "\(path).kind") {
            kind = RuleKind(rawValue: text)
            if kind == nil {
                var message = "unknown rule kind \(quote(text))"
                if let hint = closestMatch(to: text, in: RuleKind.allCases.map(\.rawValue)) {
                    message += " (did you mean '\(hint)'?)"
                } else {
                    message += " (expected one of: " + RuleKind.allCases.map(\.rawValue).joined(separator: ", ") + ")"
                }
                reader.error(message, at: entry.value, "\(path).kind")
            }
        } else if byKey["kind"] == nil {
            reader.error("missing required key 'kind'", at: location, "\(path).kind")
        }

        // Unknown keys, and keys that do not apply to this kind.
        let allowed = kind.map { Self.commonRuleKeys + Self.kindKeys($0) }
        for entry in entries {
            let fieldPath = "\(path).\(show(entry.key))"
            if !Self.allRuleKeys.contains(entry.key) {
                reader.error(unknownKey(entry.key, candidates: allowed ?? Self.allRuleKeys), at: entry.keyNode, fieldPath)
            } else if let kind, let allowed, !allowed.contains(entry.key) {
                var message = "key '\(entry.key)' does not apply to a '\(kind.rawValue)' rule"
                if let hint = closestMatch(to: entry.key, in: allowed) { message += " (did you mean '\(hint)'?)" }
                reader.error(message, at: entry.keyNode, fieldPath)
            }
        }
        func applies(_ key: String) -> YAMLEntry? {
            guard let entry = byKey[key] else { return nil }
            if let allowed, !allowed.contains(key) { return nil }
            return entry
        }
        func missing(_ key: String) {
            guard let kind else { return }
            reader.error("missing required key '\(key)' for a '\(kind.rawValue)' rule", at: location, "\(path).\(key)")
        }

        var id: String?
        var idLocation = location
        if let entry = byKey["id"] {
            idLocation = reader.location(entry.value)
            if let text = reader.string(entry.value, "\(path).id") {
                if Self.isName(text, lowercaseOnly: true) {
                    id = text
                } else {
                    reader.error("invalid rule id \(quote(text)) (expected [a-z0-9][a-z0-9._-]{0,63})", at: entry.value, "\(path).id")
                }
            }
        } else {
            reader.error("missing required key 'id'", at: location, "\(path).id")
        }

        var rule = Rule(id: id ?? "", kind: kind ?? .track, mode: defaultMode, index: index, location: location)
        var parsed = ParsedRule(rule: rule, path: path, location: location, idLocation: idLocation)

        if let entry = applies("description") { rule.description = reader.string(entry.value, "\(path).description") }
        if let entry = applies("mode"), let mode = parseMode(entry.value, "\(path).mode") { rule.mode = mode }
        if let entry = applies("errno"), let value = parseErrno(entry.value, "\(path).errno") { rule.errno = value }
        if let entry = applies("overrides"), let items = reader.list(entry.value, "\(path).overrides") {
            for (k, item) in items.enumerated() {
                let itemPath = "\(path).overrides[\(k)]"
                guard let target = reader.string(item, itemPath) else { continue }
                parsed.overrideRefs.append(Located(value: target, location: reader.location(item), path: itemPath))
                if !rule.overrides.contains(target) { rule.overrides.append(target) }
            }
        }

        // Subjects: `subject` (optional except for managers), or `manager` for delegated.
        let subjectKey = kind == .delegated ? "manager" : "subject"
        if let entry = applies(subjectKey) {
            if let subjects = parseSubjectReference(entry.value, "\(path).\(subjectKey)") {
                rule.subjects = subjects.map(\.value)
                parsed.subjectRefs = subjects
            }
        } else if kind == .managers || kind == .delegated {
            missing(subjectKey)
        } else {
            parsed.subjectRefs = [Located(value: .any, location: location, path: "\(path).subject")]
        }

        if let entry = applies("types") { rule.namespaceTypes = parseTypes(entry.value, "\(path).types") }
        if let entry = applies("label") {
            if let label = parseLabel(entry.value, "\(path).label") {
                rule.trackLabel = label
                parsed.labelRefs.append(Located(value: label, location: reader.location(entry.value), path: "\(path).label"))
            }
        }
        if let entry = applies("labels"), let items = reader.list(entry.value, "\(path).labels") {
            for (k, item) in items.enumerated() {
                let itemPath = "\(path).labels[\(k)]"
                guard let label = parseLabel(item, itemPath) else { continue }
                parsed.labelRefs.append(Located(value: label, location: reader.location(item), path: itemPath))
                if !rule.labels.contains(label) { rule.labels.append(label) }
            }
            parsed.labelsField = Located(value: items.count, location: reader.location(entry.value), path: "\(path).labels")
        }
        if let entry = applies("deny-unshare"), let flag = reader.bool(entry.value, "\(path).deny-unshare") {
            rule.denyUnshare = flag
        }
        if let entry = applies("lock-to"), let text = reader.string(entry.value, "\(path).lock-to") {
            switch text {
            case "namespace": rule.lockToLabel = false
            case "label": rule.lockToLabel = true
            default: reader.error("invalid lock-to \(quote(text)) (expected namespace or label)", at: entry.value, "\(path).lock-to")
            }
        }
        if let entry = applies("ptrace-scope"), let flag = reader.bool(entry.value, "\(path).ptrace-scope") {
            rule.ptraceScope = flag
        }
        for (key, isUID) in [("uids", true), ("gids", false)] {
            guard let entry = applies(key), let items = reader.list(entry.value, "\(path).\(key)") else { continue }
            if items.count > 4 {
                reader.error("at most 4 ranges in '\(key)' (CORRAL_MAX_ID_RANGES), found \(items.count)", at: entry.value, "\(path).\(key)")
            }
            for (k, item) in items.enumerated() {
                let itemPath = "\(path).\(key)[\(k)]"
                guard let text = reader.string(item, itemPath) else { continue }
                guard let range = IDRange(text: text) else {
                    reader.error("invalid id range \(quote(text)) (expected \"INSIDE OUTSIDE COUNT\", count >= 1, each range within 0..2^32)", at: item, itemPath)
                    continue
                }
                if isUID { rule.uidRanges.append(range) } else { rule.gidRanges.append(range) }
            }
        }
        if let entry = applies("setgroups"), let text = reader.string(entry.value, "\(path).setgroups") {
            switch text {
            case "allow": rule.setgroupsAllowed = true
            case "deny": rule.setgroupsAllowed = false
            default: reader.error("invalid setgroups \(quote(text)) (expected allow or deny)", at: entry.value, "\(path).setgroups")
            }
        }
        if let entry = applies("cgroup"), let cgroup = parseCgroupPath(entry.value, "\(path).cgroup") {
            if kind == .delegated && cgroup.matches(.root) {
                reader.error("a delegated subtree cannot be the whole cgroup tree ('/')", at: entry.value, "\(path).cgroup")
            }
            rule.cgroups = [cgroup]
            parsed.cgroupRefs = [Located(value: cgroup, location: reader.location(entry.value), path: "\(path).cgroup")]
        }
        if let entry = applies("cgroups"), let items = reader.list(entry.value, "\(path).cgroups") {
            for (k, item) in items.enumerated() {
                let itemPath = "\(path).cgroups[\(k)]"
                guard let cgroup = parseCgroupPath(item, itemPath), !rule.cgroups.contains(cgroup) else { continue }
                rule.cgroups.append(cgroup)
                parsed.cgroupRefs.append(Located(value: cgroup, location: reader.location(item), path: itemPath))
            }
        }

        // Required fields per kind. An empty list written in the file is reported at the list.
        func requireNonEmpty(_ key: String, _ isEmpty: Bool, _ what: String) {
            if let entry = byKey[key] {
                if isEmpty, case .sequence(let sequence) = entry.value, sequence.isEmpty {
                    reader.error("'\(key)' needs at least one \(what)", at: entry.value, "\(path).\(key)")
                }
            } else {
                missing(key)
            }
        }
        switch kind {
        case .track:
            requireNonEmpty("types", rule.namespaceTypes.isEmpty, "namespace type")
            if byKey["label"] == nil { missing("label") }
        case .lockOnEntry, .allowEnterOnly:
            requireNonEmpty("labels", rule.labels.isEmpty, "label")
        case .denyCreate:
            requireNonEmpty("types", rule.namespaceTypes.isEmpty, "namespace type")
        case .denyEnter:
            let typesWritten = (byKey["types"].map { if case .sequence(let s) = $0.value { !s.isEmpty } else { true } }) ?? false
            let labelsWritten = (byKey["labels"].map { if case .sequence(let s) = $0.value { !s.isEmpty } else { true } }) ?? false
            if !typesWritten && !labelsWritten {
                reader.error("a 'deny-enter' rule needs a non-empty 'types' or 'labels'", at: location, path)
            }
        case .delegated:
            if byKey["cgroup"] == nil { missing("cgroup") }
        case .stay, .locked, .denyInto:
            requireNonEmpty("cgroups", rule.cgroups.isEmpty, "cgroup path")
        case .managers, .idMap, nil:
            break
        }

        guard id != nil, kind != nil else { return nil }
        parsed.rule = rule
        parsed.complete = reader.diagnostics.count == errorsBefore
        return parsed
    }

    // MARK: - Fields

    /// `events: {rate-limit: N}`: N from 0 (no limit) to `maxEventRateLimit`.
    private mutating func parseEvents(_ node: YAMLNode) -> UInt32 {
        guard let entries = reader.mapping(node, "events", expected: "a mapping such as {rate-limit: 1000}") else { return 0 }
        var limit: UInt32 = 0
        for entry in entries {
            let path = "events.\(show(entry.key))"
            guard Self.eventsKeys.contains(entry.key) else {
                reader.error(unknownKey(entry.key, candidates: Self.eventsKeys), at: entry.keyNode, path)
                continue
            }
            guard let text = reader.integerText(entry.value, path) else { continue }
            if let n = Int(text), n >= 0, n <= Self.maxEventRateLimit {
                limit = UInt32(n)
            } else {
                reader.error("rate-limit \(show(text)) is out of range (expected 0, no limit, to \(Self.maxEventRateLimit) "
                    + "decision events per rule per second)", at: entry.value, path)
            }
        }
        return limit
    }

    private mutating func parseMode(_ node: YAMLNode, _ path: String) -> RuleMode? {
        guard let text = reader.string(node, path) else { return nil }
        guard let mode = RuleMode(rawValue: text) else {
            reader.error("invalid mode \(quote(text)) (expected enforce or audit)", at: node, path)
            return nil
        }
        return mode
    }

    private mutating func parseErrno(_ node: YAMLNode, _ path: String) -> Int32? {
        let names = ErrnoNames.all.map(\.name).joined(separator: ", ")
        if case .scalar(let scalar) = node, ScalarKind(scalar) == .int {
            if let value = Int32(scalar.string), value >= 1, value <= ErrnoNames.maxValue { return value }
            reader.error("errno \(show(scalar.string)) is out of range (expected 1 to \(ErrnoNames.maxValue))", at: node, path)
            return nil
        }
        guard let text = reader.string(node, path) else { return nil }
        if let value = ErrnoNames.value(of: text) { return value }
        reader.error("unknown errno \(quote(text)) (expected \(names) or a number from 1 to \(ErrnoNames.maxValue))",
                     at: node, path)
        return nil
    }

    private mutating func parseTypes(_ node: YAMLNode, _ path: String) -> Set<NamespaceType> {
        guard let items = reader.list(node, path) else { return [] }
        var types: Set<NamespaceType> = []
        for (k, item) in items.enumerated() {
            let itemPath = "\(path)[\(k)]"
            guard let text = reader.string(item, itemPath) else { continue }
            if let type = NamespaceType(rawValue: text) {
                types.insert(type)
            } else {
                reader.error("unknown namespace type \(quote(text)) (expected one of: "
                    + NamespaceType.allCases.map(\.rawValue).joined(separator: ", ") + ")", at: item, itemPath)
            }
        }
        return types
    }

    private mutating func parseLabel(_ node: YAMLNode, _ path: String) -> String? {
        guard let text = reader.string(node, path) else { return nil }
        guard Self.isName(text, lowercaseOnly: false) else {
            reader.error("invalid label \(quote(text)) (expected 1 to 64 letters, digits, '.', '_' or '-', "
                + "starting with a letter or digit)", at: node, path)
            return nil
        }
        return text
    }

    private mutating func parseCgroupPath(_ node: YAMLNode, _ path: String) -> CgroupPath? {
        guard let text = reader.string(node, path) else { return nil }
        switch Self.checkCgroupPath(text) {
        case .success(let cgroup): return cgroup
        case .failure(let problem):
            reader.error(problem.message, at: node, path)
            return nil
        }
    }

    struct PathProblem: Error { var message: String }

    /// CORRAL_GLOB_PART_MAX (corral_abi.h); ABIValueTests ties the two.
    public static let maxGlobPart = 64

    /// A cgroup path exactly as the model stores it: absolute and normalised.
    static func checkCgroupPath(_ text: String) -> Result<CgroupPath, PathProblem> {
        guard text.hasPrefix("/") else {
            return .failure(PathProblem(message: "cgroup path \(quote(text)) must be absolute (start with '/')"))
        }
        if text.utf8.contains(0) { return .failure(PathProblem(message: "cgroup path contains a NUL byte")) }
        if text == "/" { return .success(.root) }
        var parts: [String] = []
        var escapes = false
        var normal = true
        for part in text.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            switch part {
            case "", ".":
                normal = false
            case "..":
                normal = false
                if parts.isEmpty { escapes = true } else { parts.removeLast() }
            default:
                if part.utf8.count > 255 {
                    return .failure(PathProblem(message: "cgroup name \(quote(String(part))) is longer than 255 bytes"))
                }
                parts.append(String(part))
            }
        }
        if escapes { return .failure(PathProblem(message: "cgroup path \(quote(text)) lies outside the cgroup root")) }
        for (i, part) in parts.enumerated() where part.utf8.contains(UInt8(ascii: "*")) {
            let stars = part.filter { $0 == "*" }.count
            if part == "**" {
                if i > 0 && parts[i - 1] == "**" {
                    return .failure(PathProblem(message: "cgroup pattern \(quote(text)): '**/**' is the same as one '**'; write one"))
                }
                continue
            }
            if part.contains("**") {
                return .failure(PathProblem(message: "cgroup pattern \(quote(text)): '**' must be a whole component "
                    + "(in \(quote(part)))"))
            }
            if stars > 1 {
                return .failure(PathProblem(message: "cgroup pattern \(quote(text)): at most one '*' per component "
                    + "(in \(quote(part)))"))
            }
            if case .glob(let prefix, let suffix) = CgroupPathComponent(part),
               prefix.utf8.count > maxGlobPart || suffix.utf8.count > maxGlobPart {
                return .failure(PathProblem(message: "cgroup pattern \(quote(text)): the text before and after '*' "
                    + "may be at most \(maxGlobPart) bytes each (in \(quote(part)))"))
            }
        }
        let cgroup = CgroupPath(components: parts)
        if !normal {
            return .failure(PathProblem(message: "cgroup path \(quote(text)) is not normalized; write '\(cgroup)'"))
        }
        return .success(cgroup)
    }

    /// Rule ids: `[a-z0-9][a-z0-9._-]{0,63}`; subject names and labels also allow upper case.
    static func isName(_ text: String, lowercaseOnly: Bool) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool {
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || (!lowercaseOnly && b >= 0x41 && b <= 0x5A)
        }
        return alnum(bytes[0]) && bytes.dropFirst().allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    private func unknownKey(_ key: String, candidates: [String]) -> String {
        var message = "unknown key \(quote(key))"
        if let hint = closestMatch(to: key, in: candidates) { message += " (did you mean '\(hint)'?)" }
        return message
    }
}

/// `'text'` for messages, with control characters escaped and long text shortened.
func quote(_ text: String) -> String { "'\(show(text))'" }

func show(_ text: String) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == 80 { out += "…"; break }
        count += 1
        switch scalar {
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case "'": out += "\\'"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
