import ArgumentParser
import CorralABI
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

/// `corral run`: load a policy, run one command under it with its decisions traced, unload.
/// Exit status: the command's (128+N when killed by signal N); before the command runs, as
/// docs/cli.md's table says (2 invalid policy, 3 unreadable policy or --events file, 4 kernel
/// unsupported, 7 load failure); 127 command not found.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command under a policy, printing decision events as JSON lines.")

    @OptionGroup var enforcement: EnforcementOptions
    @Option(name: .long, help: "Write events to FILE instead of stderr.", completion: .file()) var events: String?
    @Flag(name: .long, help: "Report every decision by any task, not only the command's.") var traceAll = false
    @Argument(parsing: .postTerminator, help: "The command and its arguments (after --).") var command: [String] = []

    func validate() throws {
        if enforcement.policy == nil { throw ValidationError("Missing expected argument '--policy <policy>'") }
        if command.isEmpty { throw ValidationError("missing command after --") }
    }

    func run() async throws {
        let loaded = try loadPolicyOrExit(enforcement.policy!)
        let options = enforcement.sessionOptions(traceAll: traceAll)
        let session = try kernelOrExit { () throws(KernelError) in try CorralSession(policy: loaded, options: options) }
        defer { session.stop() }
        for w in session.unresolvedWarnings { Sys.printError("corral: \(w)") }
        Sys.printError("corral: \(session.mode.rawValue) mode, policy \(loaded.source) (\(loaded.rules.count) rules)\(enforcement.audit ? ", audit" : "")")

        let out = try EventSink(path: events)
        let reader = try kernelOrExit { () throws(KernelError) in try session.events { out.write($0.jsonLine) } }
        defer { reader.close() }

        let child: Linux.GatedChild
        do { child = try Linux.GatedChild(argv: command) } catch {
            Sys.printError("corral: fork: \(error)")
            throw CorralExit.kernelError.exit
        }
        // Mark the child TRACED (inherited by its children and threads) before it execs.
        do { try session.markTask(pid: child.pid, flags: UInt32(CORRAL_TASK_TRACED)) } catch {
            child.abort()
            _ = try? Sys.waitpid(child.pid)
            Sys.printError("corral: \(error)")
            throw CorralExit.kernelError.exit
        }
        // The terminal's SIGINT reaches the child directly; forward SIGTERM/SIGHUP.
        Sys.ignore(SIGINT)
        Sys.catchSignals([SIGTERM, SIGHUP])
        try child.release()

        var status: Sys.ExitStatus? = nil
        while status == nil {
            _ = try? reader.poll(timeoutMillis: 100)
            if let sig = Sys.takeCaughtSignal() { try? Sys.kill(child.pid, sig) }
            status = try Sys.tryWait(child.pid)
        }
        _ = try? reader.drain()
        out.close()
        let code = status!.shellCode
        if code == 127 { Sys.printError("corral: \(command[0]): command not found or not executable") }
        if code != 0 { throw ExitCode(code) }
    }
}

/// Where event JSON lines go: a file (truncated) or stderr.
final class EventSink {
    private let fd: Int32
    private let owned: Bool

    init(path: String?) throws {
        if let path {
            do { fd = try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC) } catch {
                Sys.printError("corral: --events \(path): \(error)")
                throw CorralExit.unreadable.exit
            }
            owned = true
        } else {
            fd = 2
            owned = false
        }
    }

    func write(_ line: String) { _ = try? Sys.write(fd, Array((line + "\n").utf8)) }
    func close() { if owned { Sys.close(fd) } }
}

/// Loads a policy file or prints every diagnostic and exits invalid-input (unreadable when a file
/// cannot be read).
func loadPolicyOrExit(_ path: String, fragments: FragmentSet? = nil) throws -> Policy {
    do { return try PolicyLoader.load(path: path, fragments: fragments) } catch {
        Sys.printError(error.description)
        throw CorralExit.of(error).exit
    }
}

func kernelOrExit<T>(_ body: () throws(KernelError) -> T) throws -> T {
    do { return try body() } catch {
        Sys.printError("corral: \(error)")
        throw CorralExit.of(error).exit
    }
}
