import ArgumentParser

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "(not implemented yet)")
    func run() async throws { throw ExitCode.failure }
}
