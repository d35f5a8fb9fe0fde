// `corral handover`: talks to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralSystem

struct HandoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handover",
        abstract: "Let a daemon started from another corral binary adopt the running programs (package upgrades).",
        discussion: """
            Self-protection lets only the daemon's own executable open the pinned programs and maps. \
            After an upgrade replaced that file, run this (as root) with the new binary: the running \
            daemon trusts it, so `systemctl restart corral` adopts the pins without a moment of \
            no enforcement. The new daemon then drops the old binary's identity.
            """)

    @Option(name: .customLong("executable"), help: "The binary to trust (default: this one).", completion: .file())
    var executable: String?
    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        guard let path = executable ?? Sys.executablePath() else {
            Sys.printError("corral: cannot tell which binary this is; pass --executable PATH")
            throw CorralExit.invalidInput.exit
        }
        let r = try DaemonClient.call(control, ControlInterface.TrustExecutable.self, .init(path: path))
        if r.selfProtection, let inode = r.inode {
            print("the running daemon trusts \(path) (inode \(inode)): a daemon started from it adopts the pinned programs")
        } else {
            print("the running daemon has self-protection off: a daemon started from \(path) adopts the pins without a handover")
        }
    }
}
