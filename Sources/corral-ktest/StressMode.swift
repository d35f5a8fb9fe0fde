// `corral-ktest --stress-attach N [W]`: attach and detach every Corral program N times while W
// (default 1) children walk paths (inode_permission) without pause. A diagnostic, not a test:
// it reproduces crashes in live trampoline patching.
import CorralKernel
import CorralSystem
import Glibc

enum StressMode {
    static func attachChurn(_ args: [String]) -> Int32 {
        guard let n = args.first.flatMap({ Int($0) }), n > 0 else {
            print("usage: corral-ktest --stress-attach N [WALKERS]"); return 2
        }
        let walkerCount = args.dropFirst().first.flatMap { Int($0) } ?? 1
        LibBPF.quiet()
        var walkers: [Int32] = []
        for _ in 0..<walkerCount {
            guard let pid = try? Sys.fork() else { print("fork failed"); return 1 }
            if pid == 0 {
                while true { _ = Sys.exists("/sys/fs/cgroup/cgroup.procs") }
            }
            walkers.append(pid)
        }
        defer { for p in walkers { _ = kill(p, SIGKILL); _ = try? Sys.waitpid(p) } }
        let policy = KTests.sandboxPolicy()
        let t0 = Sys.monotonicMillis()
        for i in 1...n {
            do {
                let s = try CorralSession(policy: policy, options: SessionOptions(selfProtection: true))
                s.stop()
            } catch {
                print("iteration \(i): \(error)"); return 1
            }
            if i % 10 == 0 { print("# stress-attach: \(i)/\(n) after \(Sys.monotonicMillis() - t0) ms") }
        }
        print("# stress-attach: \(n) attach/detach cycles, no crash")
        return 0
    }
}
