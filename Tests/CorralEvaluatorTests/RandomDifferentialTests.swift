// The host twin of the guest test differential/random (issue 17): the same generators drive the
// evaluator against itself under invariants, many more cases than the guest runs. A failure names
// the seed; `RANDDIFF_SEED=N swift test --filter RandomDifferentialTests` reruns it.
import CorralPolicy
import CorralTestSupport
import Foundation
import Testing
@testable import CorralEvaluator

private let baseSeed: UInt64 = ProcessInfo.processInfo.environment["RANDDIFF_SEED"].flatMap { UInt64($0) } ?? 0x1717_2026

private func makeCase(_ seed: UInt64) throws -> SimulatedCase {
    var pg = RandomPolicyGenerator(world: .host, seed: seed)
    var gens = [pg.policy()]
    if pg.chance(0.3) { gens.append(pg.policy()) }
    return try SimulatedCase(world: .host, gens: gens)
}

/// One decision step applied to a copy of `e` (the state it is decided in).
private func decide(_ e: Evaluator, _ step: EvalStep, _ policies: [Policy], edit: (inout Evaluator) -> Void = { _ in }) -> Decision {
    var copy = e
    edit(&copy)
    return step.apply(to: &copy, policies: policies)!
}

private func withRule(_ policy: Policy, _ index: Int, _ change: (inout Rule) -> Void) -> Policy {
    var p = policy
    change(&p.rules[index])
    return p
}

@Suite struct RandomDifferentialTests {
    static let cases = 600
    static let opsPerCase = 60

    @Test func generatedPoliciesAreValidAndCoverEveryKind() throws {
        var kinds: Set<RuleKind> = []
        var subjects: Set<String> = []
        var pg = RandomPolicyGenerator(world: .host, seed: baseSeed)
        for _ in 0..<300 {
            let g = pg.policy()
            let p = try g.parse()
            #expect(p.rules.count == g.rules.count)
            for r in p.rules {
                kinds.insert(r.kind)
                for s in r.subjects { subjects.insert(String(s.displayName.prefix { $0 != ":" })) }
            }
        }
        #expect(kinds == Set(RuleKind.allCases))
        #expect(subjects.isSuperset(of: ["any", "pid1", "exe", "xattr", "cgroup"]))
    }

    @Test func sameSeedSameRun() throws {
        for i in 0..<20 {
            var a = try makeCase(baseSeed &+ UInt64(i)), b = try makeCase(baseSeed &+ UInt64(i))
            a.run(opSeed: UInt64(i), count: Self.opsPerCase)
            b.run(opSeed: UInt64(i), count: Self.opsPerCase)
            #expect(a.ops == b.ops)
            #expect(a.steps.map(\.decision) == b.steps.map(\.decision))
        }
    }

