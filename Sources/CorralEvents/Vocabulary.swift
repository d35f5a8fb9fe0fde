// The event vocabulary with its ABI values. Every number comes from corral_abi.h (the CorralABI
// module), so Swift and the BPF programs cannot disagree; ABIValueTests checks that every
// value of the header's enums has its Swift case and the counts match.
import CorralABI

/// The supervised hooks; `abiValue` is `enum corral_hook`. `ptrace` is Corral's domain scope
/// (ptrace_access_check with PTRACE_MODE_ATTACH, and ptrace_traceme), the same in both modes.
/// CORRAL_HOOK_SELF_PROTECT is not a policy decision and has no case (`Event.hookName`).
public enum Hook: String, Codable, Sendable, Hashable, CaseIterable {
    case namespaceAlloc = "namespace_alloc"
    case namespaceInstall = "namespace_install"
    case namespaceFree = "namespace_free"
    case cgroupAttach = "cgroup_attach"
    case ptrace = "ptrace"
    case idMap = "id_map"

    public var abiValue: UInt32 {
        switch self {
        case .namespaceAlloc: CORRAL_HOOK_NS_ALLOC.rawValue
        case .namespaceInstall: CORRAL_HOOK_NS_INSTALL.rawValue
        case .namespaceFree: CORRAL_HOOK_NS_FREE.rawValue
        case .cgroupAttach: CORRAL_HOOK_CGROUP_ATTACH.rawValue
        case .ptrace: CORRAL_HOOK_PTRACE.rawValue
        case .idMap: CORRAL_HOOK_ID_MAP.rawValue
        }
    }

    public init?(abiValue: UInt32) {
        guard let hook = Hook.allCases.first(where: { $0.abiValue == abiValue }) else { return nil }
        self = hook
    }
}

/// The reported verdict; `audit` means "allowed, but an audit-mode rule would deny".
public enum Verdict: String, Codable, Sendable, Hashable, CaseIterable {
    case allow, deny, audit

    /// `enum corral_verdict`.
    public var abiValue: UInt32 {
        switch self {
        case .allow: CORRAL_VERDICT_ALLOW.rawValue
        case .deny: CORRAL_VERDICT_DENY.rawValue
        case .audit: CORRAL_VERDICT_AUDIT.rawValue
        }
    }

    public init?(abiValue: UInt32) {
        guard let verdict = Verdict.allCases.first(where: { $0.abiValue == abiValue }) else { return nil }
        self = verdict
    }
}

extension Event {
    /// The `hook` of a kernel event: a `Hook`'s name, "self_protect", or "hook<N>" for a value
    /// this version does not know.
    public static func hookName(abi value: UInt32) -> String {
        if let hook = Hook(abiValue: value) { return hook.rawValue }
        if value == UInt32(CORRAL_HOOK_SELF_PROTECT) { return selfProtectHook }
        return "hook\(value)"
    }

    /// The `hook` of a self-protection denial (CORRAL_HOOK_SELF_PROTECT).
    public static let selfProtectHook = "self_protect"

    /// The `verdict` of a kernel event: a `Verdict`'s name, or "verdict<N>".
    public static func verdictName(abi value: UInt32) -> String {
        Verdict(abiValue: value)?.rawValue ?? "verdict\(value)"
    }

    /// The `mode` of a kernel event (`enum corral_mode`): "audit" or "enforce".
    public static func modeName(abi value: UInt32) -> String {
        value == CORRAL_MODE_AUDIT.rawValue ? "audit" : "enforce"
    }
}
