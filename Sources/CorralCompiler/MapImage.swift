// The compiler's output: the entries one policy generation writes into each BPF map
// (bpf/abi/include/corral_abi.h), plus the tables needed to decode events and explain slots.
import CorralABI
import CorralPolicy
import CorralSystem

/// One map entry. Array maps use the absolute array index as key.
public struct MapEntry<Key, Value> {
    public var key: Key
    public var value: Value

    public init(key: Key, value: Value) {
        self.key = key
        self.value = value
    }
}

extension MapEntry: Sendable where Key: Sendable, Value: Sendable {}

/// Names of the policy maps, as in the BPF object.
public enum PolicyMap: String, CaseIterable, Sendable {
    case generations = "corral_generations"
    case rules = "corral_rules"
    case hookRules = "corral_hook_rules"
    case patternNodes = "corral_pattern_nodes"
    case patternNames = "corral_pattern_names"
    case patternGlobs = "corral_pattern_globs"
    case subjectExes = "corral_subj_exe"
    case subjectXattrs = "corral_subj_xattr"
    case ruleUIDs = "corral_rule_uids"
    case idRanges = "corral_id_ranges"

    /// Hash maps hold entries of both generations side by side: before writing an image into a
    /// generation slot, the installer deletes that slot's old entries (see `generation(ofKey:)`).
    public var isHash: Bool {
        switch self {
        case .generations, .rules, .hookRules, .patternNodes, .patternGlobs: false
        case .patternNames, .subjectExes, .subjectXattrs, .ruleUIDs, .idRanges: true
        }
    }

    /// Per-slot maps (corral_abi.h, "Per-slot maps"): a BPF_MAP_TYPE_ARRAY_OF_MAPS of two inner
    /// hash maps, one per generation slot. The installer writes a fresh inner map and drops the
    /// old slot's with one delete, whatever their size. Their keys still carry `gen`.
    public var isPerSlot: Bool { self == .patternNames || self == .ruleUIDs }

    /// A per-slot map's inner map capacity (corral_abi.h).
    public var innerMaxEntries: Int {
        switch self {
        case .patternNames: Int(CORRAL_MAX_PATTERN_NAMES)
        case .ruleUIDs: Int(CORRAL_MAX_RULE_SLOTS)
        default: 0
        }
    }

    /// The key size in bytes (corral_abi.h).
    public var keySize: Int {
        switch self {
        case .generations, .rules, .hookRules, .idRanges, .patternNodes, .patternGlobs: MemoryLayout<UInt32>.size
        case .patternNames: MemoryLayout<corral_pattern_name_key>.size
        case .subjectExes: MemoryLayout<corral_exe_key>.size
        case .subjectXattrs: MemoryLayout<corral_xattr_key>.size
        case .ruleUIDs: MemoryLayout<corral_uid_key>.size
        }
    }

    /// The value size this build writes (corral_abi.h). The installer refuses a map whose
    /// value size differs: an object or pins from another ABI version.
    public var valueSize: Int {
        switch self {
        case .generations: MemoryLayout<corral_generation>.size
        case .rules: MemoryLayout<corral_rule>.size
        case .hookRules: MemoryLayout<corral_slot_list>.size
        case .patternNodes: MemoryLayout<corral_pattern_node>.size
        case .patternNames: MemoryLayout<corral_pattern_name>.size
        case .patternGlobs: MemoryLayout<corral_pattern_glob>.size
        case .subjectExes: MemoryLayout<UInt64>.size
        case .subjectXattrs: MemoryLayout<corral_xattr_subject>.size
        case .ruleUIDs: MemoryLayout<UInt32>.size
        case .idRanges: MemoryLayout<corral_id_ranges>.size
        }
    }

    /// The generation slot a raw key of this map belongs to (nil for a malformed key).
    public func generation(ofKey key: [UInt8]) -> UInt32? {
        func u32(at offset: Int) -> UInt32? {
            guard key.count >= offset + 4 else { return nil }
            return key[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        }
        switch self {
        case .generations: return u32(at: 0)
        case .rules: return u32(at: 0).map { $0 / UInt32(CORRAL_MAX_RULE_SLOTS) }
        case .hookRules: return u32(at: 0).map { $0 / CORRAL_LIST_COUNT.rawValue }
        case .patternNodes: return u32(at: 0).map { $0 / UInt32(CORRAL_MAX_PATTERN_NODES) }
        case .patternGlobs: return u32(at: 0).map { $0 / UInt32(CORRAL_MAX_PATTERN_GLOBS) }
        case .patternNames: return key.count == 16 ? u32(at: 12) : nil
        case .subjectExes: return key.count == 16 ? u32(at: 12) : nil
        case .subjectXattrs: return key.count == 16 ? u32(at: 8) : nil
        case .ruleUIDs: return key.count == 8 ? u32(at: 4) : nil
        case .idRanges: return key.count == 4 ? u32(at: 0).map { $0 / UInt32(CORRAL_MAX_RULE_SLOTS) } : nil
        }
    }
}

/// One subject bit: which matcher it stands for.
public struct SubjectBit: Hashable, Sendable {
    public var bit: Int
    public var matcher: SubjectMatcher
    public var displayName: String
}

/// Where a rule slot came from: one (rule, subject, cgroup scope) expansion.
public struct SlotOrigin: Hashable, Sendable {
    public var slot: Int
    public var ruleID: String
    public var ruleIndex: Int
    public var subject: SubjectMatcher
    /// The cgroup scope (delegated/stay/locked subtree, deny-into destination), nil for other kinds.
    public var scope: CgroupPath?
    /// The scope's cgroup id, nil when there is no scope or it is unresolved.
    public var scopeID: UInt64?
}

/// A policy path that does not resolve on this host (yet). Not an error: see docs/compiler.md.
public struct UnresolvedReference: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// An `exe:` subject.
        case executable
        /// An `xattr:` subject with no marked file in the search paths.
        case xattr
    }

    public var kind: Kind
    public var ruleID: String
    /// e.g. `rules[3].cgroups[0]`, `rules[1].subjects[0]`.
    public var fieldPath: String
    /// The host path (cgroup directory, executable), or the attribute name for `.xattr`.
    public var path: String
    public var location: SourceLocation?
    /// Why it did not resolve (ENOENT for "does not exist"); nil for an xattr with no marked file.
    public var error: Errno?

    public var description: String {
        let place = location.map { "\($0): " } ?? ""
        let why = error.map { $0.description } ?? "no file in the search paths carries it"
        return "\(place)warning: rule \(ruleID): \(kind.rawValue) \(path) unresolved: \(why) (\(fieldPath))"
    }
}

