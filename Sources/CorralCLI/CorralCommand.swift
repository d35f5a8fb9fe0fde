// The `corral` command: one struct per verb, each in its own file.
import ArgumentParser
import CorralDaemon
import CorralSystem

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
        ]
    )

    public init() {}

    /// Process set-up, called by `corral`'s main.swift before any other thread starts. `corral
    /// daemon` takes SIGTERM and SIGINT through its reactor's signalfd, which sees a signal only
    /// if no thread takes it the ordinary way: so they are blocked here, and every thread (the
    /// Swift concurrency pool's included) inherits the mask from this one.
    public static func prepareProcess(arguments: [String] = CommandLine.arguments) {
        if arguments.dropFirst().first == "daemon" { Sys.blockSignals(Daemon.stopSignals) }
    }
}
