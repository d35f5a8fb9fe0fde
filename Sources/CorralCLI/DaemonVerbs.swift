// Verbs that talk to the running daemon through its control socket (docs/operations.md §4).
import ArgumentParser
import CorralControl
import CorralPolicy
import CorralSystem

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Validate a policy and make it the daemon's next generation (atomic switch).")

    @Argument(help: "Policy file (YAML), or a directory with policy.yaml and policy.d/.") var policy: String
    @OptionGroup var fragmentOptions: FragmentOptions
    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        let (main, set) = PolicySelection.resolve(policy, fragmentOptions)
        let text: String
        do { text = try Sys.readFile(main) } catch {
            Sys.printError("\(main):1:1: error: cannot read policy: \(error)")
            throw ExitCode(2)
        }
        var parameters: [String: JSONValue] = ["policy": .string(text), "source": .string(main)]
        if let set {
            // Read here, sent with the main file: the daemon validates all of them as one policy.
            do {
                parameters["fragments"] = .array(try set.activeFiles().map { (path) throws(PolicyErrors) in
                    .object(["source": .string(path), "policy": .string(try PolicyLoader.read(path: path))])
                })
            } catch {
                Sys.printError(error.description)
                throw ExitCode(2)
            }
        }
        let policy = main
        let r = try DaemonClient.call(control, ControlMethod.apply, parameters)
        let gen = r["generation"]?.intValue ?? 0, rules = r["rules"]?.intValue ?? 0
        func ms(_ k: String) -> String { String(format: "%.1f", r[k]?.doubleValue ?? 0) }
        print("applied \(policy): generation \(gen), \(rules) rules (validate \(ms("validate_ms")) ms, compile \(ms("compile_ms")) ms, switch \(ms("install_ms")) ms)")
    }
}

struct ModeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mode",
        abstract: "Set a rule, or the whole policy, to audit or enforce (or back to what the policy says).",
        discussion: "corral mode RULE audit | corral mode RULE policy | corral mode --all audit")

    @Argument(help: "Rule id, then the mode: audit, enforce or policy. With --all, only the mode.")
    var words: [String] = []
    @Flag(name: .long, help: "Apply to the whole policy.") var all = false
    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        if all { guard words.count == 1 else { throw ValidationError("with --all give only the mode: audit, enforce or policy") } }
        else { guard words.count == 2 else { throw ValidationError("give a rule id and a mode (audit, enforce or policy), or --all MODE") } }
        guard ["audit", "enforce", "policy"].contains(words.last!) else {
            throw ValidationError("mode must be audit, enforce or policy, not '\(words.last!)'")
        }
    }

    func run() async throws {
        var p: [String: JSONValue] = ["mode": .string(words.last!)]
        if !all { p["rule"] = .string(words[0]) }
        let r = try DaemonClient.call(control, ControlMethod.setMode, p)
        print("\(all ? "policy" : words[0]): \(words.last!) from generation \(r["generation"]?.intValue ?? 0)")
    }
}

