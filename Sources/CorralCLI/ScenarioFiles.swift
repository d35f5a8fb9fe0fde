import ArgumentParser

extension CompletionKind {
    /// Policy and scenario files (YAML).
    static let yaml = CompletionKind.file(extensions: ["yaml", "yml"])
}

/// The files of the verbs that run a scenario through the reference evaluator (`simulate`, `explain`).
struct ScenarioFiles: ParsableArguments {
    @Option(help: "Policy file (default: the scenario's policy: key).", completion: .yaml)
    var policy: String?

    @Option(help: "Scenario file.", completion: .yaml)
    var scenario: String
}

/// `explain`'s scenario files: optional, since `corral explain EVENT-ID` asks the daemon instead.
struct OptionalScenarioFiles: ParsableArguments {
    @Option(help: "Policy file (default: the scenario's policy: key).", completion: .yaml)
    var policy: String?

    @Option(help: "Scenario file (with --step: explain a simulated step instead of a recorded event).", completion: .yaml)
    var scenario: String?
}
