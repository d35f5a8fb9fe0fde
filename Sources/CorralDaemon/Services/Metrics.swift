// Prometheus text exposition (version 0.0.4) of the daemon's counters (docs/operations.md §6).
import CorralSystem

public struct DecisionKey: Hashable, Sendable, Comparable {
    public var hook: String
    public var verdict: String
    public var mode: String
    public var rule: String

    public static func < (a: Self, b: Self) -> Bool {
        (a.hook, a.verdict, a.mode, a.rule) < (b.hook, b.verdict, b.mode, b.rule)
    }
}

public struct MetricsSnapshot: Sendable {
    /// The `rule` label of decisions by a rule that is not in the active policy (rule ids start
    /// with a letter or digit, so no rule has this id).
    public static let otherRule = "_other"
    /// `corral_build_info`'s labels: the version and git revision of the daemon's binary.
    public var version = "unknown"
    public var revision = "unknown"
    public var decisions: [DecisionKey: UInt64] = [:]
    /// The rule ids of the active policy: the only values of the `rule` label besides "" (no
    /// rule) and `otherRule`, so the number of series stays bounded by the policy's size.
    public private(set) var activeRules: Set<String> = []
    public var ringbufDrops: UInt64 = 0
    public var eventsSuppressed: UInt64 = 0
    public var generation: UInt64 = 0
    public var lastApply: Double = 0
    public var programs: [(name: String, runCount: UInt64, runTimeNs: UInt64)] = []
    /// Kernel classification counters (corral_stats) and the consistency check's findings.
    public var cgroupsClassified: UInt64 = 0
    public var cgroupsClassifyFailed: UInt64 = 0
    public var movesUnclassified: UInt64 = 0
    public var classificationChecks: UInt64 = 0
    public var classificationDifferences: UInt64 = 0
    public var classificationStale: UInt64 = 0

    public init() {}

    public mutating func count(hook: String, verdict: String, mode: String, rule: String?) {
        decisions[DecisionKey(hook: hook, verdict: verdict, mode: mode, rule: ruleLabel(rule)), default: 0] += 1
    }

    /// A new active policy: counts of rules it no longer has join `otherRule`'s.
    public mutating func setActiveRules(_ rules: Set<String>) {
        activeRules = rules
        var folded: [DecisionKey: UInt64] = [:]
        for (key, value) in decisions {
            var k = key
            k.rule = ruleLabel(key.rule)
            folded[k, default: 0] += value
        }
        decisions = folded
    }

    private func ruleLabel(_ rule: String?) -> String {
        guard let rule, !rule.isEmpty else { return "" }
        return rule == Self.otherRule || activeRules.contains(rule) ? rule : Self.otherRule
    }

    public func render() -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("corral_build_info", "gauge", "Version and git revision of the running daemon (always 1).")
        out += "corral_build_info{version=\"\(esc(version))\",revision=\"\(esc(revision))\"} 1\n"
        family("corral_decisions_total", "counter", "Decisions the daemon received as events, by hook, verdict, mode and rule (a rule of the active policy, _other for other rules).")
        for (k, v) in decisions.sorted(by: { $0.key < $1.key }) {
            out += "corral_decisions_total{hook=\"\(esc(k.hook))\",verdict=\"\(esc(k.verdict))\",mode=\"\(esc(k.mode))\",rule=\"\(esc(k.rule))\"} \(v)\n"
        }
        family("corral_ringbuf_drops_total", "counter", "Events lost because the ring buffer was full.")
        out += "corral_ringbuf_drops_total \(ringbufDrops)\n"
        family("corral_events_suppressed_total", "counter", "Decision events not sent because their rule was over the policy's events rate-limit.")
        out += "corral_events_suppressed_total \(eventsSuppressed)\n"
        family("corral_policy_generation", "gauge", "Active policy generation.")
        out += "corral_policy_generation \(generation)\n"
        family("corral_policy_last_apply_timestamp_seconds", "gauge", "Wall-clock time of the last generation switch.")
        out += "corral_policy_last_apply_timestamp_seconds \(Sys.format("%.3f", lastApply))\n"
        family("corral_program_runs_total", "counter", "Runs of each attached BPF program (kernel BPF stats).")
        for p in programs.sorted(by: { $0.name < $1.name }) {
            out += "corral_program_runs_total{program=\"\(esc(p.name))\"} \(p.runCount)\n"
        }
        family("corral_program_run_time_seconds_total", "counter", "Run time of each attached BPF program (kernel BPF stats).")
        for p in programs.sorted(by: { $0.name < $1.name }) {
            out += "corral_program_run_time_seconds_total{program=\"\(esc(p.name))\"} \(Sys.format("%.9f", Double(p.runTimeNs) / 1e9))\n"
        }
        family("corral_cgroups_classified_total", "counter", "Cgroups the kernel classified at creation (once per generation slot).")
        out += "corral_cgroups_classified_total \(cgroupsClassified)\n"
        family("corral_cgroups_classify_failed_total", "counter", "Cgroups whose classification could not be written at creation (moves into them are denied).")
        out += "corral_cgroups_classify_failed_total \(cgroupsClassifyFailed)\n"
        family("corral_unclassified_denials_total", "counter", "Moves denied because the destination had no classification.")
        out += "corral_unclassified_denials_total \(movesUnclassified)\n"
        family("corral_classification_checks_total", "counter", "Consistency checks of the kernel's cgroup classification.")
        out += "corral_classification_checks_total \(classificationChecks)\n"
        family("corral_classification_differences_total", "counter", "Cgroups whose kernel classification differed from userspace's.")
        out += "corral_classification_differences_total \(classificationDifferences)\n"
        family("corral_classification_stale_total", "counter", "Classification entries found for cgroups that no longer exist.")
        out += "corral_classification_stale_total \(classificationStale)\n"
        return out
    }

    /// Label value escaping: backslash, double quote, newline.
    private func esc(_ s: String) -> String {
        s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    }
}
