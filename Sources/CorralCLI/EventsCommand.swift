// `corral events`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralEvents
import CorralSystem

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the daemon's recent decision events as JSON lines; --follow keeps streaming.")

    @Flag(name: .long, help: "Keep printing new events.") var follow = false
    @Option(name: .long, help: "Only events reported for this rule id.") var rule: String?
    @Option(name: .long, help: "Only this verdict: allow, deny or audit.",
            completion: .list(ControlInterface.GetEvents.verdicts)) var verdict: String?
    @Option(name: .long, help: "Only this hook (namespace_alloc, namespace_install, cgroup_attach, admin, …).",
            completion: .list(Hook.allCases.map(\.rawValue) + [Event.adminHook])) var hook: String?
    @Option(name: .long, help: "How many recent events (default 100).") var limit: Int = 100
    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        if let verdict, !ControlInterface.GetEvents.verdicts.contains(verdict) { throw ValidationError("--verdict must be allow, deny or audit") }
        if limit < 0 { throw ValidationError("--limit must be 0 or more") }
    }

    func run() async throws {
        let client = try DaemonClient.connect(control, replyTimeoutMillis: follow ? nil : 30_000)
        defer { client.close() }
        let p = ControlInterface.GetEvents.Parameters(rule: rule, verdict: verdict, hook: hook, limit: limit, follow: follow)
        let result: Result<Void, ControlError>
        do {
            result = try client.stream(ControlInterface.GetEvents.self, p) { reply in
                if let e = reply.event { _ = try? Sys.write(1, Array((e.description + "\n").utf8)) }
                return true
            }
        } catch {
            Sys.printError("corral: \(error)")
            throw CorralExit.daemonUnreachable.exit
        }
        if case .failure(let e) = result { throw DaemonClient.fail(e) }
    }
}
