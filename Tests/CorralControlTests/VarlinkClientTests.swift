// The control server against the reference varlink client (PyPI `varlink`, `python3 -m
// varlink.cli`): GetInfo, GetInterfaceDescription (parsed by the client's own IDL parser), a typed
// call, a standard error and oneway. The interpreter is $CORRAL_VARLINK_PYTHON (.ci/run installs
// the package into a venv and sets it) or python3. Without the package the tests are skipped with
// the reason, except under CI=true, where that is a failure.
import CorralControl
import CorralSystem
import Foundation
import Testing

private enum VarlinkPython {
    static let interpreter = ProcessInfo.processInfo.environment["CORRAL_VARLINK_PYTHON"] ?? "/usr/bin/python3"

    /// nil when the client is usable, else why not.
    static let missing: String? = {
        guard FileManager.default.isExecutableFile(atPath: interpreter) else { return "\(interpreter) not found" }
        let r = run(["-c", "import varlink"])
        return r.status == 0 ? nil : "\(interpreter) has no varlink module (pip install varlink; set CORRAL_VARLINK_PYTHON)"
    }()

    static var ci: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Runs the interpreter; returns its status, stdout and stderr.
    static func run(_ arguments: [String]) -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: interpreter)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return (127, "", "\(error)") }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static func cli(_ arguments: [String]) -> (status: Int32, out: String, err: String) {
        run(["-m", "varlink.cli"] + arguments)
    }
}

/// The io.corral methods with fixed answers: the protocol and description are under test here
/// (the real daemon answers them in the guest test daemon/varlink_client).
private func corralServer() throws -> TestServer {
    try TestServer(configure: { $0.version = "9.8.7" }) { server, _ in
        server.register(ControlInterface.SetMode.self) { parameters, _ throws(ControlError) in
            guard ["audit", "enforce", "policy"].contains(parameters.mode) else {
                throw .invalidParameter("mode", reason: "expected one of audit, enforce, policy")
            }
            return .init(generation: 42)
        }
        server.register(ControlInterface.Loosen.self) { parameters, _ throws(ControlError) in
            throw .noSuchRule(parameters.rule)
        }
        server.register(ControlInterface.Explain.self) { parameters, _ in
            .init(text: "event \(parameters.id)", event: nil, generation: 3, agrees: true)
        }
    }
}

@Suite(.serialized) struct VarlinkClientTests {
    /// Under CI=true the tests run (and fail here) without the client; elsewhere they are skipped.
    private func usable() -> Bool {
        guard let why = VarlinkPython.missing else { return true }
        Issue.record("CI=true but the varlink client is unusable: \(why)")
        return false
    }

    @Test(.enabled(if: VarlinkPython.missing == nil || VarlinkPython.ci, "needs the varlink client: pip install varlink, CORRAL_VARLINK_PYTHON"))
    func infoListsTheServiceAndItsInterfaces() throws {
        guard usable() else { return }
        let server = try corralServer()
        defer { server.stop() }
        let r = VarlinkPython.cli(["info", "unix:" + server.socketPath])
        #expect(r.status == 0, "\(r.err)")
        for line in ["Vendor: Corral", "Product: corral", "Version: 9.8.7", "URL: man:corral(1)", "io.corral", "org.varlink.service"] {
            #expect(r.out.contains(line), "info lacks '\(line)':\n\(r.out)")
        }
    }

    @Test(.enabled(if: VarlinkPython.missing == nil || VarlinkPython.ci, "needs the varlink client: pip install varlink, CORRAL_VARLINK_PYTHON"))
    func theClientParsesTheGeneratedDescription() throws {
        guard usable() else { return }
        let server = try corralServer()
        defer { server.stop() }
        let r = VarlinkPython.cli(["help", "unix:" + server.socketPath + "/io.corral"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("interface io.corral"))
        #expect(r.out.contains("method SetMode(mode: string, rule: ?string) -> (generation: int)"), "\(r.out)")
        #expect(r.out.contains("error PolicyInvalid (diagnostics: []string)"))
        // The client parses the text into its own Interface model (a syntax error raises).
        let parsed = VarlinkPython.run(["-c", """
            import sys, varlink
            with varlink.Client(address="unix:\(server.socketPath)") as c:
                i = c.get_interface("io.corral")
                print(sorted(i.members.keys()))
            """])
        #expect(parsed.status == 0, "\(parsed.err)")
        for method in ControlInterface.methods where method.name.hasPrefix("io.corral.") {
            #expect(parsed.out.contains("'\(method.name.dropFirst("io.corral.".count))'"), "\(parsed.out)")
        }
        let unknown = VarlinkPython.cli(["help", "unix:" + server.socketPath + "/io.nothing"])
        #expect(unknown.status != 0 && (unknown.err + unknown.out).contains("InterfaceNotFound"), "\(unknown.err)")
    }

    @Test(.enabled(if: VarlinkPython.missing == nil || VarlinkPython.ci, "needs the varlink client: pip install varlink, CORRAL_VARLINK_PYTHON"))
    func typedCallsAndErrors() throws {
        guard usable() else { return }
        let server = try corralServer()
        defer { server.stop() }
        let address = "unix:" + server.socketPath
        let ok = VarlinkPython.cli(["call", address + "/io.corral.SetMode", #"{"mode": "audit"}"#])
        #expect(ok.status == 0 && ok.out.contains("\"generation\": 42"), "\(ok.out)\(ok.err)")
        // The client prints an error reply on stderr (and exits 0).
        let bad = VarlinkPython.cli(["call", address + "/io.corral.SetMode", #"{"mode": "loud"}"#])
        #expect(bad.err.contains("org.varlink.service.InvalidParameter") && bad.err.contains("mode"), "\(bad.out)\(bad.err)")
        let rule = VarlinkPython.cli(["call", address + "/io.corral.Loosen", #"{"rule": "nope", "seconds": 5}"#])
        #expect(rule.err.contains("io.corral.NoSuchRule") && rule.err.contains("nope"), "\(rule.out)\(rule.err)")
        let missing = VarlinkPython.cli(["call", address + "/io.corral.Loosen", #"{"rule": "nope"}"#])
        #expect(missing.err.contains("InvalidParameter") && missing.err.contains("seconds"), "\(missing.out)\(missing.err)")
    }

    /// oneway: the server answers nothing, not even an error, and the connection stays usable.
    @Test(.enabled(if: VarlinkPython.missing == nil || VarlinkPython.ci, "needs the varlink client: pip install varlink, CORRAL_VARLINK_PYTHON"))
    func onewayGetsNoReply() throws {
        guard usable() else { return }
        let server = try corralServer()
        defer { server.stop() }
        let r = VarlinkPython.run(["-c", """
            import socket, json
            s = socket.socket(socket.AF_UNIX)
            s.connect("\(server.socketPath)")
            s.sendall(json.dumps({"method": "io.corral.SetMode", "parameters": {"mode": "loud"}, "oneway": True}).encode() + b"\\0")
            s.sendall(json.dumps({"method": "io.corral.Explain", "parameters": {"id": "7"}}).encode() + b"\\0")
            data = b""
            while not data.endswith(b"\\0"):
                data += s.recv(4096)
            print(data[:-1].decode())
            """])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("event 7") && !r.out.contains("InvalidParameter"), "the first reply must be Explain's: \(r.out)")
    }
}
