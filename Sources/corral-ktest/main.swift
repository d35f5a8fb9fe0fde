// corral-ktest: in-guest integration tests against a real kernel, run as root.
// Each test prints exactly one line: `ok - NAME`, `not ok - NAME # REASON`, or `ok - NAME # SKIP REASON`.
// Tests run serially in one single-threaded process (tests fork). Exit 0 when nothing failed.
// Usage: corral-ktest [--list] [NAME-PREFIX...]
//        corral-ktest --rand-worker SLOT DIR  (a differential/random worker, exec'd by the test)
//        corral-ktest --helper-setns PATH   (exec'd by the inheritance test: exit 0 if setns is EPERM)
//        corral-ktest --helper-unshare-uts  (exec'd by the memfd test: exit 0 if unshare is EPERM)
//        corral-ktest --helper-exec PATH ARGS...  (exec PATH with ARGS)
//        corral-ktest --stress-attach N      (diagnostic: attach/detach N times under load)
//        corral-ktest --bench-cgroups [REPS] [ITERS]  (cgroup creation cost: scripts/bench-cgroups)
import CorralSystem
import CorralKernel
import Glibc

let args = Array(CommandLine.arguments.dropFirst())
if args.first == "--helper-setns", args.count == 2 {
    exit(Helper.setnsExpectingEPERM(args[1]))
}
if args.first == "--helper-unshare-uts" { exit(NamespaceEntryTests.helperUnshareUTS()) }
if args.first == "--helper-exec", args.count >= 2 {  // exec args[1] with the rest as its arguments
    let argv: [String] = ["corral-ktest"] + args.dropFirst(2)
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    execv(args[1], &cargs)
    exit(127)
}
if args.first == "--rand-worker" { exit(RandomWorker.main(Array(args.dropFirst()))) }
if args.first == "--protect-attack" { exit(ProtectTests.attack(Array(args.dropFirst()))) }
if args.first == "--bench-cgroups" { exit(BenchCgroups.run(Array(args.dropFirst()))) }
if args.first == "--stress-attach" { exit(StressMode.attachChurn(Array(args.dropFirst()))) }

let tests = KTests.all + NativeTests.all + ModeTests.all + DaemonTests.all + OpsTests.all + ProtectTests.all
    + EscapeTests.all + PatternTests.all + ExecutableTests.all + UpgradeTests.all + PolicyWatchTests.all + RegistrationTests.all
    + NamespaceEntryTests.all + RandomDifferential.all
if args.first == "--list" {
    for t in tests { print(t.name) }
    exit(0)
}
let filters = args
var failed = 0
var ran = 0
LibBPF.quiet()
for t in tests where filters.isEmpty || filters.contains(where: { t.name.hasPrefix($0) }) {
    ran += 1
    // On a kernel that cannot run Corral, every test that loads BPF skips with the probe's reason.
    let outcome = !ModeTests.withoutBPF.contains(t.name) && KProbe.unsupportedReason != nil
        ? .skip(KProbe.unsupportedReason!) : KTests.run(t)
    switch outcome {
    case .ok: print("ok - \(t.name)")
    case .skip(let why): print("ok - \(t.name) # SKIP \(why.replacingNewlines)")
    case .fail(let why):
        failed += 1
        print("not ok - \(t.name) # \(why.replacingNewlines)")
    }
}
print("# \(ran) tests, \(failed) failed")
exit(failed == 0 ? 0 : 1)
