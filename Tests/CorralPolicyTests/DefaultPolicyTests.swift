// dist/policy.yaml, the policy the package installs as /etc/corral/policy.yaml: valid, and in
// audit mode throughout, so that installing Corral denies nothing.
import CorralPolicy
import CorralTestSupport
import Testing

@Suite struct DefaultPolicyTests {
    static let path = RepoPaths.root + "/dist/policy.yaml"

    @Test func loadsAndAuditsEveryRule() throws {
        let policy = try PolicyLoader.load(path: Self.path)
        #expect(policy.defaultMode == .audit)
        #expect(!policy.rules.isEmpty)
        for rule in policy.rules {
            #expect(rule.mode == .audit, "rule \(rule.id) is \(rule.mode.rawValue)")
            #expect(rule.description != nil, "rule \(rule.id) has no description for corral explain")
        }
    }
}
