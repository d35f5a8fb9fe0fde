// JSONValue: the wire reader/writer, Codable bridging, protocol decoding and parameter access.
import CorralControl
import Foundation
import Testing

@Suite struct JSONWireTests {
    private func roundTrip(_ v: JSONValue) throws -> JSONValue { try JSONValue.parse(v.serialized()) }

    @Test func numbers() throws {
        #expect(JSONValue(7).description == "7")
        #expect(JSONValue(-0.0).description == "0")
        #expect(JSONValue(9_007_199_254_740_992).description == "9007199254740992")
        #expect(JSONValue(-9_007_199_254_740_992).description == "-9007199254740992")
        #expect(JSONValue(0.1).description == "0.1")
        #expect(JSONValue(1e300).description == "1e+300")
        #expect(JSONValue(Double.nan).description == "null")
        #expect(JSONValue(Double.infinity).description == "null")
        for d in [0.1, 1.5, -2.25, 1e-7, Double.leastNonzeroMagnitude, 1.7976931348623157e308, 12345678.9, 4.35] {
            #expect(try roundTrip(.number(d)) == .number(d))
        }
        #expect(try JSONValue.parse("9007199254740992").intValue == 9_007_199_254_740_992)
        #expect(try JSONValue.parse("1e2").intValue == 100)
        #expect(try JSONValue.parse("1.5").intValue == nil)
        #expect(try JSONValue.parse("-0").doubleValue == 0)
        #expect(try JSONValue.parse("2.5E-3").doubleValue == 0.0025)
        for bad in ["01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "1e400", "-1e400", "NaN", "Infinity"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
    }

    @Test func strings() throws {
        #expect(try JSONValue.parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        #expect(try JSONValue.parse(#""\u00e9\u2713\ud83d\ude00""#) == .string("é✓😀"))
        #expect(try JSONValue.parse(#""\u0000""#) == .string("\u{0}"))
        #expect(JSONValue.string("\u{0}\u{1F}\n\"").description == #""\u0000\u001f\n\"""#)
        #expect(!JSONValue.string("nul \u{0} inside").serialized().contains(0))
        #expect(JSONValue.string("é😀").serialized() == Array("\"é😀\"".utf8))
        for bad in [#""\ud83d""#, #""\ude00""#, #""\ud83d\u0041""#, #""\x""#, #""\u12""#, "\"abc", "\"a\u{1}\""] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        #expect(throws: JSONParseError(reason: "invalid UTF-8 in string", offset: 0)) {
            try JSONValue.parse([0x22, 0xC3, 0x28, 0x22])
        }
        #expect(throws: JSONParseError(reason: "invalid UTF-8 in string", offset: 0)) {
            try JSONValue.parse([0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22])   // encoded surrogate, slow path
        }
    }

    @Test func structure() throws {
        let v: JSONValue = ["b": [1, "two", nil, true, ["x": []]], "a": [:]]
        #expect(v.description == #"{"a":{},"b":[1,"two",null,true,{"x":[]}]}"#)
        #expect(try roundTrip(v) == v)
        #expect(try JSONValue.parse(" \n\t{ \"k\" : [ 1 , 2 ] } \r\n") == ["k": [1, 2]])
        #expect(v["b"]?[1]?.stringValue == "two")
        #expect(v["b"]?[9] == nil && v["zz"] == nil)
        let deep = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        #expect(throws: Never.self) { try JSONValue.parse(deep) }
        let tooDeep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        #expect(throws: JSONParseError(reason: "nesting deeper than 128", offset: 128)) { try JSONValue.parse(tooDeep) }
        #expect(throws: JSONParseError(reason: "nesting deeper than 128", offset: 640)) {
            try JSONValue.parse(String(repeating: "{\"a\":", count: 200))   // objects too
        }
        for bad in ["", " ", "[1,]", "{\"a\":1,}", "{a:1}", "[1 2]", "{\"a\" 1}", "tru", "nul", "[", "]", "{}{}", "\"a\" \"b\""] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        #expect(throws: JSONParseError(reason: "duplicate key \"a\"", offset: 7)) { try JSONValue.parse(#"{"a":1,"a":2}"#) }
    }

    @Test func codableBridging() throws {
        struct Status: Codable, Equatable {
            var generation: Int
            var source: String
            var ruleModes: [String: String]
            var loosened: [String: Double]
        }
        let s = Status(generation: 7, source: "/etc/corral/policy.yaml", ruleModes: ["r": "audit"], loosened: ["r": 1795430000.5])
        let v = try JSONValue(encoding: s)
        #expect(v["generation"] == 7)
        #expect(v["loosened"]?["r"] == 1795430000.5)
        #expect(try v.decode(as: Status.self) == s)
        // JSONValue inside Codable types, through Foundation's coders.
        let data = try JSONEncoder().encode(["v": ["x": [1, 2.5, "s", nil, false]] as JSONValue])
        let back = try JSONDecoder().decode([String: JSONValue].self, from: data)
        #expect(back["v"] == ["x": [1, 2.5, "s", nil, false]])
        #expect(String(decoding: try JSONEncoder().encode(JSONValue(42)), as: UTF8.self) == "42")
    }
}

