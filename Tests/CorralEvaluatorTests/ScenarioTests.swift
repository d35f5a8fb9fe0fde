import CorralPolicy
import CorralTestSupport
import Testing
@testable import CorralEvaluator

private let policy = makePolicy(LockOnEntryTests.sandboxRules())

private func load(_ yaml: String) throws(PolicyErrors) -> Scenario {
    try ScenarioLoader.parse(yaml: yaml, source: "/tmp/s/scenario.yaml")
}

private func errors(_ yaml: String) -> [String] {
    do {
        _ = try load(yaml)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

private let base = """
namespaces:
  host-uts: {type: uts, inum: 4026531838}
tasks:
  - {name: monitor, pid: 100, exe: /usr/bin/sandboxer}
steps:
  - fork: {parent: monitor, child: child, pid: 101}
  - unshare: {task: monitor, types: [uts], as: sandbox-uts}
    expect: {verdict: allow, tracked: sandbox}
  - setns: {task: child, ns: sandbox-uts}
    expect: {verdict: allow, locked: lock-sandbox}
  - setns: {task: child, ns: host-uts}
    expect: {verdict: deny, rule: lock-sandbox, errno: EPERM}

"""

@Suite struct ScenarioLoaderTests {
    @Test func parsesStepsAndAssignsInums() throws {
        let s = try load("policy: p.yaml\n" + base)
        #expect(s.policyPath == "/tmp/s/p.yaml")
        #expect(s.steps.count == 4 && s.steps[3].location.line == 12)
        #expect(s.steps[1].action == .unshare(task: "monitor", types: [.uts], name: "sandbox-uts", inums: [4_026_532_001]))
        #expect(s.steps[3].expect?.errno == 1 && s.steps[3].expect?.rule == .id("lock-sandbox"))
    }

    @Test func reportsErrorsWithPositions() {
        let e = errors("""
        tasks:
          - {name: a, pid: 1}
        steps:
          - setns: {task: ghost, ns: nowhere}
          - fork: {parent: a, child: b, pid: 2}
            expect: deny
          - migrate: {task: a, to: relative}
          - bogus: {}
          - exec: {task: a, exe: /bin/sh}
            expect: {verdict: maybe}
        """)
        #expect(e.contains { $0.hasPrefix("/tmp/s/scenario.yaml:4:19: error: unknown task 'ghost'") })
        #expect(e.contains { $0.hasPrefix("/tmp/s/scenario.yaml:4:30: error: unknown namespace 'nowhere'") })
        #expect(e.contains { $0.hasPrefix("/tmp/s/scenario.yaml:6:5: error: a fork step makes no decision") })
        #expect(e.contains { $0.contains(":7:") && $0.contains("'relative' is not a cgroup path") })
        #expect(e.contains { $0.contains(":8:5: error: unknown key 'bogus'") })
        #expect(e.contains { $0.contains(":10:5:") && $0.contains("cannot have expect") })
    }

    @Test func reportsYAMLSyntaxErrors() {
        let e = errors("steps:\n  - fork: {parent: a\n")
        #expect(e.count == 1 && e[0].hasPrefix("/tmp/s/scenario.yaml:") && e[0].contains("invalid YAML"))
    }

    @Test func rejectsNameMisuse() {
        let e = errors("""
        tasks:
          - {name: a, pid: 1}
          - {name: b, pid: 1}
        namespaces:
          n1: {type: uts, inum: 5}
        steps:
          - unshare: {task: a, types: [uts, net], as: two}
          - free: n1
          - setns: {task: a, ns: n1}
          - exit: a
          - exec: {task: a, exe: /x}
        """)
        #expect(e.contains { $0.contains("pid 1 is already used by task 'a'") })
        #expect(e.contains { $0.contains("as names one namespace") })
        #expect(e.contains { $0.contains("namespace 'n1' was freed") })
        #expect(e.contains { $0.contains(":11:") && $0.contains("unknown task 'a'") })
    }
}

@Suite struct ScenarioRunnerTests {
    @Test func runsAndChecksExpectations() throws {
        let run = try ScenarioRunner.run(try load(base), initialPolicy: policy)
        #expect(run.passed && run.expectationCount == 3 && run.summary == "3 expectations held")
        #expect(run.outcomes[3].description == "setns child -> host-uts (uts 4026531838)")
    }

    @Test func mismatchNamesTheStepAndField() throws {
        let flipped = base.replacingOccurrences(of: "{verdict: deny, rule: lock-sandbox, errno: EPERM}",
                                                with: "{verdict: allow, errno: EBUSY}")
        let run = try ScenarioRunner.run(try load(flipped), initialPolicy: policy)
        #expect(!run.passed && run.failedSteps == [4])
        #expect(run.summary == "1 of 3 expectations failed (step 4)")
        #expect(run.outcomes[3].failures == ["verdict: expected allow, got deny", "errno: expected EBUSY, got EPERM"])
        let text = ScenarioReport.textLines(run)
        #expect(text.contains("  expected allow EBUSY: FAILED (verdict: expected allow, got deny; errno: expected EBUSY, got EPERM)"))
        #expect(text.last == "1 of 3 expectations failed (step 4)")
    }

    @Test func policyStepsSwapAndUnload() throws {
        let yaml = base + """
          - policy: none
          - setns: {task: child, ns: host-uts}
            expect: {verdict: allow, rule: ~}
          - policy: other.yaml
          - setns: {task: child, ns: host-uts}
            expect: deny
          - audit-all: true
          - setns: {task: child, ns: host-uts}
            expect: {verdict: audit, rule: lock-sandbox, errno: 0}
        """
        var asked: [String] = []
        let run = try ScenarioRunner.run(try load(yaml), initialPolicy: policy) { path throws(PolicyErrors) in
            asked.append(path)
            return policy
        }
        #expect(asked == ["/tmp/s/other.yaml"])
        #expect(run.passed, "\(run.outcomes.flatMap(\.failures))")
    }

    @Test func policyLoadErrorsAreReportedBeforeRunning() throws {
        let scenario = try load("policy: missing.yaml\n" + base)
        #expect(throws: PolicyErrors.self) {
            _ = try ScenarioRunner.run(scenario) { path throws(PolicyErrors) in
                throw PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: path, line: 1, column: 1),
                                                     message: "cannot read", fieldPath: "")])
            }
        }
    }

    @Test func deniedUnshareFreesEarlierNamespacesOfTheStep() throws {
        let yaml = """
        tasks:
          - {name: a, pid: 10}
        steps:
          - unshare: {task: a, types: [uts, net]}
            expect: {verdict: deny, rule: no-net}
        """
        let p = makePolicy([Rules.track("t", types: [.uts], label: "x"), Rules.denyCreate("no-net", types: [.net])])
        let run = try ScenarioRunner.run(try load(yaml), initialPolicy: p)
        #expect(run.passed)
        #expect(run.outcomes[0].decisions.map(\.hook) == [.namespaceAlloc, .namespaceAlloc, .namespaceFree])
        #expect(run.evaluator.trackedNamespaces.isEmpty)
    }

    @Test func explainRendersTheStep() throws {
        let run = try ScenarioRunner.run(try load(base), initialPolicy: policy, through: 4)
        let text = try #require(ScenarioReport.explain(run, step: 4))
        #expect(text.hasPrefix("step 4: setns child -> host-uts"))
        #expect(text.contains("verdict: deny by lock-sandbox [enforce] EPERM (1)"))
        #expect(ScenarioReport.explain(run, step: 9) == nil)
    }
}
