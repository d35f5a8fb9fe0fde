// Entering namespaces the way container tools do (issue 10): crun and nsenter join every
// namespace of a container, including those it shares with the host, and crun re-executes
// itself from a memfd copy. Each test has its control: the same call where the rule must bite.
//   - a setns into the namespace one is already in is not an entry (but mnt still is);
//   - a `lock-to: label` lock lets a task join the container's other namespaces, not the host's;
//   - an `exe:` identity survives the exec of an anonymous file, not of a named one.
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

enum NamespaceEntryTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "namespaces/already_in_is_not_an_entry", body: alreadyIn),
        KTest(name: "namespaces/lock_to_label", body: lockToLabel),
        KTest(name: "executables/memfd_reexec_keeps_identity", body: memfdReexec),
    ]

    static let ipc: Int32 = 0x0800_0000, mnt: Int32 = 0x0002_0000

    static func policy(_ rules: [Rule]) -> Policy {
        var rules = rules
        for i in rules.indices { rules[i].index = i }
        return Policy(cgroupRoot: cgroupRoot, rules: rules, source: "ktest")
    }

    /// deny-enter uts, mnt and user: entering one's own uts namespace is allowed (not an entry),
    /// one's own user namespace gets the kernel's EINVAL (not decided), one's own mnt namespace
    /// is denied (setns resets the root: a way out of a chroot), another uts namespace is denied.
    static func alreadyIn() throws {
        let loaded = try Loaded(policy([Rule(id: "no-enter", kind: .denyEnter, namespaceTypes: [.uts, .mnt, .user])]))
        defer { loaded.unload() }
        let (_, st) = try inChild {
            guard let ownUTS = try? Sys.open("/proc/self/ns/uts", O_RDONLY),
                  let ownMnt = try? Sys.open("/proc/self/ns/mnt", O_RDONLY),
                  let ownUser = try? Sys.open("/proc/self/ns/user", O_RDONLY) else { return 10 }
            if errnoOf({ () throws(Errno) in try Linux.setns(ownUTS, KTests.uts) }) != 0 { return 11 }
            // Its own user namespace: the kernel's EINVAL, in both modes (Corral does not decide it).
            if errnoOf({ () throws(Errno) in try Linux.setns(ownUser, Linux.cloneNewUser) }) != EINVAL { return 15 }
            if errnoOf({ () throws(Errno) in try Linux.setns(ownMnt, mnt) }) != EPERM { return 12 }
            if errnoOf({ () throws(Errno) in try Linux.unshare(KTests.uts) }) != 0 { return 13 }
            // Now in a new uts namespace: the old one is another namespace.
            if errnoOf({ () throws(Errno) in try Linux.setns(ownUTS, KTests.uts) }) != EPERM { return 14 }
            return 0
        }
        let why: [Int32: String] = [10: "open /proc/self/ns", 11: "setns into its own uts namespace was refused",
                   12: "setns into its own mnt namespace was not EPERM (must stay an entry)",
                   13: "unshare uts failed", 14: "setns into another uts namespace was not EPERM",
                   15: "setns into its own user namespace was not the kernel's EINVAL"]
        if case .exited(let code) = st, code != 0 { throw TestFailure(reason: why[code] ?? "exit \(code)") }
        try check(st == .exited(0), "child: \(st)")
        let denied = loaded.collect().filter { $0.hook == "namespace_install" && $0.verdict == "deny" }
        try check(denied.count == 2 && denied.allSatisfy { $0.rule == "no-enter" && $0.alreadyIn != true }
                  && denied.contains { $0.nsType == "mnt" } && denied.contains { $0.nsType == "uts" },
                  "deny events: \(describe(denied))")
    }

    /// A holder process makes a "container" (uts + ipc, tracked as `box`). With `lock-to: label`
    /// a task that enters its uts namespace may then enter its ipc namespace and re-enter the
    /// net namespace it is in, but not the host's uts namespace; with the default lock the ipc
    /// entry is denied (the control).
    static func lockToLabel() throws {
        for lockToLabel in [true, false] {
            var lock = Rule(id: "lock-box", kind: .lockOnEntry, labels: ["box"])
            lock.lockToLabel = lockToLabel
            let loaded = try Loaded(policy([
                Rule(id: "track-box", kind: .track, namespaceTypes: [.uts, .ipc], trackLabel: "box"), lock,
            ]))
            defer { loaded.unload() }
            let holder = try Holder(flags: KTests.uts | ipc)
            defer { holder.stop() }
            let boxUTS = try KTests.openNS("/proc/\(holder.pid)/ns/uts")
            let boxIPC = try KTests.openNS("/proc/\(holder.pid)/ns/ipc")
            let hostUTS = try KTests.openNS("/proc/self/ns/uts")
            let ownNet = try KTests.openNS("/proc/self/ns/net")
            defer { for fd in [boxUTS, boxIPC, hostUTS, ownNet] { Sys.close(fd) } }
            let (_, st) = try inChild {
                if errnoOf({ () throws(Errno) in try Linux.setns(boxUTS, KTests.uts) }) != 0 { return 10 }
                let e = errnoOf { () throws(Errno) in try Linux.setns(boxIPC, ipc) }
                if lockToLabel ? e != 0 : e != EPERM { return 11 }
                if lockToLabel, errnoOf({ () throws(Errno) in try Linux.setns(ownNet, 0x4000_0000) }) != 0 { return 12 }
                if errnoOf({ () throws(Errno) in try Linux.setns(hostUTS, KTests.uts) }) != EPERM { return 13 }
                return 0
            }
            let why: [Int32: String] = [10: "entering the box's uts namespace failed",
                       11: lockToLabel ? "lock-to: label refused the box's ipc namespace" : "the default lock allowed a second namespace",
                       12: "re-entering its own net namespace was refused", 13: "setns back to the host's uts was not EPERM"]
            if case .exited(let code) = st, code != 0 {
                throw TestFailure(reason: "lock-to \(lockToLabel ? "label" : "namespace"): \(why[code] ?? "exit \(code)")")
            }
            try check(st == .exited(0), "child: \(st)")
            let evs = loaded.collect()
            try check(evs.contains { $0.hook == "namespace_install" && $0.locked == true && $0.nsLabel == "box" },
                      "no lock event: \(describe(evs))")
            try check(evs.contains { $0.verdict == "deny" && $0.rule == "lock-box" }, "no lock denial: \(describe(evs))")
        }
    }

    /// deny-create uts for `exe: <this binary>`. A child copies the binary into a memfd and
    /// executes it (as crun does): the copy keeps the identity, so its unshare is denied and the
    /// event says `exe_carried`. A named copy of the same bytes does not match (the control), and
    /// neither does a named file the memfd image executes next.
    static func memfdReexec() throws {
        guard let me = Sys.executablePath() else { throw TestFailure(reason: "no /proc/self/exe") }
        try ExecutableTests.scratch()
        let named = ExecutableTests.dir + "/ktest-copy"
        try UpgradeTests.copy(me, to: named)
        defer { try? Sys.unlink(named) }
        let loaded = try Loaded(policy([Rule(id: "no-uts", kind: .denyCreate, subjects: [Subject(matcher: .exe(me))],
                                             namespaceTypes: [.uts])]))
        defer { loaded.unload() }

        func run(_ argv: [String], memfd: Bool) throws -> Sys.ExitStatus {
            let bytes = try UpgradeTests.contents(of: me)
            return try inChild {
                if !memfd {
                    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
                    execv(named, &cargs)
                    return 120
                }
                guard let fd = try? Linux.memfdCreate("ktest_cloned"), (try? Sys.writeAll(fd, bytes)) != nil,
                      // exec refuses a file open for writing: reopen read-only, as runc does.
                      let ro = try? Sys.open("/proc/self/fd/\(fd)", O_RDONLY) else { return 121 }
                Sys.close(fd)
                _ = Linux.execFD(ro, argv)
                return 122
            }.status
        }
        let helper = ["corral-ktest", "--helper-unshare-uts"]
        let viaMemfd = try run(helper, memfd: true)
        try check(viaMemfd == .exited(0), "memfd copy: unshare was not denied (\(viaMemfd); 1 = allowed)")
        let viaNamed = try run(helper, memfd: false)
        try check(viaNamed == .exited(1), "named copy: unshare was not allowed (\(viaNamed))")
        let memfdThenNamed = try run(["corral-ktest", "--helper-exec", named] + helper.dropFirst(), memfd: true)
        try check(memfdThenNamed == .exited(1), "memfd copy, then a named file: unshare was not allowed (\(memfdThenNamed))")
        let evs = loaded.collect().filter { $0.hook == "namespace_alloc" && $0.verdict == "deny" }
        try check(evs.count == 1 && evs[0].rule == "no-uts" && evs[0].exeCarried == true,
                  "deny events: \(describe(evs)), exe_carried \(evs.map { $0.exeCarried as Any })")
    }

    /// Exec'd by memfdReexec: unshare(CLONE_NEWUTS); exit 0 if EPERM, 1 if it succeeded.
    static func helperUnshareUTS() -> Int32 {
        let e = errnoOf { () throws(Errno) in try Linux.unshare(KTests.uts) }
        return e == EPERM ? 0 : (e == 0 ? 1 : 2)
    }
}

/// A process that unshares `flags` and waits, holding the new namespaces for /proc/PID/ns.
struct Holder {
    let pid: Int32

    init(flags: Int32) throws {
        let (r, w) = try sys("pipe") { () throws(Errno) in try Sys.pipe() }
        let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if pid == 0 {
            Sys.close(r)
            let ok = errnoOf { () throws(Errno) in try Linux.unshare(flags) } == 0
            _ = try? Sys.write(w, [ok ? 1 : 0])
            while true { pause() }
        }
        Sys.close(w)
        let byte = (try? Sys.read(r, count: 1)) ?? []
        Sys.close(r)
        self.pid = pid
        guard byte == [1] else {
            stop()
            throw TestFailure(reason: "the holder could not unshare")
        }
    }

    func stop() {
        kill(pid, SIGKILL)
        _ = try? Sys.waitpid(pid)
    }
}