struct LoosenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loosen",
        abstract: "Audit a rule for a while; it is enforced again by itself when the time is up.")

    @Argument(help: "Rule id.") var rule: String
    @Option(name: .customLong("for"), help: "How long: 90, 90s, 10m or 2h (at most 24h).") var duration: String

    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        guard let s = parseDuration(duration), (1...86400).contains(s) else {
            throw ValidationError("--for wants a duration from 1s to 24h such as 90s, 10m or 2h, not '\(duration)'")
        }
    }

    func run() async throws {
        let r = try DaemonClient.call(control, ControlMethod.loosen, ["rule": .string(rule), "seconds": JSONValue(parseDuration(duration)!)])
        print("\(rule): audit until \(Int(r["until"]?.doubleValue ?? 0)) (unix time), generation \(r["generation"]?.intValue ?? 0)")
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's active generation, modes and counters (JSON).")

    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        DaemonClient.printJSON(try DaemonClient.call(control, ControlMethod.getStatus))
    }
}

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the daemon's recent decision events as JSON lines; --follow keeps streaming.")

    @Flag(name: .long, help: "Keep printing new events.") var follow = false
    @Option(name: .long, help: "Only events reported for this rule id.") var rule: String?
    @Option(name: .long, help: "Only this verdict: allow, deny or audit.") var verdict: String?
    @Option(name: .long, help: "Only this hook (namespace_alloc, namespace_install, cgroup_attach, admin, …).") var hook: String?
    @Option(name: .long, help: "How many recent events (default 100).") var limit: Int = 100
    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        if let verdict, !["allow", "deny", "audit"].contains(verdict) { throw ValidationError("--verdict must be allow, deny or audit") }
        if limit < 0 { throw ValidationError("--limit must be 0 or more") }
    }

    func run() async throws {
        let client = try DaemonClient.connect(control, replyTimeoutMillis: follow ? nil : 30_000)
        defer { client.close() }
        var p: [String: JSONValue] = ["follow": .bool(follow), "limit": JSONValue(limit)]
        if let rule { p["rule"] = .string(rule) }
        if let verdict { p["verdict"] = .string(verdict) }
        if let hook { p["hook"] = .string(hook) }
        let result: Result<Void, ControlError>
        do {
            result = try client.stream(ControlMethod.getEvents, p) { reply in
                if let e = reply["event"] { _ = try? Sys.write(1, Array((e.description + "\n").utf8)) }
                return true
            }
        } catch {
            Sys.printError("corral: \(error)")
            throw ExitCode(3)
        }
        if case .failure(let e) = result { throw DaemonClient.fail(e) }
    }
}

struct WhyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "why",
        abstract: "Would this be allowed now, and by which rule? Asks the running daemon (live maps and tasks).",
        discussion: "Exit 0 allowed (or audit), 1 denied, 2 bad input, 3 daemon unreachable.")

    @Option(name: .long, help: "The task that would move, or would enter the namespace.") var pid: Int32
    @Option(name: .long, help: "The task doing it (default: --pid itself).") var actor: Int32?
    @Option(name: .customLong("to-cgroup"), help: "Destination cgroup, a path under the cgroup root such as /system.slice/x.") var toCgroup: String?
    @Option(name: .long, help: "A namespace file such as /proc/123/ns/net.") var enter: String?
    @Flag(name: .long, help: "Print the daemon's JSON reply.") var json = false
    @OptionGroup var control: ControlSocketOption

    func validate() throws {
        guard (toCgroup == nil) != (enter == nil) else { throw ValidationError("give exactly one of --to-cgroup and --enter") }
    }

    func run() async throws {
        var p: [String: JSONValue] = ["pid": JSONValue(Int(pid))]
        if let actor { p["actor"] = JSONValue(Int(actor)) }
        if let toCgroup { p["to_cgroup"] = .string(toCgroup) }
        if let enter { p["enter"] = .string(enter) }
        let r = try DaemonClient.call(control, ControlMethod.why, p)
        if json { DaemonClient.printJSON(r) } else { print(r["text"]?.stringValue ?? "") }
        if r["verdict"]?.stringValue == "deny" { throw ExitCode(1) }
    }
}

struct HandoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handover",
        abstract: "Let a daemon started from another corral binary adopt the running programs (package upgrades).",
        discussion: """
            Self-protection lets only the daemon's own executable open the pinned programs and maps. \
            After an upgrade replaced that file, run this (as root) with the new binary: the running \
            daemon trusts it, so `systemctl restart corral` adopts the pins without a moment of \
            no enforcement. The new daemon then drops the old binary's identity.
            """)

    @Option(name: .customLong("executable"), help: "The binary to trust (default: this one).")
    var executable: String?
    @OptionGroup var control: ControlSocketOption

    func run() async throws {
        guard let path = executable ?? Sys.executablePath() else {
            Sys.printError("corral: cannot tell which binary this is; pass --executable PATH")
            throw ExitCode(2)
        }
        let r = try DaemonClient.call(control, ControlMethod.trustExecutable, ["path": .string(path)])
        if r["self_protection"]?.boolValue == true {
            print("the running daemon trusts \(path) (inode \(r["inode"]?.intValue ?? 0)): a daemon started from it adopts the pinned programs")
        } else {
            print("the running daemon has self-protection off: a daemon started from \(path) adopts the pins without a handover")
        }
    }
}
