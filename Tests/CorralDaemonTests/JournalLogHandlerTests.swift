// JournalLogHandler: every line of a multi-line message carries the priority prefix (journal) or
// the label (stderr), and messages below the configured level are not written.
@testable import CorralDaemon
import Logging
import Synchronization
import Testing

private final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

@Suite struct JournalLogHandlerTests {
    @Test func everyLineHasThePriorityPrefix() {
        let text = JournalLogHandler.render(level: .error, message: "policy file p.yaml changed but was not applied:\np.yaml:3:5: error: x\np.yaml:4:5: error: y",
                                            fields: ["generation": "2"], label: "corral", journal: true)
        #expect(text == """
            <3>policy file p.yaml changed but was not applied:
            <3>p.yaml:3:5: error: x
            <3>p.yaml:4:5: error: y generation=2
            """)
        #expect(JournalLogHandler.render(level: .warning, message: "a\nb", fields: [:], label: "corral", journal: false) == """
            corral: warning: a
            corral: warning: b
            """)
        #expect(JournalLogHandler.render(level: .info, message: "one line", fields: [:], label: "corral", journal: true) == "<6>one line")
        #expect(JournalLogHandler.render(level: .debug, message: "x\n", fields: [:], label: "corral", journal: true) == "<7>x")
    }

    @Test func levelSuppressesLowerMessages() {
        let out = Lines()
        var logger = Logger(label: "corral") { label in
            JournalLogHandler(label: label, level: .warning, journal: true, output: { out.append($0) })
        }
        logger.debug("d")
        logger.info("i")
        logger.notice("n")
        logger.warning("w")
        logger.error("e\nmore")
        #expect(out.all == ["<4>w", "<3>e\n<3>more"])
        logger.logLevel = .debug
        logger.debug("d")
        #expect(out.all.last == "<7>d")
    }

    @Test func levelNames() {
        #expect(JournalLogHandler.levelNames.map { JournalLogHandler.level(named: $0) } == [.error, .warning, .notice, .info, .debug])
        #expect(JournalLogHandler.level(named: "trace") == nil && JournalLogHandler.level(named: "INFO") == nil
                && JournalLogHandler.level(named: "") == nil)
    }
}
