// Entry points for reading a policy file: YAML (CorralYAML) → PolicyParser → PolicyValidator.
import CorralYAML

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
    static func compose(_ yaml: String, source: String) throws(PolicyErrors) -> YAMLNode? {
        func diagnostic(_ line: Int, _ column: Int, _ message: String) -> PolicyErrors {
            PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: source, line: max(line, 1), column: max(column, 1)),
                                           message: message, fieldPath: "")])
        }
        if yaml.utf8.count > maxFileSize { throw diagnostic(1, 1, "policy is larger than \(maxFileSize >> 20) MiB") }
        if let deep = nestingTooDeep(yaml) {
            throw diagnostic(deep.line, deep.column, "YAML nesting is deeper than \(maxNesting) levels")
        }
        do throws(YAMLError) {
            return try YAMLComposer.compose(yaml)
        } catch {
            let (line, column, message) = describe(error, in: yaml)
            throw diagnostic(line, column, message)
        }
    }

    /// Position and text for a YAML error.
    public static func describe(_ error: YAMLError, in yaml: String) -> (Int, Int, String) {
        switch error {
        case let .syntax(problem, mark, context, contextMark):
            let context = context.map { "\($0) (line \(contextMark?.line ?? mark.line)), " } ?? ""
            return (mark.line, mark.column, "YAML syntax error: \(context)\(problem)")
        case let .reader(problem, byteOffset, value):
            let (line, column) = position(ofCharacter: characterOffset(ofByte: byteOffset, in: yaml), in: yaml)
            let detail = value >= 0 ? " (#x\(String(value, radix: 16, uppercase: true)))" : ""
            return (line, column, "YAML error: \(problem)\(detail)")
        case let .duplicateKeys(keys, mark):
            return (mark.line, mark.column, "duplicate key \(keys.map(quote).joined(separator: ", ")) in a mapping")
        case let .tooManyNodes(limit, mark):
            return (mark.line, mark.column, "YAML aliases expand to more than \(limit) nodes")
        case .memory:
            return (1, 1, "YAML error: out of memory")
        }
    }

    /// Characters before the byte at `offset` (the end of the text when beyond it).
    static func characterOffset(ofByte offset: Int, in text: String) -> Int {
        let index = text.utf8.index(text.utf8.startIndex, offsetBy: offset, limitedBy: text.utf8.endIndex) ?? text.utf8.endIndex
        return text.distance(from: text.startIndex, to: index.samePosition(in: text) ?? text.endIndex)
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
