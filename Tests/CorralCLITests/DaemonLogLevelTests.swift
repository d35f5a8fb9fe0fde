// `corral daemon --log-level` and CORRAL_LOG_LEVEL: the option wins, an empty variable counts as
// unset, anything but error|warning|notice|info|debug is invalid input.
import ArgumentParser
import Logging
import Testing
@testable import CorralCLI

@Suite struct DaemonLogLevelTests {
    @Test func optionThenEnvironmentThenInfo() throws {
        #expect(try DaemonCommand.logLevel(option: nil, environment: nil) == .info)
        #expect(try DaemonCommand.logLevel(option: nil, environment: "") == .info)
        #expect(try DaemonCommand.logLevel(option: nil, environment: "debug") == .debug)
        #expect(try DaemonCommand.logLevel(option: "error", environment: "debug") == .error)
        #expect(throws: ValidationError.self) { try DaemonCommand.logLevel(option: nil, environment: "verbose") }
        let parsed = try #require(try CorralCommand.parseAsRoot(["daemon", "--log-level", "notice"]) as? DaemonCommand)
        #expect(parsed.logLevel == "notice")
        #expect(throws: (any Error).self) { try CorralCommand.parseAsRoot(["daemon", "--log-level", "trace"]) }
    }
}
