// The `corral` command: one struct per verb, each in its own file.
import ArgumentParser

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
}
