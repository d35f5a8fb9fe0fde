// `corral daemon` end to end: the binary next to corral-ktest runs as a subprocess with its
// stdout (event JSON lines) and stderr (log) in files under /tmp.
import CorralSystem
import Glibc

enum DaemonTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "daemon/late_cgroup", body: lateCgroup),
    ]

    /// A deny-into rule naming /late, which does not exist when the daemon starts: the moment
    /// /sys/fs/cgroup/late is created, moves into it are denied (classified at creation, no
    /// re-resolution and no new generation).
    static func lateCgroup() throws {
        let fx = try CgroupFixture("late_cgroup")
        let other = try fx.make("other")
        let late = cgroupRoot + "/late"
        if Sys.exists(late) { try sys("rmdir stale \(late)") { () throws(Errno) in try Sys.rmdir(late) } }
        defer { try? Sys.rmdir(late) }
        let d = try DaemonHarness("late")
        defer { d.teardown() }
        try d.writePolicy("""
            version: 1
            rules:
              - id: deny-late
                kind: deny-into
                cgroups: [/late]

            """)
        try d.start()
        let startLog = d.log()
        try check(!startLog.contains("unresolved"), "a cgroup path that does not exist yet is not unresolved: \(startLog)")

        // Before /late exists an unrelated move is allowed.
        var (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(other), pid: Sys.pid) } == 0 ? 0 : 1 }
        try check(st == .exited(0), "move into \(other) before /late exists failed: \(st)")

        // The first move after the mkdir is denied: no waiting, no new generation.
        try sys("mkdir \(late)") { () throws(Errno) in try Sys.mkdir(late) }
        (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } }
        try check(st == .exited(EPERM), "first move into /late right after its mkdir: \(st), expected EPERM")
        try check(try d.generation() == 1, "a new generation was installed for /late")
        try d.waitFor("deny event naming deny-late on stdout", seconds: 5) {
            d.stdout().split(separator: "\n").contains {
                $0.contains("\"rule\":\"deny-late\"") && $0.contains("\"generation\":1") && $0.contains("\"verdict\":\"deny\"") && $0.contains("\"hook\":\"cgroup_attach\"")
            }
        }
        try check(Sys.exists(d.stateDir + "/generations/1.json"), "no record for generation 1")
        // SIGTERM: exit 0 and the pins stay, so enforcement continues without the daemon.
        let exitStatus = try d.terminate()
        try check(exitStatus == .exited(0), "daemon after SIGTERM: \(exitStatus.map { "\($0)" } ?? "still running"); log: \(d.log())")
        (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } == EPERM ? 0 : 1 }
        try check(st == .exited(0), "move into /late allowed after SIGTERM: the pins did not keep enforcing")
        try d.start(adopt: true)
        try check(try d.generation() == 2, "adoption should install generation 2")
        (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } == EPERM ? 0 : 1 }
        try check(st == .exited(0), "move into /late allowed after adoption (generation 2 must classify it from the walk)")
        d.teardown()
        // The kernel frees an unpinned link from a workqueue after an RCU grace period: bounded wait.
        try d.waitFor("move into /late allowed after --unload", seconds: 10) {
            (try? inChild { errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } == 0 ? 0 : 1 })?.status == .exited(0)
        }
    }
}
