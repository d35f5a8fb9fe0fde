// The typed control interface (ControlInterface): wire form, decode errors naming the key, and
// typed calls through a real server and client.
import CorralControl
import CorralSystem
import Foundation
import Testing

private typealias I = ControlInterface

@Suite struct InterfaceWireTests {
    @Test func repliesKeepTheirWireForm() throws {
        let apply = I.Apply.Reply(generation: 8, slot: 0, rules: 3, validateMs: 1.5, compileMs: 0, installMs: 0.25)
        #expect(JSONValue.object(try I.Apply.encode(reply: apply)).description
            == #"{"compile_ms":0,"generation":8,"install_ms":0.25,"rules":3,"slot":0,"validate_ms":1.5}"#)
        // Why and TrustExecutable write null for what is absent; Explain leaves it out.
        let why = I.Why.Reply(verdict: "allow", rule: nil, mode: nil, errno: 0, generation: 2, text: "t")
        #expect(JSONValue.object(try I.Why.encode(reply: why)).description
            == #"{"errno":0,"generation":2,"mode":null,"rule":null,"text":"t","verdict":"allow"}"#)
        let trust = I.TrustExecutable.Reply(path: "/x", inode: nil, selfProtection: false)
        #expect(JSONValue.object(try I.TrustExecutable.encode(reply: trust)).description
            == #"{"inode":null,"path":"/x","self_protection":false}"#)
        #expect(JSONValue.object(try I.Explain.encode(reply: .init(text: "t"))).description == #"{"text":"t"}"#)
        // GetStatus: policy_watch null when off; inside it, absent fields are left out.
        var status = I.GetStatus.Reply(kernelMode: "compat", generation: 9_007_199_254_740_993, slot: 1, source: "p.yaml",
                                       rules: 2, policyMode: "enforce", ruleModes: ["a": "audit"], loosened: [:], pins: "",
                                       adopted: false, ringbufDrops: 0, eventsSeen: 5, lastApply: 1.5, policyWatch: nil)
        var text = JSONValue.object(try I.GetStatus.encode(reply: status)).description
        #expect(text.contains(#""policy_watch":null"#) && text.contains(#""generation":9007199254740993"#))
        status.policyWatch = .init(path: "/p", lastChange: "none")
        text = JSONValue.object(try I.GetStatus.encode(reply: status)).description
        #expect(text.contains(#""policy_watch":{"last_change":"none","path":"/p"}"#))
        #expect(try I.GetStatus.decode(reply: I.GetStatus.encode(reply: status)) == status)
        status.ruleOrigins = ["a": "/etc/corral/policy.yaml:3", "b": "registration reg-1 (manager pid 7)"]
        text = JSONValue.object(try I.GetStatus.encode(reply: status)).description
        #expect(text.contains(#""rule_origins":{"a":"/etc/corral/policy.yaml:3","b":"registration reg-1 (manager pid 7)"}"#))
        #expect(try I.GetStatus.decode(reply: I.GetStatus.encode(reply: status)) == status)
        // Requests leave nil parameters out.
        #expect(JSONValue.object(I.SetMode.encode(parameters: .init(mode: "audit", rule: nil))).description == #"{"mode":"audit"}"#)
        #expect(JSONValue.object(I.Why.encode(parameters: .init(pid: 7, toCgroup: "/a"))).description == #"{"pid":7,"to_cgroup":"/a"}"#)
    }

    @Test func aMissingOrMistypedKeyIsNamed() throws {
        #expect(throws: ControlError.invalidParameter("seconds", reason: "missing")) {
            try I.Loosen.decode(parameters: ["rule": "r"])
        }
        #expect(throws: ControlError.invalidParameter("seconds", reason: "expected an integer, got a string")) {
            try I.Loosen.decode(parameters: ["rule": "r", "seconds": "10"])
        }
        #expect(throws: ControlError.invalidParameter("seconds", reason: "expected an integer, got 1.5")) {
            try I.Loosen.decode(parameters: ["rule": "r", "seconds": 1.5])
        }
        #expect(throws: ControlError.invalidParameter("rule", reason: "missing")) {
            try I.Loosen.decode(parameters: ["rule": nil, "seconds": 10])
        }
        #expect(try I.Loosen.decode(parameters: ["rule": "r", "seconds": 10.0, "extra": true]) == .init(rule: "r", seconds: 10))
        #expect(try I.SetMode.decode(parameters: ["mode": "audit", "rule": nil]) == .init(mode: "audit", rule: nil))
        // A reply whose key was renamed does not become 0.
        #expect(throws: JSONDecodeError(path: ["generation"], reason: "missing")) {
            try I.SetMode.decode(reply: ["gen": 7])
        }
        #expect(throws: JSONDecodeError(path: ["policy_watch", "path"], reason: "expected a string, got a number")) {
            try I.GetStatus.decode(reply: [
                "kernel_mode": "compat", "generation": 1, "slot": 0, "source": "s", "rules": 0, "policy_mode": "enforce",
                "rule_modes": [:], "loosened": [:], "pins": "", "adopted": false, "ringbuf_drops": 0, "events_seen": 0,
                "last_apply": 0, "policy_watch": ["path": 1, "last_change": "none"],
            ])
        }
        #expect(throws: ControlError.invalidParameter("pid", reason: "0 is outside 1…2147483647")) {
            try ControlError.check("pid", 0, in: I.Why.pids)
        }
    }

    @Test func everyMethodIsListedOnce() {
        let names = ControlInterface.methods.map { $0.name }
        #expect(Set(names).count == names.count && names.count == 13)
        #expect(names.contains(ControlMethod.trustExecutable) && names.contains(ControlMethod.getInfo))
    }
}

