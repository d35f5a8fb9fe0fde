// `corral mode`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem

struct ModeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mode",
        abstract: "Set a rule, or the whole policy, to audit or enforce (or back to what the policy says).",
        discussion: "corral mode RULE audit | corral mode RULE policy | corral mode --all audit")

    @Argument(help: "Rule id, then the mode: audit, enforce or policy. With --all, only the mode.",
              completion: .list(Self.modes))
    var words: [String] = []
    @Flag(name: .long, help: "Apply to the whole policy.") var all = false
    static let modes = ["audit", "enforce", "policy"]
    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        if all { guard words.count == 1 else { throw ValidationError("with --all give only the mode: audit, enforce or policy") } }
        else { guard words.count == 2 else { throw ValidationError("give a rule id and a mode (audit, enforce or policy), or --all MODE") } }
        guard Self.modes.contains(words.last!) else {
            throw ValidationError("mode must be audit, enforce or policy, not '\(words.last!)'")
        }
    }

    func run() async throws {
        let r = try DaemonClient.call(control, ControlInterface.SetMode.self, .init(mode: words.last!, rule: all ? nil : words[0]))
        print("\(all ? "policy" : words[0]): \(words.last!) from generation \(r.generation)")
    }
}
