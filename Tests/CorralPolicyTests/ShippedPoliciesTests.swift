import CorralPolicy
import Foundation
import Testing

/// The policies shipped in dist/policies/ load, and ship in audit mode (docs/install.md: enforce
/// after replaying a day of events).
@Suite struct ShippedPoliciesTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("dist/policies")

    @Test func shippedPoliciesLoadInAuditMode() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(names.contains("systemd-host.yaml") && names.contains("containers.yaml"))
        for name in names {
            let policy = try PolicyLoader.load(path: Self.dir.appendingPathComponent(name).path)
            #expect(!policy.rules.isEmpty, "\(name)")
            #expect(policy.rules.allSatisfy { $0.mode == .audit }, "\(name) must ship in audit mode")
            // Every rule says what it is for (explain shows it).
            #expect(policy.rules.allSatisfy { !($0.description ?? "").isEmpty }, "\(name): a rule without description")
        }
    }
}