@Suite struct InterfaceCallTests {
    @Test func typedCallsThroughServerAndClient() throws {
        let server = try TestServer(setup: { server, _ in
            server.register(I.Loosen.self) { p, _ throws(ControlError) in
                try ControlError.check("seconds", p.seconds, in: I.Loosen.seconds)
                return I.Loosen.Reply(generation: 4, until: 1_795_430_000.5)
            }
            // A daemon that renamed a reply key.
            server.register(method: I.SetMode.name, access: .read) { _ in .reply(["gen": 5]) }
            server.registerStreaming(I.GetEvents.self) { p, call in
                for i in 0..<(p.limit ?? 0) { call.stream.send(I.GetEvents.self, .init(event: ["seq": JSONValue(i)])) }
                call.stream.finish(I.GetEvents.self, .init(count: p.limit ?? 0))
            }
        })
        defer { server.stop() }
        let client = try ControlClient(socketPath: server.socketPath)
        #expect(try client.call(I.Loosen.self, .init(rule: "r", seconds: 60)).get() == .init(generation: 4, until: 1_795_430_000.5))
        #expect(throws: ControlError.invalidParameter("seconds", reason: "0 is outside 1…86400")) {
            try client.call(I.Loosen.self, .init(rule: "r", seconds: 0)).get()
        }
        #expect(throws: ControlClientError.invalidReply(#"io.corral.SetMode: "generation": missing"#)) {
            try client.call(I.SetMode.self, .init(mode: "audit", rule: nil))
        }
        var seen: [I.GetEvents.Reply] = []
        let client2 = try ControlClient(socketPath: server.socketPath)
        let streamed = try client2.stream(I.GetEvents.self, .init(limit: 2)) { seen.append($0); return true }
        #expect(throws: Never.self) { try streamed.get() }
        #expect(seen == [.init(event: ["seq": 0]), .init(event: ["seq": 1]), .init(count: 2)])
        let info = try client2.call(I.GetInfo.self, NoFields()).get()
        #expect(info.vendor == "Corral" && info.interfaces == ["io.corral", "org.varlink.service"])
    }
}

@Suite struct InterfaceAuthorizationTests {
    /// A root-only method refuses an admin-group caller before looking at its parameters.
    @Test(.enabled(if: geteuid() == 0, "dropping to another uid needs root"))
    func rootOnlyComesBeforeParameters() throws {
        let server = try TestServer(configure: { $0.authorization = AuthorizationConfig(adminGroup: 4242) }, setup: { server, _ in
            server.register(I.TrustExecutable.self) { p, _ in .init(path: p.path, inode: 1, selfProtection: true) }
        })
        defer { server.stop() }
        let admin = ChildPeer(uid: 65534, gid: 4242, groups: [])
        let requests = [ControlRequest(method: I.TrustExecutable.name), ControlRequest(method: I.TrustExecutable.name, parameters: ["path": "/x"])]
        let denied = ControlReply(error: .permissionDenied(method: I.TrustExecutable.name))
        #expect(try callAsChild(admin, socketPath: server.socketPath, requests: requests) == [denied, denied])
        let client = try ControlClient(socketPath: server.socketPath)
        #expect(throws: ControlError.invalidParameter("path", reason: "missing")) {
            try client.call(I.TrustExecutable.name, [:]).get()
        }
        #expect(try client.call(I.TrustExecutable.self, .init(path: "/x")).get() == .init(path: "/x", inode: 1, selfProtection: true))
    }
}
