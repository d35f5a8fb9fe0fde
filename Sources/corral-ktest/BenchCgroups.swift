// corral-ktest --bench-cgroups [REPS] [ITERS] [CYCLES]: the cost of cgroup creation under
// classification (BENCHMARKS.md, "Cgroup creation"). One guest run; CYCLES rounds of the states
// no programs, Corral with 0, 1,000 and 10,000 patterns. Each state times ITERS mkdir+rmdir pairs
// REPS times at two places: a child of a live cgroup that matches nothing (/bench/cN), and a cgroup
// that matches a pattern (/bench/g7/p7, matched by /bench/*/p7). Prints one BENCH_CGROUP line per run and a table of
// each state's fastest run over all cycles as a ratio to the no-programs state.
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

enum BenchCgroups {
    static func run(_ args: [String]) -> Int32 {
        let reps = args.count > 0 ? Int(args[0]) ?? 5 : 5
        let iters = args.count > 1 ? Int(args[1]) ?? 2000 : 2000
        let cycles = args.count > 2 ? Int(args[2]) ?? 3 : 3
        let base = cgroupRoot + "/bench"
        do {
            try Sys.mkdirs(base + "/g7")
        } catch {
            print("bench: mkdir \(base)/g7: \(error)")
            return 1
        }
        var results: [(state: String, place: String, best: Double)] = []
        func measure(_ state: String) {
            for (place, dir, fixed) in [("no match", base, ""), ("matches a pattern", base + "/g7", "p7")] {
                var best = Double.infinity
                for r in 0..<reps {
                    let t0 = Sys.monotonicNanos()
                    for i in 0..<iters {
                        let path = fixed.isEmpty ? "\(dir)/c\(i)" : "\(dir)/\(fixed)"
                        _ = try? Sys.mkdir(path)
                        _ = try? Sys.rmdir(path)
                    }
                    let ns = Double(Sys.monotonicNanos() - t0) / Double(iters)
                    print("BENCH_CGROUP state=\(state) place=\(place.replacingOccurrences(of: " ", with: "_")) rep=\(r) ns_per_pair=\(Int(ns))")
                    best = min(best, ns)
                }
                if let i = results.firstIndex(where: { $0.state == state && $0.place == place }) {
                    results[i].best = min(results[i].best, best)
                } else {
                    results.append((state, place, best))
                }
            }
        }
        func policy(_ n: Int) -> Policy {
            // n patterns /bench/*/pI: one shared glob, then n literal names (n + 3 trie nodes);
            // /bench is live whenever n > 0, so every child of it is classified.
            let rules = n == 0 ? [] : [Rule(id: "deny-bench", kind: .denyInto,
                                           cgroups: (0..<n).map { CgroupPath("/bench/*/p\($0)")! }, index: 0)]
            return Policy(cgroupRoot: cgroupRoot, rules: rules, source: "bench")
        }
        // Cycles of all states, so host load drifting during the run spreads over every state.
        for _ in 0..<cycles {
            measure("none")
            for n in [0, 1000, 10000] {
                do {
                    let t0 = Sys.monotonicNanos()
                    let loaded = try Loaded(policy(n))
                    print("BENCH_CGROUP_LOAD patterns=\(n) ms=\((Sys.monotonicNanos() - t0) / 1_000_000)")
                    measure("\(n) patterns")
                    loaded.unload()
                } catch {
                    print("bench: load with \(n) patterns: \(error)")
                    return 1
                }
            }
        }
        try? Sys.rmdir(base + "/g7")
        try? Sys.rmdir(base)
        let floor = Dictionary(results.filter { $0.state == "none" }.map { ($0.place, $0.best) }, uniquingKeysWith: min)
        print("| state | mkdir+rmdir, no match | ratio | mkdir+rmdir, matches a pattern | ratio |")
        print("|---|---|---|---|---|")
        var states: [String] = []
        for r in results where !states.contains(r.state) { states.append(r.state) }
        for s in states {
            let a = results.first { $0.state == s && $0.place == "no match" }!.best
            let m = results.first { $0.state == s && $0.place == "matches a pattern" }!.best
            func f(_ x: Double) -> String { String(format: "%.1f µs", x / 1000) }
            func q(_ x: Double, _ p: String) -> String { String(format: "%.2f", x / floor[p]!) }
            print("| \(s) | \(f(a)) | \(q(a, "no match")) | \(f(m)) | \(q(m, "matches a pattern")) |")
        }
        return 0
    }
}