    /// Per decision, from the same state: audit never tightens; a managers rule never denies;
    /// a swap away and back changes nothing; the order is total; errno follows the verdict.
    @Test func invariantsHoldOnRandomCases() throws {
        var decisions = 0, denies = 0, failures: [String] = []
        for i in 0..<Self.cases {
            let seed = baseSeed &+ UInt64(i) &* 7919
            var c = try makeCase(seed)
            var otherGen = RandomPolicyGenerator(world: .host, seed: ~seed)
            let other = try otherGen.policy().parse()
            var rng = SplitMix(seed: seed)
            func fail(_ text: String) { if failures.count < 10 { failures.append("seed \(seed): \(text)") } }
            c.run(opSeed: seed ^ 0xabcdef, count: Self.opsPerCase) { e, step, policies in
                let d = decide(e, step, policies)
                decisions += 1
                if d.verdict == .deny { denies += 1 }
                // errno follows the verdict.
                if (d.verdict == .deny) != (d.err > 0) { fail("\(step): verdict \(d.verdict) with errno \(d.err)") }
                // Audit never tightens: everything audit -> nothing denied, and a would-deny is reported.
                let audited = decide(e, step, policies) { $0.auditAll = true }
                if audited.verdict == .deny { fail("\(step): denied under audit-all by \(audited.rule ?? "-")") }
                if d.verdict == .deny && !(audited.verdict == .audit) { fail("\(step): deny became \(audited.verdict) under audit-all") }
                // One rule switched to audit never turns an allow into a deny.
                if let policy = e.policy, !policy.rules.isEmpty {
                    let k = Int(rng.next() % UInt64(policy.rules.count))
                    let loosened = withRule(policy, k) { $0.mode = .audit }
                    let l = decide(e, step, policies) { $0.replacePolicy(loosened) }
                    if d.permitted && !l.permitted { fail("\(step): switching \(policy.rules[k].id) to audit denied it (\(l.rule ?? "-"))") }
                    // Adding a managers rule for everyone never denies anything new.
                    var managed = policy
                    managed.rules.append(Rule(id: "zz-managers", kind: .managers, index: policy.rules.count))
                    let m = decide(e, step, policies) { $0.replacePolicy(managed) }
                    if d.permitted && !m.permitted { fail("\(step): an added managers rule made it a deny") }
                    if m.rule == "zz-managers" && m.verdict == .deny { fail("\(step): a managers rule denied") }
                }
                if let rule = d.rule, let kind = e.policy?.rule(id: rule)?.kind, kind == .managers, d.verdict == .deny {
                    fail("\(step): managers rule \(rule) denied")
                }
                // A generation swap is atomic and stateless: away and back, same decision.
                let swapped = decide(e, step, policies) { $0.replacePolicy(other); $0.replacePolicy(e.policy) }
                if swapped.verdict != d.verdict || swapped.rule != d.rule { fail("\(step): a swap away and back changed the decision") }
                // The order is total: results of different rules never tie (two subjects of one rule
                // with equal specificity give one rule the same rank twice, which is no conflict).
                let results = d.considered.filter { $0.applicable && $0.role != .track && $0.role != .lockOnEntry }
                let ranks = results.compactMap(\.rank)
                let owners = Dictionary(grouping: results.filter { $0.rank != nil }, by: { $0.rank! }).mapValues { Set($0.map(\.rule)) }
                if owners.values.contains(where: { $0.count > 1 }) { fail("\(step): tied ranks \(owners.filter { $0.value.count > 1 })") }
                if let w = d.wouldBe, let max = ranks.max(), w.rank != max { fail("\(step): would-be winner is not the top rank") }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(decisions > Self.cases * 20 && denies > decisions / 20, "\(decisions) decisions, \(denies) denied")
    }

    /// The scenario writer (what the guest's shrinker prints) round-trips: a simulated case written
    /// as a scenario and replayed by `ScenarioRunner` meets every expectation (its own decisions).
    @Test func scenariosRoundTrip() throws {
        for i in 0..<200 {
            let seed = baseSeed &+ UInt64(i) &* 104_729
            var c = try makeCase(seed)
            c.run(opSeed: seed, count: Self.opsPerCase)
            let (text, files) = c.scenario(description: "seed \(seed)")
            let scenario = try ScenarioLoader.parse(yaml: text, source: "/virtual/scenario.yaml")
            let byPath = Dictionary(uniqueKeysWithValues: files.map { ("/virtual/" + $0.name, $0.text) })
            let run = try ScenarioRunner.run(scenario) { path throws(PolicyErrors) in
                try PolicyLoader.parse(yaml: byPath[path] ?? "", source: path)
            }
            #expect(run.passed, "seed \(seed): steps \(run.failedSteps) failed: \(run.outcomes.filter { !$0.passed }.prefix(2).map(\.failures))\n\(text)")
            #expect(run.expectationCount == c.steps.filter { $0.decision != nil }.count)
        }
    }

    /// Shrinking keeps a failing property failing and ends at a local minimum.
    @Test func shrinkerFindsMinimalCore() {
        var budget = 1000
        let items = Array(0..<100)
        let core = Shrinker.minimize(items, budget: &budget) { $0.contains(17) && $0.contains(58) && $0.contains(93) }
        #expect(core == [17, 58, 93])
    }
}
