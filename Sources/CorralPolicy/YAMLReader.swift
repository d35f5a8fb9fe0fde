// Typed access to Yams nodes that records a diagnostic, instead of throwing, for every mismatch.
import Yams

/// What a YAML scalar denotes under YAML 1.1 implicit typing (the rules Yams' default resolver
/// applies), decided without Yams' regex resolver so that validation stays fast.
enum ScalarKind: Equatable {
    case null, bool(Bool), int, float, string

    init(_ scalar: Node.Scalar) {
        switch scalar.tag.description {
        case "": self = ScalarKind.implicit(scalar.string, plain: scalar.style == .plain || scalar.style == .any)
        case "!", Tag.Name.str.rawValue: self = .string
        case Tag.Name.int.rawValue: self = .int
        case Tag.Name.float.rawValue: self = .float
        case Tag.Name.null.rawValue: self = .null
        case Tag.Name.bool.rawValue:
            switch ScalarKind.implicit(scalar.string, plain: true) {
            case .bool(let value): self = .bool(value)
            default: self = .string
            }
        default: self = .string
        }
    }

    static func implicit(_ text: String, plain: Bool) -> ScalarKind {
        guard plain else { return .string }
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return .bool(true)
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return .bool(false)
        case ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", "+.Inf", "+.INF", ".nan", ".NaN", ".NAN":
            return .float
        default: break
        }
        var body = Substring(text)
        if body.first == "-" || body.first == "+" { body = body.dropFirst() }
        guard let first = body.first, first.isASCII, first.isNumber || first == "." else { return .string }
        func all(_ s: Substring, _ allowed: (Character) -> Bool) -> Bool { !s.isEmpty && s.allSatisfy(allowed) }
        if body.hasPrefix("0x"), all(body.dropFirst(2), { $0.isHexDigit || $0 == "_" }) { return .int }
        if body.hasPrefix("0b"), all(body.dropFirst(2), { $0 == "0" || $0 == "1" || $0 == "_" }) { return .int }
        if all(body, { ($0.isASCII && $0.isNumber) || $0 == "_" }) { return .int }
        if all(body, { ($0.isASCII && $0.isNumber) || "_.eE+-".contains($0) }),
           body.contains(where: { $0.isNumber }), body.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            return .float
        }
        return .string
    }
}

/// One key of a mapping, with its nodes for positions.
struct YAMLEntry {
    var key: String
    var keyNode: Node
    var value: Node
}

/// Collects diagnostics while reading nodes of one file.
struct YAMLReader {
    let source: String
    private(set) var diagnostics: [PolicyDiagnostic] = []

    init(source: String) { self.source = source }

    func location(_ node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: source, line: max(mark?.line ?? 1, 1), column: max(mark?.column ?? 1, 1))
    }

    mutating func error(_ message: String, at location: SourceLocation, _ path: String) {
        diagnostics.append(PolicyDiagnostic(location: location, message: message, fieldPath: path))
    }

    mutating func error(_ message: String, at node: Node, _ path: String) {
        error(message, at: location(node), path)
    }

    mutating func add(_ diagnostic: PolicyDiagnostic) { diagnostics.append(diagnostic) }

    /// "a string", "a list", … for messages.
    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch ScalarKind(scalar) {
            case .null: return "nothing (null)"
            case .bool: return "a boolean"
            case .int: return "an integer"
            case .float: return "a number"
            case .string: return "a string"
            }
        }
    }

    mutating func wrongType(_ expected: String, _ node: Node, _ path: String) {
        error("expected \(expected), found \(YAMLReader.describe(node))", at: node, path)
    }

    /// A string-valued scalar. Numbers are accepted as their text; null and booleans are not.
    mutating func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node else { wrongType("a string", node, path); return nil }
        switch ScalarKind(scalar) {
        case .string, .int, .float: return scalar.string
        case .null, .bool: wrongType("a string", node, path); return nil
        }
    }

    mutating func bool(_ node: Node, _ path: String) -> Bool? {
        if case .scalar(let scalar) = node, case .bool(let value) = ScalarKind(scalar) { return value }
        wrongType("a boolean (true or false)", node, path)
        return nil
    }

    /// An integer scalar's text (range checks are the caller's).
    mutating func integerText(_ node: Node, _ path: String) -> String? {
        if case .scalar(let scalar) = node, ScalarKind(scalar) == .int { return scalar.string }
        wrongType("an integer", node, path)
        return nil
    }

    mutating func list(_ node: Node, _ path: String) -> [Node]? {
        guard case .sequence(let sequence) = node else { wrongType("a list", node, path); return nil }
        return Array(sequence)
    }

    /// A mapping's entries in file order. Keys must be scalars.
    mutating func mapping(_ node: Node, _ path: String, expected: String = "a mapping") -> [YAMLEntry]? {
        guard case .mapping(let mapping) = node else { wrongType(expected, node, path); return nil }
        var entries: [YAMLEntry] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                error("expected a key name, found \(YAMLReader.describe(key))", at: key, path)
                continue
            }
            entries.append(YAMLEntry(key: scalar.string, keyNode: key, value: value))
        }
        return entries
    }
}

/// "parent.key", or "key" at the top level.
func joinPath(_ parent: String, _ key: String) -> String { parent.isEmpty ? show(key) : "\(parent).\(show(key))" }

/// The closest of `candidates` to `word` (edit distance 1, or 2 for words of 6+ characters), for "did you mean" hints.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
    guard word.count <= 64 else { return nil }
    let chars = Array(word)
    var best: (String, Int)?
    for candidate in candidates {
        let d = distance(chars, Array(candidate))
        if d <= (chars.count >= 6 ? 2 : 1), d < chars.count, d < (best?.1 ?? .max) { best = (candidate, d) }
    }
    return best?.0
}
