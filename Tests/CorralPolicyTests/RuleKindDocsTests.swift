// Every rule kind is documented where users and editors look: docs/policy.schema.json (the
// `kind` enum and one branch per kind with its keys), docs/policy.md and docs/semantics.md. A new
// kind fails here until it is (docs/architecture.md, "A rule kind").
@testable import CorralPolicy
import CorralTestSupport
import Foundation
import Testing

@Suite struct RuleKindDocsTests {
    static func read(_ path: String) throws -> String { try String(contentsOfFile: RepoPaths.root + "/" + path, encoding: .utf8) }

    @Test func theSchemaListsEveryKindWithItsKeys() throws {
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(Self.read("docs/policy.schema.json").utf8)) as? [String: Any])
        // The `kind` enum, wherever it sits: collect every string array under a "kind" key.
        var enums: [[String]] = []
        var branches: [String: [String]] = [:] // kind -> the keys its `then` branch allows
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if let kind = object["kind"] as? [String: Any], let values = kind["enum"] as? [String] { enums.append(values) }
                if let condition = object["if"] as? [String: Any], let properties = condition["properties"] as? [String: Any],
                   let kind = properties["kind"] as? [String: Any], let name = kind["const"] as? String,
                   let then = object["then"] as? [String: Any], let names = then["propertyNames"] as? [String: Any] {
                    branches[name] = names["enum"] as? [String] ?? []
                }
                object.values.forEach(walk)
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(schema)
        let kinds = RuleKind.allCases.map(\.rawValue)
        #expect(enums.contains(kinds), "the schema's kind enum is RuleKind.allCases, in order")
        #expect(Set(branches.keys) == Set(kinds), "one schema branch per kind")
        for kind in RuleKind.allCases {
            let keys = Set(branches[kind.rawValue] ?? [])
            for key in PolicyParser.kindKeys(kind) { #expect(keys.contains(key), "schema branch \(kind.rawValue) lacks '\(key)'") }
        }
    }

    @Test func policyAndSemanticsDocumentEveryKind() throws {
        let policy = try Self.read("docs/policy.md"), semantics = try Self.read("docs/semantics.md")
        for kind in RuleKind.allCases.map(\.rawValue) {
            #expect(policy.contains("**`\(kind)`**"), "docs/policy.md has no entry **`\(kind)`**")
            #expect(semantics.contains("**\(kind)**"), "docs/semantics.md has no entry **\(kind)**")
        }
    }
}
