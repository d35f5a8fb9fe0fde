// Thousands of malformed and random requests through real sockets (seeded, so failures
// reproduce): the server must answer every complete request with a named error of the contract,
// keep the connection usable, and never run the one state-changing method.
import CorralControl
import CorralSystem
import CorralTestSupport
import Foundation
import Testing

private typealias Names = Set<String>
private let malformed: Names = [ControlError.Name.malformedRequest]
private let notFound: Names = [ControlError.Name.methodNotFound]
private let invalid: Names = [ControlError.Name.invalidParameter]
private let anyRejection: Names = [ControlError.Name.malformedRequest, ControlError.Name.methodNotFound,
                                   ControlError.Name.invalidParameter]

/// One generated request (no terminator) and what must come back.
private struct FuzzCase {
    enum Expect {
        case error(Names)
        /// A valid test.Echo, mixed in to show the connection still works.
        case echo([String: JSONValue])
    }
    var category: String
    var bytes: [UInt8]
    var expect: Expect
}

private struct Generator {
    var rng: SplitMix

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }

    /// Bytes 1...255 (a NUL would split the request in two).
    mutating func randomBytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(int(1...255)) } }

    mutating func randomName() -> String {
        let alphabet = Array("abcXYZ._-0é✓ ")
        return String((0..<int(1...24)).map { _ in pick(alphabet) })
    }

    /// A JSON value of any type (never deeper than `depth`).
    mutating func randomValue(depth: Int = 3) -> JSONValue {
        switch int(0...(depth > 0 ? 6 : 4)) {
        case 0: return .null
        case 1: return .bool(chance(0.5))
        case 2: return .number(pick([0, -1, 1.5, 1e300, -1e-300, 9_007_199_254_740_992, Double(int(-1000...1000))]))
        case 3: return .string(randomName())
        case 4: return .string(String(decoding: randomBytes(int(0...8)).filter { $0 < 0x80 && $0 >= 0x20 }, as: UTF8.self))
        case 5: return .array((0..<int(0...3)).map { _ in randomValue(depth: depth - 1) })
        default: return .object(Dictionary((0..<int(0...3)).map { _ in (randomName(), randomValue(depth: depth - 1)) },
                                           uniquingKeysWith: { a, _ in a }))
        }
    }

    /// A well-formed request that must be rejected with InvalidParameter or MethodNotFound.
    mutating func rejectedRequest() -> (ControlRequest, Names) {
        switch int(0...5) {
        case 0:  // Increment with a wrong or missing token (the real one is never generated here)
            var p: [String: JSONValue] = ["by": pick([1, 2, 10])]
            if chance(0.7) { p["token"] = pick([.string("nope"), .string(randomName()), randomValue(), .string("")]) }
            return (ControlRequest(method: "test.Increment", parameters: p, more: chance(0.2)), invalid)
        case 1:  // Increment with the real token but a bad `by`, or an unknown parameter
            var p: [String: JSONValue] = ["token": .string(incrementToken)]
            if chance(0.3) {
                p["by"] = 1
                p[pick(["extra", "By", "token2", "by "])] = randomValue()
            } else if chance(0.9) {
                p["by"] = pick([0, 11, -3, 1.5, 1e300, "1", true, [1], ["by": 1], .number(-0.5)])
            }
            return (ControlRequest(method: "test.Increment", parameters: p), invalid)
        case 2:  // streaming methods with bad arguments
            let p: [String: JSONValue] = pick([["n": -1], ["n": 10_001], ["n": "3"], [:], ["n": 2, "bogus": true]])
            return (ControlRequest(method: "test.Count", parameters: p, more: chance(0.5)), invalid)
        case 3:
            let p: [String: JSONValue] = pick([["n": 0], ["n": 1001], ["n": 1, "interval": 0], ["n": nil]])
            return (ControlRequest(method: "test.Ticks", parameters: p, more: true), invalid)
        case 4:  // unknown methods
            let method = pick(["fuzz." + randomName(), "io.corral.Apply", "test.echo", "test.Echo.", "org.varlink.service",
                               "test.Increment " , " test.Echo", String(repeating: "a.", count: int(1...200))])
            return (ControlRequest(method: method, parameters: randomValue().objectValue ?? [:], more: chance(0.3)), notFound)
        default:  // unknown method with random parameters
            return (ControlRequest(method: "fuzz.M\(int(0...9999))", parameters: ["x": randomValue(depth: 4)]), notFound)
        }
    }

    mutating func next() -> FuzzCase {
        let roll = int(0...99)
        switch roll {
        case 0..<12:
            let (r, _) = rejectedRequest()
            let full = r.encoded()
            return FuzzCase(category: "truncated", bytes: Array(full.prefix(int(0...(full.count - 2)))), expect: .error(malformed))
        case 12..<22:
            return FuzzCase(category: "random bytes", bytes: randomBytes(int(0...300)), expect: .error(malformed))
        case 22..<32:
            // Token soup: JSON-looking, rarely valid; never a valid call (no valid method is among the tokens).
            let tokens = ["{", "}", "[", "]", ":", ",", " ", "\"method\"", "\"parameters\"", "\"more\"", "\"fuzz.A\"",
                          "\"test.Increment\"", "1", "-2.5e3", "true", "null", "\"by\"", "\"\\u00e9\"", "\"\\ud800\""]
            let text = (0..<int(1...40)).map { _ in pick(tokens) }.joined()
            return FuzzCase(category: "token soup", bytes: Array(text.utf8), expect: .error(anyRejection))
        case 32..<34:
            // Huge strings: as a method name, a parameter value, or a parameter name.
            let huge = String(repeating: pick(["x", "é", "\\n"]), count: int(10_000...150_000))
            let text: String
            let names: Names
            switch int(0...2) {
            case 0: text = #"{"method":"fuzz.\#(huge)"}"#; names = notFound
            case 1: text = #"{"method":"test.Increment","parameters":{"token":"\#(huge)","by":1}}"#; names = invalid
            default: text = #"{"method":"test.Count","parameters":{"\#(huge)":1}}"#; names = invalid
            }
            return FuzzCase(category: "huge string", bytes: Array(text.utf8), expect: .error(names))
        case 34..<44:
            // Deep nesting: beyond the limit is malformed; within it, a bad parameter.
            let depth = chance(0.5) ? int(129...5_000) : int(1...120)
            let open = pick(["[", "{\"k\":"])
            let close = open == "[" ? "]" : "}"
            let nested = String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
            let text = #"{"method":"test.Increment","parameters":{"token":"\#(incrementToken)","by":\#(nested)}}"#
            return FuzzCase(category: "deep nesting", bytes: Array(text.utf8), expect: .error(depth >= 127 ? malformed : invalid))
        case 44..<56:
            // Wrong types at the top level.
            let bad: [String] = [
                #"{"method":\#(pick(["1", "true", "null", "[]", "{}", "[\"test.Echo\"]", "-0"]))}"#,
                #"{"method":"test.Echo","parameters":\#(pick(["[]", "1", "\"p\"", "true", "[{}]"]))}"#,
                #"{"method":"test.Echo","more":\#(pick(["1", "\"true\"", "[]", "{}", "0"]))}"#,
                pick(["[]", "1", "\"test.Echo\"", "null", "true", "{}", #"{"parameters":{}}"#, #"{"Method":"test.Echo"}"#]),
                #"{"method":"test.Echo","method":"test.Echo"}"#,
            ]
            return FuzzCase(category: "wrong types", bytes: Array(pick(bad).utf8), expect: .error(malformed))
        case 56..<80:
            let (r, names) = rejectedRequest()
            return FuzzCase(category: "bad parameters / unknown method", bytes: r.encoded(), expect: .error(names))
        case 80..<95:
            // Byte mutations of requests that can never become valid calls.
            var bytes = pick([
                Array(#"{"method":"test.Increment","parameters":{"by":1}}"#.utf8),
                Array(#"{"method":"test.Increment","parameters":{"token":"nope","by":2},"more":false}"#.utf8),
                Array(#"{"method":"fuzz.Nope","parameters":{"a":[1,2,{"b":null}],"s":"\u00e9"},"more":true}"#.utf8),
            ])
            for _ in 0..<int(1...3) {
                switch int(0...2) {
                case 0: bytes[int(0...(bytes.count - 1))] = UInt8(int(1...255))
                case 1: bytes.insert(UInt8(int(1...255)), at: int(0...bytes.count))
                default: if bytes.count > 1 { bytes.remove(at: int(0...(bytes.count - 1))) }
                }
            }
            return FuzzCase(category: "mutated", bytes: bytes, expect: .error(anyRejection))
        default:
            let p: [String: JSONValue] = ["nonce": JSONValue(int(0...1_000_000)), "v": randomValue()]
            return FuzzCase(category: "valid echo", bytes: ControlRequest(method: "test.Echo", parameters: p).encoded(),
                            expect: .echo(p))
        }
    }
}

@Suite struct FuzzTests {
    @Test func malformedAndRandomRequests() throws {
        let methods = TestMethods()
        let server = try TestServer(setup: { server, reactor in methods.register(on: server, reactor: reactor) })
        defer { server.stop() }
        var gen = Generator(rng: SplitMix(seed: 0x00C0_22A1_F022))
        var conn = try RawConnection(path: server.socketPath)
        var sentRequests = 0
        var rejected = 0
        var byCategory: [String: Int] = [:]
        let cpuStart = processCPUSeconds()

        while sentRequests < 6_000 {
            var batch: [FuzzCase] = []
            for _ in 0..<gen.int(1...8) { batch.append(gen.next()) }
            var data: [UInt8] = []
            for c in batch { data += c.bytes + [0] }
            // Whole, in tiny pieces, or in medium pieces.
            // Whole, in tiny pieces (small batches only, to bound the work), or in medium pieces.
            let chunks: [Int] = switch gen.int(0...3) {
            case 0: [1 << 22]
            case 1 where data.count <= 4096: (0..<16).map { _ in gen.int(1...16) }
            default: (0..<16).map { _ in gen.int(1...4096) }
            }
            let replies = try conn.exchange(data, chunkSizes: chunks, expect: batch.count, timeoutMillis: 20_000)
            try #require(replies.count == batch.count, "batch at request \(sentRequests): \(replies.count) replies for \(batch.count)")
            for (reply, c) in zip(replies, batch) {
                byCategory[c.category, default: 0] += 1
                let decoded = ControlReply.decode(reply)
                guard case .success(let r) = decoded else {
                    Issue.record("undecodable reply to \(c.category): \(String(decoding: reply.prefix(200), as: UTF8.self))")
                    continue
                }
                switch c.expect {
                case .error(let names):
                    rejected += 1
                    guard let name = r.errorName, names.contains(name) else {
                        Issue.record("""
                            \(c.category) request \(String(decoding: c.bytes.prefix(200), as: UTF8.self).debugDescription) \
                            got \(String(decoding: reply.prefix(300), as: UTF8.self)), expected one of \(names.sorted())
                            """)
                        continue
                    }
                    #expect(ControlError.Name.all.contains(name))
                    if name == ControlError.Name.malformedRequest {
                        #expect(r.errorParameters?["reason"]?.stringValue?.isEmpty == false)
                    }
                case .echo(let p):
                    #expect(r.parametersValue == p, "echo")
                }
            }
            #expect(!conn.closedByPeer)
            sentRequests += batch.count
            if gen.chance(0.02) { conn = try RawConnection(path: server.socketPath) }
        }
        let cpu = processCPUSeconds() - cpuStart

        #expect(rejected >= 5_000)
        #expect(Set(byCategory.keys).count == 9)
        #expect(methods.counter.current == 0)
        let stats = server.statistics
        #expect(stats.requests == sentRequests)
        #expect(stats.errors == rejected)
        #expect(stats.dropped == 0 && stats.refused == 0)
        // The counter does change for the one valid call, and the last connection still works.
        let reply = try conn.request(#"{"method":"test.Increment","parameters":{"token":"\#(incrementToken)","by":4}}"#)
        #expect(reply.parametersValue == ["total": 4])
        #expect(methods.counter.current == 4)
        print("fuzz: \(sentRequests) requests (\(rejected) rejected) in \(String(format: "%.1f", cpu)) s process CPU; \(byCategory.sorted { $0.key < $1.key })")
    }
}

private func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

extension ControlReply {
    var errorParameters: [String: JSONValue]? {
        if case .failure(let e) = result { return e.parameters }
        return nil
    }
}
