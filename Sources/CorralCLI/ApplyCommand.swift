// `corral apply`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem
import Foundation

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Validate a policy and make it the daemon's next generation (atomic switch).")

    @Argument(help: "Policy file (YAML).") var policy: String
    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        let text: String
        do { text = try Sys.readFile(policy) } catch {
            Sys.printError("\(policy):1:1: error: cannot read policy: \(error)")
            throw ExitCode(2)
        }
        let r = try DaemonClient.call(control, ControlInterface.Apply.self, .init(policy: text, source: policy))
        func ms(_ value: Double) -> String { String(format: "%.1f", value) }
        print("applied \(policy): generation \(r.generation), \(r.rules) rules (validate \(ms(r.validateMs)) ms, compile \(ms(r.compileMs)) ms, switch \(ms(r.installMs)) ms)")
    }
}
