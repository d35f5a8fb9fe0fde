import CorralJSON
import CorralPolicy
import CorralTestSupport
import Foundation
import Testing
@testable import CorralEvents
@testable import CorralOps

@Suite struct ReplayStreamTests {
    static func write(_ text: String) throws -> String {
        let dir = RepoPaths.temporaryDirectory("corral-linestream")
        let path = dir + "/events.jsonl"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Lines that straddle the read blocks, blank lines, surrounding spaces, no final newline.
    @Test func linesAcrossBlocks() throws {
        let lines = ["{\"a\":1}", "", "  {\"b\":\"two\"}\t", "x", String(repeating: "y", count: 50), "last"]
        let path = try Self.write(lines.joined(separator: "\n"))
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        for block in [1, 3, 7, 16, 4096] {
            var got: [(String, Int)] = []
            try LineStream.forEachLine(path: path, blockSize: block) { line, number, _ in
                got.append((String(decoding: line, as: UTF8.self), number))
            }
            #expect(got.map(\.0) == ["{\"a\":1}", "{\"b\":\"two\"}", "x", String(repeating: "y", count: 50), "last"], "block \(block)")
            #expect(got.map(\.1) == [1, 3, 4, 5, 6], "block \(block)")
        }
    }

    /// The direct reader gives what the Codable decoder gives, and leaves odd lines to it.
    @Test func directReaderMatchesDecoder() throws {
        let lines = [
            #"{"actor_cgroup":40,"actor_cgroup_path":"/system.slice/web.service","actor_exe":"/usr/sbin/nginx","boot_id":"3f1b5a0e","comm":"nginx","dst_cgroup":30,"dst_cgroup_path":"/user.slice","err":1,"errno":"EPERM","generation":1,"hook":"cgroup_attach","id":"1","mode":"enforce","pid":500,"rule":"services-stay","seq":1,"src_cgroup":40,"src_cgroup_path":"/system.slice/web.service","target_pid":500,"tgid":500,"threadgroup":1,"verdict":"deny"}"#,
            #"{"actor_exe":null,"actor_exe_xattrs":["user.a","trusted.b"],"compat":true,"hook":"namespace_alloc","id":"7","ns_inum":4026532000,"ns_type":"net","future_key":{"x":[1,2]},"tracked":false}"#,
            #"{"action":"apply","boot_id":"3f1b5a0e","generation":2,"hook":"admin","id":"a1","timestamp_ns":5,"source":"p.yaml"}"#,
        ]
        for line in lines {
            let value = try JSONValue.parse(line)
            guard case .object(let o) = value else { Issue.record("not an object"); continue }
            let direct = try #require(Event(object: o))
            let decoded = try JSONValueDecoder().decode(Event.self, from: value)
            #expect(direct == decoded, "\(line)")
        }
        // Wrong types and missing keys go to the decoder, which reports them.
        for odd in [#"{"hook":"admin","id":3}"#, #"{"hook":"cgroup_attach","id":"1","pid":-1}"#, #"{"id":"1"}"#,
                    #"{"hook":"admin","id":"1","threadgroup":300}"#] {
            guard case .object(let o) = try JSONValue.parse(odd) else { continue }
            #expect(Event(object: o) == nil, "\(odd)")
            #expect(throws: (any Error).self) { try Event.parse(line: odd) }
        }
    }

    /// Streaming a file gives the summary of replaying the parsed array.
    @Test func streamedReplayMatchesArrayReplay() throws {
        let policy = try PolicyLoader.load(fileOrDirectory: RepoPaths.examples + "/lock_in/policy.yaml")
        var lines: [String] = []
        for i in 1...40 {
            let pid = i % 2 == 1 ? 1000 + i : 1
            let rule = i % 2 == 1 ? "services-stay" : "init-manages"
            let verdict = i % 2 == 1 ? "deny" : "allow"
            let comm = i % 2 == 1 ? "nginx" : "systemd"
            let actorPath = i % 2 == 1 ? "/system.slice/web.service" : "/init.scope"
            lines.append(#"{"actor_cgroup":40,"actor_cgroup_path":"\#(actorPath)","actor_exe":"/usr/bin/x","comm":"\#(comm)","dst_cgroup":30,"dst_cgroup_path":"/user.slice","generation":1,"hook":"cgroup_attach","id":"\#(i)","pid":\#(pid),"rule":"\#(rule)","src_cgroup":40,"src_cgroup_path":"/system.slice/web.service","target_pid":\#(1000 + i),"tgid":\#(pid),"threadgroup":1,"verdict":"\#(verdict)"}"#)
        }
        let path = try Self.write(lines.joined(separator: "\n") + "\n")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        var runner = ReplayRunner(candidate: policy, keepUnchanged: true)
        let problems = runner.add(file: path)
        #expect(problems.errors.isEmpty && problems.unreadable == nil && problems.incompleteLastLine == nil)
        let events = try lines.map { try Event.parse(line: $0) }
        let array = Replay.run(events: events, candidate: policy)
        #expect(runner.summary == array.summary)
        #expect(runner.outcomes == array.outcomes)
        #expect(runner.summary.events == 40)
    }

    /// Lines decided on several threads give what one thread gives: summary, outcomes (in
    /// order) and problems, for chunk sizes that split the file anywhere.
    @Test func parallelReplayMatchesSequential() throws {
        let dir = RepoPaths.root + "/Tests/Fixtures/replay-mixed"
        let candidate = try PolicyLoader.load(fileOrDirectory: dir + "/candidate.yaml")
        let lookup = GenerationPolicies.lookup(directory: dir + "/generations")
        for keepUnchanged in [false, true] {
            var sequential = ReplayRunner(candidate: candidate, keepUnchanged: keepUnchanged, recordedPolicies: lookup)
            let expected = sequential.add(file: dir + "/events.jsonl")
            #expect(sequential.summary.events > 400 && !expected.errors.isEmpty && expected.incompleteLastLine != nil)
            for (workers, chunk) in [(2, 1), (2, 7), (3, 50), (4, 4096)] {
                var parallel = ReplayRunner(candidate: candidate, keepUnchanged: keepUnchanged, recordedPolicies: lookup)
                let problems = parallel.add(file: dir + "/events.jsonl", workers: workers, chunkLines: chunk)
                #expect(parallel.summary == sequential.summary, "\(workers) workers, \(chunk) lines")
                #expect(parallel.outcomes == sequential.outcomes, "\(workers) workers, \(chunk) lines")
                #expect(problems.errors == expected.errors, "\(workers) workers, \(chunk) lines")
                #expect(problems.incompleteLastLine == expected.incompleteLastLine, "\(workers) workers, \(chunk) lines")
            }
        }
    }

    /// The member reader gives what the full parser gives, or leaves the line to it.
    @Test func memberReaderMatchesParser() throws {
        let dir = RepoPaths.root + "/Tests/Fixtures/replay-mixed"
        var lines = 0
        try LineStream.forEachLine(path: dir + "/events.jsonl") { line, _, _ in
            lines += 1
            let full = (try? JSONValue.parse(line)).flatMap { value -> Event? in
                guard case .object(let o) = value else { return nil }
                return Event(object: o)
            }
            if let direct = Event(line: line) { #expect(direct == full, "line \(lines)") }
            #expect((try? Event.parse(bytes: line)) == (try? Event.decode(JSONValue.parse(line))), "line \(lines)")
        }
        #expect(lines > 500) // non-blank lines
    }

    /// Deciding without explanations changes nothing but the explanations.
    @Test func unexplainedDecisionsDecideTheSame() throws {
        let dir = RepoPaths.root + "/Tests/Fixtures/replay-mixed"
        var decided = 0
        for policyPath in [dir + "/candidate.yaml", RepoPaths.examples + "/lock_in/policy.yaml"] {
            let policy = try PolicyLoader.load(fileOrDirectory: policyPath)
            try LineStream.forEachLine(path: dir + "/events.jsonl") { line, number, _ in
                guard let event = try? Event.parse(bytes: line),
                      case .decision(let inputs) = EventInputReconstruction.reconstruct(event, policy: policy) else { return }
                var explained = inputs.decide(policy: policy)
                let plain = inputs.decide(policy: policy, explains: false)
                #expect(plain.reason.isEmpty && plain.considered.isEmpty)
                explained.reason = ""
                explained.considered = []
                #expect(plain == explained, "line \(number)")
                decided += 1
            }
        }
        #expect(decided > 100)
    }
}
