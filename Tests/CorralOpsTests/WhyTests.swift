import CorralEvaluator
import CorralPolicy
import CorralSystem
import CorralTestSupport
import Foundation
import Testing
@testable import CorralOps

/// The live system as a table.
struct FakeLiveState: LiveState {
    var tasks: [Int32: TaskState] = [:]
    var cgroups: [CgroupPath: UInt64] = [:]
    var namespaces: [String: (NamespaceType, UInt32)] = [:]
    var labels: [UInt32: String] = [:]

    func task(pid: Int32) throws(WhyError) -> TaskState {
        guard let t = tasks[pid] else { throw .noSuchProcess(pid) }
        return t
    }
    func cgroupID(_ path: CgroupPath) -> UInt64? { cgroups[path] }
    func namespace(at path: String) throws(WhyError) -> (type: NamespaceType, inum: UInt32) {
        guard let ns = namespaces[path] else { throw .invalidParameter("enter", "no namespace \(path)") }
        return ns
    }
    func trackedLabel(inum: UInt32) throws(WhyError) -> String? { labels[inum] }

    static func lockIn() -> FakeLiveState {
        var live = FakeLiveState()
        live.tasks[1] = TaskState(pid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd", cgroup: CgroupPath("/init.scope")!)
        live.tasks[500] = TaskState(pid: 500, comm: "nginx", exe: "/usr/sbin/nginx", cgroup: CgroupPath("/system.slice/web.service")!)
        live.tasks[600] = TaskState(pid: 600, comm: "sh", exe: "/usr/bin/sh", cgroup: CgroupPath("/user.slice")!)
        live.tasks[700] = TaskState(pid: 700, comm: "sh", exe: "/usr/bin/sh", cgroup: CgroupPath("/user.slice")!,
                                    lock: TaskLock(ruleID: "lock-sandbox", label: "sandbox", inum: 4026532001))
        for (path, id) in [("/", 1), ("/init.scope", 10), ("/system.slice/web.service", 20), ("/user.slice", 30),
                           ("/system.slice/db.service", 21)] as [(String, UInt64)] {
            live.cgroups[CgroupPath(path)!] = id
        }
        live.namespaces["/proc/800/ns/net"] = (.net, 4026532001)
        live.namespaces["/proc/1/ns/net"] = (.net, 4026531840)
        live.labels[4026532001] = "sandbox"
        return live
    }
}

@Suite struct WhyTests {
    @Test func cgroupMoveDeniedThenAllowedForPID1() throws {
        let policy = try Fixtures.example("lock_in")
        let live = FakeLiveState.lockIn()
        let own = try WhyQuery.parse(pid: 500, actor: nil, toCgroup: "/user.slice", enter: nil)
            .answer(policy: policy, generation: 4, live: live)
        #expect(own.verdict == .deny && own.rule == "services-stay" && own.mode == .enforce && own.errno == 1)
        #expect(own.generation == 4 && own.exitStatus == 1)
        let lines = own.text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "why: may task 500 (nginx) move itself from /system.slice/web.service to /user.slice (cgroup.procs)?")
        #expect(own.ruleOrigin == RepoPaths.examples + "/lock_in/policy.yaml:17")
        #expect(lines[1] == "answer: deny by services-stay (\(RepoPaths.examples)/lock_in/policy.yaml:17) [enforce] EPERM: task 500 (nginx) matches subject 'any' and moves itself out of /system.slice, where it must stay (/system.slice/web.service -> /user.slice)")
        #expect(lines.contains("event: actor pid 500 tgid 500 (nginx), target 500, src /system.slice/web.service (id 20), dst /user.slice (id 30), threadgroup 1"))

        let byInit = try WhyQuery.parse(pid: 500, actor: 1, toCgroup: "/user.slice", enter: nil)
            .answer(policy: policy, generation: 4, live: live)
        #expect(byInit.verdict == .allow && byInit.rule == "init-manages" && byInit.errno == 0 && byInit.exitStatus == 0)
        #expect(byInit.text.contains("why: may task 1 (systemd) move task 500 (nginx) from /system.slice/web.service to /user.slice"))

        let within = try WhyQuery(pid: 500, destination: .cgroup(CgroupPath("/system.slice/db.service")!))
            .answer(policy: policy, generation: 4, live: live)
        #expect(within.verdict == .allow && within.rule == nil)
    }

