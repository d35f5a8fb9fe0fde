import CorralTestSupport
import Testing
@testable import CorralCLI

@Suite struct ExplainCommandTests {
    @Test func explainsAManagersOverStayDecision() {
        let out = ExplainCommand.execute(policy: nil, scenario: RepoPaths.examples + "/lock_in/scenario.yaml", step: 9)
        #expect(out.status == 0)
        let text = out.stdout.joined(separator: "\n")
        #expect(text.hasPrefix("step 9: migrate init moves web"))
        #expect(text.contains("  - services-stay (stay, enforce) subject any: deny, rank 0x000000000ffffffd"))
        #expect(text.contains("  - init-manages (managers, enforce) subject init: allow, rank 0x0000004007fffffc"))
        #expect(text.contains("would-be winner: init-manages (allow"))
        #expect(text.contains("effective winner: init-manages (allow"))
        #expect(text.contains("verdict: allow by init-manages [enforce]"))
    }

    @Test func explainsLockingAndNotApplicableRules() {
        let out = ExplainCommand.execute(policy: nil, scenario: RepoPaths.examples + "/ns_sandbox/scenario.yaml", step: 2)
        let text = out.stdout.joined(separator: "\n")
        #expect(text.contains("lock-sandbox (lock-on-entry, enforce) subject any: not applicable"))
        #expect(text.contains("uts namespace 4026531838 is untracked"))
        #expect(text.contains("would-be winner: none (default allow)"))
    }

    @Test func stepsWithoutDecisionsAndBadStepNumbers() {
        let path = RepoPaths.examples + "/ns_sandbox/scenario.yaml"
        let fork = ExplainCommand.execute(policy: nil, scenario: path, step: 3)
        #expect(fork.status == 0 && fork.stdout.joined().contains("makes no decision"))
        #expect(ExplainCommand.execute(policy: nil, scenario: path, step: 99).status == 1)
        #expect(ExplainCommand.execute(policy: nil, scenario: path, step: 0).status == 1)
    }
}
