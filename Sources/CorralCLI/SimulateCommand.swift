import ArgumentParser

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate", abstract: "(not implemented yet)")
    func run() async throws { throw ExitCode.failure }
}
