// A real `corral daemon` subprocess for one test: private pin, state and log directories, a
// control socket, its stdout/stderr in files. The test talks to it like an operator: through the
// control socket (ControlClient) or the `corral` CLI.
import CorralControl
import CorralSystem
import Glibc

final class DaemonHarness {
    let name: String
    let dir: String
    /// The `corral` binary the daemon and CLI calls run (the upgrade test swaps it).
    var corral: String
    let pins: String
    var pid: Int32 = -1
    /// The daemon's --policy (DIR/policy.yaml unless a test moves it).
    var policyFile: String
    var socket: String { dir + "/control.sock" }
    var stateDir: String { dir + "/state" }
    var logDir: String { dir + "/log" }
    var out: String { dir + "/stdout" }
    var err: String { dir + "/stderr" }
    private var extra: [String] = []
    /// More daemon arguments for the next `start`.
    var extraArguments: [String] { get { extra } set { extra = newValue } }
    /// The process that made this harness. A forked test child shares the object; in a release
    /// build Swift may end `d`'s lifetime early on the child's path and run `deinit` there,
    /// which must not kill the parent's daemon.
    private let owner = Sys.pid

    /// The `corral` installed next to corral-ktest.
    static var installedCorral: String? {
        guard let exe = Sys.executablePath() else { return nil }
        return String(exe[..<exe.lastIndex(of: "/")!]) + "/corral"
    }

    init(_ name: String, extraArguments: [String] = [], corral binary: String? = nil) throws {
        guard let installed = Self.installedCorral else { throw TestFailure(reason: "no /proc/self/exe") }
        corral = binary ?? installed
        guard Sys.exists(corral) else { throw TestSkip(reason: "\(corral) not installed") }
        self.name = name
        dir = "/tmp/ktest-daemon-" + name
        policyFile = dir + "/policy.yaml"
        pins = "/sys/fs/bpf/ktest-" + name
        extra = extraArguments
        _ = try? Sys.runCapturing([corral, "daemon", "--unload", "--pin-directory", pins]) // stale run
        _ = try? Sys.runCapturing(["/bin/rm", "-rf", dir])
        try sys("mkdir \(dir)") { () throws(Errno) in try Sys.mkdirs(dir) }
    }

    func writePolicy(_ text: String, to path: String? = nil) throws {
        let p = path ?? policyFile
        try sys("write \(p)") { () throws(Errno) in try Sys.writeFileSynced(p, Array(text.utf8)) }
    }

    /// Starts the daemon (with --policy unless `adopt`) and waits until its socket answers.
    func start(adopt: Bool = false, environment: [String: String] = [:]) throws {
        var argv = [corral, "daemon", "--pin-directory", pins, "--state-directory", stateDir,
                    "--log-directory", logDir, "--control-socket", socket]
        if !adopt { argv += ["--policy", policyFile] }
        argv += extra
        for (k, v) in environment { setenv(k, v, 1) }
        defer { for k in environment.keys { unsetenv(k) } }
        pid = try sys("spawn corral daemon") { () throws(Errno) in try Sys.spawn(argv, stdout: out, stderr: err) }
        try waitFor("daemon ready (socket answers)", seconds: 60) { (try? status()) != nil }
    }

    func log() -> String { (try? Sys.readFile(err)) ?? "" }
    func stdout() -> String { (try? Sys.readFile(out)) ?? "" }

    /// Polls `cond` every 50 ms for up to `seconds`; fails early if the daemon exited.
    func waitFor(_ what: String, seconds: Double, _ cond: () -> Bool) throws {
        let deadline = Sys.monotonicMillis() + UInt64(seconds * 1000)
        while Sys.monotonicMillis() < deadline {
            if cond() { return }
            if pid > 0, let st = try? Sys.tryWait(pid) {
                pid = -1
                throw TestFailure(reason: "daemon \(st) while waiting for \(what); log: \(log())")
            }
            Sys.sleep(millis: 50)
        }
        throw TestFailure(reason: "timed out waiting for \(what); log: \(log())")
    }

