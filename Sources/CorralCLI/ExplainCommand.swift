import ArgumentParser

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "explain", abstract: "(not implemented yet)")
    func run() async throws { throw ExitCode.failure }
}
