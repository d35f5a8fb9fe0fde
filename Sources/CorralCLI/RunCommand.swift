import ArgumentParser

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "(not implemented yet)")
    func run() async throws { throw ExitCode.failure }
}