@Suite struct ProtocolTests {
    @Test func requestWireForm() throws {
        let r = ControlRequest(method: "io.corral.Loosen", parameters: ["rule": "r", "seconds": 60], more: false)
        #expect(String(decoding: r.encoded(), as: UTF8.self)
            == #"{"method":"io.corral.Loosen","parameters":{"rule":"r","seconds":60}}"#)
        #expect(try ControlRequest.decode(r.encoded()).get() == r)
        let m = ControlRequest(method: "io.corral.GetEvents", parameters: ["follow": true], more: true)
        #expect(try ControlRequest.decode(m.encoded()).get() == m)
        // Absent or null parameters and more, unknown keys ignored; oneway read.
        #expect(try ControlRequest.decode(Array(#"{"method":"a.B","parameters":null,"more":null,"other":true}"#.utf8)).get()
            == ControlRequest(method: "a.B"))
        let oneway = ControlRequest(method: "a.B", oneway: true)
        #expect(try ControlRequest.decode(Array(#"{"method":"a.B","oneway":true}"#.utf8)).get() == oneway)
        #expect(try ControlRequest.decode(oneway.encoded()).get() == oneway)
        #expect(throws: ControlError.self) { try ControlRequest.decode(Array(#"{"method":"a.B","oneway":1}"#.utf8)).get() }
    }

    @Test func replyWireForm() throws {
        let ok = ControlReply(parameters: ["generation": 8], continues: true)
        #expect(String(decoding: ok.encoded(), as: UTF8.self) == #"{"continues":true,"parameters":{"generation":8}}"#)
        let err = ControlReply(error: .policyInvalid(diagnostics: ["line 3: unknown key"]))
        #expect(String(decoding: err.encoded(), as: UTF8.self)
            == #"{"error":"io.corral.PolicyInvalid","parameters":{"diagnostics":["line 3: unknown key"]}}"#)
        #expect(try ControlReply.decode(ok.encoded()).get() == ok)
        #expect(try ControlReply.decode(err.encoded()).get() == err)
        #expect(throws: JSONParseError.self) { try ControlReply.decode(Array("[]".utf8)).get() }
        #expect(throws: JSONParseError.self) { try ControlReply.decode(Array(#"{"error":1}"#.utf8)).get() }
    }

    @Test func errorNamesAndParameters() {
        let all: [ControlError] = [
            .methodNotFound(method: "m"), .invalidParameter("p", reason: "r"), .permissionDenied(method: "m"),
            .malformedRequest(reason: "r"), .requestTooLarge(limit: 16_777_216), .policyInvalid(diagnostics: ["d"]),
            .capacityExceeded(reason: "r"), .noSuchRule("r"), .noSuchEvent(id: "42"), .noSuchProcess(pid: 7),
            .kernelError(reason: "r"), .interfaceNotFound("i"), .registrationOutsideSubtree(subtree: "/s", problems: ["p"]),
            .noSuchRegistration(id: "reg-1"),
        ]
        #expect(Set(all.map(\.name)) == ControlError.Name.all)
        #expect(ControlError.Name.all.count == 14)
        let keys = all.map { $0.parameters.keys.sorted() }
        #expect(keys == [["method"], ["parameter", "reason"], ["method"], ["reason"], ["limit"], ["diagnostics"],
                         ["reason"], ["rule"], ["id"], ["pid"], ["reason"], ["interface"], ["problems", "subtree"], ["id"]])
        // The description lists every io.corral error with the parameters it is sent with.
        for error in all where error.name.hasPrefix("io.corral.") {
            let spec = ControlError.interfaceErrors.first { $0.name == error.name }
            #expect(spec.map { Set($0.fields.map(\.name)) } == Set(error.parameters.keys), "\(error.name)")
        }
        #expect(ControlError.interfaceErrors.count == all.filter { $0.name.hasPrefix("io.corral.") }.count)
        #expect(ControlError.requestTooLarge(limit: 16_777_216).description == #"io.corral.RequestTooLarge: {"limit":16777216}"#)
    }

    @Test func parameterAccess() throws {
        let r = ControlRequest(method: "x.Y", parameters: [
            "s": "text", "i": 42, "f": 1.5, "b": true, "n": nil, "big": 1e17, "mode": "audit",
        ])
        #expect(try r.string("s") == "text")
        #expect(try r.optionalString("missing") == nil)
        #expect(try r.optionalString("n") == nil)
        #expect(try r.integer("i", in: 1...100) == 42)
        #expect(try r.optionalBool("b") == true)
        #expect(try r.optionalChoice("mode", ["audit", "enforce", "policy"]) == "audit")
        #expect(throws: ControlError.invalidParameter("s", reason: "expected an integer, got a string")) { try r.integer("s") }
        #expect(throws: ControlError.invalidParameter("f", reason: "expected an integer, got 1.5")) { try r.integer("f") }
        #expect(throws: ControlError.invalidParameter("big", reason: "expected an integer, got 1e+17")) {
            try r.integer("big")
        }
        #expect(throws: ControlError.invalidParameter("i", reason: "42 is outside 1…10")) { try r.integer("i", in: 1...10) }
        #expect(throws: ControlError.invalidParameter("missing", reason: "missing")) { try r.string("missing") }
        #expect(throws: ControlError.invalidParameter("n", reason: "missing")) { try r.integer("n") }
        #expect(throws: ControlError.invalidParameter("b", reason: "expected a string, got a bool")) { try r.string("b") }
        #expect(throws: ControlError.invalidParameter("i", reason: "expected a bool, got a number")) { try r.optionalBool("i") }
        #expect(throws: ControlError.invalidParameter("mode", reason: "expected one of enforce, policy")) {
            try r.optionalChoice("mode", ["enforce", "policy"])
        }
        #expect(throws: ControlError.invalidParameter("b", reason: "unknown parameter")) {
            try r.rejectUnknownParameters(["s", "i", "f", "n", "big", "mode"])
        }
        #expect(throws: Never.self) { try r.rejectUnknownParameters(["s", "i", "f", "b", "n", "big", "mode"]) }
    }
}

