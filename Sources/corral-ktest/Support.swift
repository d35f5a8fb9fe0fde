// Test plumbing: outcomes, assertions, cgroup fixtures, forked children.
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

enum Outcome { case ok, skip(String), fail(String) }

struct TestFailure: Error { let reason: String }
struct TestSkip: Error { let reason: String }

struct KTest {
    let name: String
    let body: () throws -> Void
}

extension String {
    var replacingNewlines: String { split(separator: "\n").joined(separator: " | ") }
}

func check(_ cond: Bool, _ what: @autoclosure () -> String) throws {
    if !cond { throw TestFailure(reason: what()) }
}

func kernel<T>(_ what: String, _ body: () throws(KernelError) -> T) throws -> T {
    do { return try body() } catch { throw TestFailure(reason: "\(what): \(error)") }
}

func sys<T>(_ what: String, _ body: () throws(Errno) -> T) throws -> T {
    do { return try body() } catch { throw TestFailure(reason: "\(what): \(error)") }
}

let cgroupRoot = "/sys/fs/cgroup"

/// A cgroup2 directory for one test under /sys/fs/cgroup/ktest, removed at the end.
final class CgroupFixture {
    let base: String
    private(set) var created: [String] = []

    init(_ test: String) throws {
        guard Sys.exists(cgroupRoot + "/cgroup.procs") else { throw TestSkip(reason: "no cgroup2 at \(cgroupRoot)") }
        base = "/ktest/" + test
        try sys("mkdir \(base)") { () throws(Errno) in try Sys.mkdirs(cgroupRoot + base) }
    }

    /// Creates BASE/name and returns its policy path.
    func make(_ name: String) throws -> CgroupPath {
        let rel = base + "/" + name
        try sys("mkdir \(rel)") { () throws(Errno) in try Sys.mkdir(cgroupRoot + rel) }
        created.append(rel)
        return CgroupPath(rel)!
    }

    func host(_ p: CgroupPath) -> String { cgroupRoot + p.description }
    func id(_ p: CgroupPath) throws -> UInt64 { try sys("stat \(p)") { () throws(Errno) in try Sys.inode(host(p)) } }

    deinit {
        try? Sys.writeFile(cgroupRoot + "/cgroup.procs", String(Sys.pid))
        for c in created.reversed() { try? Sys.rmdir(cgroupRoot + c) }
        try? Sys.rmdir(cgroupRoot + base)
    }
}

/// Writes `pid` into PATH/cgroup.procs (or cgroup.threads).
func moveTo(_ hostDir: String, pid: Int32, threads: Bool = false) throws(Errno) {
    try Sys.writeFile(hostDir + (threads ? "/cgroup.threads" : "/cgroup.procs"), String(pid))
}

/// Forks; the child runs `body` and exits with its result (0 = pass). Returns the child's status.
func inChild(_ body: () -> Int32) throws -> (pid: Int32, status: Sys.ExitStatus) {
    let pid = try sys("fork") { () throws(Errno) in try Sys.fork() }
    if pid == 0 { Sys.exit(body()) }
    return (pid, try sys("waitpid") { () throws(Errno) in try Sys.waitpid(pid) })
}

func errnoOf(_ body: () throws(Errno) -> Void) -> Int32 {
    do { try body(); return 0 } catch { return error.rawValue }
}

/// One Corral load for one test, with its events collected.
final class Loaded {
    let session: CorralSession
    let reader: EventReader
    private(set) var events: [Event] = []

    init(_ policy: Policy, audit: Bool = false, traceAll: Bool = false) throws {
        let s = try kernel("load") { () throws(KernelError) in
            try CorralSession(policy: policy, options: SessionOptions(auditAll: audit, traceAll: traceAll))
        }
        session = s
        let box = EventBox()
        reader = try kernel("ring buffer") { () throws(KernelError) in try s.events { box.items.append($0) } }
        self.box = box
    }

    private let box: EventBox
    final class EventBox { var items: [Event] = [] }

    /// Everything emitted so far.
    func collect() -> [Event] {
        _ = try? reader.drain()
        events = box.items
        return events
    }

    /// Events emitted since the last `take()` (for long runs: `collect()` copies every event so far).
    func take() -> [Event] {
        _ = try? reader.drain()
        let items = box.items
        box.items.removeAll(keepingCapacity: true)
        return items
    }

    func traceSelf() throws {
        try kernel("mark traced") { () throws(KernelError) in try session.markTask(pid: Sys.pid, flags: 2) }
    }

    func unload() {
        reader.close()
        session.stop()
    }

    deinit { unload() }
}

/// An event field in a message: its value, or "none" when the event lacks it.
func show<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "none" }

func describe(_ evs: [Event]) -> String {
    evs.map { "\($0.hook)/\(show($0.verdict))/\($0.rule ?? "-")/pid\(show($0.pid))" }.joined(separator: ",")
}

enum Helper {
    /// Exec'd by a locked task: setns into init's UTS namespace must fail with EPERM.
    static func setnsExpectingEPERM(_ path: String) -> Int32 {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return 3 }
        let e = errnoOf { () throws(Errno) in try Linux.setns(fd, Linux.cloneNewUTS) }
        return e == EPERM ? 0 : (e == 0 ? 1 : 2)
    }
}
