// The Prometheus text exposition of MetricsSnapshot, compared whole: build info, the bounded
// `rule` label (rules of the active policy; others folded into _other) and label escaping of
// backslash, double quote and newline (Prometheus text format 0.0.4).
@testable import CorralDaemon
import Testing

@Suite struct MetricsTextTests {
    @Test func fullExposition() {
        var s = MetricsSnapshot()
        s.version = "0.9.0"
        s.revision = "8d5b815-dirty"
        s.setActiveRules(["deny-ops", "keep"])
        s.count(hook: "cgroup_attach", verdict: "deny", mode: "enforce", rule: "deny-ops")
        s.count(hook: "cgroup_attach", verdict: "deny", mode: "enforce", rule: "deny-ops")
        s.count(hook: "cgroup_attach", verdict: "allow", mode: "enforce", rule: nil)
        s.count(hook: "cgroup_attach", verdict: "deny", mode: "enforce", rule: "gone-1") // not in the policy
        s.count(hook: "cgroup_attach", verdict: "deny", mode: "enforce", rule: "gone-2")
        s.count(hook: "namespace_alloc", verdict: "audit", mode: "audit", rule: "keep")
        s.count(hook: "a\\b\"c\nd", verdict: "deny", mode: "enforce", rule: nil)
        // A new policy without "keep": its count joins _other.
        s.setActiveRules(["deny-ops"])
        s.ringbufDrops = 3
        s.eventsSuppressed = 40
        s.generation = 7
        s.lastApply = 1_700_000_000.5
        s.programs = [(name: "native_ns\"x\\\n", runCount: 12, runTimeNs: 1_500), (name: "compat_attach", runCount: 0, runTimeNs: 0)]
        s.cgroupsClassified = 4
        s.cgroupsClassifyFailed = 1
        s.movesUnclassified = 2
        s.classificationChecks = 5
        s.classificationDifferences = 0
        s.classificationStale = 6
        let expected = #"""
            # HELP corral_build_info Version and git revision of the running daemon (always 1).
            # TYPE corral_build_info gauge
            corral_build_info{version="0.9.0",revision="8d5b815-dirty"} 1
            # HELP corral_decisions_total Decisions the daemon received as events, by hook, verdict, mode and rule (a rule of the active policy, _other for other rules).
            # TYPE corral_decisions_total counter
            corral_decisions_total{hook="a\\b\"c\nd",verdict="deny",mode="enforce",rule=""} 1
            corral_decisions_total{hook="cgroup_attach",verdict="allow",mode="enforce",rule=""} 1
            corral_decisions_total{hook="cgroup_attach",verdict="deny",mode="enforce",rule="_other"} 2
            corral_decisions_total{hook="cgroup_attach",verdict="deny",mode="enforce",rule="deny-ops"} 2
            corral_decisions_total{hook="namespace_alloc",verdict="audit",mode="audit",rule="_other"} 1
            # HELP corral_ringbuf_drops_total Events lost because the ring buffer was full.
            # TYPE corral_ringbuf_drops_total counter
            corral_ringbuf_drops_total 3
            # HELP corral_events_suppressed_total Decision events not sent because their rule was over the policy's events rate-limit.
            # TYPE corral_events_suppressed_total counter
            corral_events_suppressed_total 40
            # HELP corral_policy_generation Active policy generation.
            # TYPE corral_policy_generation gauge
            corral_policy_generation 7
            # HELP corral_policy_last_apply_timestamp_seconds Wall-clock time of the last generation switch.
            # TYPE corral_policy_last_apply_timestamp_seconds gauge
            corral_policy_last_apply_timestamp_seconds 1700000000.500
            # HELP corral_program_runs_total Runs of each attached BPF program (kernel BPF stats).
            # TYPE corral_program_runs_total counter
            corral_program_runs_total{program="compat_attach"} 0
            corral_program_runs_total{program="native_ns\"x\\\n"} 12
            # HELP corral_program_run_time_seconds_total Run time of each attached BPF program (kernel BPF stats).
            # TYPE corral_program_run_time_seconds_total counter
            corral_program_run_time_seconds_total{program="compat_attach"} 0.000000000
            corral_program_run_time_seconds_total{program="native_ns\"x\\\n"} 0.000001500
            # HELP corral_cgroups_classified_total Cgroups the kernel classified at creation (once per generation slot).
            # TYPE corral_cgroups_classified_total counter
            corral_cgroups_classified_total 4
            # HELP corral_cgroups_classify_failed_total Cgroups whose classification could not be written at creation (moves into them are denied).
            # TYPE corral_cgroups_classify_failed_total counter
            corral_cgroups_classify_failed_total 1
            # HELP corral_unclassified_denials_total Moves denied because the destination had no classification.
            # TYPE corral_unclassified_denials_total counter
            corral_unclassified_denials_total 2
            # HELP corral_classification_checks_total Consistency checks of the kernel's cgroup classification.
            # TYPE corral_classification_checks_total counter
            corral_classification_checks_total 5
            # HELP corral_classification_differences_total Cgroups whose kernel classification differed from userspace's.
            # TYPE corral_classification_differences_total counter
            corral_classification_differences_total 0
            # HELP corral_classification_stale_total Classification entries found for cgroups that no longer exist.
            # TYPE corral_classification_stale_total counter
            corral_classification_stale_total 6

            """#
        #expect(s.render() == expected)
    }

    /// The number of `rule` label values is bounded by the active policy, whatever rule ids the
    /// events carry.
    @Test func ruleLabelIsBounded() {
        var s = MetricsSnapshot()
        s.setActiveRules(["a"])
        for i in 0..<1000 { s.count(hook: "cgroup_attach", verdict: "deny", mode: "enforce", rule: "r\(i)") }
        s.count(hook: "cgroup_attach", verdict: "deny", mode: "enforce", rule: "a")
        #expect(Set(s.decisions.keys.map(\.rule)) == ["a", MetricsSnapshot.otherRule])
        #expect(s.decisions.values.reduce(0, +) == 1001)
    }
}
