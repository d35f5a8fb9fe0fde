// Typed access to YAML nodes that records a diagnostic, instead of throwing, for every mismatch.
import CorralYAML

/// What a YAML scalar denotes under YAML 1.1 implicit typing: the one reader of scalar types for
/// policies (YAMLReader) and scenarios (ScenarioLoader). It agrees with Yams' default resolver
/// (`Resolver.default`: its bool, int, float and null rules, tried in that order) but matches by
/// hand instead of with Yams' regular expressions, so that validation stays fast;
/// `YAMLScalarTests` checks the two against each other. Yams' other implicit tags (timestamp,
/// merge `<<`, value `=`) read as strings here. Quoted scalars are strings.
public enum ScalarKind: Equatable, Sendable {
    case null, bool(Bool), int, float, string

    public init(_ scalar: YAMLNode.Scalar) {
        switch scalar.tag {
        case "": self = ScalarKind.implicit(scalar.string, plain: scalar.style == .plain || scalar.style == .any)
        case "!", YAMLNode.strTag: self = .string
        case "tag:yaml.org,2002:int": self = .int
        case "tag:yaml.org,2002:float": self = .float
        case "tag:yaml.org,2002:null": self = .null
        case "tag:yaml.org,2002:bool":
            switch ScalarKind.implicit(scalar.string, plain: true) {
            case .bool(let value): self = .bool(value)
            default: self = .string
            }
        default: self = .string
        }
    }

    /// The kind of a scalar node; nil for mappings and sequences.
    public init?(_ node: YAMLNode) {
        guard case .scalar(let scalar) = node else { return nil }
        self.init(scalar)
    }

    /// The boolean a scalar denotes (true/True/TRUE/yes/on..., false/no/off...), or nil.
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }

    /// The kind of an untagged scalar with this text (`plain`: not quoted, not a block scalar).
    public static func implicit(_ text: String, plain: Bool) -> ScalarKind {
        guard plain else { return .string }
        switch text {
        // Resolver.Rule.null (tried after bool, int and float, none of which matches these).
        case "", "~", "null", "Null", "NULL": return .null
        // Resolver.Rule.bool
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return .bool(true)
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return .bool(false)
        default: break
        }
        let b = Array(text.utf8)
        if isInt(b[...]) { return .int }
        if isFloat(b[...]) { return .float }
        return .string
    }

    // The matchers below follow Yams' patterns alternative by alternative (Resolver.swift).

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// One or more bytes, each satisfying `allowed`.
    private static func all(_ s: ArraySlice<UInt8>, _ allowed: (UInt8) -> Bool) -> Bool {
        !s.isEmpty && s.allSatisfy(allowed)
    }

    private static func droppingSign(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        if let c = s.first, c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { return s.dropFirst() }
        return s
    }

    /// `(?::[0-5]?[0-9])+`: one or more groups of ':' and one digit, or two with the first 0-5.
    private static func isSexagesimalTail(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.first == UInt8(ascii: ":") else { return false }
        for group in s.dropFirst().split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false) {
            let g = Array(group)
            switch g.count {
            case 1: guard isDigit(g[0]) else { return false }
            case 2: guard g[0] >= 0x30 && g[0] <= 0x35 && isDigit(g[1]) else { return false }
            default: return false
            }
        }
        return true
    }

    /// `[1-9][0-9_]*` followed by a sexagesimal tail (`rest`), or nil when `s` does not start so.
    private static func sexagesimalRest(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let first = s.first, first >= 0x31 && first <= 0x39 else { return nil }
        let head = s.prefix { isDigit($0) || $0 == UInt8(ascii: "_") }
        return s[head.endIndex...]
    }

    /// Resolver.Rule.int: `[-+]?0b[0-1_]+ | [-+]?0o?[0-7_]+ | [-+]?(?:0|[1-9][0-9_]*) |
    /// [-+]?0x[0-9a-fA-F_]+ | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+`
    static func isInt(_ text: ArraySlice<UInt8>) -> Bool {
        let s = droppingSign(text)
        guard let first = s.first else { return false }
        let underscore = UInt8(ascii: "_")
        if first == UInt8(ascii: "0") {
            let rest = s.dropFirst()
            if rest.isEmpty { return true }
            switch rest.first! {
            case UInt8(ascii: "b"): if all(rest.dropFirst(), { $0 == 0x30 || $0 == 0x31 || $0 == underscore }) { return true }
            case UInt8(ascii: "x"): if all(rest.dropFirst(), { isHex($0) || $0 == underscore }) { return true }
            case UInt8(ascii: "o"): if all(rest.dropFirst(), { isOctal($0) || $0 == underscore }) { return true }
            default: break
            }
            return all(rest, { isOctal($0) || $0 == underscore })
        }
        guard let rest = sexagesimalRest(s) else { return false }
        return rest.isEmpty || isSexagesimalTail(rest)
    }

    private static func isOctal(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x37 }
    private static func isHex(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }

    /// Resolver.Rule.float: `[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)? |
    /// \.[0-9_]+(?:[eE][-+][0-9]+)? | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]* |
    /// [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)`
    static func isFloat(_ text: ArraySlice<UInt8>) -> Bool {
        let digitOrUnderscore: (UInt8) -> Bool = { isDigit($0) || $0 == UInt8(ascii: "_") }
        let dot = UInt8(ascii: ".")
        func exponent(_ e: ArraySlice<UInt8>, signRequired: Bool) -> Bool {
            guard let c = e.first, c == UInt8(ascii: "e") || c == UInt8(ascii: "E") else { return false }
            var digits = e.dropFirst()
            if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                digits = digits.dropFirst()
            } else if signRequired {
                return false
            }
            return all(digits, isDigit)
        }
        switch String(decoding: text, as: UTF8.self) {
        case ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", "+.Inf", "+.INF", ".nan", ".NaN", ".NAN":
            return true
        default: break
        }
        if text.first == dot {
            // \.[0-9_]+(?:[eE][-+][0-9]+)?
            let body = text.dropFirst()
            let mantissa = body.prefix(while: digitOrUnderscore)
            guard !mantissa.isEmpty else { return false }
            let rest = body[mantissa.endIndex...]
            return rest.isEmpty || exponent(rest, signRequired: true)
        }
        let s = droppingSign(text)
        guard let first = s.first, isDigit(first) else { return false }
        let integral = s.prefix(while: digitOrUnderscore)
        var rest = s[integral.endIndex...]
        if rest.first == UInt8(ascii: ":") {
            // [0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
            guard let dotIndex = rest.firstIndex(of: dot), isSexagesimalTail(rest[..<dotIndex]) else { return false }
            return rest[(dotIndex + 1)...].allSatisfy(digitOrUnderscore)
        }
        if rest.first == dot {
            rest = rest.dropFirst()
            rest = rest[rest.prefix(while: digitOrUnderscore).endIndex...]
        }
        return rest.isEmpty || exponent(rest, signRequired: false)
    }
}

