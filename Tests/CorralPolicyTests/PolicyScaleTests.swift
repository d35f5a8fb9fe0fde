// Validation must stay near-linear in the number of rules: 10,000 cgroup rules once took
// 94 s because every pair of rules was compared for conflicts.
import CorralPolicy
import CorralTestSupport
import Testing

@Suite struct PolicyScaleTests {
    @Test func tenThousandRulesValidateQuickly() throws {
        var yaml = "version: 1\nrules:\n"
        for i in 0..<10_000 { yaml += "  - {id: deny-\(i), kind: deny-into, cgroups: [/bench/c\(i)]}\n" }
        yaml += "  - {id: stay-bench, kind: stay, cgroups: [/bench]}\n"
        yaml += "  - {id: lock-other, kind: locked, cgroups: [/other]}\n"
        let start = threadCPUSeconds()
        let policy = try PolicyLoader.parse(yaml: yaml, source: "scale.yaml")
        let spent = threadCPUSeconds() - start
        #expect(policy.rules.count == 10_002)
        // A debug build needs about 1.5 s; quadratic pairing needed about 50 s of CPU.
        #expect(spent < 15, "validating 10,002 rules took \(spent) s of CPU")
    }
}
