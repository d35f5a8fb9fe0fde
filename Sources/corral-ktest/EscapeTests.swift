// Issue 11 in the guest: escape routes tried as root against the daemon (self-protection on),
// each with a control that shows the attempt reaches the operation.
import CorralControl
import CorralSystem
import Glibc

enum EscapeTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "escape/loosen_expires_without_daemon", body: loosenExpiresWithoutDaemon),
    ]

    /// `corral loosen RULE --for 3s`, then `kill -9` the daemon. The kernel ends the loosening
    /// on time by itself (corral_rule.audit_until_ns): from the deadline on, a move into the
    /// guarded cgroup every 100 ms for 10 s never succeeds. Then a daemon restarted on the pins
    /// adopts them and, from its first answer on, the rule is still enforced (the expired
    /// loosening is not re-installed, not even for a moment).
    static func loosenExpiresWithoutDaemon() throws {
        let fx = try CgroupFixture("esc_loosen")
        let denied = try fx.make("denied")
        let d = try DaemonHarness("loosen")
        defer { d.teardown() }
        try d.writePolicy(OpsTests.basePolicy(denied: denied.description))
        try d.start()
        let target = fx.host(denied)
        func attempt() throws -> Int32 {
            let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(target, pid: Sys.pid) } }
            guard case .exited(let code) = st else { throw TestFailure(reason: "child \(st)") }
            return code
        }
        /// Attempts every 100 ms for `seconds`; returns (attempts, successes).
        func hammer(seconds: Double) throws -> (Int, Int) {
            let end = Sys.monotonicMillis() + UInt64(seconds * 1000)
            var n = 0, ok = 0
            while Sys.monotonicMillis() < end {
                n += 1
                if try attempt() == 0 { ok += 1 }
                Sys.sleep(millis: 100)
            }
            return (n, ok)
        }
        try check(try attempt() == EPERM, "enforced rule did not deny before the loosening")

        // 1. Loosen for 3 s and kill the daemon at once.
        let seconds = 3.0
        let r = try d.cli(["loosen", "deny-ops", "--for", "3s"])
        let deadline = Sys.boottimeNanos() + UInt64(seconds * 1e9) // not earlier than the daemon's
        try check(r.status == .exited(0), "corral loosen: \(r.status) \(r.output)")
        try d.kill9()
        // Control: the loosening is in force, so the attempt does reach the move.
        try check(try attempt() == 0, "loosened rule still denied right after the loosen (the control failed)")
        while Sys.boottimeNanos() < deadline { Sys.sleep(millis: 20) }
        let (n1, ok1) = try hammer(seconds: 10)
        print("# after the loosening expired, no daemon: \(n1) attempts, \(ok1) succeeded")
        try check(n1 >= 20, "only \(n1) attempts in 10 s")
        try check(ok1 == 0, "\(ok1) of \(n1) moves into \(denied) succeeded after the loosening expired with no daemon running")

        // 2. A restarted daemon adopts the pins: enforced from its first answer on.
        try d.start(adopt: true)
        let (n2, ok2) = try hammer(seconds: 10)
        print("# right after adoption: \(n2) attempts, \(ok2) succeeded")
        try check(ok2 == 0, "\(ok2) of \(n2) moves succeeded right after a daemon adopted the pins")
        let status = try d.status()
        let loosened = status["loosened"]?.objectValue ?? [:]
        try check(loosened.isEmpty, "the adopted daemon still lists expired loosenings: \(loosened)")

        // 3. A loosening the restarted daemon adopts while it still runs keeps its deadline.
        let r2 = try d.cli(["loosen", "deny-ops", "--for", "3s"])
        let deadline2 = Sys.boottimeNanos() + UInt64(seconds * 1e9)
        try check(r2.status == .exited(0), "corral loosen (2): \(r2.status) \(r2.output)")
        try d.kill9()
        try d.start(adopt: true)
        if Sys.boottimeNanos() + 500_000_000 < deadline2 {
            try check(try attempt() == 0, "a loosening still in force was not kept by adoption")
        }
        while Sys.boottimeNanos() < deadline2 { Sys.sleep(millis: 20) }
        let (n3, ok3) = try hammer(seconds: 3)
        try check(ok3 == 0, "\(ok3) of \(n3) moves succeeded after an adopted loosening expired")
    }
}