    @Test func enteringNamespaces() throws {
        let policy = try Fixtures.example("lock_in")
        let live = FakeLiveState.lockIn()
        // An unlocked task entering the sandbox: allowed, and it would become locked.
        let enter = try WhyQuery.parse(pid: 600, actor: nil, toCgroup: nil, enter: "/proc/800/ns/net")
            .answer(policy: policy, generation: 2, live: live)
        #expect(enter.verdict == .allow && enter.rule == nil)
        #expect(enter.decision.effects.locked?.ruleID == "lock-sandbox")
        #expect(enter.text.contains("why: may task 600 (sh) enter /proc/800/ns/net (net 4026532001, label 'sandbox')?"))
        // A locked task leaving for the host's namespace: denied by its lock.
        let leave = try WhyQuery.parse(pid: 700, actor: nil, toCgroup: nil, enter: "/proc/1/ns/net")
            .answer(policy: policy, generation: 2, live: live)
        #expect(leave.verdict == .deny && leave.rule == "lock-sandbox" && leave.errno == 1)
        #expect(leave.text.contains("task: pid 700, tgid 700, comm sh, exe /usr/bin/sh, cgroup /user.slice, locked by lock-sandbox (label 'sandbox', inum 4026532001)"))
        // The same lock under a policy without lock-sandbox is not enforced.
        var loosened = policy
        loosened.rules.removeAll { $0.id == "lock-sandbox" }
        let free = try WhyQuery.parse(pid: 700, actor: nil, toCgroup: nil, enter: "/proc/1/ns/net")
            .answer(policy: loosened, generation: 3, live: live)
        #expect(free.verdict == .allow)
        // Audit: allowed, reported as audit.
        let audited = try WhyQuery.parse(pid: 700, actor: nil, toCgroup: nil, enter: "/proc/1/ns/net")
            .answer(policy: policy, generation: 2, auditAll: true, live: live)
        #expect(audited.verdict == .audit && audited.rule == "lock-sandbox" && audited.mode == .audit && audited.errno == 0)
    }

    @Test func badRequests() throws {
        let policy = try Fixtures.example("lock_in")
        let live = FakeLiveState.lockIn()
        #expect(throws: WhyError.invalidParameter("to_cgroup", "give one of to_cgroup or enter")) {
            try WhyQuery.parse(pid: 1, actor: nil, toCgroup: nil, enter: nil)
        }
        #expect(throws: WhyError.invalidParameter("enter", "give only one of to_cgroup or enter")) {
            try WhyQuery.parse(pid: 1, actor: nil, toCgroup: "/a", enter: "/proc/1/ns/net")
        }
        #expect(throws: WhyError.invalidParameter("enter", "'/tmp/x' is not a /proc/PID/ns/TYPE path")) {
            try WhyQuery.parse(pid: 1, actor: nil, toCgroup: nil, enter: "/tmp/x")
        }
        #expect(throws: WhyError.invalidParameter("actor", "setns is decided for the entering task itself; omit actor")) {
            try WhyQuery.parse(pid: 1, actor: 2, toCgroup: nil, enter: "/proc/1/ns/net")
        }
        #expect(throws: WhyError.invalidParameter("to_cgroup", "'user.slice' is not an absolute cgroup path under the cgroup root")) {
            try WhyQuery.parse(pid: 1, actor: nil, toCgroup: "user.slice", enter: nil)
        }
        #expect(throws: WhyError.noSuchProcess(999)) {
            try WhyQuery(pid: 999, destination: .cgroup(.root)).answer(policy: policy, generation: 1, live: live)
        }
        #expect(throws: WhyError.invalidParameter("to_cgroup", "no cgroup /nowhere under /sys/fs/cgroup")) {
            try WhyQuery(pid: 500, destination: .cgroup(CgroupPath("/nowhere")!)).answer(policy: policy, generation: 1, live: live)
        }
        #expect(NamespacePaths.parse("/proc/self/ns/pid_for_children")?.type == .pid)
        #expect(NamespacePaths.parse("/proc/12/ns/mnt")?.pid == "12")
        #expect(NamespacePaths.parse("/proc/12/ns/bogus") == nil)
    }
}

/// Kernel state as a table.
struct FakeKernel: KernelStateReader {
    var locks: [Int32: KernelTaskLock] = [:]
    var tracked: [UInt32: KernelTrackedNamespace] = [:]
    func taskLock(pid: Int32) throws(WhyError) -> KernelTaskLock? { locks[pid] }
    func trackedNamespace(inum: UInt32) throws(WhyError) -> KernelTrackedNamespace? { tracked[inum] }
}

@Suite struct ProcLiveStateTests {
    /// A /proc-shaped directory with one task.
    static func fakeProc(pid: Int32, tgid: Int32, comm: String, exe: String, cgroup: String) throws -> String {
        let root = RepoPaths.temporaryDirectory("corral-ops-proc")
        let dir = "\(root)/\(pid)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "Name:\t\(comm)\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t\(tgid)\nPid:\t\(pid)\n"
            .write(toFile: dir + "/status", atomically: true, encoding: .utf8)
        try (comm + "\n").write(toFile: dir + "/comm", atomically: true, encoding: .utf8)
        try "12:pids:/\n0::\(cgroup)\n".write(toFile: dir + "/cgroup", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir + "/exe", withDestinationPath: exe)
        return root
    }

