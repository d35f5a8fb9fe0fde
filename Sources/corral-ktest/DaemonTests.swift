// `corral daemon` end to end: the binary next to corral-ktest runs as a subprocess with its
// stdout (event JSON lines) and stderr (log) in files under /tmp.
import CorralPolicy
import CorralSystem
import Glibc

enum DaemonTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "daemon/late_cgroup", body: lateCgroup),
        KTest(name: "daemon/fragments", body: fragments),
    ]

    /// Drop-in fragments (docs/policy.md, "Fragments"): the main file and two fragments in two
    /// directories are merged and enforced; a fragment masked by a /dev/null symlink in the
    /// higher directory is not; a conflict across two files is refused by `corral apply` with both
    /// locations, and nothing changes.
    static func fragments() throws {
        let fx = try CgroupFixture("fragments")
        let a = try fx.make("a"), b = try fx.make("b"), c = try fx.make("c"), open = try fx.make("open")
        let d = try DaemonHarness("fragments")
        defer { d.teardown() }
        let etc = d.dir + "/etc.d", usr = d.dir + "/usr.d"
        for dir in [etc, usr] { try sys("mkdir \(dir)") { () throws(Errno) in try Sys.mkdirs(dir) } }
        try d.writePolicy("version: 1\nrules:\n  - {id: main-a, kind: deny-into, cgroups: [\(a)]}\n")
        try d.writePolicy("version: 1\nrules:\n  - {id: frag-b, kind: deny-into, cgroups: [\(b)]}\n", to: usr + "/10-b.yaml")
        try d.writePolicy("version: 1\nrules:\n  - {id: frag-c, kind: deny-into, cgroups: [\(c)]}\n", to: etc + "/20-c.yaml")
        try d.writePolicy("version: 1\nrules:\n  - {id: masked, kind: deny-into, cgroups: [\(open)]}\n", to: usr + "/30-masked.yaml")
        try sys("symlink /dev/null") { () throws(Errno) in try Sys.symlink("/dev/null", at: etc + "/30-masked.yaml") }
        d.extraArguments = ["--policy-dir", etc, "--policy-dir", usr]
        try d.start()
        func denied(_ p: CgroupPath) throws -> Bool {
            let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(p), pid: Sys.pid) } == EPERM ? 0 : 1 }
            return st == .exited(0)
        }
        for p in [a, b, c] { try check(try denied(p), "move into \(p) allowed: the merged policy is not enforced") }
        try check(!(try denied(open)), "move into \(open) denied: the masked fragment was merged")
        let status = try d.status()
        try check(status["fragments"]?.arrayValue?.compactMap(\.stringValue) == [usr + "/10-b.yaml", etc + "/20-c.yaml"],
                  "status fragments: \(String(describing: status["fragments"]))")

        // A conflict between two fragments: refused with both locations, generation unchanged.
        let generation = try d.generation()
        try d.writePolicy("version: 1\nrules:\n  - {id: stay-open, kind: stay, cgroups: [\(open)]}\n", to: usr + "/40-stay.yaml")
        try d.writePolicy("version: 1\nrules:\n  - {id: lock-open, kind: locked, cgroups: [\(open)]}\n", to: etc + "/50-lock.yaml")
        let (st, output) = try d.cli(["apply", d.policyFile, "--policy-dir", etc, "--policy-dir", usr])
        try check(st != .exited(0) && output.contains(etc + "/50-lock.yaml:3:") && output.contains("(" + usr + "/40-stay.yaml:3:"),
                  "conflicting fragments: \(st) \(output)")
        try check(try d.generation() == generation, "a refused apply changed the generation")
        try check(!(try denied(open)), "a refused apply changed enforcement")
        // Resolved: applied as the next generation, the new fragments enforced.
        try d.writePolicy("version: 1\nrules:\n  - {id: lock-open, kind: locked, cgroups: [\(open)], overrides: [stay-open]}\n",
                          to: etc + "/50-lock.yaml")
        let (st2, output2) = try d.cli(["apply", d.policyFile, "--policy-dir", etc, "--policy-dir", usr])
        try check(st2 == .exited(0), "apply after the override: \(st2) \(output2)")
        try check(try d.generation() == generation + 1, "the resolved apply is not the next generation")
        try check(try denied(open), "move into \(open) allowed after the lock fragment was applied")
    }

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

