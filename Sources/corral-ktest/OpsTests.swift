// Issue 5 in the guest: the daemon as an operator uses it. Atomic swaps under load, per-rule
// mode, loosen, why/explain/replay against the kernel's own verdicts, kill -9 during apply
// with adoption, metrics, sd_notify, and the control socket under malformed input.
import CorralControl
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

enum OpsTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "ops/apply_swap_under_load", body: applySwapUnderLoad),
        KTest(name: "ops/mode_and_loosen", body: modeAndLoosen),
        KTest(name: "ops/why_matches_kernel", body: whyMatchesKernel),
        KTest(name: "ops/explain_and_replay", body: explainAndReplay),
        KTest(name: "ops/kill9_during_apply", body: kill9DuringApply),
        KTest(name: "ops/metrics_and_notify", body: metricsAndNotify),
        KTest(name: "ops/socket_garbage", body: socketGarbage),
    ]

    /// deny-ops forbids moving into D; everything else is allowed.
    static func basePolicy(denied: String) -> String {
        """
        version: 1
        rules:
          - id: deny-ops
            kind: deny-into
            cgroups: [\(denied)]

        """
    }

    /// The base policy plus `n` deny-into rules for cgroups that do not exist (compiled, unresolved).
    static func bigPolicy(denied: String, n: Int) -> String {
        var s = basePolicy(denied: denied)
        for i in 0..<n { s += "  - {id: filler-\(i), kind: deny-into, cgroups: [/ops-filler/f\(i)]}\n" }
        return s
    }

    // MARK: a workload that keeps trying

    /// A child that, until `stopFile` exists, moves itself into `denied` (must fail) and into
    /// `allowed` (must succeed), then back to `home`. Counts go to `resultFile` as
    /// "attempts unenforced wronglyDenied".
    static func startMigrationLoop(denied: String, allowed: String, home: String, stopFile: String, resultFile: String) throws -> Int32 {
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 {
            var attempts = 0, unenforced = 0, wrong = 0
            let me = Sys.pid
            while !Sys.exists(stopFile) {
                attempts += 1
                if errnoOf({ () throws(Errno) in try moveTo(denied, pid: me) }) == 0 {
                    unenforced += 1
                    _ = errnoOf { () throws(Errno) in try moveTo(home, pid: me) }
                }
                if errnoOf({ () throws(Errno) in try moveTo(allowed, pid: me) }) != 0 { wrong += 1 }
                _ = errnoOf { () throws(Errno) in try moveTo(home, pid: me) }
            }
            _ = try? Sys.writeFileSynced(resultFile, Array("\(attempts) \(unenforced) \(wrong)".utf8))
            Sys.exit(0)
        }
        return pid
    }

    static func stopMigrationLoop(_ pid: Int32, stopFile: String, resultFile: String) throws -> (attempts: Int, unenforced: Int, wrong: Int) {
        try sys("touch stop") { () throws(Errno) in try Sys.writeFileSynced(stopFile, []) }
        _ = try sys("wait loop") { () throws(Errno) in try Sys.waitpid(pid) }
        let f = ((try? Sys.readFile(resultFile)) ?? "").split(separator: " ").compactMap { Int($0) }
        guard f.count == 3 else { throw TestFailure(reason: "migration loop left no result") }
        return (f[0], f[1], f[2])
    }

    // MARK: tests

    /// Acceptance 1: swap a 10k-rule policy in and out under a loop of migrations; no attempt
    /// into the denied cgroup may ever succeed. Reports the swap latency.
    static func applySwapUnderLoad() throws {
        try requireHeavy()
        let fx = try CgroupFixture("ops_swap")
        let denied = try fx.make("denied"), allowed = try fx.make("allowed"), home = try fx.make("home")
        let d = try DaemonHarness("swap")
        defer { d.teardown() }
        try d.writePolicy(basePolicy(denied: denied.description))
        let big = d.dir + "/big.yaml", small = d.dir + "/small.yaml"
        try d.writePolicy(bigPolicy(denied: denied.description, n: 10_000), to: big)
        try d.writePolicy(basePolicy(denied: denied.description), to: small)
        try d.start()
        let stop = d.dir + "/stop", result = d.dir + "/result"
        let loop = try startMigrationLoop(denied: fx.host(denied), allowed: fx.host(allowed), home: fx.host(home),
                                          stopFile: stop, resultFile: result)
        var latencies: [String] = []
        let g0 = try d.generation()
        for (i, file) in [big, small].enumerated() {
            let t0 = Sys.monotonicNanos()
            let r = try d.ok(ControlMethod.apply, ["policy": .string(try Sys.readFile(file)), "source": .string(file)])
            let wall = Double(Sys.monotonicNanos() - t0) / 1e6
            try check(r["generation"]?.intValue == g0 + i + 1, "apply \(i + 1): generation \(String(describing: r["generation"])), expected \(g0 + i + 1)")
            latencies.append("\(file.hasSuffix("big.yaml") ? "10001" : "1") rules: validate \(fmt(r["validate_ms"])) ms, compile \(fmt(r["compile_ms"])) ms, switch \(fmt(r["install_ms"])) ms, call \(String(format: "%.0f", wall)) ms")
        }
        let counts = try stopMigrationLoop(loop, stopFile: stop, resultFile: result)
        print("# swap latency (guest): " + latencies.joined(separator: "; "))
        print("# migration loop: \(counts.attempts) attempts during 2 swaps, \(counts.unenforced) unenforced, \(counts.wrong) wrongly denied")
        try check(counts.attempts >= 20, "the loop made only \(counts.attempts) attempts: swaps did not overlap the workload")
        try check(counts.unenforced == 0, "\(counts.unenforced) moves into \(denied) succeeded during swaps")
        try check(counts.wrong == 0, "\(counts.wrong) allowed moves were denied during swaps")
        // Events carry the generation that decided: a denial now reports the last one. (The
        // daemon may still be recording the loop's backlog, so this waits for it.)
        try expectDenialEvent(d, generation: g0 + 2, cgroup: fx.host(denied))
    }

    /// Acceptance 2: audit and back while a workload runs; events show mode and generation.
    /// `loosen --for` reverts by itself and leaves admin events.
    static func modeAndLoosen() throws {
        let fx = try CgroupFixture("ops_mode")
        let denied = try fx.make("denied"), home = try fx.make("home")
        let d = try DaemonHarness("mode")
        defer { d.teardown() }
        try d.writePolicy(basePolicy(denied: denied.description))
        try d.start()
        func attempt() throws -> Int32 {
            let (_, st) = try inChild {
                let e = errnoOf { () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) }
                return e
            }
            guard case .exited(let code) = st else { throw TestFailure(reason: "child \(st)") }
            return code
        }
        try check(try attempt() == EPERM, "enforced rule did not deny")
        let g1 = try d.generation()
        var r = try d.cli(["mode", "deny-ops", "audit"])
        try check(r.status == .exited(0), "corral mode audit: \(r.status) \(r.output)")
        try check(try attempt() == 0, "rule in audit still denied")
        let audited = try d.events(rule: "deny-ops", verdict: "audit")
        try check(audited.contains { $0["mode"]?.stringValue == "audit" && $0["generation"]?.intValue == g1 + 1 },
                  "no audit event with mode audit and generation \(g1 + 1): \(audited.suffix(2))")
        r = try d.cli(["mode", "deny-ops", "enforce"])
        try check(r.status == .exited(0), "corral mode enforce: \(r.status) \(r.output)")
        try check(try attempt() == EPERM, "rule back in enforce did not deny")
        let denies = try d.events(rule: "deny-ops", verdict: "deny")
        try check(denies.contains { $0["mode"]?.stringValue == "enforce" && $0["generation"]?.intValue == g1 + 2 },
                  "no deny event with mode enforce and generation \(g1 + 2)")
        // Whole policy to audit and back.
        r = try d.cli(["mode", "--all", "audit"])
        try check(r.status == .exited(0) && (try attempt()) == 0, "policy-wide audit did not allow: \(r.output)")
        r = try d.cli(["mode", "--all", "enforce"])
        try check(r.status == .exited(0) && (try attempt()) == EPERM, "policy-wide enforce did not deny: \(r.output)")
        // Unknown rule: named error, nothing changes.
        let gBefore = try d.generation()
        r = try d.cli(["mode", "no-such-rule", "audit"])
        try check(r.status == .exited(2) && r.output.contains("io.corral.NoSuchRule"), "unknown rule: \(r.status) \(r.output)")
        try check(try d.generation() == gBefore, "a failed mode change installed a generation")
        // loosen --for 2s: audit now, enforced again by itself.
        r = try d.cli(["loosen", "deny-ops", "--for", "2s"])
        try check(r.status == .exited(0), "corral loosen: \(r.status) \(r.output)")
        try check(try attempt() == 0, "loosened rule still denied")
        try d.waitFor("loosen to expire", seconds: 10) { (try? attempt()) == EPERM }
        let admin = try d.events(hook: "admin")
        let actions = admin.compactMap { $0["action"]?.stringValue }
        try check(actions.contains("loosen") && actions.contains("loosen-expired") && actions.contains("mode"),
                  "admin trail lacks mode/loosen/loosen-expired: \(actions)")
    }

    /// Acceptance 3a: `why` answers what the kernel then does, for several pids and cgroups.
    static func whyMatchesKernel() throws {
        let fx = try CgroupFixture("ops_why")
        let denied = try fx.make("denied"), svc = try fx.make("svc"), free = try fx.make("free")
        let free2 = try fx.make("free2"), sub = try fx.make("svc/sub")
        let d = try DaemonHarness("why")
        defer { d.teardown() }
        try d.writePolicy("""
            version: 1
            rules:
              - id: deny-ops
                kind: deny-into
                cgroups: [\(denied)]
              - id: stay-svc
                kind: stay
                cgroups: [\(svc)]

            """)
        try d.start()
        // For each (home, target): a fresh sleeping child placed in home; the test process (the
        // actor) asks why, then moves it, and the two answers must agree.
        var children: [Int32] = []
        defer { for c in children { try? Sys.kill(c, SIGKILL); _ = try? Sys.waitpid(c) } }
        func sleeper(in home: CgroupPath) throws -> Int32 {
            let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
            if pid == 0 { while true { Sys.sleep(millis: 1000) } }
            children.append(pid)
            try sys("place \(pid) in \(home)") { () throws(Errno) in try moveTo(fx.host(home), pid: pid) }
            return pid
        }
        var compared = 0, denied2 = 0
        for home in [svc, free, sub] {
            for target in [denied, free2, sub, svc, free] where target != home {
                let child = try sleeper(in: home)
                let r = try d.call(ControlMethod.why, ["pid": JSONValue(Int(child)), "actor": JSONValue(Int(Sys.pid)),
                                                        "to_cgroup": .string(target.description)])
                guard case .success(let answer) = r else { throw TestFailure(reason: "why \(child) -> \(target): \(r)") }
                let predicted = answer["verdict"]?.stringValue ?? "?"
                let e = errnoOf { () throws(Errno) in try moveTo(fx.host(target), pid: child) }
                let actual = e == 0 ? "allow" : "deny"
                try check(predicted == actual || (predicted == "audit" && actual == "allow"),
                          "why said \(predicted) (\(answer["rule"] ?? .null)) for \(child) \(home) -> \(target); kernel: \(actual) (errno \(e))\n\(answer["text"]?.stringValue ?? "")")
                if predicted == "deny" {
                    denied2 += 1
                    try check(answer["errno"]?.intValue == Int(e), "why errno \(answer["errno"] ?? .null) vs kernel \(e)")
                }
                compared += 1
            }
        }
        try check(denied2 >= 3 && denied2 < compared, "the sample should mix allowed and denied moves: \(denied2) of \(compared) denied")
        let probe = try sleeper(in: free)
        // The CLI: exit 1 for deny, 0 for allow.
        let cliDeny = try d.cli(["why", "--pid", String(probe), "--actor", String(Sys.pid), "--to-cgroup", denied.description])
        try check(cliDeny.status == .exited(1) && cliDeny.output.contains("deny-ops"), "corral why (deny): \(cliDeny.status) \(cliDeny.output)")
        print("# why: \(compared) predictions matched the kernel (\(denied2) denials)")
    }

    /// Acceptance 3b/c: `explain EVENT-ID` on a real denied event; `replay` of the recorded log
    /// through a looser candidate reports the changed verdicts.
    static func explainAndReplay() throws {
        let fx = try CgroupFixture("ops_explain")
        let denied = try fx.make("denied")
        let d = try DaemonHarness("explain")
        defer { d.teardown() }
        try d.writePolicy(basePolicy(denied: denied.description))
        try d.start()
        let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) } == EPERM ? 0 : 1 }
        try check(st == .exited(0), "move into \(denied) not denied")
        var ev: [String: JSONValue]?
        try d.waitFor("deny event", seconds: 5) { ev = (try? d.events(rule: "deny-ops", verdict: "deny"))?.last; return ev != nil }
        guard let id = ev?["id"]?.stringValue else { throw TestFailure(reason: "deny event without id: \(ev ?? [:])") }
        let ex = try d.ok(ControlMethod.explain, ["id": .string(id)])
        let text = ex["text"]?.stringValue ?? ""
        try check(text.contains("deny-ops") && text.contains("verdict: deny"), "explain text lacks the rule/verdict:\n\(text)")
        try check(ex["agrees"]?.boolValue == true, "explain: evaluator disagrees with the kernel:\n\(text)")
        switch try d.call(ControlMethod.explain, ["id": .string("999999999")]) {
        case .failure(let e): try check(e.name == "io.corral.NoSuchEvent", "unknown id: \(e)")
        case .success: throw TestFailure(reason: "explain of an unknown id succeeded")
        }
        // Replay the log file the daemon wrote through a candidate without deny-ops.
        let candidate = d.dir + "/looser.yaml"
        try d.writePolicy("version: 1\nrules:\n  - {id: other, kind: deny-into, cgroups: [/nowhere]}\n", to: candidate)
        let log = d.logDir + "/events.jsonl"
        try check(Sys.exists(log), "no event log at \(log)")
        let r = try d.cli(["replay", "--policy", candidate, log])
        try check(r.status == .exited(1), "replay with a changed verdict should exit 1: \(r.status)\n\(r.output)")
        try check(r.output.contains("deny") && r.output.contains("allow") && r.output.contains(id),
                  "replay output does not show event \(id) changing deny -> allow:\n\(r.output)")
        let same = try d.cli(["replay", "--policy", d.policyFile, log])
        try check(same.status == .exited(0), "replay through the same policy changed verdicts: \(same.status)\n\(same.output)")
    }

    /// Acceptance 4: kill -9 while a 10k-rule apply runs, restart (adopt): the denied operation
    /// stays denied throughout, and the event stream resumes.
    static func kill9DuringApply() throws {
        try requireHeavy()
        let fx = try CgroupFixture("ops_kill9")
        let denied = try fx.make("denied"), allowed = try fx.make("allowed"), home = try fx.make("home")
        let d = try DaemonHarness("kill9")
        defer { d.teardown() }
        try d.writePolicy(basePolicy(denied: denied.description))
        let big = d.dir + "/big.yaml"
        try d.writePolicy(bigPolicy(denied: denied.description, n: 10_000), to: big)
        try d.start()
        let stop = d.dir + "/stop", result = d.dir + "/result"
        let loop = try startMigrationLoop(denied: fx.host(denied), allowed: fx.host(allowed), home: fx.host(home),
                                          stopFile: stop, resultFile: result)
        var restarts = 0
        for delay in [300, 2500] {
            // Apply from a child so this process can kill the daemon mid-call.
            let applier = try sys("fork") { () throws(Errno) in try Sys.fork() }
            if applier == 0 {
                _ = try? Sys.runCapturing([d.corral, "apply", big, "--socket", d.socket])
                Sys.exit(0)
            }
            Sys.sleep(millis: delay)
            try d.kill9()
            _ = try? Sys.waitpid(applier)
            try d.start(adopt: true)
            restarts += 1
            let st = try d.status()
            try check(st["adopted"]?.boolValue == true, "restart did not adopt: \(st)")
        }
        let counts = try stopMigrationLoop(loop, stopFile: stop, resultFile: result)
        print("# kill -9 during apply: \(restarts) restarts, \(counts.attempts) attempts, \(counts.unenforced) unenforced, \(counts.wrong) wrongly denied")
        try check(counts.unenforced == 0, "\(counts.unenforced) moves into \(denied) succeeded across kill -9/restart")
        try check(counts.wrong == 0, "\(counts.wrong) allowed moves were denied")
        // The stream resumes: a new denial reaches the restarted daemon with its generation.
        try expectDenialEvent(d, generation: try d.generation(), cgroup: fx.host(denied))
        try check(d.log().contains("adopted pinned programs"), "log does not say it adopted: \(d.log())")
    }

    /// Metrics endpoint contents and READY=1 through $NOTIFY_SOCKET.
    static func metricsAndNotify() throws {
        let fx = try CgroupFixture("ops_metrics")
        let denied = try fx.make("denied")
        let d = try DaemonHarness("metrics", extraArguments: ["--metrics", "127.0.0.1:19464"])
        defer { d.teardown() }
        try d.writePolicy(basePolicy(denied: denied.description))
        let notifyPath = d.dir + "/notify.sock"
        let nfd = try sys("notify socket") { () throws(Errno) in try Sys.bindDatagram(unixPath: notifyPath) }
        defer { Sys.close(nfd) }
        try d.start(environment: ["NOTIFY_SOCKET": notifyPath])
        let msg = try sys("read notify") { () throws(Errno) in try Sys.receiveDatagram(nfd, timeoutMillis: 5000) }
        try check(msg.contains("READY=1"), "no READY=1 on NOTIFY_SOCKET: '\(msg)'")
        _ = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) } }
        var text = ""
        try d.waitFor("deny counted in metrics", seconds: 5) {
            text = (try? httpGet(port: 19464, path: "/metrics")) ?? ""
            return text.contains("corral_decisions_total{hook=\"cgroup_attach\",verdict=\"deny\",mode=\"enforce\",rule=\"deny-ops\"} ")
        }
        try check(text.contains("corral_policy_generation 1"), "no generation gauge:\n\(text)")
        let runs = text.split(separator: "\n").filter { $0.hasPrefix("corral_program_run_count_total{") }
        try check(!runs.isEmpty && runs.contains { !$0.hasSuffix(" 0") }, "no program run counts above 0:\n\(runs.joined(separator: "\n"))")
        try check(text.contains("corral_ringbuf_drops_total "), "no ringbuf drops counter")
    }

    /// The real daemon under malformed requests: named errors, no crash, generation unchanged.
    static func socketGarbage() throws {
        let fx = try CgroupFixture("ops_garbage")
        let denied = try fx.make("denied")
        let d = try DaemonHarness("garbage")
        defer { d.teardown() }
        try d.writePolicy(basePolicy(denied: denied.description))
        try d.start()
        let g = try d.generation()
        var rng = SplitMix(seed: 0xC0221)
        let samples: [String] = [
            "{", "null", "[]", "{\"method\": 7}", "{\"method\": \"io.corral.Apply\"}",
            "{\"method\": \"io.corral.Apply\", \"parameters\": {\"policy\": \"rules: [\"}}",
            "{\"method\": \"io.corral.Apply\", \"parameters\": {\"policy\": 5}}",
            "{\"method\": \"io.corral.SetMode\", \"parameters\": {\"mode\": \"sideways\"}}",
            "{\"method\": \"io.corral.SetMode\", \"parameters\": {\"rule\": \"nope\", \"mode\": \"audit\"}}",
            "{\"method\": \"io.corral.Loosen\", \"parameters\": {\"rule\": \"deny-ops\", \"seconds\": -1}}",
            "{\"method\": \"io.corral.Why\", \"parameters\": {\"pid\": 0}}",
            "{\"method\": \"io.corral.Explain\", \"parameters\": {}}",
            "{\"method\": \"io.corral.Nope\"}",
        ]
        var named = 0
        for i in 0..<1000 {
            var bytes: [UInt8]
            if i % 3 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }.filter { $0 != 0 }
            } else {
                bytes = Array(samples[Int(rng.next() % UInt64(samples.count))].utf8)
                if i % 5 == 0, !bytes.isEmpty { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
            }
            let c: ControlClient
            do { c = try ControlClient(socketPath: d.socket) } catch { throw TestFailure(reason: "connect \(i): \(error)") }
            defer { c.close() }
            do {
                try c.sendRaw(bytes + [0])
                if case .failure(let e) = try c.receiveReply().result, ControlError.Name.all.contains(e.name) { named += 1 }
            } catch { throw TestFailure(reason: "request \(i) (\(bytes.count) bytes) got no named error: \(error)") }
        }
        try check(named == 1000, "\(named) of 1000 malformed requests got a named error")
        try check(try d.generation() == g, "malformed requests changed the generation")
        let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(denied), pid: Sys.pid) } == EPERM ? 0 : 1 }
        try check(st == .exited(0), "enforcement changed after malformed requests")
        // The daemon protected its pins: this process (another executable) cannot open them.
        switch LibBPF.objGet(d.pins + "/maps/corral_control") {
        case .success(let fd): Sys.close(fd); throw TestFailure(reason: "a non-daemon process opened the daemon's pinned map")
        case .failure(let e): try check(e.rawValue == EPERM, "opening the daemon's pinned map: \(e), want EPERM")
        }
        // (Even looking the pin up is refused: the pin directories are protected inodes too.)
        try check(errnoOf { () throws(Errno) in try Sys.unlink(d.pins + "/maps/corral_control") } == EPERM,
                  "unlinking the daemon's pin was not refused with EPERM")
    }

    // MARK: helpers

    /// The two 10k-rule tests take minutes under TCG; scripts/test runs them on debian-6.12
    /// (compat) and seed-hooks (native) and sets CORRAL_KTEST_SKIP_HEAVY for the stock kernel,
    /// which runs the same compat programs as debian-6.12.
    static func requireHeavy() throws {
        if let why = Sys.env("CORRAL_KTEST_SKIP_HEAVY"), !why.isEmpty {
            throw TestSkip(reason: "10k-rule daemon test not run on this kernel: \(why)")
        }
    }

    /// Makes one denied move into `cgroup` and waits until the daemon reports a deny event of
    /// `generation` (it may first have to record a backlog the workload left in the ring buffer).
    static func expectDenialEvent(_ d: DaemonHarness, generation: Int, cgroup: String) throws {
        let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(cgroup, pid: Sys.pid) } == EPERM ? 0 : 1 }
        try check(st == .exited(0), "move into \(cgroup) not denied")
        try d.waitFor("a deny event of generation \(generation)", seconds: 300) {
            ((try? d.events(rule: "deny-ops", verdict: "deny", limit: 50)) ?? []).contains { $0["generation"]?.intValue == generation }
        }
    }

    static func fmt(_ v: JSONValue?) -> String { String(format: "%.1f", v?.doubleValue ?? -1) }

    static func httpGet(port: UInt16, path: String) throws -> String {
        let fd = try sys("socket") { () throws(Errno) in try Sys.socket(.ipv4, nonBlocking: false) }
        defer { Sys.close(fd) }
        try sys("connect") { () throws(Errno) in try Sys.connect(fd, ipv4: "127.0.0.1", port: port) }
        _ = try sys("send") { () throws(Errno) in try Sys.send(fd, Array("GET \(path) HTTP/1.0\r\n\r\n".utf8)[...]) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let t = try buf.withUnsafeMutableBytes { raw in try sys("recv") { () throws(Errno) in try Sys.receive(fd, into: raw) } }
            guard case .count(let n) = t else { break }
            out += buf[..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A tiny deterministic PRNG for garbage requests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
