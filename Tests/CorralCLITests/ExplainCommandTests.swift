import CorralEvaluator
import CorralTestSupport
import Testing
@testable import CorralCLI

@Suite struct ExplainCommandTests {
    static let nsSandboxSteps = 8

    @Test func explainsAManagersOverStayDecision() {
        let out = ExplainCommand.execute(policy: nil, scenario: RepoPaths.examples + "/lock_in/scenario.yaml", step: 9)
        #expect(out.status == .ok)
        let text = out.stdout.joined(separator: "\n")
        #expect(text.hasPrefix("step 9: migrate init moves web"))
        #expect(text.contains("  - services-stay (stay, enforce) subject any: deny, rank 0x000000000ffffffd"))
        #expect(text.contains("  - init-manages (managers, enforce) subject init: allow, rank 0x0000004007fffffc"))
        #expect(text.contains("would-be winner: init-manages (allow"))
        #expect(text.contains("effective winner: init-manages (allow"))
        #expect(text.contains("verdict: allow by init-manages (\(RepoPaths.examples)/lock_in/policy.yaml:21) [enforce]"))
    }

    @Test func explainsLockingAndNotApplicableRules() {
        let out = ExplainCommand.execute(policy: nil, scenario: RepoPaths.examples + "/ns_sandbox/scenario.yaml", step: 2)
        let text = out.stdout.joined(separator: "\n")
        #expect(text.contains("lock-sandbox (lock-on-entry, enforce) subject any: not applicable"))
        #expect(text.contains("uts namespace 4026531838 is untracked"))
        #expect(text.contains("would-be winner: none (default allow)"))
    }

    @Test func stepsWithoutDecisionsAndBadStepNumbers() throws {
        let path = RepoPaths.examples + "/ns_sandbox/scenario.yaml"
        let fork = ExplainCommand.execute(policy: nil, scenario: path, step: 3)
        #expect(fork.status == .ok && fork.stdout.joined().contains("makes no decision"))
        #expect(try ScenarioLoader.load(path: path).steps.count == Self.nsSandboxSteps)
        for step in [99, 0, -1] {
            let bad = ExplainCommand.execute(policy: nil, scenario: path, step: step)
            #expect(bad.status == .invalidInput)
            #expect(bad.stderr == ["\(path): error: no step \(step) (the scenario has \(Self.nsSandboxSteps) steps, numbered from 1)"],
                    "step \(step) names the scenario's real step count")
        }
    }
}

@Suite struct ExplainNotesTests {
    /// lock_in step 9: init (pid 1) moves web (pid 600); the stay rule's note is about the task
    /// being moved, not about the mover.
    @Test func stayNoteNamesTheMovedTask() {
        let out = ExplainCommand.execute(policy: nil, scenario: RepoPaths.examples + "/lock_in/scenario.yaml", step: 9)
        let text = out.stdout.joined(separator: "\n")
        #expect(text.contains("task 1 (systemd) matches subject 'any' and moves task 600 (nginx) out of /system.slice, where it must stay (/system.slice/db.service -> /user.slice)"),
                "\(text)")
    }
}
