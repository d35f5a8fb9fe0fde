// `corral status`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's active generation, modes and counters (JSON).")

    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        DaemonClient.printJSON(try DaemonClient.call(control, ControlInterface.GetStatus.self, NoFields()))
    }
}