/// A package upgrade replaces /usr/bin/corral (rename over it, a new inode) while the daemon
/// runs. Without a handover the new binary cannot adopt the pins (self-protection), and they keep
/// enforcing; with `corral handover` it adopts them, and the old binary's identity is dropped.
enum UpgradeTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "daemon/upgrade_handover", body: upgradeHandover),
    ]

    static func upgradeHandover() throws {
        guard let installed = DaemonHarness.installedCorral, Sys.exists(installed) else {
            throw TestSkip(reason: "corral not installed next to corral-ktest")
        }
        let dir = "/run/ktest-upgrade"
        try sys("mkdir \(dir)") { () throws(Errno) in try Sys.mkdirs(dir) }
        _ = try? Sys.mount(source: "tmpfs", target: dir, type: "tmpfs")
        let bin = dir + "/corral", old = dir + "/corral.old"
        try copy(installed, to: bin)
        try sys("link") { () throws(Errno) in try Sys.link(bin, old) }  // keeps the old inode runnable
        let fx = try CgroupFixture("upgrade_handover")
        let denied = try fx.make("denied")
        let d = try DaemonHarness("upgrade", corral: bin)
        defer { d.teardown() }
        try d.writePolicy("""
            version: 1
            rules:
              - {id: deny-denied, kind: deny-into, cgroups: [\(denied)]}

            """)
        try d.start()
        try check(d.log().contains("self-protection:"), "self-protection is not on: \(d.log())")
        try expectDenied(fx.host(denied), "with the first daemon")

        // The upgrade: a new file renamed over the binary.
        try copy(installed, to: bin + ".dpkg-new")
        try sys("rename") { () throws(Errno) in try Sys.rename(bin + ".dpkg-new", bin) }
        let oldIno = try sys("stat") { () throws(Errno) in try Sys.inode(old) }
        let newIno = try sys("stat") { () throws(Errno) in try Sys.inode(bin) }
        try check(oldIno != newIno, "the upgrade kept the inode")

        // 1. No handover: the new binary cannot adopt, the pins keep enforcing.
        _ = try d.terminate()
        var refused = false
        do { try d.start(adopt: true) } catch { refused = true }
        try check(refused, "the new binary adopted the pins without a handover: \(d.log())")
        try expectDenied(fx.host(denied), "with no daemon (adoption refused)")

        // 2. The old binary adopts again, the new one asks it for a handover, then adopts.
        d.corral = old
        try d.start(adopt: true)
        let (status, output) = try sys("corral handover") { () throws(Errno) in
            try Sys.runCapturing([bin, "handover", "--socket", d.socket])
        }
        try check(status == .exited(0) && output.contains("trusts \(bin) (inode \(newIno))"), "handover: \(status) \(output)")
        _ = try d.terminate()
        try expectDenied(fx.host(denied), "between the two daemons")
        d.corral = bin
        try d.start(adopt: true)
        try d.waitFor("the old identity dropped", seconds: 10) { d.log().contains("no longer trusted") }
        try expectDenied(fx.host(denied), "with the upgraded daemon")

        // 3. The old binary is no identity any more.
        _ = try d.terminate()
        d.corral = old
        refused = false
        do { try d.start(adopt: true) } catch { refused = true }
        try check(refused, "the old binary still adopts after the handover: \(d.log())")
        d.corral = bin
        try d.start(adopt: true)
    }

    static func expectDenied(_ dir: String, _ when: String) throws {
        let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(dir, pid: Sys.pid) } }
        try check(st == .exited(EPERM), "move into \(dir) \(when): \(st), expected EPERM")
    }

    static func copy(_ from: String, to: String) throws {
        let bytes = try contents(of: from)
        try sys("write \(to)") { () throws(Errno) in try Sys.writeFileSynced(to, bytes, mode: 0o755) }
    }

    static func contents(of path: String) throws -> [UInt8] {
        try sys("read \(path)") { () throws(Errno) -> [UInt8] in
            let fd = try Sys.open(path, O_RDONLY)
            defer { Sys.close(fd) }
            var out: [UInt8] = []
            while true {
                let chunk = try Sys.read(fd, count: 1 << 20)
                if chunk.isEmpty { break }
                out += chunk
            }
            return out
        }
    }
}
