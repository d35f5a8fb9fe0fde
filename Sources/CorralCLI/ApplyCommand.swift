// `corral apply`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralPolicy
import CorralSystem
import Glibc

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Validate a policy and make it the daemon's next generation (atomic switch).")

    @Argument(help: "Policy file (YAML), or a directory with policy.yaml and policy.d/.", completion: .yaml)
    var policy: String
    @OptionGroup var fragmentOptions: FragmentOptions
    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        let (main, set) = PolicySelection.resolve(policy, fragmentOptions)
        let text: String
        do { text = try Sys.readFile(main) } catch {
            Sys.printError("\(main):1:1: error: cannot read policy: \(error)")
            throw CorralExit.unreadable.exit
        }
        var fragments: [ControlInterface.Apply.Fragment]?
        if let set {
            // Read here, sent with the main file: the daemon validates all of them as one policy.
            do {
                fragments = try set.activeFiles().map { (path) throws(PolicyErrors) in
                    ControlInterface.Apply.Fragment(source: path, policy: try PolicyLoader.read(path: path))
                }
            } catch {
                Sys.printError(error.description)
                throw CorralExit.of(error).exit
            }
        }
        let r = try DaemonClient.call(control, ControlInterface.Apply.self,
                                      .init(policy: text, source: main, fragments: fragments))
        func ms(_ value: Double) -> String { Sys.format("%.1f", value) }
        var install = "install \(ms(r.installMs)) ms"
        if let w = r.writeMs, let s = r.switchMs, let c = r.retireMs {
            install += ": write \(ms(w)) ms, switch \(ms(s)) ms, retire \(ms(c)) ms"
        }
        print("applied \(main): generation \(r.generation), \(r.rules) rules (validate \(ms(r.validateMs)) ms, compile \(ms(r.compileMs)) ms, \(install))")
    }
}
