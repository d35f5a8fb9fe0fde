// The Swift copies of corral_abi.h's numbers, tied to the header (issue 13: one contract).
import CorralABI
import CorralCompiler
import CorralEvaluator
import CorralPolicy
import Testing

@Suite struct ABIValueTests {
    @Test func hooksAreTheHeadersNumbers() {
        let header: [Hook: UInt32] = [
            .namespaceAlloc: CORRAL_HOOK_NS_ALLOC.rawValue, .namespaceInstall: CORRAL_HOOK_NS_INSTALL.rawValue,
            .namespaceFree: CORRAL_HOOK_NS_FREE.rawValue, .cgroupAttach: CORRAL_HOOK_CGROUP_ATTACH.rawValue,
            .ptrace: CORRAL_HOOK_PTRACE.rawValue, .idMap: CORRAL_HOOK_ID_MAP.rawValue,
        ]
        #expect(Set(header.keys) == Set(Hook.allCases), "every Swift hook has its header value")
        for hook in Hook.allCases { #expect(hook.abiValue == header[hook], "\(hook)") }
        #expect(Hook(abiValue: UInt32(CORRAL_HOOK_SELF_PROTECT)) == nil, "self-protection is not a policy hook")
        // Every value of enum corral_hook has a Swift case, or is self-protection's.
        for value in 1..<CORRAL_HOOK_END.rawValue {
            let name = Event.hookName(abi: value)
            #expect(name == (value == UInt32(CORRAL_HOOK_SELF_PROTECT) ? Event.selfProtectHook : Hook(abiValue: value)?.rawValue),
                    "hook \(value)")
            #expect(!name.hasPrefix("hook"), "hook \(value) has no Swift case")
        }
        #expect(Hook.allCases.count == Int(CORRAL_HOOK_END.rawValue) - 2)
    }

    @Test func verdictsAndModesAreTheHeadersNumbers() {
        #expect(Verdict.allow.abiValue == CORRAL_VERDICT_ALLOW.rawValue)
        #expect(Verdict.deny.abiValue == CORRAL_VERDICT_DENY.rawValue)
        #expect(Verdict.audit.abiValue == CORRAL_VERDICT_AUDIT.rawValue)
        for verdict in Verdict.allCases { #expect(Event.verdictName(abi: verdict.abiValue) == verdict.rawValue) }
        #expect(Event.modeName(abi: CORRAL_MODE_ENFORCE.rawValue) == RuleMode.enforce.rawValue)
        #expect(Event.modeName(abi: CORRAL_MODE_AUDIT.rawValue) == RuleMode.audit.rawValue)
    }

    @Test func everyRuleKindHasItsOwnHeaderValue() {
        let values = RuleKind.allCases.map { PolicyCompiler.kindValue($0).rawValue }
        #expect(Set(values).count == RuleKind.allCases.count)
        #expect(Set(values) == Set(1..<CORRAL_RULE_KIND_END.rawValue),
                "the header's kinds are 1..<\(CORRAL_RULE_KIND_END.rawValue) (decide.h asserts the count), one per Swift kind")
    }
}
