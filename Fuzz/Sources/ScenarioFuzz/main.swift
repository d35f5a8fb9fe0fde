// libFuzzer target: scenario text → ScenarioLoader.parse → ScenarioRunner.run against a fixed
// policy (every `policy:` path loads it, so no file is read), as `corral simulate` does.
//
// Checked: a scenario loads or is rejected with positioned diagnostics; a loaded one runs.
import CorralEvaluator
import CorralPolicy
import FuzzSupport

import CFuzzDriver
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func scenarioFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = utf8Text(data, size) else { return 0 }
    let scenario: Scenario
    do {
        scenario = try ScenarioLoader.parse(yaml: text, source: "fuzz/scenario.yaml")
    } catch {
        checkDiagnostics(error, text: text, source: "fuzz/scenario.yaml")
        return 0
    }
    do {
        let run = try ScenarioRunner.run(scenario, load: { _ throws(PolicyErrors) in fuzzPolicy })
        for outcome in run.outcomes { _ = outcome.description }
    } catch {
        preconditionFailure("a loaded scenario failed to run: \(error)")
    }
    return 0
}

// libFuzzer parses the command line (-runs=, -max_total_time=, corpus directories) and calls
// scenarioFuzz for every input.
var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv, scenarioFuzz))
