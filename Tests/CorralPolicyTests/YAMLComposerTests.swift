// CorralYAML's composer (libyaml directly) against Yams' (the composer Corral used before, over
// the same libyaml): the same trees for every YAML file in the repository and for odd
// documents, and the same diagnostics for malformed ones.
@testable import CorralPolicy
import CorralYAML
import Foundation
import Testing
import Yams

@Suite struct YAMLComposerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var repositoryYAMLFiles: [String] {
        var files: [String] = []
        for dir in ["examples", "dist", "docs", "Tests", "scripts", "deploy"] {
            let base = root.appendingPathComponent(dir).path
            guard let walker = FileManager.default.enumerator(atPath: base) else { continue }
            while let relative = walker.nextObject() as? String {
                if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") { files.append(base + "/" + relative) }
            }
        }
        return files.sorted()
    }

    /// A tree as text: kind, position, and for scalars text, tag and style. `key`: Yams
    /// rewrites the tags in a mapping key when it checks for duplicates, so keys compare without them.
    static func dump(_ node: YAMLNode, key: Bool = false) -> String {
        switch node {
        case .scalar(let s): "S\(s.mark)\(key ? "" : "<\(s.tag)>\(s.style.rawValue)")\(s.string.debugDescription)"
        case .sequence(let l): "L\(l.mark)[" + l.map { dump($0, key: key) }.joined(separator: ",") + "]"
        case .mapping(let m): "M\(m.mark){" + m.map { dump($0.key, key: true) + ":" + dump($0.value, key: key) }.joined(separator: ",") + "}"
        }
    }

    static func dump(_ node: Yams.Node, key: Bool = false) -> String {
        let mark = node.mark.map { "\($0.line):\($0.column)" } ?? "?"
        switch node {
        case .scalar(let s): return "S\(mark)\(key ? "" : "<\(s.tag.description)>\(s.style.rawValue)")\(s.string.debugDescription)"
        case .sequence(let l): return "L\(mark)[" + l.map { dump($0, key: key) }.joined(separator: ",") + "]"
        case .mapping(let m): return "M\(mark){" + m.map { dump($0.key, key: true) + ":" + dump($0.value, key: key) }.joined(separator: ",") + "}"
        case .alias: return "A"
        }
    }

    /// Both composers' results as text: the tree, or the error's position and message.
    static func both(_ text: String) -> (corral: String, yams: String) {
        let corral: String
        do throws(YAMLError) {
            corral = try YAMLComposer.compose(text).map { dump($0) } ?? "nil"
        } catch {
            let (line, column, message) = PolicyLoader.describe(error, in: text)
            corral = "\(line):\(column): \(message)"
        }
        let yams: String
        do {
            yams = try Yams.compose(yaml: text, .basic).map { dump($0) } ?? "nil"
        } catch let error as YamlError {
            yams = yamsDiagnostic(error, in: text)
        } catch {
            yams = "\(error)"
        }
        return (corral, yams)
    }

    /// How PolicyLoader described a Yams error before it composed with libyaml itself.
    static func yamsDiagnostic(_ error: YamlError, in text: String) -> String {
        func context(_ c: YamlError.Context?) -> String { c.map { "\($0.text) (line \($0.mark.line)), " } ?? "" }
        switch error {
        case let .scanner(c, problem, mark, _), let .parser(c, problem, mark, _), let .composer(c, problem, mark, _):
            return "\(mark.line):\(mark.column): YAML syntax error: \(context(c))\(problem)"
        case let .reader(problem, offset, value, _):
            let (line, column) = PolicyLoader.position(ofCharacter: offset ?? 0, in: text)
            return "\(line):\(column): YAML error: \(problem)" + (value >= 0 ? String(format: " (#x%X)", value) : "")
        case let .duplicatedKeysInMapping(duplicates, c):
            return "\(c.mark.line):\(c.mark.column): duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in a mapping"
        default:
            return "\(error)"
        }
    }

    @Test func sameTreesForTheRepositorysYAMLFiles() throws {
        let files = Self.repositoryYAMLFiles
        #expect(files.count > 20, "found \(files.count) YAML files under \(Self.root.path)")
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let (corral, yams) = Self.both(text)
            #expect(corral == yams, "\(file)")
        }
    }

    static let documents = [
        "", "# only a comment\n", "a: 1\n", "- a\n- 'b'\n- \"c\"\n- |\n  d\n- >\n  e\n", "{a: [1, 2], b: {c: ~}}\n",
        "a: !!int 1\nb: !!str 2\nc: ! 3\nd: !!bool yes\ne: !local x\n", "? [a, b]\n: c\n",
        "base: &b {x: 1}\nuse: *b\nlist: [&s s, *s]\n", "a: \"x\\0y\"\n", "ü: ü\n", "a:\r\n  - b\r\n",
        "%YAML 1.1\n---\na: 1\n...\n", "--- 1\n",
        // Malformed: syntax errors, duplicate keys, undefined aliases, two documents, control characters.
        "version: 1\nrules:\n  - {id: a\n", "version: 1\nrules:\n\t- x\n", "version: 1\nversion: 1\n",
        "a: 1\nb: 2\nb: 3\na: 4\n", "{x: 1, 'x': 2}\n", "a: *nothing\n", "a: 1\n---\nb: 2\n",
        "version: 1\nrules: [\u{0}]\n", "a: \u{1}\n", "a: [1, 2\n", "a: 'unterminated\n", "- a\nb: c\n",
        "a:\n  b: 1\n c: 2\n", "&a a: &a b\n",
    ]

    @Test func sameTreesAndErrorsForOddDocuments() {
        for text in Self.documents {
            let (corral, yams) = Self.both(text)
            #expect(corral == yams, "\(text.debugDescription)")
        }
    }

    @Test func aliasesCannotExpandWithoutBound() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for k in 1...9 { text += "a\(k): &a\(k) [" + Array(repeating: "*a\(k - 1)", count: 10).joined(separator: ", ") + "]\n" }
        var refused = false
        do throws(YAMLError) { _ = try YAMLComposer.compose(text) } catch {
            if case .tooManyNodes(let limit, _) = error { refused = limit == YAMLComposer.maxNodes }
        }
        #expect(refused)
        let diagnostics = errors(text)
        #expect(diagnostics.count == 1 && diagnostics[0].hasSuffix("error: YAML aliases expand to more than 1000000 nodes"), "\(diagnostics)")
    }
}
