// `corral why`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem

struct WhyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "why",
        abstract: "Would this be allowed now, and by which rule? Asks the running daemon (live maps and tasks).",
        discussion: "Exit 0 allowed (or audit), 1 denied, 2 invalid input, 5 daemon unreachable (docs/cli.md).")

    @Option(name: .long, help: "The task that would move, or would enter the namespace.") var pid: Int32
    @Option(name: .long, help: "The task doing it (default: --pid itself).") var actor: Int32?
    @Option(name: .customLong("to-cgroup"), help: "Destination cgroup, a path under the cgroup root such as /system.slice/x.") var toCgroup: String?
    @Option(name: .long, help: "A namespace file such as /proc/123/ns/net.") var enter: String?
    @Flag(name: .long, help: "Print the daemon's JSON reply.") var json = false
    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        guard (toCgroup == nil) != (enter == nil) else { throw ValidationError("give exactly one of --to-cgroup and --enter") }
    }

    func run() async throws {
        let r = try DaemonClient.call(control, ControlInterface.Why.self,
                                      .init(pid: Int(pid), actor: actor.map { Int($0) }, toCgroup: toCgroup, enter: enter))
        if json { DaemonClient.printJSON(r) } else { print(r.text) }
        if r.verdict == "deny" { throw CorralExit.failed.exit }
    }
}
