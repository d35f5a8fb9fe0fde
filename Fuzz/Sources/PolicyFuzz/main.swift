// libFuzzer target: policy text → PolicyLoader.parse (Yams compose, PolicyParser, PolicyValidator).
// Every input must give a Policy or PolicyErrors with positioned diagnostics, never a crash.
import CorralPolicy
import FuzzSupport

import CFuzzDriver
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func policyFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = utf8Text(data, size) else { return 0 }
    do {
        let policy = try PolicyLoader.parse(yaml: text, source: "fuzz.yaml")
        _ = policy.rules.count
    } catch {
        checkDiagnostics(error, text: text, source: "fuzz.yaml")
        for d in error.diagnostics { _ = d.description }
    }
    return 0
}

// libFuzzer parses the command line (-runs=, -max_total_time=, corpus directories) and calls
// policyFuzz for every input.
var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv, policyFuzz))
