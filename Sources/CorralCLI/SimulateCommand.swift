// `corral simulate`: run a scenario through the reference evaluator and check its expectations.
import ArgumentParser
import CorralEvaluator
import CorralPolicy
import CorralSystem
import Glibc

/// What a command printed and how it exits; lets tests run commands without a process.
struct CommandOutput: Sendable {
    var stdout: [String] = []
    var stderr: [String] = []
    var status: CorralExit = .ok

    func emit() throws {
        for line in stdout { print(line) }
        for line in stderr { try? Sys.writeAll(2, Array((line + "\n").utf8)) }
        if status != .ok { throw status.exit }
    }
}

/// Loads the scenario and the policy (`--policy` wins over the scenario's `policy:`), then runs it.
enum ScenarioSession {
    static func run(policyPath: String?, scenarioPath: String, through step: Int? = nil)
        -> Result<ScenarioRun, PolicyErrors> {
        do {
            let scenario = try ScenarioLoader.load(path: scenarioPath)
            var policy: Policy?
            if let policyPath {
                policy = try PolicyLoader.load(fileOrDirectory: policyPath)
            } else if scenario.policyPath == nil {
                return .failure(PolicyErrors([PolicyDiagnostic(
                    location: SourceLocation(file: scenarioPath, line: 1, column: 1),
                    message: "no policy: pass --policy or name one with policy: in the scenario", fieldPath: "policy")]))
            }
            return .success(try ScenarioRunner.run(scenario, initialPolicy: policy, through: step))
        } catch {
            return .failure(error)
        }
    }
}

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a scenario through the reference evaluator and check its expectations.",
        discussion: "Prints one line per step. Exits 0 when every expectation holds, 1 when one fails, 2 for an invalid scenario or policy, 3 for a file that cannot be read (docs/cli.md). See docs/scenarios.md."
    )

    @OptionGroup var files: ScenarioFiles

    @Flag(help: "Print JSON lines instead of text.")
    var json = false

    func run() async throws {
        try Self.execute(policy: files.policy, scenario: files.scenario, json: json).emit()
    }

    static func execute(policy: String?, scenario: String, json: Bool) -> CommandOutput {
        var output = CommandOutput()
        switch ScenarioSession.run(policyPath: policy, scenarioPath: scenario) {
        case .failure(let errors):
            output.stderr = errors.diagnostics.map(\.description)
            output.status = CorralExit.of(errors)
        case .success(let run):
            output.stdout = json ? ScenarioReport.jsonLines(run) : ScenarioReport.textLines(run)
            output.status = run.passed ? .ok : .failed
        }
        return output
    }
}
