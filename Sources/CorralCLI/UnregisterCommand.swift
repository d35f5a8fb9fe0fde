// `corral unregister`: removes a registration (io.corral.Unregister, docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem

struct UnregisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unregister",
        abstract: "Remove a registration (its manager, uid 0 or the admin group).")

    @Argument(help: "The registration id, as `corral register` and `corral status` show it.") var id: String

    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        let r = try DaemonClient.call(control, ControlInterface.Unregister.self, .init(id: id))
        print("\(id) removed, generation \(r.generation)")
    }
}