/// One key of a mapping, with its nodes for positions.
struct YAMLEntry {
    var key: String
    var keyNode: YAMLNode
    var value: YAMLNode
}

/// Collects diagnostics while reading nodes of one file.
struct YAMLReader {
    let source: String
    private(set) var diagnostics: [PolicyDiagnostic] = []

    init(source: String) { self.source = source }

    func location(_ node: YAMLNode) -> SourceLocation {
        SourceLocation(file: source, line: max(node.mark.line, 1), column: max(node.mark.column, 1))
    }

    mutating func error(_ message: String, at location: SourceLocation, _ path: String) {
        diagnostics.append(PolicyDiagnostic(location: location, message: message, fieldPath: path))
    }

    mutating func error(_ message: String, at node: YAMLNode, _ path: String) {
        error(message, at: location(node), path)
    }

    mutating func add(_ diagnostic: PolicyDiagnostic) { diagnostics.append(diagnostic) }

    /// "a string", "a list", … for messages.
    static func describe(_ node: YAMLNode) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
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

    mutating func wrongType(_ expected: String, _ node: YAMLNode, _ path: String) {
        error("expected \(expected), found \(YAMLReader.describe(node))", at: node, path)
    }

    /// A string-valued scalar. Numbers are accepted as their text; null and booleans are not.
    mutating func string(_ node: YAMLNode, _ path: String) -> String? {
        guard case .scalar(let scalar) = node else { wrongType("a string", node, path); return nil }
        switch ScalarKind(scalar) {
        case .string, .int, .float: return scalar.string
        case .null, .bool: wrongType("a string", node, path); return nil
        }
    }

    mutating func bool(_ node: YAMLNode, _ path: String) -> Bool? {
        if case .scalar(let scalar) = node, case .bool(let value) = ScalarKind(scalar) { return value }
        wrongType("a boolean (true or false)", node, path)
        return nil
    }

    /// An integer scalar's text (range checks are the caller's).
    mutating func integerText(_ node: YAMLNode, _ path: String) -> String? {
        if case .scalar(let scalar) = node, ScalarKind(scalar) == .int { return scalar.string }
        wrongType("an integer", node, path)
        return nil
    }

    mutating func list(_ node: YAMLNode, _ path: String) -> [YAMLNode]? {
        guard case .sequence(let sequence) = node else { wrongType("a list", node, path); return nil }
        return Array(sequence)
    }

    /// A mapping's entries in file order. Keys must be scalars.
    mutating func mapping(_ node: YAMLNode, _ path: String, expected: String = "a mapping") -> [YAMLEntry]? {
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
