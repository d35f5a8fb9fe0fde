// `corral bench`: host benchmarks of the userspace paths (BENCHMARKS.md). Not a test: it prints
// timings and exits 0. Build with `swift build -c release` before measuring.
import ArgumentParser
import CorralABI
import CorralCompiler
import CorralKernel
import CorralEvaluator
import CorralOps
import CorralPolicy
import CorralSystem

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time validation, compilation, replay and the evaluator on this host.",
        shouldDisplay: false,
        subcommands: [Compile.self, Replay.self, Evaluate.self, Record.self]
    )

    static func ms(_ nanos: UInt64) -> String { Sys.format("%.1f", Double(nanos) / 1e6) }

    struct Compile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse + validate, then compile a policy; prints the time of each, the best of --runs runs.")
        @Argument(help: "The policy file (YAML).") var policy: String
        @Option(help: "Runs (the minimum is reported).") var runs: Int = 5

        func run() async throws {
            var best = (validate: UInt64.max, compile: UInt64.max, total: UInt64.max)
            var rules = 0, slots = 0
            for _ in 0..<max(1, runs) {
                let t0 = Sys.monotonicNanos()
                let p: Policy
                do throws(PolicyErrors) { p = try PolicyLoader.parse(yaml: try PolicyLoader.read(path: policy), source: policy) } catch {
                    for d in error.diagnostics { print(d.description) }
                    throw ExitCode(2)
                }
                let t1 = Sys.monotonicNanos()
                let image: MapImage
                do throws(CompileErrors) {
                    image = try PolicyCompiler.compile(p, gen: 0, generation: 1, resolver: FileSystemResolver(cgroupRoot: p.cgroupRoot))
                } catch {
                    print(error.description)
                    throw ExitCode(2)
                }
                let t2 = Sys.monotonicNanos()
                rules = p.rules.count
                slots = image.rules.count
                best = (min(best.validate, t1 - t0), min(best.compile, t2 - t1), min(best.total, t2 - t0))
            }
            print("bench compile \(policy): \(rules) rules, \(slots) rule slots; best of \(max(1, runs)): "
                  + "read+parse+validate \(BenchCommand.ms(best.validate)) ms, compile \(BenchCommand.ms(best.compile)) ms, "
                  + "total \(BenchCommand.ms(best.total)) ms; max RSS \(Sys.maxResidentKiB() / 1024) MiB")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stream an events.jsonl file through the replay of `corral replay` (text report); prints events/s.")
        @Option(help: "The candidate policy (YAML).") var policy: String
        @Option(help: "Threads (default: the CPUs this process may use, at most 8; 1: this thread only).")
        var workers: Int = ReplayRunner.defaultWorkers
        @Argument(help: "Recorded events, one JSON object per line.") var events: String

        func run() async throws {
            let candidate = try PolicyLoader.load(fileOrDirectory: policy)
            let t0 = Sys.monotonicNanos()
            var runner = ReplayRunner(candidate: candidate, keepUnchanged: false)
            let errors = runner.add(file: events, workers: workers).errors
            let t1 = Sys.monotonicNanos()
            let n = runner.summary.events
            let secs = Double(t1 - t0) / 1e9
            print("bench replay \(events): \(n) events (\(errors.count) malformed lines), \(workers) thread\(workers == 1 ? "" : "s"), in \(Sys.format("%.2f", secs)) s: "
                  + "\(Int(Double(n) / secs)) events/s; max RSS \(Sys.maxResidentKiB() / 1024) MiB")
            print("  " + runner.summary.text)
        }
    }

    struct Evaluate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the first --count decisions of an events.jsonl file, then decide them again and again for --seconds, with explanations and without (as replay decides); prints decisions/s (the evaluator alone, no parsing).")
        @Option(help: "The policy (YAML).") var policy: String
        @Option(help: "Decisions to load.") var count: Int = 100_000
        @Option(help: "Seconds to run.") var seconds: Double = 3
        @Argument(help: "Recorded events, one JSON object per line.") var events: String

        func run() async throws {
            let p = try PolicyLoader.load(fileOrDirectory: policy)
            var inputs: [EventInputs] = []
            try? LineStream.forEachLine(path: events) { line, _, _ in
                guard inputs.count < count, let e = try? Event.parse(bytes: line),
                      case .decision(let d) = EventInputReconstruction.reconstruct(e, policy: p) else { return }
                inputs.append(d)
            }
            guard !inputs.isEmpty else { print("bench evaluate: no decisions in \(events)"); throw ExitCode(2) }
            let precedence = RuleOrder.precedence(of: p.rules)
            let worlds = inputs.map { input -> (Evaluator.Operation, Evaluator.World) in
                var w = input.world(policy: p)
                w.precedence = precedence
                return (input.operation, w)
            }
            for explains in [true, false] {
                var done = 0, denied = 0
                let t0 = Sys.monotonicNanos()
                let limit = t0 + UInt64(seconds * 1e9)
                var now = t0
                while now < limit {
                    for (op, world) in worlds {
                        var world = world
                        world.explains = explains
                        if Evaluator.decide(op, in: world).verdict == .deny { denied += 1 }
                    }
                    done += worlds.count
                    now = Sys.monotonicNanos()
                }
                let secs = Double(now - t0) / 1e9
                print("bench evaluate \(events) (\(explains ? "explained" : "not explained, as replay decides")): "
                      + "\(worlds.count) distinct decisions, \(done) decided (\(denied) denials) "
                      + "in \(Sys.format("%.2f", secs)) s: \(Int(Double(done) / secs)) decisions/s (one thread)")
            }
        }
    }

    struct Record: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The daemon's path for one kernel event, --count times: decode (EventDecoder), enrich (EventEnricher, this process as the actor), encode (jsonLine), append (EventLog in a temporary directory); prints the time of each.")
        @Option(help: "The policy (YAML) the decoder names rules from.") var policy: String
        @Option(help: "Events.") var count: Int = 100_000

        func run() async throws {
            let p = try PolicyLoader.load(fileOrDirectory: policy)
            guard let rule = p.rules.first else { print("bench record: \(policy) has no rules"); throw ExitCode(2) }
            let decoder = EventDecoder(policy: p)
            var enricher = EventEnricher(bootID: EventEnricher.readBootID())
            enricher.ruleOrigins = p.ruleOrigins
            let dir = (Sys.env("TMPDIR") ?? "/tmp") + "/corral-bench-record-\(Sys.pid)"
            defer {
                for entry in (try? Sys.listDirectory(dir)) ?? [] { try? Sys.unlink(dir + "/" + entry.name) }
                try? Sys.rmdir(dir)
            }
            let log = try EventLog(directory: dir)
            var raw = corral_event()
            raw.hook = CORRAL_HOOK_CGROUP_ATTACH.rawValue
            raw.verdict = CORRAL_VERDICT_DENY.rawValue
            raw.mode = CORRAL_MODE_ENFORCE.rawValue
            raw.rule_uid = StableID.of(rule.id)
            raw.tgid = UInt32(Sys.pid)
            raw.pid = UInt32(Sys.pid)
            raw.err = 1
            raw.generation = 1
            raw.actor_cgroup = (try? Sys.inode(p.cgroupRoot)) ?? 1
            raw.src_cgroup = raw.actor_cgroup
            raw.dst_cgroup = raw.actor_cgroup
            var t = (decode: UInt64(0), enrich: UInt64(0), encode: UInt64(0), append: UInt64(0))
            for i in 0..<max(1, count) {
                raw.seq = UInt64(i)
                raw.timestamp_ns = Sys.monotonicNanos()
                let t0 = Sys.monotonicNanos()
                let e = decoder.decode(raw)
                let t1 = Sys.monotonicNanos()
                let recorded = enricher.enrich(e)
                let t2 = Sys.monotonicNanos()
                let line = recorded.jsonLine
                let t3 = Sys.monotonicNanos()
                try log.append(line: line)
                let t4 = Sys.monotonicNanos()
                t = (t.decode + t1 - t0, t.enrich + t2 - t1, t.encode + t3 - t2, t.append + t4 - t3)
            }
            let n = Double(max(1, count))
            func us(_ x: UInt64) -> String { Sys.format("%.1f", Double(x) / n / 1e3) }
            let total = t.decode + t.enrich + t.encode + t.append
            print("bench record: \(count) events, per event: decode \(us(t.decode)) µs, enrich \(us(t.enrich)) µs, "
                  + "encode \(us(t.encode)) µs, append \(us(t.append)) µs; total \(us(total)) µs "
                  + "(\(Int(n / (Double(total) / 1e9))) events/s)")
        }
    }
}
