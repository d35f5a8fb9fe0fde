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

extension ProbeCommandTests {
    /// The whole `probe --json` text of a report whose strings hold paths: slashes as they are
    /// (Foundation's default would write `\/sys`).
    @Test func jsonDoesNotEscapeSlashes() throws {
        var r = KernelProbe.run(compatTargets: nil)
        r.mode = .unsupported
        r.kernelRelease = "6.1.0-13-amd64"
        r.activeLSMs = ["lockdown", "capability"]
        r.btf = true
        r.nativeHooksFound = []
        r.nativeMissing = []
        r.compatMissing = [UnsupportedFeature(feature: "bpf-lsm-active",
                                              detail: "bpf is not in /sys/kernel/security/lsm (active: lockdown,capability)",
                                              requires: "CONFIG_BPF_LSM=y and boot with lsm=...,bpf")]
        let text = try ProbeCommand.json(r)
        #expect(text == """
            {
              "active_lsms" : [
                "lockdown",
                "capability"
              ],
              "btf" : true,
              "compat_missing" : [
                {
                  "detail" : "bpf is not in /sys/kernel/security/lsm (active: lockdown,capability)",
                  "feature" : "bpf-lsm-active",
                  "requires" : "CONFIG_BPF_LSM=y and boot with lsm=...,bpf"
                }
              ],
              "kernel_release" : "6.1.0-13-amd64",
              "mode" : "unsupported",
              "native_hooks_found" : [

              ],
              "native_missing" : [

              ]
            }
            """)
    }

    /// `check --json` with a path in a diagnostic: no `\\/` either.
    @Test func checkJSONDoesNotEscapeSlashes() {
        let out = CheckCommand.check(path: "/nonexistent/p.yaml", json: true)
        #expect(out.stdout == #"{"diagnostics":[{"column":1,"field":"","file":"/nonexistent/p.yaml","line":1,"message":"cannot read policy: no such file","severity":"error"}],"file":"/nonexistent/p.yaml","valid":false}"# + "\n")
    }
}
