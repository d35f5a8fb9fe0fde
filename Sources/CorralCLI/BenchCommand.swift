// `corral bench`: host benchmarks of the userspace paths (BENCHMARKS.md). Not a test: it prints
// timings and exits 0. Build with `swift build -c release` before measuring.
import ArgumentParser
import CorralCompiler
import CorralEvaluator
import CorralOps
import CorralPolicy
import CorralSystem
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time validation, compilation, replay and the evaluator on this host.",
        shouldDisplay: false,
        subcommands: [Compile.self, Replay.self, Evaluate.self]
    )

    static func ms(_ nanos: UInt64) -> String { String(format: "%.1f", Double(nanos) / 1e6) }

    static func maxRSSKiB() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_maxrss
    }

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
                  + "total \(BenchCommand.ms(best.total)) ms; max RSS \(BenchCommand.maxRSSKiB() / 1024) MiB")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stream an events.jsonl file through the replay of `corral replay` (text report); prints events/s.")
        @Option(help: "The candidate policy (YAML).") var policy: String
        @Argument(help: "Recorded events, one JSON object per line.") var events: String

        func run() async throws {
            let candidate = try PolicyLoader.load(fileOrDirectory: policy)
            let t0 = Sys.monotonicNanos()
            var runner = ReplayRunner(candidate: candidate, keepUnchanged: false)
            let errors = runner.add(file: events).errors
            let t1 = Sys.monotonicNanos()
            let n = runner.summary.events
            let secs = Double(t1 - t0) / 1e9
            print("bench replay \(events): \(n) events (\(errors.count) malformed lines) in \(String(format: "%.2f", secs)) s: "
                  + "\(Int(Double(n) / secs)) events/s; max RSS \(BenchCommand.maxRSSKiB() / 1024) MiB")
            print("  " + runner.summary.text)
        }
    }

    struct Evaluate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the first --events decisions of an events.jsonl file, then decide them again and again for --seconds; prints decisions/s (the evaluator alone, no parsing).")
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
            var done = 0, denied = 0
            let t0 = Sys.monotonicNanos()
            let limit = t0 + UInt64(seconds * 1e9)
            var now = t0
            while now < limit {
                for (op, world) in worlds {
                    if Evaluator.decide(op, in: world).verdict == .deny { denied += 1 }
                }
                done += worlds.count
                now = Sys.monotonicNanos()
            }
            let secs = Double(now - t0) / 1e9
            print("bench evaluate \(events): \(worlds.count) distinct decisions, \(done) decided (\(denied) denials) "
                  + "in \(String(format: "%.2f", secs)) s: \(Int(Double(done) / secs)) decisions/s (one thread)")
        }
    }
}
