// The CLI side of the control socket: every verb that changes or inspects the running daemon
// goes through here. Exit codes (docs/cli.md): 2 a named error from the daemon about the request
// (or bad input), 6 permission denied, 7 a kernel error in the daemon, 5 unreachable.
import ArgumentParser
import CorralControl
import CorralSystem

/// `--socket`, shared by every daemon client verb.
struct ControlSocketOption: ParsableArguments {
    @Option(name: .long, help: "The daemon's control socket (default: $CORRAL_SOCKET or /run/corral/control.sock).", completion: .file())
    var socket: String?

    var path: String { socket ?? Sys.env("CORRAL_SOCKET") ?? ControlClient.defaultSocketPath }
}

enum DaemonClient {
    static func connect(_ option: ControlSocketOption, replyTimeoutMillis: Int? = 120_000) throws -> ControlClient {
        do {
            return try ControlClient(socketPath: option.path, options: .init(replyTimeoutMillis: replyTimeoutMillis))
        } catch {
            Sys.printError("corral: \(error)")
            throw CorralExit.daemonUnreachable.exit
        }
    }

    /// One call of a ControlInterface method; a named error is printed (with its parameters,
    /// one per line) and exits as `CorralExit.of` says; an unreachable daemon or an invalid reply
    /// exits daemon-unreachable.
    static func call<M: ControlMethodSpec>(_ option: ControlSocketOption, _ method: M.Type, _ parameters: M.Parameters) throws -> M.Reply {
        let client = try connect(option)
        defer { client.close() }
        let result: Result<M.Reply, ControlError>
        do { result = try client.call(method, parameters) } catch {
            Sys.printError("corral: \(error)")
            throw CorralExit.daemonUnreachable.exit
        }
        switch result {
        case .success(let reply): return reply
        case .failure(let e): throw fail(e)
        }
    }

    static func fail(_ e: ControlError) -> ExitCode {
        Sys.printError("corral: \(e.name)")
        for (k, v) in e.parameters.sorted(by: { $0.key < $1.key }) {
            if case .array(let items) = v {
                for item in items { Sys.printError("  \(item.stringValue ?? "\(item)")") }
            } else {
                Sys.printError("  \(k): \(v.stringValue ?? "\(v)")")
            }
        }
        return CorralExit.of(e).exit
    }

    /// A reply as one line of JSON (keys sorted).
    static func printJSON<R: Encodable>(_ reply: R) {
        print((try? JSONValueEncoder().encode(reply))?.description ?? "{}")
    }
}

/// "90", "90s", "10m", "2h" -> seconds.
func parseDuration(_ text: String) -> Int? {
    let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600]
    if let n = Int(text) { return n }
    guard let last = text.last, let mult = units[last], let n = Int(text.dropLast()) else { return nil }
    return n * mult
}
