// `corral register`: a delegated manager registers rules for a subtree of its delegation
// (docs/policy.md, "Registrations"; io.corral.Register, docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem

struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register rules for a cgroup inside the subtree delegated to the calling manager.",
        discussion: """
            FILE is a policy fragment (version: 1, rules:) of locked, stay, deny-into and delegated \
            rules whose cgroups all lie within --subtree. The daemon accepts it only from a process \
            that a delegated rule names as manager, for a subtree strictly inside that delegation. \
            Prints the registration id (for `corral unregister`) and the new generation.
            """)

    @Argument(help: "The rules: a policy fragment (YAML); - reads standard input.", completion: .yaml) var file: String
    @Option(name: .long, help: "The cgroup the rules stay inside, a path under the cgroup root (e.g. /machine.slice/libpod-1.scope).")
    var subtree: String

    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        let text: String
        do { text = try Sys.readFile(file == "-" ? "/dev/stdin" : file) } catch {
            Sys.printError("corral: cannot read \(file): \(error)")
            throw CorralExit.unreadable.exit
        }
        let r = try DaemonClient.call(control, ControlInterface.Register.self, .init(subtree: subtree, rules: text))
        print("\(r.id): \(r.rules.joined(separator: ", ")) for \(subtree), generation \(r.generation)")
    }
}
