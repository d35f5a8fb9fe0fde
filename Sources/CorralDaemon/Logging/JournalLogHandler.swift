// swift-log handler for stderr that reads well in the journal: under systemd (JOURNAL_STREAM
// set) each line starts with the sd-daemon priority prefix `<N>` so journald records the level;
// elsewhere `corral: LEVEL: message key=value`.
import CorralSystem
import Logging

public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let journal: Bool

    public init(label: String, journal: Bool = Sys.env("JOURNAL_STREAM") != nil) {
        self.label = label
        self.journal = journal
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let suffix = fields.isEmpty ? "" : " " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = journal
            ? "<\(Self.priority(event.level))>\(event.message)\(suffix)"
            : "\(label): \(event.level == .info || event.level == .notice ? "" : "\(event.level): ")\(event.message)\(suffix)"
        Sys.printError(line)
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

    nonisolated(unsafe) private static var bootstrapped = false

    /// Installs the handler (once per process; later calls do nothing).
    public static func bootstrapOnce(label: String = "corral") {
        guard !bootstrapped else { return }
        bootstrapped = true
        LoggingSystem.bootstrap { _ in JournalLogHandler(label: label) }
    }
}
