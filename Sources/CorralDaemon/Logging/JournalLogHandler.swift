// swift-log handler for stderr that reads well in the journal: under systemd (JOURNAL_STREAM
// set) each line starts with the sd-daemon priority prefix `<N>` so journald records the level;
// elsewhere `corral: LEVEL: message key=value`. A message of several lines keeps its prefix on
// every line (journald reads each line as its own entry; without the prefix a continuation line
// would be logged at the default priority). Messages below the log level (`--log-level`,
// CORRAL_LOG_LEVEL; info by default) are not written.
import CorralSystem
import Logging

public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let journal: Bool
    private let output: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level = .info, journal: Bool = Sys.env("JOURNAL_STREAM") != nil,
                output: @escaping @Sendable (String) -> Void = { Sys.printError($0) }) {
        self.label = label
        self.logLevel = level
        self.journal = journal
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Logger checks the level before it calls a handler; this also covers direct calls.
        guard event.level >= logLevel else { return }
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        output(Self.render(level: event.level, message: "\(event.message)", fields: fields, label: label, journal: journal))
    }

    /// The text written for one message (without the final newline): every line with the
    /// priority prefix (journal) or the label and level; the fields follow the last line.
    static func render(level: Logger.Level, message: String, fields: Logger.Metadata, label: String, journal: Bool) -> String {
        let suffix = fields.isEmpty ? "" : " " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let prefix = journal
            ? "<\(priority(level))>"
            : "\(label): \(level == .info || level == .notice ? "" : "\(level): ")"
        var lines = (message + suffix).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.count > 1, lines.last == "" { lines.removeLast() } // a final newline adds no line
        return lines.map { prefix + $0 }.joined(separator: "\n")
    }

    /// syslog priorities as sd-daemon(3) prefixes.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// The levels `--log-level` and CORRAL_LOG_LEVEL take, most severe first.
    public static let levelNames = ["error", "warning", "notice", "info", "debug"]

    /// `name` as a level; nil unless it is one of `levelNames`.
    public static func level(named name: String) -> Logger.Level? {
        levelNames.contains(name) ? Logger.Level(rawValue: name) : nil
    }

    nonisolated(unsafe) private static var bootstrapped = false

    /// Installs the handler (once per process; later calls do nothing).
    public static func bootstrapOnce(label: String = "corral", level: Logger.Level = .info) {
        guard !bootstrapped else { return }
        bootstrapped = true
        LoggingSystem.bootstrap { _ in JournalLogHandler(label: label, level: level) }
    }
}
