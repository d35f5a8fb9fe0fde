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
        let r = try DaemonClient.call(control, ControlMethod.apply, ["policy": .string(text), "source": .string(policy)])
        let gen = r["generation"]?.intValue ?? 0, rules = r["rules"]?.intValue ?? 0
        func ms(_ k: String) -> String { String(format: "%.1f", r[k]?.doubleValue ?? 0) }
        print("applied \(policy): generation \(gen), \(rules) rules (validate \(ms("validate_ms")) ms, compile \(ms("compile_ms")) ms, switch \(ms("install_ms")) ms)")
    }
}
