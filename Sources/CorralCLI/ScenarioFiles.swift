import ArgumentParser

/// The files of the verbs that run a scenario through the reference evaluator (`simulate`, `explain`).
struct ScenarioFiles: ParsableArguments {
    @Option(help: "Policy file (default: the scenario's policy: key).")
    var policy: String?

    @Option(help: "Scenario file.")
    var scenario: String
}
