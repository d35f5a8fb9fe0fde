import CorralKernel
import Foundation
import Testing
@testable import CorralCLI

@Suite struct ProbeCommandTests {
    /// `probe --json` uses snake_case keys, like every other JSON output.
    @Test func jsonKeysAreSnakeCase() throws {
        let report = KernelProbe.run(compatTargets: nil) // this host's kernel, whatever it supports
        let text = try ProbeCommand.json(report)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let keys = Set(object.keys)
        #expect(keys.isSuperset(of: ["mode", "kernel_release", "btf", "native_hooks_found", "native_missing", "compat_missing"]))
        #expect(keys.subtracting(["active_lsms"]).count == 6 && keys.allSatisfy { $0 == $0.lowercased() }, "\(keys.sorted())")
        #expect(object["kernel_release"] as? String == report.kernelRelease)
    }
}
