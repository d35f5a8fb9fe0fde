import ArgumentParser
import CorralOps
import CorralTestSupport
import Foundation
import Testing
@testable import CorralCLI

@Suite struct ReplayCommandTests {
    @Test func help() {
        #expect(CorralCommand.helpMessage(for: ReplayCommand.self, columns: 100) == """
            OVERVIEW: Replay recorded events against a candidate policy and report verdicts that would change.

            Reads events as the daemon records them (one JSON object per line), from each file in turn:
            gzip-compressed files (rotated logs) too, and - for standard input. Each decision is decided again
            by the reference evaluator under the candidate policy; events whose recorded inputs are incomplete
            are listed as not replayable. A malformed line is reported with its number and skipped (--strict
            stops there); an incomplete last line, a log still being written, is skipped with a warning. With
            --generations, each event is first checked against the policy of its own generation. Exits 0 when
            no verdict changes, 1 when some would change, 2 for invalid input (an invalid policy, malformed
            lines and no changes), 3 for a file that cannot be read (docs/cli.md).

            USAGE: corral replay --policy <candidate.yaml> [--generations <dir>] [--json] [--strict] <events.jsonl> ...

            ARGUMENTS:
              <events.jsonl>          Recorded events, one JSON object per line (the daemon's events.jsonl and
                                      its rotations), read in the order given; gzip-compressed files are read
                                      as such; - is standard input.

            OPTIONS:
              --policy <candidate.yaml>
                                      The candidate policy (YAML).
              --generations <dir>     Directory of generation records (<N>.json, e.g. /run/corral/generations)
                                      to cross-check each event against its own generation's policy.
              --json                  Print one JSON document instead of text.
              --strict                Stop at the first malformed line (exit 2) instead of reporting it and
                                      going on.
              --version               Show the version.
              -h, --help              Show help information.

            """)
    }

    @Test func parsesAsSubcommand() throws {
        let command = try #require(try CorralCommand.parseAsRoot(["replay", "--policy", "p.yaml", "e.jsonl", "--json"]) as? ReplayCommand)
        #expect(command.policy == "p.yaml" && command.events == ["e.jsonl"] && command.json && command.generations == nil)
        #expect(throws: (any Error).self) { try CorralCommand.parseAsRoot(["replay", "e.jsonl"]) }
        #expect(throws: (any Error).self) { try CorralCommand.parseAsRoot(["replay", "--policy", "p.yaml"]) }
    }

    /// Two events recorded under examples/lock_in: a denied escape and PID 1's allowed move.
    static let events = [
        #"{"actor_cgroup":40,"actor_cgroup_path":"/system.slice/web.service","actor_exe":"/usr/sbin/nginx","boot_id":"3f1b5a0e","comm":"nginx","dst_cgroup":30,"dst_cgroup_path":"/user.slice","err":1,"errno":"EPERM","generation":1,"hook":"cgroup_attach","id":"1","mode":"enforce","pid":500,"rule":"services-stay","seq":1,"src_cgroup":40,"src_cgroup_path":"/system.slice/web.service","target_pid":500,"tgid":500,"threadgroup":1,"verdict":"deny"}"#,
        #"{"actor_cgroup":10,"actor_cgroup_path":"/init.scope","actor_exe":"/usr/lib/systemd/systemd","boot_id":"3f1b5a0e","comm":"systemd","dst_cgroup":30,"dst_cgroup_path":"/user.slice","err":0,"generation":1,"hook":"cgroup_attach","id":"2","mode":"enforce","pid":1,"rule":"init-manages","seq":2,"src_cgroup":40,"src_cgroup_path":"/system.slice/web.service","target_pid":500,"tgid":1,"threadgroup":1,"verdict":"allow"}"#,
        #"{"action":"apply","boot_id":"3f1b5a0e","generation":2,"hook":"admin","id":"a1","timestamp_ns":5}"#,
    ]

    static func write(_ text: String, _ name: String, in dir: String) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func exitCodes() throws {
        let dir = RepoPaths.temporaryDirectory("corral-replay")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let events = try Self.write(Self.events.joined(separator: "\n") + "\n", "events.jsonl", in: dir)
        let same = RepoPaths.examples + "/lock_in/policy.yaml"

        let unchanged = ReplayCommand.execute(policy: same, events: [events])
        #expect(unchanged.status == .ok && unchanged.stderr.isEmpty)
        #expect(unchanged.stdout == ["replay against \(same)",
                                     "summary: 3 events: 2 replayed, 0 would change, 0 rule-only changes, 0 not replayable, 1 skipped (not decisions); 2 replayed without their generation's policy (not cross-checked)"])

        let tight = try Self.write("""
            version: 1
            rules:
              - {id: services-stay, kind: stay, cgroups: [/system.slice]}
            """, "tight.yaml", in: dir)
        let changed = ReplayCommand.execute(policy: tight, events: [events])
        #expect(changed.status == .failed)
        #expect(changed.stdout.contains("  event 2 cgroup_attach pid 1 (systemd) moves 500 /system.slice/web.service -> /user.slice: allow by init-manages -> deny by services-stay"))
        let json = ReplayCommand.execute(policy: tight, events: [events], json: true)
        #expect(json.status == .failed && json.stdout.count == 1)
        let report = try JSONDecoder().decode(ReplayReport.self, from: Data(json.stdout[0].utf8))
        #expect(report.summary.transitions == ["allow->deny": 1])

        // Cross-checked against generation records.
        let gens = dir + "/generations"
        try FileManager.default.createDirectory(atPath: gens, withIntermediateDirectories: true)
        let record: [String: Any] = ["generation": 1, "slot": 1, "source": same, "policy_mode": "enforce",
                                     "policy": try String(contentsOfFile: same, encoding: .utf8),
                                     "rule_modes": [String: String](), "loosened": [String: Double](), "applied_at": 1.0]
        try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: gens + "/1.json"))
        let checked = ReplayCommand.execute(policy: same, events: [events], generations: gens)
        #expect(checked.status == .ok)
        #expect(checked.stdout.last == "summary: 3 events: 2 replayed, 0 would change, 0 rule-only changes, 0 not replayable, 1 skipped (not decisions)")
    }

    @Test func badInputExitsTwoWithFileAndLine() throws {
        let dir = RepoPaths.temporaryDirectory("corral-replay")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = RepoPaths.examples + "/lock_in/policy.yaml"
        let events = try Self.write(Self.events[0] + "\n{\"id\": \"2\"\n\n" + #"{"hook":"admin"}"# + "\n", "bad.jsonl", in: dir)
        let out = ReplayCommand.execute(policy: policy, events: [events])
        // Malformed lines are reported with their numbers and skipped; the others are replayed.
        #expect(out.status == .invalidInput && out.stdout.last?.hasPrefix("summary: 1 event") == true, "\(out.stdout)")
        #expect(out.stderr == ["\(events):2: error: invalid JSON",
                               "\(events):4: error: not a recorded event: missing key 'id'",
                               "2 malformed lines skipped; the report covers the other 1 events"])
        let strict = ReplayCommand.execute(policy: policy, events: [events], strict: true)
        #expect(strict.status == .invalidInput && strict.stdout.isEmpty)
        #expect(strict.stderr == ["\(events):2: error: invalid JSON", "\(events): stopped at the first malformed line (--strict)"])
        let missing = ReplayCommand.execute(policy: policy, events: [dir + "/none.jsonl"])
        #expect(missing.status == .unreadable && missing.stderr.count == 1
                && missing.stderr[0].hasPrefix("\(dir)/none.jsonl: error: cannot read events: "), "\(missing.stderr)")
        let badPolicy = try Self.write("version: 2\n", "bad.yaml", in: dir)
        let invalid = ReplayCommand.execute(policy: badPolicy, events: [events])
        #expect(invalid.status == .invalidInput && invalid.stderr.first?.hasPrefix("\(badPolicy):1:10: error: unsupported version 2") == true)
    }

    /// Several files in order, a gzip-compressed rotation among them, and a last line still
    /// being written (no newline): skipped with a warning, not an error.
    @Test func severalFilesGzipAndAnIncompleteLastLine() throws {
        let dir = RepoPaths.temporaryDirectory("corral-replay")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = RepoPaths.examples + "/lock_in/policy.yaml"
        let old = try Self.write(Self.events[0] + "\n", "events.jsonl.1", in: dir)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-n", old]
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)
        let current = try Self.write(Self.events[1] + "\n" + #"{"id":"3","hook":"cgroup_at"#, "events.jsonl", in: dir)
        let out = ReplayCommand.execute(policy: policy, events: [old + ".gz", current])
        #expect(out.status == .ok, "\(out.stdout) \(out.stderr)")
        #expect(out.stdout.last?.hasPrefix("summary: 2 events: 2 replayed") == true, "\(out.stdout)")
        #expect(out.stderr == ["\(current):2: warning: incomplete last line (still being written?), skipped: invalid JSON"])
        // Corrupt gzip data is an error naming the file.
        let broken = try Self.write("", "broken.gz", in: dir)
        try Data([0x1f, 0x8b, 0x08, 0x00, 0x01]).write(to: URL(fileURLWithPath: broken))
        let bad = ReplayCommand.execute(policy: policy, events: [broken])
        #expect(bad.status == .invalidInput && bad.stderr.first?.hasPrefix("\(broken): error: cannot decompress (gzip): ") == true, "\(bad.stderr)")
    }

    @Test func unknownVerdictsAreRejected() throws {
        let dir = RepoPaths.temporaryDirectory("corral-replay")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let line = Self.events[0].replacingOccurrences(of: #""verdict":"deny""#, with: #""verdict":"maybe""#)
        let events = try Self.write(line + "\n", "e.jsonl", in: dir)
        let out = ReplayCommand.execute(policy: RepoPaths.examples + "/lock_in/policy.yaml", events: [events])
        #expect(out.status == .invalidInput && out.stderr.first == "\(events):1: error: unknown verdict 'maybe' (expected allow, deny or audit)",
                "\(out.stderr)")
    }

    @Test func runThrowsTheExitCode() async throws {
        let dir = RepoPaths.temporaryDirectory("corral-replay")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let events = try Self.write("nonsense\n", "e.jsonl", in: dir)
        let command = try #require(try CorralCommand.parseAsRoot(
            ["replay", "--policy", RepoPaths.examples + "/lock_in/policy.yaml", events]) as? ReplayCommand)
        await #expect(throws: ExitCode(2)) { try await command.run() }
    }

    /// A mixed log (every hook, malformed and odd lines, escaped keys, non-ASCII paths, an
    /// incomplete last line, generation records) gives the report, messages and exit status
    /// recorded in Tests/Fixtures/replay-mixed from `corral replay` before the replay speed-up
    /// (issue 12): its output must not change.
    @Test func mixedLogReportIsUnchanged() throws {
        let dir = RepoPaths.root + "/Tests/Fixtures/replay-mixed"
        func expected(_ name: String) throws -> [String] {
            let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
        for json in [false, true] {
            let mode = json ? "json" : "text"
            let out = ReplayCommand.execute(policy: dir + "/candidate.yaml", events: [dir + "/events.jsonl"],
                                            generations: dir + "/generations", json: json)
            let prefix = dir + "/"
            let stdout = out.stdout.map { $0.replacingOccurrences(of: prefix, with: "") }
            let stderr = out.stderr.map { $0.replacingOccurrences(of: prefix, with: "") }
            #expect(stdout == (try expected("expected-\(mode).stdout")), "\(mode)")
            #expect(stderr == (try expected("expected-\(mode).stderr")), "\(mode)")
            #expect("\(out.status.rawValue)" == (try expected("expected-\(mode).status")).first, "\(mode)")
        }
    }
}