    @Test func readsTasksFromProcAndLocksFromTheKernel() throws {
        let policy = try Fixtures.policy("""
            version: 1
            cgroup-root: /sys/fs/cgroup/corral-test
            subjects:
              sh: {exe: /bin/sh}
            rules:
              - {id: lock-sandbox, kind: lock-on-entry, labels: [sandbox]}
              - {id: sh-stays, kind: stay, subject: sh, cgroups: [/jail]}
            """)
        // /bin/sh is, on merged-/usr systems, the same file as /usr/bin/sh: the policy's spelling wins.
        let realSh = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path
        let proc = try Self.fakeProc(pid: 4242, tgid: 4240, comm: "sh", exe: realSh, cgroup: "/corral-test/jail/a")
        defer { try? FileManager.default.removeItem(atPath: proc) }
        var kernel = FakeKernel()
        kernel.locks[4242] = KernelTaskLock(ruleUID: StableID.of("lock-sandbox"), labelID: StableID.of("sandbox"), inum: 4026532009)
        let live = ProcLiveState(policy: policy, kernel: kernel, procRoot: proc, cgroupMount: "/sys/fs/cgroup")
        let task = try live.task(pid: 4242)
        #expect(task.tgid == 4240 && task.comm == "sh")
        #expect(task.exe == "/bin/sh")
        #expect(task.cgroup == CgroupPath("/jail/a"))
        #expect(task.lock == TaskLock(ruleID: "lock-sandbox", label: "sandbox", inum: 4026532009))
        #expect(throws: WhyError.noSuchProcess(4243)) { try live.task(pid: 4243) }

        // A task outside the policy's cgroup root cannot be placed.
        let outside = try Self.fakeProc(pid: 5, tgid: 5, comm: "x", exe: "/usr/bin/x", cgroup: "/elsewhere")
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let other = ProcLiveState(policy: policy, kernel: kernel, procRoot: outside, cgroupMount: "/sys/fs/cgroup")
        #expect(throws: WhyError.invalidParameter("pid", "task 5's cgroup /sys/fs/cgroup/elsewhere lies outside the policy's cgroup root /sys/fs/cgroup/corral-test")) {
            try other.task(pid: 5)
        }
    }

    @Test func namespacesAndLabelsOfTheRunningTestProcess() throws {
        let policy = try Fixtures.example("lock_in")
        let inum = UInt32(truncatingIfNeeded: try Sys.inode("/proc/self/ns/uts"))
        var kernel = FakeKernel()
        kernel.tracked[inum] = KernelTrackedNamespace(labelID: StableID.of("sandbox"), nsType: NamespaceType.uts.cloneFlag,
                                                      ruleUID: StableID.of("track-sandbox"), creatorTgid: 1)
        kernel.tracked[77] = KernelTrackedNamespace(labelID: 0xdeadbeef, nsType: 0, ruleUID: 0, creatorTgid: 1)
        let mount = policy.cgroupRoot
        let live = ProcLiveState(policy: policy, kernel: kernel, cgroupMount: mount)
        let ns = try live.namespace(at: "/proc/self/ns/uts")
        #expect(ns.type == .uts && ns.inum == inum)
        #expect(try live.trackedLabel(inum: inum) == "sandbox")
        #expect(try live.trackedLabel(inum: 77) == "id:deadbeef")
        #expect(try live.trackedLabel(inum: 78) == nil)
        #expect(throws: WhyError.noSuchProcess(999_999_99)) { try live.namespace(at: "/proc/99999999/ns/net") }

        // The test process itself, end to end: entering its own (now "tracked") uts namespace is not an
        // entry (it is already in it), so nothing locks it.
        let me = getpid()
        let task = try live.task(pid: me)
        #expect(task.tgid == me)
        #expect(task.exe == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")))
        let answer = try WhyQuery.parse(pid: me, actor: nil, toCgroup: nil, enter: "/proc/\(me)/ns/uts")
            .answer(policy: policy, generation: 1, live: live)
        #expect(task.namespaces?[.uts] == inum)
        #expect(answer.verdict == .allow)
        #expect(answer.decision.effects.locked == nil)
        #expect(answer.decision.reason.contains("already in"))
    }

    @Test func findsTheCgroup2Mount() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-mounts")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

            """.write(toFile: dir + "/mountinfo", atomically: true, encoding: .utf8)
        #expect(ProcLiveState.findCgroup2Mount(mountinfo: dir + "/mountinfo") == "/sys/fs/cgroup/unified")
        #expect(ProcLiveState.findCgroup2Mount(mountinfo: dir + "/none") == nil)
    }
}
