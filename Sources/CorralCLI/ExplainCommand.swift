// `corral explain`: the decision a scenario step makes, with every rule considered and why.
import ArgumentParser
import CorralEvaluator
import CorralPolicy

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain the decision at one step of a scenario: rules considered, ranks, winners, verdict."
    )

    @OptionGroup var files: ScenarioFiles

    @Option(help: "Step number (1-based).")
    var step: Int

    func run() async throws {
        try Self.execute(policy: files.policy, scenario: files.scenario, step: step).emit()
    }

    static func execute(policy: String?, scenario: String, step: Int) -> CommandOutput {
        var output = CommandOutput()
        switch ScenarioSession.run(policyPath: policy, scenarioPath: scenario, through: step) {
        case .failure(let errors):
            output.stderr = errors.diagnostics.map(\.description)
            output.status = 1
        case .success(let run):
            guard step >= 1, let text = ScenarioReport.explain(run, step: step) else {
                output.stderr = ["\(scenario): error: no step \(step) (the scenario has \(run.stepCount) steps, numbered from 1)"]
                output.status = 1
                return output
            }
            output.stdout = [text]
        }
        return output
    }
}
