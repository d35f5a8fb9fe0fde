import ArgumentParser

struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "probe", abstract: "(not implemented yet)")
    func run() async throws { throw ExitCode.failure }
}
