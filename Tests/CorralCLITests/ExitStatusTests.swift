// The exit status table: CorralExit and docs/cli.md's table "Exit status" list the same codes
// with the same names, the verbs exit with them, and the man page's EXIT STATUS names each.
import ArgumentParser
import CorralControl
import CorralDaemon
import CorralKernel
import CorralPolicy
import CorralSystem
import CorralTestSupport
import Foundation
import Testing
@testable import CorralCLI

@Suite struct ExitStatusTests {
    /// (code, name) of every row of the first table under "## Exit status" in docs/cli.md.
    static func documentedCodes() throws -> [(Int32, String)] {
        let text = try String(contentsOfFile: RepoPaths.root + "/docs/cli.md", encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Exit status").dropFirst().first)
        var rows: [(Int32, String)] = []
        var inTable = false
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("|") else {
                if inTable { break }
                continue
            }
            inTable = true
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 3, let code = Int32(cells[1]) else { continue } // header, separator
            rows.append((code, cells[2].trimmingCharacters(in: CharacterSet(charactersIn: "`"))))
        }
        return rows
    }

    @Test func docsTableMatchesTheEnum() throws {
        let documented = try Self.documentedCodes()
        #expect(documented.map(\.0) == CorralExit.allCases.map(\.rawValue), "codes in docs/cli.md: \(documented.map(\.0))")
        #expect(documented.map(\.1) == CorralExit.allCases.map(\.name), "names in docs/cli.md: \(documented.map(\.1))")
        #expect(Set(CorralExit.allCases.map(\.rawValue)).count == CorralExit.allCases.count)
    }

    @Test func manPageNamesEveryCode() throws {
        let man = try String(contentsOfFile: RepoPaths.root + "/dist/corral.1.sections", encoding: .utf8)
        let section = try #require(man.components(separatedBy: ".Sh EXIT STATUS").dropFirst().first?.components(separatedBy: ".Sh ").first)
        for status in CorralExit.allCases {
            #expect(section.contains(".It \(status.rawValue)\n\(status.name):"), "man page: no entry for \(status.rawValue) \(status.name)")
        }
    }

    @Test func unitDoesNotRestartOnPermanentFailures() throws {
        let unit = try String(contentsOfFile: RepoPaths.root + "/dist/corral.service", encoding: .utf8)
        let permanent: [CorralExit] = [.invalidInput, .unreadable, .unsupportedKernel, .kernelError, .pinnedState]
        #expect(unit.contains("\nRestartPreventExitStatus=\(permanent.map { "\($0.rawValue)" }.joined(separator: " "))\n"))
    }

    /// `check` on a missing file, an invalid policy and a valid one: 3, 1, 0, through `run()`.
    @Test func checkExits() async throws {
        let valid = RepoPaths.examples + "/lock_in/policy.yaml"
        let invalid = RepoPaths.examples + "/invalid/wrong-type.yaml"
        for (path, status) in [("/nonexistent/p.yaml", CorralExit.unreadable), (invalid, .failed)] {
            let command = try #require(try CorralCommand.parseAsRoot(["check", path]) as? CheckCommand)
            await #expect(throws: status.exit) { try await command.run() }
            #expect(CheckCommand.check(path: path, json: true).exitCode == status)
        }
        let command = try #require(try CorralCommand.parseAsRoot(["check", valid]) as? CheckCommand)
        try await command.run()
    }

    @Test func scenarioAndReplayExits() {
        let policy = RepoPaths.examples + "/ns_sandbox/policy.yaml"
        let scenario = RepoPaths.examples + "/ns_sandbox/scenario.yaml"
        #expect(SimulateCommand.execute(policy: nil, scenario: scenario, json: false).status == .ok)
        #expect(SimulateCommand.execute(policy: "/nonexistent/p.yaml", scenario: scenario, json: false).status == .unreadable)
        #expect(SimulateCommand.execute(policy: RepoPaths.examples + "/invalid/wrong-type.yaml", scenario: scenario, json: false).status
                == .invalidInput)
        #expect(ExplainCommand.execute(policy: nil, scenario: "/nonexistent/s.yaml", step: 1).status == .unreadable)
        #expect(ReplayCommand.execute(policy: "/nonexistent/p.yaml", events: ["/dev/null"]).status == .unreadable)
        #expect(ReplayCommand.execute(policy: policy, events: ["/nonexistent/e.jsonl"]).status == .unreadable)
        #expect(ReplayCommand.execute(policy: policy, events: ["/dev/null"]).status == .ok)
    }

    /// Usage errors exit invalid-input (2), not ArgumentParser's 64; help and --version exit 0.
    @Test func usageErrorsAreInvalidInput() {
        for arguments in [["check"], ["probe", "--bogus"], ["events", "--verdict", "maybe"], ["daemon", "--log-level", "loud"],
                          ["explain"], ["mode", "r1", "sideways"]] {
            do {
                _ = try CorralCommand.parseAsRoot(arguments)
                Issue.record("\(arguments) parsed")
            } catch {
                #expect(CorralCommand.status(for: error) == CorralExit.invalidInput.rawValue, "\(arguments): \(error)")
            }
        }
        #expect(CorralCommand.status(for: CorralExit.daemonUnreachable.exit) == 5)
        #expect(CorralCommand.status(for: CleanExit.helpRequest()) == 0)
    }

    /// Daemon replies, kernel failures and daemon start-up failures map onto the table.
    @Test func errorMappings() {
        #expect(CorralExit.of(ControlError.noSuchRule("r")) == .invalidInput)
        #expect(CorralExit.of(ControlError.policyInvalid(diagnostics: ["x"])) == .invalidInput)
        #expect(CorralExit.of(ControlError.permissionDenied(method: "io.corral.Apply")) == .permissionDenied)
        #expect(CorralExit.of(ControlError.kernelError(reason: "x")) == .kernelError)
        #expect(CorralExit.of(KernelError.unsupported([])) == .unsupportedKernel)
        #expect(CorralExit.of(KernelError.modeUnavailable(requested: "native", probed: "compat", missing: [])) == .unsupportedKernel)
        #expect(CorralExit.of(KernelError.attach(program: "p", errno: Errno(rawValue: 1))) == .kernelError)
        #expect(CorralExit.of(DaemonError(KernelError.unsupported([]))) == .unsupportedKernel)
        #expect(CorralExit.of(DaemonError.pinnedState("adopting /sys/fs/bpf/corral: no record")) == .pinnedState)
        #expect(CorralExit.of(DaemonError.kernel("adopting /sys/fs/bpf/corral: no record")) == .kernelError)
        #expect(CorralExit.of(DaemonError.policyInvalid(["x"])) == .invalidInput)
    }
}