/// Entries per map, for `corral check` and logs.
public struct MapSummary: Hashable, Sendable, CustomStringConvertible {
    public var map: String
    public var entries: Int
    public var description: String { "\(map): \(entries)" }
}

/// Everything one compiled policy writes into one generation slot.
public struct MapImage: Sendable {
    /// The generation slot (0 or 1).
    public var gen: UInt32
    /// `corral_generations[gen]`.
    public var generation: MapEntry<UInt32, corral_generation>
    /// `corral_rules`: key gen * CORRAL_MAX_RULE_SLOTS + slot, slots 0..<rule_slots.
    public var rules: [MapEntry<UInt32, corral_rule>]
    /// `corral_hook_rules`: key gen * CORRAL_LIST_COUNT + list, all CORRAL_LIST_COUNT lists.
    public var hookRules: [MapEntry<UInt32, corral_slot_list>]
    /// `corral_pattern_nodes`, `_names`, `_globs`: the pattern trie (key gen * capacity + index).
    public var patternNodes: [MapEntry<UInt32, corral_pattern_node>]
    public var patternNames: [MapEntry<corral_pattern_name_key, corral_pattern_name>]
    public var patternGlobs: [MapEntry<UInt32, corral_pattern_glob>]
    /// The same trie, for the installer's classification of the cgroups that exist.
    public var trie: PatternTrie
    /// `corral_subj_xattr`: the attribute names of `xattr:` subjects (the kernel marks files that gain one).
    public var subjectXattrs: [MapEntry<corral_xattr_key, corral_xattr_subject>]
    public var subjectExes: [MapEntry<corral_exe_key, UInt64>]
    public var ruleUIDs: [MapEntry<corral_uid_key, UInt32>]
    /// `corral_id_ranges`: key = the id-map slot's corral_rules key.
    public var idRanges: [MapEntry<UInt32, corral_id_ranges>]

    /// References that did not resolve; enforcement for them is described in docs/compiler.md.
    public var unresolved: [UnresolvedReference]

    // Decoding tables.
    public var ruleIDByUID: [UInt32: String]
    public var labelByID: [UInt32: String]
    public var cgroupPathByID: [UInt64: CgroupPath]
    /// Subject bits in bit order.
    public var subjects: [SubjectBit]
    /// Rule slots in slot order.
    public var slotOrigins: [SlotOrigin]
    /// Which paths each resolved executable (exe or xattr subject) came from.
    public var executablePaths: [ExecutableID: [String]]

    /// Raw (key, value) bytes for bpf_map_update_elem, in native byte order.
    public func entries(map: String) -> [(key: [UInt8], value: [UInt8])] {
        guard let map = PolicyMap(rawValue: map) else { return [] }
        return entries(map: map)
    }

    public func entries(map: PolicyMap) -> [(key: [UInt8], value: [UInt8])] {
        switch map {
        case .generations: [raw(generation)]
        case .rules: rules.map(raw)
        case .hookRules: hookRules.map(raw)
        case .patternNodes: patternNodes.map(raw)
        case .patternNames: patternNames.map(raw)
        case .patternGlobs: patternGlobs.map(raw)
        case .subjectExes: subjectExes.map(raw)
        case .subjectXattrs: subjectXattrs.map(raw)
        case .ruleUIDs: ruleUIDs.map(raw)
        case .idRanges: idRanges.map(raw)
        }
    }

    public func count(map: PolicyMap) -> Int {
        switch map {
        case .generations: 1
        case .rules: rules.count
        case .hookRules: hookRules.count
        case .patternNodes: patternNodes.count
        case .patternNames: patternNames.count
        case .patternGlobs: patternGlobs.count
        case .subjectExes: subjectExes.count
        case .subjectXattrs: subjectXattrs.count
        case .ruleUIDs: ruleUIDs.count
        case .idRanges: idRanges.count
        }
    }

    public var summary: [MapSummary] {
        PolicyMap.allCases.map { MapSummary(map: $0.rawValue, entries: count(map: $0)) }
    }
}

/// The bytes of a trivial value (C structs: their C layout, padding included; the compiler
/// zero-initialises every struct, so padding is zero).
func bytes<T>(of value: T) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
}

private func raw<K, V>(_ entry: MapEntry<K, V>) -> (key: [UInt8], value: [UInt8]) {
    (bytes(of: entry.key), bytes(of: entry.value))
}
