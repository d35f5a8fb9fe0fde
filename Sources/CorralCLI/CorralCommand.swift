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
                exit(for: error)
            }
            exit()
        }
        Task {
            do {
                var command = try parseAsRoot(arguments)
                if var asyncCommand = command as? AsyncParsableCommand { try await asyncCommand.run() } else { try command.run() }
            } catch {
                exit(for: error)
            }
            exit()
        }
        dispatchMain()
    }

    /// Exits as ArgumentParser does for `error` (help, --version, an ExitCode), except that a
    /// usage error (a missing or invalid argument, a failed `validate()`: ArgumentParser's 64)
    /// exits invalid-input, like any other invalid input (docs/cli.md).
    static func exit(for error: Error) -> Never {
        let status = status(for: error)
        guard status != exitCode(for: error).rawValue else { exit(withError: error) }
        Sys.printError(fullMessage(for: error))
        exit(withError: ExitCode(status))
    }

    /// The status `corral` exits with for an error `parseAsRoot` or a verb throws.
    static func status(for error: Error) -> Int32 {
        let code = exitCode(for: error)
        return code == .validationFailure ? CorralExit.invalidInput.rawValue : code.rawValue
    }
}
