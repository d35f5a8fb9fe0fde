// Entry points for reading a policy file: YAML (Yams) → PolicyParser → PolicyValidator.
import Foundation
import Yams

/// One problem found in a policy file, printed as `FILE:LINE:COL: error: MESSAGE (FIELD.PATH)`.
public struct PolicyDiagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public var location: SourceLocation
    public var severity: Severity
    public var message: String
    /// Dotted path of the offending field, e.g. `rules[2].cgroups[0]`.
    public var fieldPath: String
    /// The file could not be read (missing, a directory, no permission), as opposed to read and
    /// found invalid: the CLI exits `unreadable` rather than `invalid-input` (docs/cli.md).
    public var unreadable: Bool

    public init(location: SourceLocation, severity: Severity = .error, message: String, fieldPath: String,
                unreadable: Bool = false) {
        self.unreadable = unreadable
        self.location = location
        self.severity = severity
        self.message = message
        self.fieldPath = fieldPath
    }

    public var description: String {
        "\(location): \(severity.rawValue): \(message)" + (fieldPath.isEmpty ? "" : " (\(fieldPath))")
    }
}

/// All the errors of one file: a load reports every problem it finds, not only the first.
public struct PolicyErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [PolicyDiagnostic]
    public init(_ diagnostics: [PolicyDiagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
    /// Some file could not be read at all.
    public var isUnreadable: Bool { diagnostics.contains(where: \.unreadable) }
}

public enum PolicyLoader {
    /// Policy files larger than this are refused before parsing.
    public static let maxFileSize = 4 << 20
    /// Deeper YAML nesting is refused before parsing (the composer recurses once per level).
    static let maxNesting = 128

    /// Reads and validates the policy at `path`.
    public static func load(path: String) throws(PolicyErrors) -> Policy {
        try parse(yaml: try read(path: path), source: path)
    }

    /// Parses and validates policy text; `source` names it in diagnostics.
    public static func parse(yaml: String, source: String) throws(PolicyErrors) -> Policy {
        guard let root = try compose(yaml, source: source) else {
            throw PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: source, line: 1, column: 1),
                message: "the policy is empty; expected a mapping with 'version: 1' and 'rules'", fieldPath: "")])
        }
        var parser = PolicyParser(source: source)
        let policy = parser.parseDocument(root)
        var validator = PolicyValidator(reader: parser.reader, rules: parser.parsedRules)
        validator.run(namedSubjects: parser.namedSubjects)
        let diagnostics = validator.reader.diagnostics.enumerated().sorted { a, b in
            (a.element.location.line, a.element.location.column, a.offset)
                < (b.element.location.line, b.element.location.column, b.offset)
        }.map(\.element)
        if !diagnostics.isEmpty { throw PolicyErrors(diagnostics) }
        return policy
    }

    /// The YAML node tree of one file (nil: no document), after the size and nesting limits.
    static func compose(_ yaml: String, source: String) throws(PolicyErrors) -> Node? {
        func diagnostic(_ line: Int, _ column: Int, _ message: String) -> PolicyErrors {
            PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: source, line: max(line, 1), column: max(column, 1)),
                                           message: message, fieldPath: "")])
        }
        if yaml.utf8.count > maxFileSize { throw diagnostic(1, 1, "policy is larger than \(maxFileSize >> 20) MiB") }
        if let deep = nestingTooDeep(yaml) {
            throw diagnostic(deep.line, deep.column, "YAML nesting is deeper than \(maxNesting) levels")
        }
        do {
            // Resolver.basic: Yams resolves no implicit tags (its default resolver runs regular
            // expressions on every mapping key to check for duplicates, most of the time of a
            // 10,000-rule policy). Scalars are typed by ScalarKind; keys compare as strings.
            return try Yams.compose(yaml: yaml, .basic)
        } catch let error as YamlError {
            let (line, column, message) = describe(error, in: yaml)
            throw diagnostic(line, column, message)
        } catch {
            throw diagnostic(1, 1, "YAML error: \(error)")
        }
    }

    /// Position and text for a Yams error (never its `description`, which may assert on odd offsets).
    static func describe(_ error: YamlError, in yaml: String) -> (Int, Int, String) {
        func text(_ context: YamlError.Context?, _ problem: String) -> String {
            let context = context.map { "\($0.text) (line \($0.mark.line)), " } ?? ""
            return "YAML syntax error: \(context)\(problem)"
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return (mark.line, mark.column, text(context, problem))
        case let .reader(problem, offset, value, _):
            let (line, column) = position(ofCharacter: offset ?? 0, in: yaml)
            let detail = value >= 0 ? String(format: " (#x%X)", value) : ""
            return (line, column, "YAML error: \(problem)\(detail)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map(quote).joined(separator: ", ")
            return (context.mark.line, context.mark.column, "duplicate key \(keys) in a mapping")
        case .memory:
            return (1, 1, "YAML error: out of memory")
        case .dataCouldNotBeDecoded:
            return (1, 1, "policy is not valid UTF-8")
        default:
            return (1, 1, "YAML error")
        }
    }

    /// 1-based line and column of the character at `offset`.
    static func position(ofCharacter offset: Int, in text: String) -> (Int, Int) {
        var line = 1, column = 1
        for (index, character) in text.enumerated() {
            if index >= offset { break }
            if character.isNewline { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }

    /// A conservative estimate of nesting depth: indentation levels plus block indicators on a line
    /// plus open flow brackets. Returns where the estimate first exceeds `maxNesting`.
    static func nestingTooDeep(_ yaml: String) -> (line: Int, column: Int)? {
        var indents: [Int] = []
        var flow = 0
        var lineNumber = 0
        for line in yaml.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let bytes = Array(line)
            var i = 0
            while i < bytes.count, bytes[i] == 0x20 { i += 1 }
            guard i < bytes.count, bytes[i] != 0x23, bytes[i] != 0x0D else { continue }  // blank or comment
            while let last = indents.last, last > i { indents.removeLast() }
            if indents.last != i { indents.append(i) }
            var indicators = 0
            var j = i
            while j + 1 < bytes.count, bytes[j] == 0x2D || bytes[j] == 0x3F, bytes[j + 1] == 0x20 {
                indicators += 1
                j += 2
                while j < bytes.count, bytes[j] == 0x20 { j += 1 }
            }
            for (k, byte) in bytes.enumerated() {
                if byte == 0x5B || byte == 0x7B { flow += 1 } else if byte == 0x5D || byte == 0x7D { flow = max(0, flow - 1) }
                if indents.count + indicators + flow > maxNesting { return (lineNumber, k + 1) }
            }
            if indents.count + indicators + flow > maxNesting { return (lineNumber, 1) }
        }
        return nil
    }
}

extension PolicyLoader {
    /// Lines as YAML counts them, so as diagnostics number them: breaks are LF, CR, CRLF (one
    /// break), NEL, LS and PS. Counted over scalars: `text.filter(\.isNewline).count` undercounts,
    /// because filtering can join a CR and a later LF into one CRLF Character.
    public static func yamlLineCount(_ text: String) -> Int {
        var lines = 1
        var previousCR = false
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: if !previousCR { lines += 1 }
            case 0x0D, 0x85, 0x2028, 0x2029: lines += 1
            default: break
            }
            previousCR = scalar.value == 0x0D
        }
        return lines
    }
}
