// Issue 11 in the guest: escape routes tried as root against the daemon (self-protection on),
// each with a control that shows the attempt reaches the operation.
import CorralControl
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

/// Written by an attacker into a victim with process_vm_writev: every task of the test is a
/// fork of this process, so the address is valid in each.
nonisolated(unsafe) var ptraceScratch: UInt64 = 0

enum EscapeTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "escape/loosen_expires_without_daemon", body: loosenExpiresWithoutDaemon),
        KTest(name: "escape/ptrace_scope", body: ptraceScope),
        KTest(name: "escape/id_maps", body: idMaps),
        KTest(name: "escape/one_event_per_denial", body: oneEventPerDenial),
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

    // MARK: domain scope

    /// The takeover operations, each returning 0 or the errno: all ask the kernel for
    /// PTRACE_MODE_ATTACH access to `victim`.
    static func takeover(_ victim: Int32) -> [String: Int32] {
        var out: [String: Int32] = [:]
        out["ptrace-attach"] = errnoOf { () throws(Errno) in
            try Linux.ptrace(Linux.ptraceAttach, pid: victim)
            var st: Int32 = 0
            _ = waitpid(victim, &st, __WALL)
            try? Linux.ptrace(Linux.ptraceDetach, pid: victim)
        }
        out["ptrace-seize"] = errnoOf { () throws(Errno) in
            try Linux.ptrace(Linux.ptraceSeize, pid: victim)
            _ = kill(victim, SIGCONT)
        }
        out["proc-mem-write"] = errnoOf { () throws(Errno) in Sys.close(try Sys.open("/proc/\(victim)/mem", O_RDWR)) }
        out["process-vm-writev"] = errnoOf { () throws(Errno) in
            var one: UInt64 = 1
            try withUnsafeMutablePointer(to: &ptraceScratch) { remote throws(Errno) in
                try Linux.processVM(write: true, pid: victim, local: &one, remote: UInt(bitPattern: remote), count: 8)
            }
        }
        out["pidfd-getfd"] = errnoOf { () throws(Errno) in
            let pidfd = try Linux.pidfdOpen(victim)
            defer { Sys.close(pidfd) }
            Sys.close(try Linux.pidfdGetfd(pidfd, 1))
        }
        return out
    }

    /// The errno each operation gives when the kernel refuses PTRACE_MODE_ATTACH.
    static let refused: [String: Int32] = ["ptrace-attach": EPERM, "ptrace-seize": EPERM, "proc-mem-write": EACCES,
                                           "process-vm-writev": EPERM, "pidfd-getfd": EPERM]

    /// Where an attacker puts itself before it attacks.
    enum Confinement {
        case none
        case lockedIn(nsPath: String) // setns into a tracked namespace: locked by lock-on-entry
        case jailed(cgroupDir: String) // move into a cgroup that a deny-create rule's subject names

        func enter() -> Int32 {
            switch self {
            case .none: return 0
            case .lockedIn(let path):
                return errnoOf { () throws(Errno) in
                    let fd = try Sys.open(path, O_RDONLY)
                    defer { Sys.close(fd) }
                    try Linux.setns(fd, Linux.cloneNewUTS)
                }
            case .jailed(let dir):
                return errnoOf { () throws(Errno) in try moveTo(dir, pid: Sys.pid) }
            }
        }
    }

    /// Runs the takeover operations against `victim` in a child confined by `how`; returns the errnos.
    static func attack(_ how: Confinement, victim: Int32, scratch: String) throws -> [String: Int32] {
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 {
            let e = how.enter()
            if e != 0 { Sys.exit(Int32(100 + e)) }
            let r = takeover(victim)
            _ = try? Sys.writeFileSynced(scratch, Array(r.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ").utf8))
            Sys.exit(0)
        }
        let st = try sys("waitpid") { () throws(Errno) in try Sys.waitpid(pid) }
        try check(st == .exited(0), "\(how): attacker setup failed: \(st)")
        var r: [String: Int32] = [:]
        for kv in ((try? Sys.readFile(scratch)) ?? "").split(separator: " ") {
            let p = kv.split(separator: "=")
            if p.count == 2, let v = Int32(p[1]) { r[String(p[0])] = v }
        }
        try check(r.count == refused.count, "\(how): attacker reported \(r)")
        return r
    }

    static func expectAll(_ r: [String: Int32], _ want: (String) -> Int32, _ what: String) throws {
        for (op, e) in r.sorted(by: { $0.key < $1.key }) {
            try check(e == want(op), "\(what): \(op) gave errno \(e), expected \(want(op)) (all: \(r))")
        }
    }

    /// A child confined by `how` forks a sleeper (which inherits its lock / cgroup) and seizes it.
    static func seizeOwnChild(_ how: Confinement) throws -> Sys.ExitStatus {
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 {
            if how.enter() != 0 { Sys.exit(90) }
            guard let child = try? Sys.fork() else { Sys.exit(91) }
            if child == 0 { while true { Sys.sleep(millis: 1000) } }
            let e = errnoOf { () throws(Errno) in try Linux.ptrace(Linux.ptraceSeize, pid: child) }
            _ = kill(child, SIGKILL)
            _ = try? Sys.waitpid(child)
            Sys.exit(e)
        }
        return try sys("waitpid") { () throws(Errno) in try Sys.waitpid(pid) }
    }

    /// A parent confined by `how` forks a child that (if `leaveTo`) moves itself there and then
    /// calls PTRACE_TRACEME. Exits with the child's errno.
    static func tracemeFromChild(_ how: Confinement, leaveTo: String?) throws -> Sys.ExitStatus {
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 {
            if how.enter() != 0 { Sys.exit(90) }
            guard let child = try? Sys.fork() else { Sys.exit(91) }
            if child == 0 {
                if let dir = leaveTo, errnoOf({ () throws(Errno) in try moveTo(dir, pid: Sys.pid) }) != 0 { Sys.exit(92) }
                Sys.exit(errnoOf { () throws(Errno) in try Linux.ptrace(Linux.ptraceTraceme, pid: 0) })
            }
            guard let st = try? Sys.waitpid(child), case .exited(let code) = st else { Sys.exit(94) }
            Sys.exit(code)
        }
        return try sys("waitpid") { () throws(Errno) in try Sys.waitpid(pid) }
    }

    /// Acceptance "Takeover": from a locked task and from a task in a cgroup jail (deny-create on a
    /// cgroup subject), ptrace attach and seize, a /proc/PID/mem write, process_vm_writev and
    /// pidfd_getfd against a root task outside the sandbox are refused; the same from an
    /// unconfined task succeed; inside the domain they succeed; PTRACE_TRACEME to a jailed
    /// parent from outside the jail is refused. Each refusal is a ptrace event naming the rule.
    static func ptraceScope() throws {
        let fx = try CgroupFixture("esc_ptrace")
        let jail = try fx.make("jail"), home = try fx.make("home")
        let d = try DaemonHarness("ptrace")
        defer { d.teardown() }
        try d.writePolicy("""
            version: 1
            subjects:
              jailed: {cgroup: \(jail)}
            rules:
              - id: track-sandbox
                kind: track
                types: [uts]
                label: sandbox
              - id: lock-sandbox
                kind: lock-on-entry
                labels: [sandbox]
              - id: jail-no-ns
                kind: deny-create
                subject: jailed
                types: [uts, net, ipc, mnt, pid, cgroup, time]

            """)
        try d.start()
        try sys("enter home") { () throws(Errno) in try moveTo(fx.host(home), pid: Sys.pid) }
        var children: [Int32] = []
        defer { for c in children { try? Sys.kill(c, SIGKILL); _ = try? Sys.waitpid(c) } }
        func sleeper(in dir: String? = nil) throws -> Int32 {
            let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
            if pid == 0 { while true { Sys.sleep(millis: 1000) } }
            children.append(pid)
            if let dir { try sys("place \(pid)") { () throws(Errno) in try moveTo(dir, pid: pid) } }
            return pid
        }

        // A tracked sandbox: the holder unshares a uts namespace (tracked by track-sandbox).
        let ready = d.dir + "/holder"
        let holder = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if holder == 0 {
            let e = errnoOf { () throws(Errno) in try Linux.unshare(Linux.cloneNewUTS) }
            _ = try? Sys.writeFileSynced(ready, Array("\(e)".utf8))
            while true { Sys.sleep(millis: 1000) }
        }
        children.append(holder)
        try d.waitFor("the holder's unshare", seconds: 30) { !((try? Sys.readFile(ready)) ?? "").isEmpty }
        try check((try? Sys.readFile(ready)) == "0", "holder: unshare failed: \((try? Sys.readFile(ready)) ?? "")")
        let locked = Confinement.lockedIn(nsPath: "/proc/\(holder)/ns/uts")
        let jailed = Confinement.jailed(cgroupDir: fx.host(jail))
        let scratch = d.dir + "/attack"

        // 1. Control: an unconfined root task takes over a root task outside the sandbox.
        try expectAll(try attack(.none, victim: try sleeper(), scratch: scratch), { _ in 0 }, "unconfined attacker (the control)")
        // 2. A locked task: every operation refused against an outside task; its own (locked) child is fair game.
        try expectAll(try attack(locked, victim: try sleeper(), scratch: scratch), { refused[$0]! }, "locked attacker")
        let own = try seizeOwnChild(locked)
        try check(own == .exited(0), "a locked task could not seize a task locked by the same entry: \(own)")
        // 3. A jailed task: refused against an outside task, allowed against a task in the jail.
        try expectAll(try attack(jailed, victim: try sleeper(), scratch: scratch), { refused[$0]! }, "jailed attacker")
        try expectAll(try attack(jailed, victim: try sleeper(in: fx.host(jail)), scratch: scratch), { _ in 0 },
                      "jailed attacker against a task in the same jail")
        // 4. PTRACE_TRACEME to a jailed parent: refused from outside the jail, allowed inside.
        let out = try tracemeFromChild(jailed, leaveTo: fx.host(home))
        try check(out == .exited(EPERM), "PTRACE_TRACEME from outside the jail to a jailed parent: \(out), expected exit EPERM")
        let inside = try tracemeFromChild(jailed, leaveTo: nil)
        try check(inside == .exited(0), "PTRACE_TRACEME inside the jail: \(inside), expected exit 0")

        // The refusals are decisions of named rules, reported as ptrace events.
        var byRule: [String: Int] = [:]
        try d.waitFor("ptrace deny events of both rules", seconds: 30) {
            let evs = ((try? d.events(verdict: "deny", hook: "ptrace")) ?? [])
            byRule = Dictionary(grouping: evs.compactMap { $0["rule"]?.stringValue }, by: { $0 }).mapValues(\.count)
            return (byRule["lock-sandbox"] ?? 0) >= 5 && (byRule["jail-no-ns"] ?? 0) >= 6
        }
        print("# ptrace deny events by rule: \(byRule)")
    }

    // MARK: id maps

    /// A child (moved into `cgroupDir` first, if given) that unshares a user namespace and waits.
    static func userNamespaceHolder(in cgroupDir: String?, ready: String) throws -> Int32 {
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 {
            var e: Int32 = 0
            if let cgroupDir { e = errnoOf { () throws(Errno) in try moveTo(cgroupDir, pid: Sys.pid) } }
            if e == 0 { e = errnoOf { () throws(Errno) in try Linux.unshare(Linux.cloneNewUser) } }
            _ = try? Sys.writeFileSynced(ready, Array("\(e)".utf8))
            while true { Sys.sleep(millis: 1000) }
        }
        return pid
    }

    /// Writes `text` to /proc/`target`/`file` from a child that first moves into `writerDir`
    /// (if given); returns the errno (0: written).
    static func writeIDFile(_ file: String, of target: Int32, _ text: String, from writerDir: String?) throws -> Int32 {
        let (_, st) = try inChild {
            if let writerDir, errnoOf({ () throws(Errno) in try moveTo(writerDir, pid: Sys.pid) }) != 0 { return 120 }
            return errnoOf { () throws(Errno) in try Sys.writeFile("/proc/\(target)/\(file)", text) }
        }
        guard case .exited(let code) = st else { throw TestFailure(reason: "writer \(st)") }
        return code
    }

    /// Acceptance "Id maps": id-map rules decide uid_map, gid_map and setgroups writes for the
    /// namespaces and writers they name; untouched namespaces and writers keep working.
    static func idMaps() throws {
        let fx = try CgroupFixture("esc_idmap")
        let jail = try fx.make("jail"), sbx = try fx.make("sbx"), home = try fx.make("home")
        let d = try DaemonHarness("idmap")
        defer { d.teardown() }
        try d.writePolicy("""
            version: 1
            subjects:
              jailed: {cgroup: \(jail)}
              builder: {cgroup: \(sbx)}
            rules:
              - id: jail-idmaps
                kind: id-map
                subject: jailed
                uids: ["0 100000 65536"]
                gids: ["0 100000 65536"]
                setgroups: deny
              - id: track-sbx
                kind: track
                subject: builder
                types: [user]
                label: sbx-user
              - id: sbx-idmaps
                kind: id-map
                labels: [sbx-user]

            """)
        try d.start()
        try sys("enter home") { () throws(Errno) in try moveTo(fx.host(home), pid: Sys.pid) }
        var children: [Int32] = []
        defer { for c in children { try? Sys.kill(c, SIGKILL); _ = try? Sys.waitpid(c) } }
        var n = 0
        /// A fresh user namespace (each map can be written once), created in `cgroupDir`.
        func userns(in cgroupDir: String? = nil) throws -> Int32 {
            n += 1
            let ready = d.dir + "/userns\(n)"
            let pid = try userNamespaceHolder(in: cgroupDir, ready: ready)
            children.append(pid)
            try d.waitFor("user namespace \(n)", seconds: 30) { !((try? Sys.readFile(ready)) ?? "").isEmpty }
            try check((try? Sys.readFile(ready)) == "0", "holder \(n): \((try? Sys.readFile(ready)) ?? "")")
            return pid
        }
        let jailDir = fx.host(jail), sbxDir = fx.host(sbx)
        let wide = "0 100000 65536\n"
        func expect(_ file: String, _ text: String, ns target: Int32, from writer: String?, _ want: Int32, _ what: String) throws {
            let e = try writeIDFile(file, of: target, text, from: writer)
            try check(e == want, "\(what): writing \(file) \(text.debugDescription) gave errno \(e), expected \(want)")
        }

        // 1. Controls: no rule applies (an untracked namespace, an unconfined writer): all written.
        let free = try userns()
        try expect("uid_map", "0 0 1\n", ns: free, from: nil, 0, "unconfined writer, untracked namespace (control)")
        try expect("setgroups", "deny", ns: free, from: nil, 0, "unconfined writer, setgroups (control)")
        try expect("gid_map", "0 0 1\n", ns: free, from: nil, 0, "unconfined writer, gid_map (control)")
        // 2. A jailed writer: only extents within "0 100000 65536".
        try expect("uid_map", "0 0 1\n", ns: try userns(), from: jailDir, EPERM, "jailed writer mapping root to root")
        try expect("uid_map", wide, ns: try userns(), from: jailDir, 0, "jailed writer within its range")
        try expect("uid_map", "0 100000 1000\n1000 101000 10\n", ns: try userns(), from: jailDir, 0, "jailed writer, two extents within")
        try expect("uid_map", "0 100000 1000\n5000 0 10\n", ns: try userns(), from: jailDir, EPERM, "jailed writer, second extent outside")
        try expect("uid_map", "0 100000 65537\n", ns: try userns(), from: jailDir, EPERM, "jailed writer, one id too many")
        try expect("uid_map", (0..<5).map { "\($0) \(100000 + $0) 1\n" }.joined(), ns: try userns(), from: jailDir, EPERM,
                   "jailed writer, 5 extents (more than CORRAL_MAX_ID_EXTENTS)")
        try expect("gid_map", wide, ns: try userns(), from: jailDir, 0, "jailed writer, gid_map within")
        try expect("setgroups", "deny", ns: try userns(), from: jailDir, EPERM, "jailed writer, setgroups")
        // 3. A tracked namespace (created in sbx): no map and no setgroups write, from anyone.
        let tracked = try userns(in: sbxDir)
        try expect("uid_map", wide, ns: tracked, from: nil, EPERM, "unconfined writer, tracked namespace")
        try expect("gid_map", wide, ns: tracked, from: nil, EPERM, "unconfined writer, tracked namespace gid_map")
        try expect("setgroups", "deny", ns: tracked, from: nil, EPERM, "unconfined writer, tracked namespace setgroups")
        // The maps really stayed unwritten.
        let map = (try? Sys.readFile("/proc/\(tracked)/uid_map")) ?? "?"
        try check(map.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "tracked namespace's uid_map: \(map.debugDescription)")

        var byRule: [String: Int] = [:]
        try d.waitFor("id_map deny events of both rules", seconds: 30) {
            let evs = ((try? d.events(verdict: "deny", hook: "id_map")) ?? [])
            byRule = Dictionary(grouping: evs.compactMap { $0["rule"]?.stringValue }, by: { $0 }).mapValues(\.count)
            return (byRule["jail-idmaps"] ?? 0) >= 5 && (byRule["sbx-idmaps"] ?? 0) >= 3
        }
        print("# id_map deny events by rule: \(byRule)")
    }

    // MARK: one event per denial

    /// Hardening: one denied operation yields exactly one deny event (compat decides some
    /// operations at hooks the kernel calls more than once: capable, inode_permission).
    /// Each operation runs in its own child, whose pid then owns exactly one deny event.
    static func oneEventPerDenial() throws {
        let fx = try CgroupFixture("esc_events")
        let denied = try fx.make("denied"), jail = try fx.make("jail"), home = try fx.make("home")
        let d = try DaemonHarness("events")
        defer { d.teardown() }
        try d.writePolicy("""
            version: 1
            subjects:
              jailed: {cgroup: \(jail)}
            rules:
              - id: deny-ops
                kind: deny-into
                cgroups: [\(denied)]
              - id: track-sandbox
                kind: track
                types: [uts]
                label: sandbox
              - id: lock-sandbox
                kind: lock-on-entry
                labels: [sandbox]
              - id: jail-no-ns
                kind: deny-create
                subject: jailed
                types: [uts, net]
              - id: jail-idmaps
                kind: id-map
                subject: jailed

            """)
        try d.start()
        try sys("enter home") { () throws(Errno) in try moveTo(fx.host(home), pid: Sys.pid) }
        var children: [Int32] = []
        defer { for c in children { try? Sys.kill(c, SIGKILL); _ = try? Sys.waitpid(c) } }
        let holderReady = d.dir + "/holder", usernsReady = d.dir + "/userns"
        let holder = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if holder == 0 {
            let e = errnoOf { () throws(Errno) in try Linux.unshare(Linux.cloneNewUTS) }
            _ = try? Sys.writeFileSynced(holderReady, Array("\(e)".utf8))
            while true { Sys.sleep(millis: 1000) }
        }
        children.append(holder)
        let userns = try userNamespaceHolder(in: nil, ready: usernsReady)
        children.append(userns)
        let sleeper = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if sleeper == 0 { while true { Sys.sleep(millis: 1000) } }
        children.append(sleeper)
        for f in [holderReady, usernsReady] {
            try d.waitFor("\(f)", seconds: 30) { !((try? Sys.readFile(f)) ?? "").isEmpty }
            try check((try? Sys.readFile(f)) == "0", "\(f): \((try? Sys.readFile(f)) ?? "")")
        }
        let locked = Confinement.lockedIn(nsPath: "/proc/\(holder)/ns/uts")
        let jailed = Confinement.jailed(cgroupDir: fx.host(jail))
        let deniedDir = fx.host(denied)

        /// Runs `op` in a child confined by `how`; the child exits with the op's errno.
        func denial(_ what: String, _ how: Confinement, rule: String, _ op: @escaping () -> Int32) throws -> (String, Int32, String) {
            let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
            if pid == 0 {
                if how.enter() != 0 { Sys.exit(120) }
                Sys.exit(op())
            }
            let st = try sys("waitpid") { () throws(Errno) in try Sys.waitpid(pid) }
            guard case .exited(let code) = st, code != 0, code != 120 else {
                throw TestFailure(reason: "\(what): expected a denial, the child ended \(st)")
            }
            return (what, pid, rule)
        }
        let hostUTS = "/proc/1/ns/uts"
        var cases: [(String, Int32, String)] = []
        cases.append(try denial("cgroup.procs write into a deny-into cgroup", .none, rule: "deny-ops") {
            errnoOf { () throws(Errno) in try moveTo(deniedDir, pid: Sys.pid) }
        })
        cases.append(try denial("clone3(CLONE_INTO_CGROUP) into a deny-into cgroup", .none, rule: "deny-ops") {
            errnoOf { () throws(Errno) in
                let dfd = try Sys.open(deniedDir, O_RDONLY | O_DIRECTORY)
                defer { Sys.close(dfd) }
                let (child, _) = try Linux.clone3(flags: 0, cgroupFD: dfd)
                if child == 0 { Sys.exit(0) }
                _ = try Sys.waitpid(child)
            }
        })
        cases.append(try denial("setns of a locked task back to the host", locked, rule: "lock-sandbox") {
            errnoOf { () throws(Errno) in
                let fd = try Sys.open(hostUTS, O_RDONLY)
                defer { Sys.close(fd) }
                try Linux.setns(fd, Linux.cloneNewUTS)
            }
        })
        cases.append(try denial("unshare in a jail", jailed, rule: "jail-no-ns") {
            errnoOf { () throws(Errno) in try Linux.unshare(Linux.cloneNewUTS) }
        })
        cases.append(try denial("ptrace seize out of a jail", jailed, rule: "jail-no-ns") {
            errnoOf { () throws(Errno) in try Linux.ptrace(Linux.ptraceSeize, pid: sleeper) }
        })
        cases.append(try denial("uid_map write from a jail", jailed, rule: "jail-idmaps") {
            errnoOf { () throws(Errno) in try Sys.writeFile("/proc/\(userns)/uid_map", "0 0 1\n") }
        })

        var counts: [Int32: [String]] = [:]
        try d.waitFor("a deny event for each of \(cases.count) denials", seconds: 60) {
            let evs = (try? d.events(verdict: "deny", limit: 1000)) ?? []
            counts = [:]
            for e in evs { if let p = e["pid"]?.intValue { counts[Int32(p), default: []].append(e["rule"]?.stringValue ?? "-") } }
            return cases.allSatisfy { counts[$0.1] != nil }
        }
        Sys.sleep(millis: 1000) // a duplicate would be recorded right behind the first
        let evs = try d.events(verdict: "deny", limit: 1000)
        counts = [:]
        for e in evs { if let p = e["pid"]?.intValue { counts[Int32(p), default: []].append(e["rule"]?.stringValue ?? "-") } }
        for (what, pid, rule) in cases {
            let got = counts[pid] ?? []
            try check(got == [rule], "\(what): pid \(pid) has deny events \(got), expected exactly [\(rule)]")
        }
        print("# one deny event each: \(cases.map(\.0).joined(separator: "; "))")
    }
}
