// `corral loosen`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem

struct LoosenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loosen",
        abstract: "Audit a rule for a while; it is enforced again by itself when the time is up.")

    @Argument(help: "Rule id.") var rule: String
    @Option(name: .customLong("for"), help: "How long: 90, 90s, 10m or 2h (at most 24h).") var duration: String

    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        guard let s = parseDuration(duration), ControlInterface.Loosen.seconds.contains(s) else {
            throw ValidationError("--for wants a duration from 1s to 24h such as 90s, 10m or 2h, not '\(duration)'")
        }
    }

    func run() async throws {
        let r = try DaemonClient.call(control, ControlInterface.Loosen.self, .init(rule: rule, seconds: parseDuration(duration)!))
        print("\(rule): audit until \(Int(r.until)) (unix time), generation \(r.generation)")
    }
}
