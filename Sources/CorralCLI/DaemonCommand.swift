import ArgumentParser
import CorralDaemon
import CorralKernel
import CorralSystem
import Glibc

/// `corral daemon`: load a policy with links pinned under /sys/fs/bpf/corral, print events as
/// JSON lines until SIGTERM/SIGINT, then unpin (enforcement stops). Exit 0 on a signal,
/// 2 bad policy, 3 kernel unsupported or load failure.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Stay resident enforcing a policy; print decision events as JSON lines.")

    @OptionGroup var enforcement: EnforcementOptions
    @Flag(name: .long, help: "Report every decision, not only those a rule applied to.") var traceAll = false
    @Option(name: .long, help: "Where links are pinned.") var pinDirectory = CorralObject.defaultPinDirectory

    func run() async throws {
        // Catch before loading: a SIGTERM during load/attach must not leave partial pins behind.
        Sys.catchSignals([SIGTERM, SIGINT])
        let loaded = try loadPolicyOrExit(enforcement.policy)
        let daemon = EventDaemon(
            policy: loaded, options: enforcement.sessionOptions(traceAll: traceAll, pinDirectory: pinDirectory))
        do { try daemon.run(output: { _ = try? Sys.write(1, Array(($0 + "\n").utf8)) }, log: { Sys.printError("corral: \($0)") }) } catch {
            Sys.printError("corral: \(error)")
            throw ExitCode(3)
        }
    }
}