    /// One control call; a named error becomes `.failure`.
    func call(_ method: String, _ parameters: [String: JSONValue] = [:]) throws -> Result<[String: JSONValue], ControlError> {
        do {
            let c = try ControlClient(socketPath: socket, options: .init(replyTimeoutMillis: 300_000))
            defer { c.close() }
            return try c.call(method, parameters)
        } catch {
            throw TestFailure(reason: "\(method): \(error)")
        }
    }

    /// A control call that must succeed.
    func ok(_ method: String, _ parameters: [String: JSONValue] = [:]) throws -> [String: JSONValue] {
        switch try call(method, parameters) {
        case .success(let p): return p
        case .failure(let e): throw TestFailure(reason: "\(method) failed: \(e)")
        }
    }

    func status() throws -> [String: JSONValue] { try ok(ControlMethod.getStatus) }

    func generation() throws -> Int { try status()["generation"]?.intValue ?? -1 }

    /// Recent events matching the filter, oldest first.
    func events(rule: String? = nil, verdict: String? = nil, hook: String? = nil, limit: Int = 300) throws -> [[String: JSONValue]] {
        var p: [String: JSONValue] = ["limit": JSONValue(limit)]
        if let rule { p["rule"] = .string(rule) }
        if let verdict { p["verdict"] = .string(verdict) }
        if let hook { p["hook"] = .string(hook) }
        var out: [[String: JSONValue]] = []
        do {
            let c = try ControlClient(socketPath: socket, options: .init(replyTimeoutMillis: 120_000))
            defer { c.close() }
            let r = try c.stream(ControlMethod.getEvents, p) { reply in
                if let e = reply["event"]?.objectValue { out.append(e) }
                return true
            }
            if case .failure(let e) = r { throw TestFailure(reason: "GetEvents: \(e)") }
        } catch let e as TestFailure { throw e } catch { throw TestFailure(reason: "GetEvents: \(error)") }
        return out
    }

    /// Runs the corral CLI against this daemon's socket.
    func cli(_ args: [String]) throws -> (status: Sys.ExitStatus, output: String) {
        try sys("corral \(args.joined(separator: " "))") { () throws(Errno) in
            let client = args.first.map { ["apply", "mode", "loosen", "status", "events", "why", "register", "unregister"].contains($0) } == true
                || args.first == "explain" && !args.contains("--scenario")
            return try Sys.runCapturing([corral] + args + (client ? ["--socket", socket] : []))
        }
    }

    func kill9() throws {
        guard pid > 0 else { return }
        try sys("SIGKILL daemon") { () throws(Errno) in try Sys.kill(pid, SIGKILL) }
        _ = try? Sys.waitpid(pid)
        pid = -1
    }

    /// SIGTERM and wait; the pins stay.
    func terminate() throws -> Sys.ExitStatus? {
        guard pid > 0 else { return nil }
        try sys("SIGTERM daemon") { () throws(Errno) in try Sys.kill(pid, SIGTERM) }
        var st: Sys.ExitStatus?
        for _ in 0..<200 where st == nil {
            st = try? Sys.tryWait(pid)
            if st == nil { Sys.sleep(millis: 50) }
        }
        if st != nil { pid = -1 }
        return st
    }

    /// Stops the daemon (if running) and removes the pins: enforcement ends. Pins left behind
    /// would go on enforcing this test's policy in later tests; the runner fails a test that
    /// leaves any (KTests.run), so an unload that did not remove them is retried and reported.
    func teardown() {
        guard Sys.pid == owner else { return }
        if pid > 0 { try? Sys.kill(pid, SIGKILL); _ = try? Sys.waitpid(pid); pid = -1 }
        for attempt in 0..<3 {
            let r = try? Sys.runCapturing([corral, "daemon", "--unload", "--pin-directory", pins])
            if !Sys.exists(pins) { return }
            print("# \(name): unload attempt \(attempt + 1) left \(pins): \(r.map { "\($0.status) \($0.output)" } ?? "did not run")"
                .replacingNewlines)
            Sys.sleep(millis: 200)
        }
    }

    deinit { teardown() }
}
