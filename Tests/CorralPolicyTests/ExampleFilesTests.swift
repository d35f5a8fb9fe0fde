import CorralPolicy
import Foundation
import Testing

/// The policies under examples/ load; each fixture under examples/invalid/ fails with one diagnostic.
@Suite struct ExampleFilesTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples").resolvingSymlinksInPath()

    static func files(_ predicate: (String) -> Bool) -> [String] {
        let walker = FileManager.default.enumerator(atPath: examples.path)
        var result: [String] = []
        while let relative = walker?.nextObject() as? String {
            if predicate(relative) { result.append(examples.appendingPathComponent(relative).path) }
        }
        return result.sorted()
    }

    @Test func examplePoliciesLoad() throws {
        let policies = Self.files { $0.hasSuffix("policy.yaml") && !$0.hasPrefix("invalid/") }
        #expect(!policies.isEmpty)
        for path in policies {
            do {
                _ = try PolicyLoader.load(path: path)
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func invalidFixturesFailOnce() {
        let fixtures = Self.files { $0.hasPrefix("invalid/") && $0.hasSuffix(".yaml") }
        #expect(fixtures.count >= 5)
        for path in fixtures {
            #expect(throws: PolicyErrors.self, "\(path)") { try PolicyLoader.load(path: path) }
            do {
                _ = try PolicyLoader.load(path: path)
            } catch {
                #expect(error.diagnostics.count == 1, "\(error)")
            }
        }
    }

    /// Every complete policy shown in docs/policy.md (blocks starting with `version: 1`) loads.
    @Test func documentedPoliciesLoad() throws {
        let doc = try String(contentsOf: Self.examples.deletingLastPathComponent().appendingPathComponent("docs/policy.md"),
                             encoding: .utf8)
        let blocks = doc.components(separatedBy: "```yaml\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        let policies = blocks.filter { $0.hasPrefix("version: 1") }
        #expect(!policies.isEmpty)
        for text in policies {
            #expect(load(text).errors == [])
        }
    }
}
