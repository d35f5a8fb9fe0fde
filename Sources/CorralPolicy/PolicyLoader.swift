// Entry points for reading a policy file. (Interface stub: the YAML parser and validator fill it.)

/// One problem found in a policy file, printed as `FILE:LINE:COL: error: MESSAGE (FIELD.PATH)`.
public struct PolicyDiagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public var location: SourceLocation
    public var severity: Severity
    public var message: String
    /// Dotted path of the offending field, e.g. `rules[2].cgroups[0]`.
    public var fieldPath: String

    public init(location: SourceLocation, severity: Severity = .error, message: String, fieldPath: String) {
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
}

public enum PolicyLoader {
    /// Reads and validates the policy at `path`.
    public static func load(path: String) throws(PolicyErrors) -> Policy {
        throw PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: path, line: 1, column: 1),
                                             message: "policy parser not implemented yet", fieldPath: "")])
    }

    /// Parses and validates policy text; `source` names it in diagnostics.
    public static func parse(yaml: String, source: String) throws(PolicyErrors) -> Policy {
        throw PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: source, line: 1, column: 1),
                                             message: "policy parser not implemented yet", fieldPath: "")])
    }
}
