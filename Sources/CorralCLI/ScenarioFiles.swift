import ArgumentParser

/// The files of the verbs that run a scenario through the reference evaluator (`simulate`, `explain`).
struct ScenarioFiles: ParsableArguments {
    @Option(help: "Policy file (default: the scenario's policy: key).")
    var policy: String?

    @Option(help: "Scenario file.")
    var scenario: String
}

/// `explain`'s scenario files: optional, since `corral explain EVENT-ID` asks the daemon instead.
struct OptionalScenarioFiles: ParsableArguments {
    @Option(help: "Policy file (default: the scenario's policy: key).")
    var policy: String?

    @Option(help: "Scenario file (with --step: explain a simulated step instead of a recorded event).")
    var scenario: String?
}