@Suite struct JSONIntegerTests {
    @Test func sixtyFourBitIntegersAreExactOnTheWire() throws {
        // timestamp_ns after ~104 days of uptime passes 2^53; seq and cgroup ids are 64-bit too.
        for n: Int64 in [9_007_199_254_740_993, 9_223_372_036_854_775_807, -9_223_372_036_854_775_808, 123_456_789_012_345_678] {
            let v = try JSONValue.parse(Array("{\"timestamp_ns\":\(n)}".utf8))
            #expect(v["timestamp_ns"] == .integer(n) && v["timestamp_ns"]?.int64Value == n)
            #expect(v.description == "{\"timestamp_ns\":\(n)}", "written back digit for digit")
        }
        #expect(JSONValue(UInt64(18_000_000_000_000_000_001)).doubleValue != nil, "beyond Int64: a Double")
        #expect(try JSONValue.parse(Array("1.5".utf8)) == .number(1.5))
        #expect(try JSONValue.parse(Array("1e3".utf8)) == .integer(1000) && JSONValue.number(7) == .integer(7))
        #expect(Set([JSONValue.number(7), .integer(7)]).count == 1)
    }

    @Test func codableKeepsIntegersExact() throws {
        struct Event: Codable { var timestamp_ns: UInt64 }
        let v = try JSONValue(encoding: Event(timestamp_ns: 9_007_199_254_740_993))
        #expect(v["timestamp_ns"]?.uint64Value == 9_007_199_254_740_993)
        #expect(try v.decode(as: Event.self).timestamp_ns == 9_007_199_254_740_993)
    }
}
