// `corral explain`: why a recorded event was decided as it was (EVENT-ID, asked of the daemon:
// io.corral.Explain), or the decision a scenario step makes (--scenario, --step), with every rule
// considered and why.
import ArgumentParser
import CorralControl
import CorralEvaluator
import CorralPolicy

struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain a decision: a recorded event by its id (asks the daemon), or one step of a scenario.",
        discussion: """
            corral explain EVENT-ID: the event's id as `corral events` shows it; the daemon re-decides it \
            under the policy of the event's generation. corral explain --scenario FILE --step N: the \
            reference evaluator's decision at step N. Exit 0, 2 invalid input or unknown event, 3 unreadable file, 5 daemon unreachable (docs/cli.md).
            """
    )

    @Argument(help: "A recorded event's id (from `corral events`).")
    var eventID: String?

    @OptionGroup var files: OptionalScenarioFiles

    @Option(help: "Step number (1-based), with --scenario.")
    var step: Int?

    @Flag(name: .long, help: "With EVENT-ID: print the daemon's JSON reply.") var json = false
    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        switch (eventID, files.scenario, step) {
        case (_?, nil, nil): break
        case (nil, _?, _?): break
        case (_?, _, _): throw ValidationError("give EVENT-ID, or --scenario and --step, not both")
        case (nil, nil, _): throw ValidationError("give an EVENT-ID, or --scenario FILE --step N")
        case (nil, _?, nil): throw ValidationError("--scenario needs --step N")
        }
        if files.policy != nil && files.scenario == nil { throw ValidationError("--policy goes with --scenario") }
    }

    func run() async throws {
        if let eventID {
            let r = try DaemonClient.call(control, ControlInterface.Explain.self, .init(id: eventID))
            if json { DaemonClient.printJSON(r) } else { print(r.text) }
            return
        }
        guard let scenario = files.scenario, let step else { throw CorralExit.invalidInput.exit }
        try Self.execute(policy: files.policy, scenario: scenario, step: step).emit()
    }

    static func execute(policy: String?, scenario: String, step: Int) -> CommandOutput {
        var output = CommandOutput()
        switch ScenarioSession.run(policyPath: policy, scenarioPath: scenario, through: step) {
        case .failure(let errors):
            output.stderr = errors.diagnostics.map(\.description)
            output.status = CorralExit.of(errors)
        case .success(let run):
            guard step >= 1, let text = ScenarioReport.explain(run, step: step) else {
                output.stderr = ["\(scenario): error: no step \(step) (the scenario has \(run.stepCount) steps, numbered from 1)"]
                output.status = .invalidInput
                return output
            }
            output.stdout = [text]
        }
        return output
    }
}
