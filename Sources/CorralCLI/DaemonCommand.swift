import ArgumentParser

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "daemon", abstract: "(not implemented yet)")
    func run() async throws { throw ExitCode.failure }
}
