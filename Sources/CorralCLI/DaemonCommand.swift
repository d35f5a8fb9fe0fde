import ArgumentParser
import CorralControl
import CorralDaemon
import CorralKernel
import CorralSystem
import Glibc
import Logging

/// `corral daemon`: the resident service (docs/operations.md). Loads a policy with links and maps
/// pinned under /sys/fs/bpf/corral, or adopts what a previous daemon pinned; serves the control
/// socket; records events. SIGTERM/SIGINT stop it and keep enforcement pinned.
/// Exit 0 on a signal or unload, 2 invalid policy or options, 3 unreadable policy, 4 kernel
/// unsupported, 7 load failure, 8 pinned state it cannot adopt (docs/cli.md).
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Stay resident enforcing a policy; serve the control socket; record decision events.")

    @OptionGroup var enforcement: EnforcementOptions
    @Flag(name: .long, help: "Report every decision, not only those a rule applied to.") var traceAll = false
    @Option(name: .long, help: "Where links and maps are pinned.", completion: .directory) var pinDirectory = CorralObject.defaultPinDirectory
    @Option(name: .long, help: "Generation records and the control socket live here.", completion: .directory) var stateDirectory = "/run/corral"
    @Option(name: .long, help: "Event log directory (events.jsonl, rotated); 'none' for no file.", completion: .directory) var logDirectory = "/var/log/corral"
    @Option(name: .long, help: "Control socket path (default: STATE-DIRECTORY/control.sock).", completion: .file()) var controlSocket: String?
    @Option(name: .long, help: "Group (name or gid) allowed to change policy through the socket; root always may.") var adminGroup: String?
    @Option(name: .long, help: "Group (name or gid) allowed to read status, events, explain and why.") var readerGroup: String?
    @Option(name: .long, help: "Serve Prometheus metrics at 127.0.0.1:PORT (off by default).") var metrics: String?
    @Option(name: .long, help: ArgumentHelp(
        "Log messages at this level and above: error, warning, notice, info or debug (default: $CORRAL_LOG_LEVEL, else info).",
        valueName: "level"), completion: .list(JournalLogHandler.levelNames))
    var logLevel: String?
    @Flag(name: .long, help: "Do not print events on stdout (they still go to the log file and subscribers).") var quiet = false
    @Flag(name: .long, help: ArgumentHelp(
        "Apply the --policy file again whenever its content changes (a Kubernetes ConfigMap update, an editor's save), or with fragments whenever a fragment directory changes.",
        discussion: "Off by default: on a host, `systemctl reload corral` (corral apply) is the deliberate step. A file with errors is refused and logged; the running generation stays."))
    var watchPolicy = false
    @Flag(name: .long, help: "Remove the pins of a previous daemon (enforcement stops) and exit.") var unload = false
    @OptionGroup var fragmentOptions: FragmentOptions

    func validate() throws {
        if let metrics, !metrics.hasPrefix("127.0.0.1:") && !metrics.hasPrefix("localhost:") {
            throw ValidationError("--metrics serves on loopback only: give 127.0.0.1:PORT")
        }
        if let logLevel, JournalLogHandler.level(named: logLevel) == nil {
            throw ValidationError("--log-level must be one of \(JournalLogHandler.levelNames.joined(separator: ", ")), not '\(logLevel)'")
        }
        if watchPolicy && enforcement.policy == nil {
            throw ValidationError("--watch-policy watches the --policy file: give --policy FILE")
        }
    }

    func run() async throws { try runOnThisThread() }

    /// The daemon, synchronously on the calling thread (`corral` calls it on the main thread:
    /// CorralCommand.runProcess).
    func runOnThisThread() throws {
        if unload {
            guard CorralObject.hasPinnedState(pinDirectory) else {
                Sys.printError("corral: nothing pinned under \(pinDirectory)")
                throw CorralExit.ok.exit
            }
            do {
                let object = try CorralObject(adopting: pinDirectory)
                if let map = try? object.map(SelfProtection.mapName) {
                    try SelfProtection(protectMap: map, pinDirectory: pinDirectory).cleanup()
                }
                object.unload()
            } catch {
                Sys.printError("corral: \(error)")
                throw CorralExit.kernelError.exit
            }
            Sys.printError("corral: unloaded \(pinDirectory): enforcement stopped")
            return
        }
        let level: Logger.Level
        do { level = try Self.logLevel(option: logLevel, environment: Sys.env("CORRAL_LOG_LEVEL")) } catch {
            Sys.printError("corral: \(error.message)")
            throw CorralExit.invalidInput.exit
        }
        JournalLogHandler.bootstrapOnce(level: level)
        let logger = Logger(label: "corral")
        var auth = AuthorizationConfig()
        do {
            auth.adminGroup = try adminGroup.map { (name) throws(GroupLookupError) in try Self.gid(name, option: "--admin-group") }
            auth.readerGroup = try readerGroup.map { (name) throws(GroupLookupError) in try Self.gid(name, option: "--reader-group") }
        } catch {
            Sys.printError("corral: \(error)")
            throw (error.readError == nil ? CorralExit.invalidInput : .unreadable).exit
        }
        let selection = enforcement.policy.map { PolicySelection.resolve($0, fragmentOptions) }
        if let selection { _ = try loadPolicyOrExit(selection.main, fragments: selection.fragments) } // diagnostics with file:line before anything loads
        var config = DaemonConfiguration(
            policyPath: selection?.main,
            session: enforcement.sessionOptions(traceAll: traceAll, pinDirectory: pinDirectory, selfProtection: true),
            stateDirectory: stateDirectory, logDirectory: logDirectory == "none" ? nil : logDirectory,
            controlSocket: controlSocket, authorization: auth, metricsAddress: metrics, printEvents: !quiet)
        config.watchPolicy = watchPolicy
        config.buildVersion = corralVersion
        config.buildRevision = BuildInfo.revision() ?? "unknown"
        config.policyFragments = selection?.fragments
        do {
            let daemon = try Daemon(configuration: config, logger: logger)
            try daemon.run()
        } catch {
            Sys.printError("corral: \(error)")
            throw CorralExit.of(error).exit
        }
    }

    /// The log level: `--log-level`, else CORRAL_LOG_LEVEL (an empty value counts as unset), else info.
    static func logLevel(option: String?, environment: String?) throws(ValidationError) -> Logger.Level {
        if let option, let level = JournalLogHandler.level(named: option) { return level }
        guard let environment, !environment.isEmpty else { return .info }
        guard let level = JournalLogHandler.level(named: environment) else {
            throw ValidationError("CORRAL_LOG_LEVEL must be one of \(JournalLogHandler.levelNames.joined(separator: ", ")), not '\(environment)'")
        }
        return level
    }

    /// A group name (from `groupFile`, no NSS) or a numeric gid.
    static func gid(_ text: String, option: String, groupFile: String = "/etc/group") throws(GroupLookupError) -> UInt32 {
        if let n = UInt32(text) { return n }
        let groups: String
        do { groups = try Sys.readFile(groupFile) } catch {
            throw GroupLookupError(option: option, group: text, groupFile: groupFile, readError: error)
        }
        for line in groups.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count >= 3, f[0] == text, let g = UInt32(f[2]) { return g }
        }
        throw GroupLookupError(option: option, group: text, groupFile: groupFile, readError: nil)
    }
}

/// `--admin-group`/`--reader-group` names a group that is not there: the daemon refuses to
/// start (exit 2; 3 when the group file cannot be read) rather than ignore an option it was given.
struct GroupLookupError: Error, Equatable, CustomStringConvertible {
    var option: String
    var group: String
    var groupFile: String
    var readError: Errno?

    var description: String {
        if let readError { return "\(option) \(group): cannot read \(groupFile): \(readError)" }
        return "\(option) \(group): no such group in \(groupFile) (the corral package creates 'corral' and "
            + "'corral-admin' with systemd-sysusers; or: groupadd --system \(group))"
    }
}
