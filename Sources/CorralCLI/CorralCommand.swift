// The `corral` command: one struct per verb, each in its own file.
import ArgumentParser
import CorralDaemon
import CorralSystem
import Dispatch

@available(macOS 10.15, *)
public struct CorralCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Supervise namespaces and cgroup migration with BPF LSM.",
        version: BuildInfo.current,
        subcommands: [
            CheckCommand.self,
            SimulateCommand.self,
            ReplayCommand.self,
            ExplainCommand.self,
            ProbeCommand.self,
            RunCommand.self,
            DaemonCommand.self,
            ApplyCommand.self,
            ModeCommand.self,
            LoosenCommand.self,
            StatusCommand.self,
            EventsCommand.self,
            WhyCommand.self,
            HandoverCommand.self,
            RegisterCommand.self,
            UnregisterCommand.self,
            BenchCommand.self,
        ]
    )

    public init() {}

    /// `corral`'s entry point (main.swift). `corral daemon` runs synchronously on the main
    /// thread, with SIGTERM and SIGINT blocked before any other thread starts, so that every
    /// thread inherits the mask and the signals reach only the daemon's signalfd (an async main
    /// would park the main thread in dispatch_main, whose sigsuspend unblocks every signal). The
    /// other verbs run as AsyncParsableCommand's `main` does.
    public static func runProcess(arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if arguments.first == "daemon" {
            Sys.blockSignals(Daemon.stopSignals)
            do {
                var command = try parseAsRoot(arguments)
                if let daemon = command as? DaemonCommand { try daemon.runOnThisThread() } else { try command.run() }
            } catch {
                exit(withError: error)
            }
            exit()
        }
        Task {
            await main(arguments)
            exit()
        }
        dispatchMain()
    }
}
