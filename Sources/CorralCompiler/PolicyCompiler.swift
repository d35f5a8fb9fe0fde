// Policy -> BPF map image for one generation slot. Layout: bpf/abi/include/corral_abi.h;
// what each map holds and what unresolved references mean: docs/compiler.md.
import CorralABI
import CorralPolicy
import CorralSystem
#if canImport(Glibc)
import Glibc  // errno constants only
#endif

public struct CompileOptions: Sendable {
    /// Directories scanned (not recursively) for files carrying an `xattr:` subject's attribute.
    public static let defaultXattrSearchPaths = [
        "/usr/bin", "/usr/sbin", "/usr/lib/systemd", "/usr/libexec", "/usr/local/bin", "/usr/local/sbin",
    ]

    /// Sets CORRAL_F_AUDIT_ALL in the generation: every rule behaves as `audit`.
    public var auditAll: Bool
    public var xattrSearchPaths: [String]

    public init(auditAll: Bool = false, xattrSearchPaths: [String] = CompileOptions.defaultXattrSearchPaths) {
        self.auditAll = auditAll
        self.xattrSearchPaths = xattrSearchPaths
    }
}

/// Every reason a policy cannot be compiled (capacities, id collisions), not only the first.
public struct CompileErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [PolicyDiagnostic]
    public init(_ diagnostics: [PolicyDiagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// What one compiled image may use. Hash maps shared by both generations (anchors, subject
/// entries) hold the old and the new image at once during a switch, so one image gets half.
public enum Capacity {
    public static let ruleSlots = Int(CORRAL_MAX_RULE_SLOTS)
    public static let subjects = Int(CORRAL_MAX_SUBJECTS)
    public static let labels = Int(CORRAL_MAX_LABELS)
    public static let hookRules = Int(CORRAL_MAX_HOOK_RULES)
    public static let anchorRules = Int(CORRAL_MAX_ANCHOR_RULES)
    public static let patternNodes = Int(CORRAL_MAX_PATTERN_NODES)
    public static let patternNames = Int(CORRAL_MAX_PATTERN_NAMES)
    public static let patternGlobs = Int(CORRAL_MAX_PATTERN_GLOBS)
    public static let nodeGlobs = Int(CORRAL_MAX_NODE_GLOBS)
    public static let subjectExes = Int(CORRAL_MAX_SUBJECT_EXES) / 2
    public static let idMapSlots = Int(CORRAL_MAX_ID_MAP_SLOTS) / 2
}

public enum PolicyCompiler {
    /// Compiles `policy` into the entries of generation slot `gen` (0 or 1), tagged with the
    /// policy generation number `generation`. Unresolved host paths are listed in
    /// `MapImage.unresolved`, not thrown.
    public static func compile(
        _ policy: Policy, gen: UInt32, generation: UInt64, resolver: some HostResolver,
        options: CompileOptions = CompileOptions()
    ) throws(CompileErrors) -> MapImage {
        var compiler = Compilation(policy: policy, gen: gen, options: options)
        guard gen <= 1 else {
            throw CompileErrors([PolicyDiagnostic(location: compiler.fileLocation,
                                                  message: "generation slot \(gen) is not 0 or 1", fieldPath: "")])
        }
        compiler.assignSubjectBits()
        compiler.resolveSubjects(resolver)
        compiler.expandRules(resolver)
        let diagnostics = compiler.finishDiagnostics()
        guard diagnostics.isEmpty else { throw CompileErrors(diagnostics) }
        return compiler.image(generation: generation)
    }

    /// `enum corral_rule_kind` of a rule kind (ABIValueTests ties them to the header).
    public static func kindValue(_ kind: RuleKind) -> corral_rule_kind { Compilation.kindValue(kind) }
}

/// The state of one compilation.
private struct Compilation {
    let policy: Policy
    let gen: UInt32
    let options: CompileOptions

    // Subjects.
    var bitOf: [SubjectMatcher: Int] = [:]
    var subjectBits: [SubjectBit] = []
    /// Every (rule, subject) position naming a matcher, for unresolved reports.
    var uses: [SubjectMatcher: [(rule: Int, subject: Int)]] = [:]
    var anyMask: UInt64 = 0
    var pid1Mask: UInt64 = 0
    var exeBits: [ExecutableID: UInt64] = [:]
    var exeOrder: [ExecutableID] = []
    var executablePaths: [ExecutableID: [String]] = [:]
    /// Every cgroup path and pattern: subjects' bits and scopes' anchored slots at their nodes.
    var trie = PatternTrie()
    /// Where each trie node was first named (capacity messages).
    var nodeFirstUse: [UInt32: (location: SourceLocation, fieldPath: String)] = [:]

    // Slots.
    var slots: [corral_rule] = []
    var origins: [SlotOrigin] = []
    var lists: [[Int]] = Array(repeating: [], count: Int(CORRAL_LIST_COUNT.rawValue))
    var firstSlotOfUID: [UInt32: Int] = [:]
    var uidOrder: [UInt32] = []
    var idRanges: [(slot: Int, ranges: corral_id_ranges)] = []

    // Decoding tables and reports.
    var ruleIDByUID: [UInt32: String] = [:]
    var labelByID: [UInt32: String] = [:]
    var cgroupPathByID: [UInt64: CgroupPath] = [:]
    var cgroupMemo: [CgroupPath: Result<UInt64, Errno>] = [:]
    var missingParents: [CgroupPath: Bool] = [:]
    var unresolved: [UnresolvedReference] = []
    var diagnostics: [PolicyDiagnostic] = []
    var overflows: [CapacityKey: Overflow] = [:]
    var overflowOrder: [CapacityKey] = []

    /// A capacity exceeded: where it first overflowed, and how many entries the policy needs.
    struct Overflow {
        var capacityName: String
        var limit: Int
        var what: String
        var needed: Int
        var location: SourceLocation
        var fieldPath: String
    }

    init(policy: Policy, gen: UInt32, options: CompileOptions) {
        self.policy = policy
        self.gen = gen
        self.options = options
    }

    var fileLocation: SourceLocation { SourceLocation(file: policy.source, line: 1, column: 1) }

    func location(rule: Int) -> SourceLocation { policy.rules[rule].location ?? fileLocation }

    func location(rule: Int, subject: Int) -> SourceLocation {
        policy.rules[rule].subjects[subject].location ?? location(rule: rule)
    }

    static func mask(_ bit: Int) -> UInt64 { bit < 64 ? 1 << UInt64(bit) : 0 }

    /// Independent limits: one per hook list, per anchor cgroup, per rule's labels.
    enum CapacityKey: Hashable {
        case slots, subjects, exes, idMapSlots, patternNodes, patternNames, patternGlobs
        case list(Int), anchor(UInt32), nodeGlobs(UInt32), labels(Int)
    }

    /// Records that a capacity needs `needed` entries; the first overflow's position is reported.
    /// Hot call sites check `needed > limit` first, so messages are only built on overflow.
    mutating func noteCapacity(_ key: CapacityKey, capacityName: String, limit: Int, what: String,
                               needed: Int, location: SourceLocation, fieldPath: String) {
        guard needed > limit else { return }
        if overflows[key] == nil {
            overflows[key] = Overflow(capacityName: capacityName, limit: limit, what: what, needed: needed,
                                      location: location, fieldPath: fieldPath)
            overflowOrder.append(key)
        } else {
            overflows[key]!.needed = max(overflows[key]!.needed, needed)
        }
    }

    mutating func finishDiagnostics() -> [PolicyDiagnostic] {
        diagnostics + overflowOrder.map { key in
            let o = overflows[key]!
            return PolicyDiagnostic(
                location: o.location,
                message: "\(o.what) needs \(o.needed), more than \(o.capacityName) = \(o.limit)",
                fieldPath: o.fieldPath)
        }
    }

    // MARK: Subjects

    /// One bit per distinct matcher, in order of first use.
    mutating func assignSubjectBits() {
        for (ri, rule) in policy.rules.enumerated() {
            for (si, subject) in rule.subjects.enumerated() {
                uses[subject.matcher, default: []].append((ri, si))
                guard bitOf[subject.matcher] == nil else { continue }
                let bit = subjectBits.count
                bitOf[subject.matcher] = bit
                subjectBits.append(SubjectBit(bit: bit, matcher: subject.matcher, displayName: subject.displayName))
                noteCapacity(.subjects, capacityName: "CORRAL_MAX_SUBJECTS", limit: Capacity.subjects,
                             what: "the policy's distinct subjects", needed: subjectBits.count,
                             location: location(rule: ri, subject: si), fieldPath: "rules[\(ri)].subjects[\(si)]")
            }
        }
    }

    /// The id of an exact path that exists now, for decoding events; patterns and missing paths
    /// have none (they are classified when their cgroups are created, not resolved).
    mutating func resolveCgroup(_ path: CgroupPath, _ resolver: some HostResolver) -> Result<UInt64, Errno> {
        if path.isPattern { return .failure(Errno(rawValue: ENOENT)) }
        if let known = cgroupMemo[path] { return known }
        // Under a directory that does not exist, none does: one stat for the parent instead of
        // one per path below it (10,000 rules naming cgroups not created yet). The file system's
        // answer only: a test resolver may know a cgroup without its parent.
        if resolver is FileSystemResolver, path.components.count > 1,
           parentMissing(CgroupPath(components: Array(path.components.dropLast())), resolver) {
            let e = Errno(rawValue: ENOENT)
            cgroupMemo[path] = .failure(e)
            return .failure(e)
        }
        let result: Result<UInt64, Errno>
        do throws(Errno) {
            result = .success(try resolver.cgroupID(of: path))
        } catch {
            result = .failure(error)
        }
        cgroupMemo[path] = result
        if case .success(let id) = result, cgroupPathByID[id] == nil { cgroupPathByID[id] = path }
        return result
    }

    /// Whether directory `parent` is known not to exist (stat once, remembered).
    mutating func parentMissing(_ parent: CgroupPath, _ resolver: some HostResolver) -> Bool {
        if let known = missingParents[parent] { return known }
        var missing = false
        switch cgroupMemo[parent] {
        case .failure(let e)?: missing = e.rawValue == ENOENT
        case .success?: missing = false
        case nil:
            do throws(Errno) { _ = try resolver.cgroupID(of: parent) } catch { missing = error.rawValue == ENOENT }
        }
        missingParents[parent] = missing
        return missing
    }

    mutating func reportUnresolvedSubject(_ matcher: SubjectMatcher, kind: UnresolvedReference.Kind,
                                          path: String, error: Errno?) {
        for use in uses[matcher] ?? [] {
            unresolved.append(UnresolvedReference(
                kind: kind, ruleID: policy.rules[use.rule].id,
                fieldPath: "rules[\(use.rule)].subjects[\(use.subject)]", path: path,
                location: location(rule: use.rule, subject: use.subject), error: error))
        }
    }

    mutating func addExecutable(_ id: ExecutableID, path: String, bits: UInt64, firstUse: (rule: Int, subject: Int)) {
        if exeBits[id] == nil {
            exeOrder.append(id)
            noteCapacity(.exes, capacityName: "CORRAL_MAX_SUBJECT_EXES / 2 (per generation)",
                         limit: Capacity.subjectExes, what: "executable subject entries", needed: exeOrder.count,
                         location: location(rule: firstUse.rule, subject: firstUse.subject),
                         fieldPath: "rules[\(firstUse.rule)].subjects[\(firstUse.subject)]")
        }
        exeBits[id, default: 0] |= bits
        if !(executablePaths[id]?.contains(path) ?? false) { executablePaths[id, default: []].append(path) }
    }

    mutating func resolveSubjects(_ resolver: some HostResolver) {
        var xattrNames: Set<String> = []
        for subject in subjectBits {
            if case .xattr(let name) = subject.matcher { xattrNames.insert(name) }
        }
        let marked = resolver.executables(withAttributes: xattrNames, in: options.xattrSearchPaths)
        for subject in subjectBits {
            let bits = Self.mask(subject.bit)
            let firstUse = uses[subject.matcher]![0]
            switch subject.matcher {
            case .any:
                anyMask |= bits
            case .pid1:
                pid1Mask |= bits
            case .exe(let path):
                do throws(Errno) {
                    let id = try resolver.executable(at: path)
                    addExecutable(id, path: path, bits: bits, firstUse: firstUse)
                } catch {
                    reportUnresolvedSubject(subject.matcher, kind: .executable, path: path, error: error)
                }
            case .xattr(let name):
                let files = marked[name] ?? []
                if files.isEmpty {
                    reportUnresolvedSubject(subject.matcher, kind: .xattr, path: name, error: nil)
                }
                for file in files { addExecutable(file.id, path: file.path, bits: bits, firstUse: firstUse) }
            case .cgroup(let path):
                _ = resolveCgroup(path, resolver)
                let node = insertPath(path, location: location(rule: firstUse.rule, subject: firstUse.subject),
                                      fieldPath: "rules[\(firstUse.rule)].subjects[\(firstUse.subject)]")
                trie.addSubjectBits(bits, at: node)
            }
        }
    }

    // MARK: Rule slots

    static func list(for kind: RuleKind) -> corral_hook_list? {
        switch kind {
        case .track, .denyCreate: CORRAL_LIST_NS_ALLOC
        case .denyEnter, .allowEnterOnly, .lockOnEntry: CORRAL_LIST_NS_INSTALL
        case .managers, .delegated: CORRAL_LIST_CGROUP
        case .idMap: CORRAL_LIST_ID_MAP
        case .stay, .locked, .denyInto: nil
        }
    }

    static func kindValue(_ kind: RuleKind) -> corral_rule_kind {
        switch kind {
        case .track: CORRAL_RULE_TRACK
        case .lockOnEntry: CORRAL_RULE_LOCK_ON_ENTRY
        case .denyCreate: CORRAL_RULE_DENY_CREATE
        case .denyEnter: CORRAL_RULE_DENY_ENTER
        case .allowEnterOnly: CORRAL_RULE_ALLOW_ENTER_ONLY
        case .managers: CORRAL_RULE_MANAGERS
        case .delegated: CORRAL_RULE_DELEGATED
        case .stay: CORRAL_RULE_STAY
        case .locked: CORRAL_RULE_LOCKED
        case .denyInto: CORRAL_RULE_DENY_INTO
        case .idMap: CORRAL_RULE_ID_MAP
        }
    }

    /// A deny-create / deny-enter slot of a `cgroup:` subject with ptrace-scope: the subject's
    /// subtree is a domain its tasks may not ptrace out of (CORRAL_RULE_F_PTRACE_SCOPE).
    public static func scopesCgroupJail(_ rule: Rule, _ subject: Subject) -> Bool {
        guard rule.ptraceScope, rule.kind == .denyCreate || rule.kind == .denyEnter else { return false }
        if case .cgroup = subject.matcher { return true }
        return false
    }

    static func hasScope(_ kind: RuleKind) -> Bool {
        switch kind {
        case .delegated, .stay, .locked, .denyInto: true
        case .track, .lockOnEntry, .denyCreate, .denyEnter, .allowEnterOnly, .managers, .idMap: false
        }
    }

    /// Kinds anchored at the cgroups their scope names (found by walking the ancestors of src
    /// and dst). Delegated is also in the CGROUP list: outside every instance it denies.
    static func isAnchored(_ kind: RuleKind) -> Bool {
        switch kind {
        case .stay, .locked, .denyInto, .delegated: true
        case .track, .lockOnEntry, .denyCreate, .denyEnter, .allowEnterOnly, .managers, .idMap: false
        }
    }

    /// The trie node of a policy path, with the capacity checks of new nodes and edges.
    mutating func insertPath(_ path: CgroupPath, location: SourceLocation, fieldPath: String) -> UInt32 {
        let before = (nodes: trie.nodes.count, names: trie.nameCount, globs: trie.globCount)
        let node = trie.insert(path)
        if trie.nodes.count > before.nodes {
            for n in before.nodes..<trie.nodes.count { nodeFirstUse[UInt32(n)] = (location, fieldPath) }
            if trie.nodes.count > Capacity.patternNodes {
                noteCapacity(.patternNodes, capacityName: "CORRAL_MAX_PATTERN_NODES", limit: Capacity.patternNodes,
                             what: "pattern trie nodes (distinct path prefixes)", needed: trie.nodes.count,
                             location: location, fieldPath: fieldPath)
            }
        }
        if trie.nameCount > before.names, trie.nameCount > Capacity.patternNames {
            noteCapacity(.patternNames, capacityName: "CORRAL_MAX_PATTERN_NAMES", limit: Capacity.patternNames,
                         what: "literal path components", needed: trie.nameCount, location: location, fieldPath: fieldPath)
        }
        if trie.globCount > before.globs {
            if trie.globCount > Capacity.patternGlobs {
                noteCapacity(.patternGlobs, capacityName: "CORRAL_MAX_PATTERN_GLOBS", limit: Capacity.patternGlobs,
                             what: "components with '*'", needed: trie.globCount, location: location, fieldPath: fieldPath)
            }
            // The node that gained a glob edge: the parent of some node on the path.
            for i in trie.nodesAlong(path) where trie.nodes[Int(i)].globs.count > Capacity.nodeGlobs {
                let n = trie.nodes[Int(i)]
                noteCapacity(.nodeGlobs(i), capacityName: "CORRAL_MAX_NODE_GLOBS", limit: Capacity.nodeGlobs,
                             what: "different '*' components under one path prefix", needed: n.globs.count,
                             location: location, fieldPath: fieldPath)
            }
        }
        return node
    }

    mutating func stableID(label: String, rule ri: Int, field: () -> String) -> UInt32 {
        let id = StableID.of(label)
        if let other = labelByID[id], other != label {
            diagnostics.append(PolicyDiagnostic(
                location: location(rule: ri),
                message: "label \"\(label)\" has the same 32-bit id (\(id)) as label \"\(other)\"; rename one",
                fieldPath: field()))
        } else {
            labelByID[id] = label
        }
        return id
    }

    mutating func expandRules(_ resolver: some HostResolver) {
        let precedence = RuleOrder.precedence(of: policy.rules)
        for (ri, rule) in policy.rules.enumerated() {
            let uid = StableID.of(rule.id)
            if let other = ruleIDByUID[uid], other != rule.id {
                diagnostics.append(PolicyDiagnostic(
                    location: location(rule: ri),
                    message: "rule id \"\(rule.id)\" has the same 32-bit id (\(uid)) as rule \"\(other)\"; rename one",
                    fieldPath: "rules[\(ri)].id"))
            } else {
                ruleIDByUID[uid] = rule.id
            }

            var template = corral_rule()
            template.rule_uid = uid
            template.kind = UInt16(Self.kindValue(rule.kind).rawValue)
            template.mode = UInt8((rule.mode == .audit ? CORRAL_MODE_AUDIT : CORRAL_MODE_ENFORCE).rawValue)
            template.audit_until_ns = rule.auditUntil ?? 0
            template.flags = rule.kind == .lockOnEntry && rule.denyUnshare ? UInt8(CORRAL_RULE_F_DENY_UNSHARE) : 0
            if rule.kind == .lockOnEntry && rule.ptraceScope { template.flags |= UInt8(CORRAL_RULE_F_PTRACE_SCOPE) }
            if rule.kind == .lockOnEntry && rule.lockToLabel { template.flags |= UInt8(CORRAL_RULE_F_LOCK_TO_LABEL) }
            if rule.kind == .idMap && rule.setgroupsAllowed { template.flags |= UInt8(CORRAL_RULE_F_SETGROUPS) }
            let ranges = rule.kind == .idMap ? Self.idRanges(rule) : nil
            template.ns_types = NamespaceType.mask(rule.namespaceTypes)
            template.err = rule.errno
            if rule.labels.count > Capacity.labels {
                noteCapacity(.labels(ri), capacityName: "CORRAL_MAX_LABELS", limit: Capacity.labels,
                             what: "rule \(rule.id)'s labels", needed: rule.labels.count,
                             location: location(rule: ri), fieldPath: "rules[\(ri)].labels")
            }
            withUnsafeMutableBytes(of: &template.labels) { raw in
                for (li, label) in rule.labels.enumerated() {
                    let id = stableID(label: label, rule: ri) { "rules[\(ri)].labels[\(li)]" }
                    if li < Capacity.labels { raw.storeBytes(of: id, toByteOffset: li * 4, as: UInt32.self) }
                }
            }
            if let label = rule.trackLabel {
                template.track_label = stableID(label: label, rule: ri) { "rules[\(ri)].trackLabel" }
            }

            // Scopes: one slot per cgroups[j], anchored at the path's trie node.
            var scopes: [(index: Int, path: CgroupPath, id: UInt64?)?] = [nil]
            if Self.hasScope(rule.kind), !rule.cgroups.isEmpty {
                scopes = rule.cgroups.enumerated().map { j, path in
                    (j, path, try? resolveCgroup(path, resolver).get())
                }
            }

            var seen: Set<SubjectMatcher> = []
            for subject in rule.subjects where seen.insert(subject.matcher).inserted {
                var value = template
                value.rank = RuleOrder.rank(rule: rule, subject: subject, effect: .allow,
                                            precedence: precedence[rule.id] ?? 0)
                value.subject_mask = Self.mask(bitOf[subject.matcher]!)
                if Self.scopesCgroupJail(rule, subject) { value.flags |= UInt8(CORRAL_RULE_F_PTRACE_SCOPE) }
                for scope in scopes {
                    let slot = slots.count
                    value.cgroup_id = scope?.id ?? 0
                    slots.append(value)
                    origins.append(SlotOrigin(slot: slot, ruleID: rule.id, ruleIndex: ri, subject: subject.matcher,
                                              scope: scope?.path, scopeID: scope?.id))
                    func field() -> String { scope.map { "rules[\(ri)].cgroups[\($0.index)]" } ?? "rules[\(ri)]" }
                    if slots.count > Capacity.ruleSlots {
                        noteCapacity(.slots, capacityName: "CORRAL_MAX_RULE_SLOTS", limit: Capacity.ruleSlots,
                                     what: "rule slots (one per rule, subject and cgroup)", needed: slots.count,
                                     location: location(rule: ri), fieldPath: field())
                    }
                    if firstSlotOfUID[uid] == nil {
                        firstSlotOfUID[uid] = slot
                        uidOrder.append(uid)
                    }
                    if let ranges {
                        idRanges.append((slot, ranges))
                        if idRanges.count > Capacity.idMapSlots {
                            noteCapacity(.idMapSlots, capacityName: "CORRAL_MAX_ID_MAP_SLOTS / 2 (per generation)",
                                         limit: Capacity.idMapSlots, what: "id-map rule slots (one per rule and subject)",
                                         needed: idRanges.count, location: location(rule: ri), fieldPath: "rules[\(ri)]")
                        }
                    }
                    if let list = Self.list(for: rule.kind) {
                        let l = Int(list.rawValue)
                        slots[slot].list_pos = UInt32(lists[l].count)
                        lists[l].append(slot)
                        if lists[l].count > Capacity.hookRules {
                            noteCapacity(.list(l), capacityName: "CORRAL_MAX_HOOK_RULES", limit: Capacity.hookRules,
                                         what: "hook list \(Self.listName(list)) (\(Self.listKinds(list)))",
                                         needed: lists[l].count, location: location(rule: ri), fieldPath: "rules[\(ri)]")
                        }
                    }
                    if Self.isAnchored(rule.kind), let scope {
                        let node = insertPath(scope.path, location: location(rule: ri), fieldPath: field())
                        trie.addAnchor(slot, at: node)
                        let anchored = trie.nodes[Int(node)].anchors.count
                        if anchored > Capacity.anchorRules {
                            noteCapacity(.anchor(node), capacityName: "CORRAL_MAX_ANCHOR_RULES",
                                         limit: Capacity.anchorRules,
                                         what: "rule slots scoped to cgroup \(scope.path)",
                                         needed: anchored, location: location(rule: ri), fieldPath: field())
                        }
                    }
                }
            }
        }
    }

    static func listName(_ list: corral_hook_list) -> String {
        switch list {
        case CORRAL_LIST_NS_ALLOC: "NS_ALLOC"
        case CORRAL_LIST_NS_INSTALL: "NS_INSTALL"
        case CORRAL_LIST_ID_MAP: "ID_MAP"
        default: "CGROUP"
        }
    }

    static func listKinds(_ list: corral_hook_list) -> String {
        switch list {
        case CORRAL_LIST_NS_ALLOC: "track, deny-create"
        case CORRAL_LIST_NS_INSTALL: "deny-enter, allow-enter-only, lock-on-entry"
        case CORRAL_LIST_ID_MAP: "id-map"
        default: "managers, delegated"
        }
    }

    /// An id-map rule's corral_id_ranges value (the parser allows at most CORRAL_MAX_ID_RANGES each).
    static func idRanges(_ rule: Rule) -> corral_id_ranges {
        var v = corral_id_ranges()
        func store(_ ranges: [IDRange], into raw: UnsafeMutableRawBufferPointer) -> UInt32 {
            let n = min(ranges.count, Int(CORRAL_MAX_ID_RANGES))
            for (i, r) in ranges.prefix(n).enumerated() {
                raw.storeBytes(of: r.inside, toByteOffset: i * 12, as: UInt32.self)
                raw.storeBytes(of: r.outside, toByteOffset: i * 12 + 4, as: UInt32.self)
                raw.storeBytes(of: r.count, toByteOffset: i * 12 + 8, as: UInt32.self)
            }
            return UInt32(n)
        }
        v.n_uid = withUnsafeMutableBytes(of: &v.uid) { store(rule.uidRanges, into: $0) }
        v.n_gid = withUnsafeMutableBytes(of: &v.gid) { store(rule.gidRanges, into: $0) }
        return v
    }

    // MARK: Image

    func image(generation: UInt64) -> MapImage {
        var header = corral_generation()
        header.generation = generation
        header.any_mask = anyMask
        header.pid1_mask = pid1Mask
        header.rule_slots = UInt32(slots.count)
        header.flags = options.auditAll ? UInt32(CORRAL_F_AUDIT_ALL) : 0
        header.event_rate = policy.eventRateLimit

        let slotBase = gen * UInt32(CORRAL_MAX_RULE_SLOTS)
        let listBase = gen * CORRAL_LIST_COUNT.rawValue

        let hookRules = lists.enumerated().map { l, members in
            var list = corral_slot_list()
            list.count = UInt32(members.count)
            withUnsafeMutableBytes(of: &list.slots) { raw in
                for (i, slot) in members.enumerated() {
                    raw.storeBytes(of: UInt16(slot), toByteOffset: i * 2, as: UInt16.self)
                }
            }
            return MapEntry(key: listBase + UInt32(l), value: list)
        }

        let nodeBase = gen * UInt32(CORRAL_MAX_PATTERN_NODES)
        let globBase = gen * UInt32(CORRAL_MAX_PATTERN_GLOBS)
        var patternNodes: [MapEntry<UInt32, corral_pattern_node>] = []
        var patternNames: [MapEntry<corral_pattern_name_key, corral_pattern_name>] = []
        var patternGlobs: [MapEntry<UInt32, corral_pattern_glob>] = []
        for (i, node) in trie.nodes.enumerated() {
            var v = corral_pattern_node()
            v.subject_bits = node.subjectBits
            v.eps = node.eps
            v.glob_first = UInt32(patternGlobs.count)
            v.n_glob = UInt16(min(node.globs.count, Capacity.nodeGlobs))
            v.n_anchor = UInt16(min(node.anchors.count, Capacity.anchorRules))
            v.flags = (node.anyDepth ? UInt32(CORRAL_NODE_F_ANY_DEPTH) : 0) | (node.live ? UInt32(CORRAL_NODE_F_LIVE) : 0)
            withUnsafeMutableBytes(of: &v.anchor_slots) { raw in
                for (k, slot) in node.anchors.prefix(Capacity.anchorRules).enumerated() {
                    raw.storeBytes(of: slot, toByteOffset: k * 2, as: UInt16.self)
                }
            }
            patternNodes.append(MapEntry(key: nodeBase + UInt32(i), value: v))
            for g in node.globs {
                var e = corral_pattern_glob()
                e.child = g.child
                e.prefix_len = UInt16(g.prefix.utf8.count)
                e.suffix_len = UInt16(g.suffix.utf8.count)
                withUnsafeMutableBytes(of: &e.prefix) { raw in
                    for (k, b) in g.prefix.utf8.prefix(raw.count).enumerated() { raw[k] = b }
                }
                withUnsafeMutableBytes(of: &e.suffix) { raw in
                    for (k, b) in g.suffix.utf8.prefix(raw.count).enumerated() { raw[k] = b }
                }
                patternGlobs.append(MapEntry(key: globBase + UInt32(patternGlobs.count), value: e))
            }
            for name in node.nameOrder {
                var k = corral_pattern_name_key()
                k.hash = CgroupClassifier.nameHash(name)
                k.node = UInt32(i)
                k.gen = gen
                var e = corral_pattern_name()
                e.child = node.names[name]!
                e.len = UInt32(name.utf8.count)
                withUnsafeMutableBytes(of: &e.name) { raw in
                    for (k, b) in name.utf8.prefix(raw.count - 1).enumerated() { raw[k] = b }
                }
                patternNames.append(MapEntry(key: k, value: e))
            }
        }
        header.pattern_nodes = UInt32(trie.nodes.count)

        return MapImage(
            gen: gen,
            generation: MapEntry(key: gen, value: header),
            rules: slots.enumerated().map { MapEntry(key: slotBase + UInt32($0.offset), value: $0.element) },
            hookRules: hookRules,
            patternNodes: patternNodes,
            patternNames: patternNames,
            patternGlobs: patternGlobs,
            trie: trie,
            subjectXattrs: subjectBits.compactMap { subject -> MapEntry<corral_xattr_key, corral_xattr_subject>? in
                guard case .xattr(let name) = subject.matcher else { return nil }
                var key = corral_xattr_key()
                key.hash = CgroupClassifier.nameHash(name)
                key.gen = gen
                var value = corral_xattr_subject()
                value.bits = Self.mask(subject.bit)
                value.len = UInt32(name.utf8.count)
                withUnsafeMutableBytes(of: &value.name) { raw in
                    for (k, b) in name.utf8.prefix(raw.count - 1).enumerated() { raw[k] = b }
                }
                return MapEntry(key: key, value: value)
            },
            subjectExes: exeOrder.map { id in
                var key = corral_exe_key()
                key.ino = id.ino
                key.dev = id.dev
                key.gen = gen
                return MapEntry(key: key, value: exeBits[id]!)
            },
            ruleUIDs: uidOrder.map { uid in
                var key = corral_uid_key()
                key.rule_uid = uid
                key.gen = gen
                return MapEntry(key: key, value: UInt32(firstSlotOfUID[uid]!))
            },
            idRanges: idRanges.map { MapEntry(key: slotBase + UInt32($0.slot), value: $0.ranges) },
            unresolved: unresolved,
            ruleIDByUID: ruleIDByUID,
            labelByID: labelByID,
            cgroupPathByID: cgroupPathByID,
            subjects: subjectBits,
            slotOrigins: origins,
            executablePaths: executablePaths)
    }

}
