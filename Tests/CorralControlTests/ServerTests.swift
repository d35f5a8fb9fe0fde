// ControlServer and ControlClient over real Unix sockets, the server's reactor on its own thread.
import CorralControl
import CorralSystem
import Foundation
import Testing

private func startServer(_ methods: TestMethods = TestMethods(),
                         configure: @Sendable @escaping (inout ControlServerConfiguration) -> Void = { _ in }) throws -> TestServer {
    try TestServer(configure: configure) { server, reactor in methods.register(on: server, reactor: reactor) }
}

private func frame(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

@Suite struct ServerRoundTripTests {
    @Test func getInfoAndEcho() throws {
        let server = try startServer { $0.version = "1.2.3" }
        defer { server.stop() }
        let client = try ControlClient(socketPath: server.socketPath)

        let info = try client.call(ControlMethod.getInfo).get()
        #expect(info["vendor"] == "Corral")
        #expect(info["product"] == "corral")
        #expect(info["version"] == "1.2.3")
        #expect(info["interfaces"] == ["org.varlink.service", "test"])

        let parameters: [String: JSONValue] = [
            "int": 9_007_199_254_740_992, "negative": -42, "fraction": 0.1, "tiny": 1e-300,
            "text": "é ✓ \u{1F600} \"quoted\" back\\slash\nline\u{0}nul", "null": nil, "flag": false,
            "nested": ["a": [1, 2, ["b": true]], "empty": [:], "list": []],
        ]
        let echoed = try client.call("test.Echo", parameters).get()
        #expect(echoed == parameters)

        // Several calls on one connection.
        for i in 0..<20 {
            #expect(try client.call("test.Echo", ["i": JSONValue(i)]).get() == ["i": JSONValue(i)])
        }
        let stats = server.statistics
        #expect(stats.accepted == 1 && stats.requests == 22 && stats.errors == 0)
    }

    @Test func unknownMethod() throws {
        let server = try startServer()
        defer { server.stop() }
        let client = try ControlClient(socketPath: server.socketPath)
        let result = try client.call("io.corral.NoSuchThing", ["x": 1])
        #expect(result == .failure(.methodNotFound(method: "io.corral.NoSuchThing")))
        // A handler's InvalidParameter comes back with its parameters.
        #expect(try client.call("test.Increment", ["token": .string(incrementToken), "by": 11])
            == .failure(.invalidParameter("by", reason: "11 is outside 1…10")))
        #expect(try client.call("test.Increment", ["token": .string(incrementToken), "by": 2]).get() == ["total": 2])
    }

    @Test func halfClosedClientGetsItsReplies() throws {
        let server = try startServer()
        defer { server.stop() }
        let conn = try RawConnection(path: server.socketPath)
        let batch = frame(#"{"method":"test.Concat","parameters":{"a":"x","b":"y"}}"#)
            + frame(#"{"method":"test.Concat","parameters":{"b":"y"}}"#)
            + frame(#"{"method":"test.Ticks","parameters":{"n":3},"more":true}"#)
            + Array(#"{"method":"test.Echo"}"#.utf8)   // incomplete: never answered
        let early = try conn.exchange(batch, expect: 0, timeoutMillis: 100)
        try Sys.shutdownWrite(conn.fd)
        // Waits for a sixth reply that never comes, until the server closes the connection.
        let replies = try (early + conn.exchange([], expect: 6)).map { try ControlReply.decode($0).get() }
        #expect(replies.map(\.result) == [
            .success(["ab": "xy"]), .failure(.invalidParameter("a", reason: "missing")),
            .success(["tick": 1]), .success(["tick": 2]), .success(["tick": 3, "last": true]),
        ])
        // Everything answered: the server closes its end.
        #expect(try conn.waitForClose())
        #expect(server.waitUntil { $0.connectionCount == 0 })
    }

    @Test func framingSplitAcrossSmallWrites() throws {
        let server = try startServer()
        defer { server.stop() }
        let conn = try RawConnection(path: server.socketPath)
        let request = frame(#"{"method": "test.Echo", "parameters": {"split": "across many writes", "n": 12345}}"#)
        // 1-, 2- and 3-byte writes with pauses, so the server sees many partial reads.
        let replies = try conn.exchange(request, chunkSizes: [1, 2, 3], pauseMicros: 300, expect: 1)
        #expect(replies.count == 1)
        let reply = try ControlReply.decode(replies[0]).get()
        #expect(reply.parametersValue == ["split": "across many writes", "n": 12345])
        // The terminator alone in its own write.
        let body = Array(#"{"method":"test.Echo","parameters":{"k":1}}"#.utf8)
        #expect(try conn.exchange(body, expect: 0, timeoutMillis: 200).isEmpty)
        Sys.sleep(millis: 20)
        let late = try conn.exchange([0], expect: 1)
        #expect(try ControlReply.decode(late[0]).get().parametersValue == ["k": 1])
        #expect(server.statistics.requests == 2)
    }

    @Test func severalRequestsInOneWrite() throws {
        let server = try startServer()
        defer { server.stop() }
        let conn = try RawConnection(path: server.socketPath)
        var batch: [UInt8] = []
        for i in 0..<50 { batch += frame(#"{"method":"test.Echo","parameters":{"i":\#(i)}}"#) }
        batch += frame(#"{"method":"nope.Nope"}"#)
        batch += frame(#"{"method":"test.Echo","parameters":{"last":true}}"#)
        let replies = try conn.exchange(batch, expect: 52)
        #expect(replies.count == 52)
        for i in 0..<50 {
            #expect(try ControlReply.decode(replies[i]).get().parametersValue == ["i": JSONValue(i)])
        }
        #expect(try ControlReply.decode(replies[50]).get().errorName == ControlError.Name.methodNotFound)
        #expect(try ControlReply.decode(replies[51]).get().parametersValue == ["last": true])
    }
}

@Suite struct StreamingTests {
    @Test func synchronousStream() throws {
        let server = try startServer()
        defer { server.stop() }
        let client = try ControlClient(socketPath: server.socketPath)
        var got: [[String: JSONValue]] = []
        let result = try client.stream("test.Count", ["n": 5]) { got.append($0); return true }
        #expect(throws: Never.self) { try result.get() }
        #expect(got == [["i": 0], ["i": 1], ["i": 2], ["i": 3], ["i": 4], ["done": true]])

        // Without `more` a streaming method gives exactly one, final reply.
        let conn = try RawConnection(path: server.socketPath)
        let replies = try conn.exchange(frame(#"{"method":"test.Count","parameters":{"n":3}}"#)
                                        + frame(#"{"method":"test.Echo","parameters":{"after":1}}"#), expect: 2)
        #expect(replies.count == 2)
        let first = try ControlReply.decode(replies[0]).get()
        #expect(first.parametersValue == ["i": 0] && !first.continues)
        #expect(try ControlReply.decode(replies[1]).get().parametersValue == ["after": 1])

        // The wire form: "continues": true on all but the last reply.
        let raw = try conn.exchange(frame(#"{"method":"test.Count","parameters":{"n":2},"more":true}"#), expect: 3)
        #expect(raw.map { String(decoding: $0, as: UTF8.self) } == [
            #"{"continues":true,"parameters":{"i":0}}"#, #"{"continues":true,"parameters":{"i":1}}"#,
            #"{"parameters":{"done":true}}"#,
        ])
    }

    @Test func asynchronousStreamKeepsOrder() throws {
        let server = try startServer()
        defer { server.stop() }
        let conn = try RawConnection(path: server.socketPath)
        // A pipelined request behind a stream waits until the stream ends.
        let batch = frame(#"{"method":"test.Ticks","parameters":{"n":5},"more":true}"#)
            + frame(#"{"method":"test.Echo","parameters":{"behind":"ticks"}}"#)
        let replies = try conn.exchange(batch, expect: 6).map { try ControlReply.decode($0).get() }
        #expect(replies.count == 6)
        #expect(replies.prefix(4).map(\.parametersValue) == (1...4).map { ["tick": JSONValue($0)] })
        #expect(replies.prefix(4).allSatisfy { $0.continues })
        #expect(replies[4].parametersValue == ["tick": 5, "last": true] && !replies[4].continues)
        #expect(replies[5].parametersValue == ["behind": "ticks"])
        #expect(server.onLoop { _, reactor in reactor.timerCount } == 0)
    }

    @Test func clientLeavingEndsTheStream() throws {
        let methods = TestMethods()
        let server = try startServer(methods)
        defer { server.stop() }
        let client = try ControlClient(socketPath: server.socketPath)
        var seen = 0
        let result = try client.stream("test.Ticks", ["n": 1000, "interval": 1]) { _ in
            seen += 1
            return seen < 3
        }
        #expect(throws: Never.self) { try result.get() }
        #expect(seen == 3)
        #expect(!client.isConnected)
        // The server notices, calls onClose (which cancels the timer) and forgets the connection.
        #expect(server.waitUntil { $0.connectionCount == 0 })
        #expect(methods.closedStreams.current == 1)
        #expect(server.onLoop { _, reactor in reactor.timerCount } == 0)
    }
}

@Suite struct LimitTests {
    @Test func requestOverSixteenMiB() throws {
        let server = try startServer()
        defer { server.stop() }
        let conn = try RawConnection(path: server.socketPath)
        // 16 MiB + 1 bytes and no terminator yet.
        let data = [UInt8](repeating: UInt8(ascii: " "), count: (16 << 20) + 1)
        let replies = try conn.exchange(data, expect: 1, timeoutMillis: 30_000)
        #expect(replies.count == 1)
        let reply = try ControlReply.decode(replies[0]).get()
        #expect(reply.result == .failure(.requestTooLarge(limit: 16_777_216)))
        #expect(try conn.waitForClose())
    }

    @Test func limitBoundary() throws {
        let server = try startServer { $0.maxRequestBytes = 100 }
        defer { server.stop() }
        func padded(_ n: Int) -> [UInt8] {
            var text = Array(#"{"method":"test.Echo"}"#.utf8)
            text += [UInt8](repeating: UInt8(ascii: " "), count: n - text.count)
            return text + [0]
        }
        let conn = try RawConnection(path: server.socketPath)
        let ok = try conn.exchange(padded(100), expect: 1)
        #expect(try ControlReply.decode(ok[0]).get().parametersValue == [:])
        // A complete but oversized request, followed by a valid one that is never answered.
        let tooBig = try conn.exchange(padded(101) + frame(#"{"method":"test.Echo"}"#), expect: 2)
        #expect(tooBig.count == 1)
        #expect(try ControlReply.decode(tooBig[0]).get().result == .failure(.requestTooLarge(limit: 100)))
        #expect(try conn.waitForClose())

        // Through the client: the error reply is read although the server closed the socket.
        let client = try ControlClient(socketPath: server.socketPath)
        let result = try client.call("test.Echo", ["big": .string(String(repeating: "x", count: 5000))])
        #expect(result == .failure(.requestTooLarge(limit: 100)))
        #expect(server.waitUntil { $0.connectionCount == 0 })
    }

    @Test func malformedRequestsKeepTheConnection() throws {
        let server = try startServer()
        defer { server.stop() }
        let conn = try RawConnection(path: server.socketPath)
        let bad: [(String, String)] = [
            ("", "invalid JSON: empty document at byte 0"),
            ("{", "invalid JSON: unexpected end of input at byte 1"),
            (#"{"method":"test.Echo""#, "invalid JSON: unexpected end of input at byte 21"),
            ("not json", "invalid JSON: invalid literal at byte 0"),
            ("@", "invalid JSON: unexpected character at byte 0"),
            (#"[{"method":"test.Echo"}]"#, "the request is an array, not an object"),
            (#"{"parameters":{}}"#, #"missing "method""#),
            (#"{"method":7}"#, #""method" is a number, not a string"#),
            (#"{"method":null}"#, #""method" is null, not a string"#),
            (#"{"method":""}"#, #""method" is empty"#),
            (#"{"method":"test.Echo","parameters":[1]}"#, #""parameters" is an array, not an object"#),
            (#"{"method":"test.Echo","parameters":"x"}"#, #""parameters" is a string, not an object"#),
            (#"{"method":"test.Echo","more":"yes"}"#, #""more" is a string, not a bool"#),
            (#"{"method":"test.Echo","method":"test.Echo"}"#, #"invalid JSON: duplicate key "method" at byte 22"#),
            ("{\"method\":\"test.\u{1}Echo\"}", "invalid JSON: control character in string at byte 16"),
            (#"{"method":"test.Echo"} trailing"#, "invalid JSON: unexpected data after the JSON value at byte 23"),
            (String(repeating: "[", count: 200), "invalid JSON: nesting deeper than 128 at byte 128"),
        ]
        var batch: [UInt8] = []
        for (text, _) in bad { batch += frame(text) }
        batch += [0xFF, 0xFE, 0x22, 0]                                      // not UTF-8
        batch += Array("{\"method\":\"\u{FFFF}".utf8).dropLast(1) + [0]    // truncated UTF-8
        batch += frame(#"{"method":"test.Echo","parameters":{"still":"works"}}"#)
        let replies = try conn.exchange(batch, expect: bad.count + 3).map { try ControlReply.decode($0).get() }
        #expect(replies.count == bad.count + 3)
        for (i, (text, reason)) in bad.enumerated() {
            #expect(replies[i].result == .failure(.malformedRequest(reason: reason)), "request \(i): \(text)")
        }
        #expect(replies[bad.count].errorName == ControlError.Name.malformedRequest)
        #expect(replies[bad.count + 1].errorName == ControlError.Name.malformedRequest)
        #expect(replies[bad.count + 2].parametersValue == ["still": "works"])
        #expect(!conn.closedByPeer)
    }

    @Test func sixtyFourConnections() throws {
        let server = try startServer()
        defer { server.stop() }
        var open: [RawConnection] = []
        for _ in 0..<64 { open.append(try RawConnection(path: server.socketPath)) }
        #expect(server.waitUntil { $0.connectionCount == 64 })
        let extra = try RawConnection(path: server.socketPath)
        #expect(try extra.waitForClose())
        #expect(server.statistics.refused == 1)
        // The open ones still work.
        #expect(try open[63].request(#"{"method":"test.Echo","parameters":{"n":63}}"#).parametersValue == ["n": 63])
        open.removeFirst()
        #expect(server.waitUntil { $0.connectionCount == 63 })
        let again = try RawConnection(path: server.socketPath)
        #expect(try again.request(#"{"method":"test.Anyone"}"#).parametersValue == ["uid": 0])
        #expect(server.statistics.refused == 1)
    }

    @Test func slowReaderIsDroppedWithoutBlockingOthers() throws {
        let methods = TestMethods()
        let server = try startServer(methods) {
            $0.maxOutputBytes = 4 << 20
            $0.outputHighWater = 64 << 10
        }
        defer { server.stop() }
        let slow = try RawConnection(path: server.socketPath)
        _ = try slow.exchange(frame(#"{"method":"test.Flood","more":true}"#), expect: 0, timeoutMillis: 100)
        // While the flood's output piles up, another client is answered promptly.
        let other = try ControlClient(socketPath: server.socketPath,
                                      options: .init(replyTimeoutMillis: 2_000))
        for i in 0..<10 {
            #expect(try other.call("test.Echo", ["i": JSONValue(i)]).get() == ["i": JSONValue(i)])
            Sys.sleep(millis: 5)
        }
        #expect(server.waitUntil { $0.statistics.dropped == 1 })
        #expect(methods.closedStreams.current == 1)
        #expect(try slow.waitForClose())
        #expect(try other.call(ControlMethod.getInfo).get()["vendor"] == "Corral")
        #expect(server.onLoop { _, reactor in reactor.timerCount } == 0)
    }
}

@Suite struct SocketLifecycleTests {
    @Test func socketFileModeAndStaleReplacement() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/control.sock"
        // A stale socket file: bound, never listening.
        let stale = try Sys.socket(.unix)
        try Sys.bind(stale, unixPath: path)
        Sys.close(stale)
        #expect(try FileSystem.status(path, followSymlinks: false).isSocket)

        let server = try TestServer(configure: { $0.socketPath = path })
        let st = try FileSystem.status(path, followSymlinks: false)
        #expect(st.isSocket && st.mode & 0o777 == 0o666)
        #expect(try ControlClient(socketPath: path).call(ControlMethod.getInfo).get()["product"] == "corral")

        // A live server at the path is not replaced.
        #expect(throws: Errno.addressInUse) { _ = try TestServer(configure: { $0.socketPath = path }) }
        #expect(try ControlClient(socketPath: path).call(ControlMethod.getInfo).get()["product"] == "corral")

        server.stop()
        #expect(!Sys.exists(path))
    }

    @Test func refusesToReplaceANonSocket() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/control.sock"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep".utf8)))
        #expect(throws: Errno.exists) { _ = try TestServer(configure: { $0.socketPath = path }) }
        #expect(try Sys.readFile(path) == "keep")
    }
}

@Suite struct ClientErrorTests {
    @Test func unreachableDaemon() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let missing = dir + "/control.sock"
        #expect(throws: ControlClientError.socketMissing(path: missing)) { _ = try ControlClient(socketPath: missing) }
        #expect(throws: ControlClientError.socketMissing(path: dir + "/no/such.sock")) {
            _ = try ControlClient(socketPath: dir + "/no/such.sock")
        }
        let stale = try Sys.socket(.unix)
        try Sys.bind(stale, unixPath: missing)
        Sys.close(stale)
        #expect(throws: ControlClientError.connectionRefused(path: missing)) { _ = try ControlClient(socketPath: missing) }
        // Root is never refused by file permissions, so EACCES is checked through the mapping.
        #expect(ControlClientError.connectFailure(.accessDenied, path: "/p") == .permissionDenied(path: "/p"))
        #expect(ControlClientError.connectFailure(.permissionDenied, path: "/p") == .permissionDenied(path: "/p"))
        #expect(ControlClientError.socketMissing(path: "/run/corral/control.sock").description
            == "cannot reach the corral daemon: /run/corral/control.sock does not exist (is `corral daemon` running?)")
    }

    @Test func replyTimeoutAndServerGoingAway() throws {
        let server = try startServer()
        let client = try ControlClient(socketPath: server.socketPath, options: .init(replyTimeoutMillis: 200))
        let start = Sys.monotonicMillis()
        #expect(throws: ControlClientError.timedOut(milliseconds: 200)) { _ = try client.call("test.Hang") }
        #expect(Sys.monotonicMillis() - start >= 190)
        server.stop()
        #expect(throws: ControlClientError.connectionClosed) { _ = try client.call("test.Echo") }
    }
}
