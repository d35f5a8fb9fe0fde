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
        guard let exe = Sys.executablePath() else { throw TestFailure(reason: "no /proc/self/exe") }
        let corral = String(exe[..<exe.lastIndex(of: "/")!]) + "/corral"
        guard Sys.exists(corral) else { throw TestSkip(reason: "\(corral) not installed") }
        let fx = try CgroupFixture("late_cgroup")
        let other = try fx.make("other")
        let late = cgroupRoot + "/late"
        if Sys.exists(late) { try sys("rmdir stale \(late)") { () throws(Errno) in try Sys.rmdir(late) } }
        defer { try? Sys.rmdir(late) }

        let dir = "/tmp/corral-ktest-daemon"
        try sys("mkdir \(dir)") { () throws(Errno) in try Sys.mkdirs(dir) }
        let policyFile = dir + "/late.yaml", out = dir + "/events.jsonl", err = dir + "/daemon.log"
        for f in [out, err] { try? Sys.unlink(f) }
        try sys("write policy") { () throws(Errno) in
            let fd = try Sys.open(policyFile, O_WRONLY | O_CREAT | O_TRUNC)
            defer { Sys.close(fd) }
            try Sys.write(fd, Array("""
                version: 1
                rules:
                  - id: deny-late
                    kind: deny-into
                    cgroups: [/late]

                """.utf8))
        }
        let pid = try sys("spawn corral daemon") { () throws(Errno) in
            try Sys.spawn([corral, "daemon", "--policy", policyFile, "--pin-directory", "/sys/fs/bpf/corral-ktest-daemon"],
                          stdout: out, stderr: err)
        }
        var reaped = false
        defer {
            if !reaped {
                try? Sys.kill(pid, SIGKILL)
                _ = try? Sys.waitpid(pid)
            }
        }
        func log() -> String { (try? Sys.readFile(err)) ?? "" }
        func events() -> String { (try? Sys.readFile(out)) ?? "" }
        /// Polls `cond` every 100 ms for up to `seconds`; fails early if the daemon exited.
        func waitFor(_ what: String, seconds: Int, _ cond: () -> Bool) throws {
            for _ in 0..<(seconds * 10) {
                if cond() { return }
                if let st = try? Sys.tryWait(pid) {
                    reaped = true
                    throw TestFailure(reason: "daemon \(st) while waiting for \(what); log: \(log())")
                }
                Sys.sleep(millis: 100)
            }
            throw TestFailure(reason: "timed out waiting for \(what); log: \(log())")
        }

        try waitFor("daemon start", seconds: 30) { log().contains(" mode, policy ") && log().contains("cgroup watch:") }
        let startLog = log()
        try check(startLog.contains("deny-late") && startLog.contains("\(late) unresolved"),
                  "no unresolved warning for \(late): \(startLog)")
        try check(startLog.contains("cgroup watch:"), "resolution service did not start watching: \(startLog)")

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
        try waitFor("move into /late denied with EPERM", seconds: 10) {
            guard let r = try? inChild({ errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } }) else { return false }
            return r.status == .exited(EPERM)
        }
        let resolvedLine = "rule deny-late: cgroup scope \(late) "
        try waitFor("resolution log line", seconds: 5) {
            log().split(separator: "\n").contains { $0.contains(resolvedLine) && $0.contains(" resolved, enforced from generation") }
        }
        let line = log().split(separator: "\n").first { $0.contains(resolvedLine) && $0.contains(" resolved, ") } ?? ""
        try check(line.contains("enforced from generation 2 (was 1;"), "resolution line lacks the new generation: \(line)")
        try waitFor("deny event naming deny-late", seconds: 5) {
            events().split(separator: "\n").contains {
                $0.contains("\"rule\":\"deny-late\"") && $0.contains("\"generation\":2,") && $0.contains("\"verdict\":\"deny\"") && $0.contains("\"hook\":\"cgroup_attach\"")
            }
        }
        // Still denied afterwards (the new generation stays), and the daemon unloads on SIGTERM.
        (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(late, pid: Sys.pid) } == EPERM ? 0 : 1 }
        try check(st == .exited(0), "second move into /late not denied: \(st)")
        try sys("SIGTERM daemon") { () throws(Errno) in try Sys.kill(pid, SIGTERM) }
        var exitStatus: Sys.ExitStatus?
        for _ in 0..<100 where exitStatus == nil {
            exitStatus = try sys("waitpid daemon") { () throws(Errno) in try Sys.tryWait(pid) }
            if exitStatus == nil { Sys.sleep(millis: 100) }
        }
        reaped = exitStatus != nil
        try check(exitStatus == .exited(0), "daemon after SIGTERM: \(exitStatus.map { "\($0)" } ?? "still running"); log: \(log())")
    }
}
