// Executables that survive upgrades (issue 9, part 3): an `exe:` manager replaced by rename(2),
// as dpkg does, stays a manager; a copy at another path is not; a file marked with a subject's
// xattr after the load is recognized at its next exec (bpf/executables/).
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

enum ExecutableTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "executables/upgrade_by_rename", body: upgradeByRename),
        KTest(name: "executables/xattr_marked_after_load", body: xattrMarkedAfterLoad),
    ]

    static let dir = "/run/ktest-exe"

    /// A tmpfs (xattrs on every kernel) holding copies of busybox.
    static func scratch() throws {
        try sys("mkdir \(dir)") { () throws(Errno) in try Sys.mkdirs(dir) }
        _ = try? Sys.mount(source: "tmpfs", target: dir, type: "tmpfs")
    }

    static func copyBusybox(to path: String) throws { try UpgradeTests.copy("/bin/busybox", to: path) }

    /// Runs `exe` as busybox `sh -c "echo PID > DIR/cgroup.procs"`: the write is made by a task
    /// whose executable is `exe`. True when the move succeeded.
    static func moveAs(_ exe: String, pid: Int32, to hostDir: String) throws -> Bool {
        let (_, st) = try inChild {
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup("sh"), strdup("-c"),
                                                        strdup("echo \(pid) > \(hostDir)/cgroup.procs"), nil]
            execv(exe, &argv)
            return 127
        }
        try check(st != .exited(127), "exec \(exe) failed")
        return st == .exited(0)
    }

    static func victim(in hostDir: String) throws -> Int32 {
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 { while true { sleep(1) } }
        try sys("victim into \(hostDir)") { () throws(Errno) in try moveTo(hostDir, pid: pid) }
        return pid
    }

    static func policy(manager: SubjectMatcher, svc: CgroupPath) -> Policy {
        Policy(cgroupRoot: cgroupRoot, rules: [
            Rule(id: "stay-svc", kind: .stay, cgroups: [svc], index: 0),
            Rule(id: "mgr", kind: .managers, subjects: [Subject(matcher: manager)], index: 1),
        ], source: "ktest")
    }

    static func upgradeByRename() throws {
        try scratch()
        let fx = try CgroupFixture("exe_upgrade")
        let svc = try fx.make("svc"), out = try fx.make("out")
        let mgr = dir + "/mgr", copy = dir + "/copy"
        try copyBusybox(to: mgr)
        let v = try victim(in: fx.host(svc))
        defer { kill(v, SIGKILL); _ = try? Sys.waitpid(v) }
        let loaded = try Loaded(policy(manager: .exe(mgr), svc: svc))
        defer { loaded.unload() }
        try check(try moveAs(mgr, pid: v, to: fx.host(out)), "the manager \(mgr) could not move the victim out of svc")
        try sys("victim back") { () throws(Errno) in try moveTo(fx.host(svc), pid: v) }

        // The upgrade: a new file (new inode), renamed over the manager's path.
        let before = try sys("stat") { () throws(Errno) in try Sys.inode(mgr) }
        try copyBusybox(to: mgr + ".dpkg-new")
        try sys("rename") { () throws(Errno) in try Sys.rename(mgr + ".dpkg-new", mgr) }
        let after = try sys("stat") { () throws(Errno) in try Sys.inode(mgr) }
        try check(before != after, "the upgrade kept the inode (\(before))")
        try check(try moveAs(mgr, pid: v, to: fx.host(out)),
                  "after the upgrade (inode \(before) -> \(after)) \(mgr) is no longer a manager")
        try sys("victim back") { () throws(Errno) in try moveTo(fx.host(svc), pid: v) }

        // A copy at another path is not a manager.
        try copyBusybox(to: copy)
        try check(!(try moveAs(copy, pid: v, to: fx.host(out))), "a copy at \(copy) moved the victim out of svc")
        let denied = loaded.collect().filter { $0.hook == "cgroup_attach" && $0.verdict == "deny" && $0.rule == "stay-svc" }
        try check(!denied.isEmpty, "no stay-svc denial for the copy: \(describe(loaded.events))")
        let followed = loaded.session.stat(UInt32(10))  // CORRAL_STAT_EXE_FOLLOWED
        try check(followed >= 1, "corral_stats EXE_FOLLOWED is \(followed)")
    }

    static func xattrMarkedAfterLoad() throws {
        try scratch()
        let fx = try CgroupFixture("exe_xattr")
        let svc = try fx.make("svc"), out = try fx.make("out")
        let marked = dir + "/marked"
        let name = "trusted.corral.ktest-manager"
        try copyBusybox(to: marked)
        let v = try victim(in: fx.host(svc))
        defer { kill(v, SIGKILL); _ = try? Sys.waitpid(v) }
        let loaded = try Loaded(policy(manager: .xattr(name), svc: svc))
        defer { loaded.unload() }
        try check(!(try moveAs(marked, pid: v, to: fx.host(out))), "unmarked \(marked) moved the victim out of svc")
        try sys("setxattr") { () throws(Errno) in try FileSystem.setExtendedAttribute(marked, name: name, value: Array("1".utf8)) }
        try check(try moveAs(marked, pid: v, to: fx.host(out)), "\(marked) marked with \(name) after the load is not a manager")
        try sys("victim back") { () throws(Errno) in try moveTo(fx.host(svc), pid: v) }
        try sys("removexattr") { () throws(Errno) in try FileSystem.removeExtendedAttribute(marked, name: name) }
        try check(!(try moveAs(marked, pid: v, to: fx.host(out))), "\(marked) is still a manager after removexattr")
    }
}
