// `corral daemon` end to end: the binary next to corral-ktest runs as a subprocess with its
// stdout (event JSON lines) and stderr (log) in files under /tmp.
import CorralSystem
import Glibc

enum DaemonTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "daemon/late_cgroup", body: lateCgroup),
    ]

    /// A deny-into rule naming /late, which does not exist when the daemon starts: once
    /// /sys/fs/cgroup/late is created the daemon must re-resolve and deny moves into it.
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
        try d.waitFor("cgroup watch to start", seconds: 10) { d.log().contains("cgroup watch:") }
        let startLog = d.log()
        try check(startLog.contains("deny-late") && startLog.contains("\(late) unresolved"),
                  "no unresolved warning for \(late): \(startLog)")

        // Before /late exists an unrelated move is allowed.
        var (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(other), pid: Sys.pid) } == 0 ? 0 : 1 }
        try check(st == .exited(0), "move into \(other) before /late exists failed: \(st)")

        // kernfs must deliver IN_CREATE for a cgroup mkdir (the service's primary trigger).
        let ifd = try sys("inotify_init1") { () throws(Errno) in try Sys.inotifyInit() }
        defer { Sys.close(ifd) }
        _ = try sys("inotify_add_watch \(cgroupRoot)") { () throws(Errno) in
            try Sys.inotifyAddWatch(ifd, cgroupRoot, mask: Sys.inotifyCreate)
        }
        try sys("mkdir \(late)") { () throws(Errno) in try Sys.mkdir(late) }
        _ = Sys.waitReadable(ifd, timeoutMillis: 2000)
        let notes = try sys("read inotify") { () throws(Errno) in try Sys.readInotifyEvents(ifd) }
        try check(notes.contains { $0.mask & Sys.inotifyCreate != 0 && $0.name == "late" },
                  "no IN_CREATE for late on \(cgroupRoot): \(notes.map { "\($0.mask):\($0.name)" })")

        // Bounded wait until the daemon has re-resolved and the move is denied.
        try d.waitFor("move into /late denied with EPERM", seconds: 10) {
            guard let r = try? inChild({ errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } }) else { return false }
            return r.status == .exited(EPERM)
        }
        let resolvedLine = "rule deny-late: cgroup scope \(late) "
        try d.waitFor("resolution log line", seconds: 5) {
            d.log().split(separator: "\n").contains { $0.contains(resolvedLine) && $0.contains(" resolved, enforced from generation") }
        }
        let line = d.log().split(separator: "\n").first { $0.contains(resolvedLine) && $0.contains(" resolved, ") } ?? ""
        try check(line.contains("enforced from generation 2 (was 1;"), "resolution line lacks the new generation: \(line)")
        try d.waitFor("deny event naming deny-late on stdout", seconds: 5) {
            d.stdout().split(separator: "\n").contains {
                $0.contains("\"rule\":\"deny-late\"") && $0.contains("\"generation\":2") && $0.contains("\"verdict\":\"deny\"") && $0.contains("\"hook\":\"cgroup_attach\"")
            }
        }
        // The resolved generation has its record: a restart adopts it without --policy.
        try check(Sys.exists(d.stateDir + "/generations/2.json"), "no record for generation 2")
        // SIGTERM: exit 0 and the pins stay, so enforcement continues without the daemon.
        let exitStatus = try d.terminate()
        try check(exitStatus == .exited(0), "daemon after SIGTERM: \(exitStatus.map { "\($0)" } ?? "still running"); log: \(d.log())")
        (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } == EPERM ? 0 : 1 }
        try check(st == .exited(0), "move into /late allowed after SIGTERM: the pins did not keep enforcing")
        try d.start(adopt: true)
        try check(try d.generation() == 3, "adoption should install generation 3")
        d.teardown()
        // The kernel frees an unpinned link from a workqueue after an RCU grace period: bounded wait.
        try d.waitFor("move into /late allowed after --unload", seconds: 10) {
            (try? inChild { errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } == 0 ? 0 : 1 })?.status == .exited(0)
        }
    }
}
