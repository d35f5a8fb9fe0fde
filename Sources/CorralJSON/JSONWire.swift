// Reading and writing JSON text (RFC 8259): the control protocol's messages, event-log lines and
// generation records. Written by hand over bytes (this module does not import Foundation, though
// the binaries link it for other reasons), so that integers stay exact and the limits below hold.
//
// The reader is strict, because control-socket input comes from any local user: UTF-8 only, no trailing
// data, no duplicate object keys, no lone surrogates, numbers within Double range, and nesting at
// most `JSONValue.maxDepth` deep (the parser recurses). Every rejection is a `JSONParseError`
// with a reason and byte offset.
//
// The writer never emits a NUL byte (control characters in strings are escaped), so its output
// can be framed by NUL terminators. Object keys are sorted, so output is deterministic.

/// Why a text is not acceptable JSON.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    /// Byte offset where the problem was found.
    public var offset: Int
    public init(reason: String, offset: Int) {
        self.reason = reason
        self.offset = offset
    }
    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// The deepest nesting of arrays and objects `parse` accepts.
    public static let maxDepth = 128

    /// Parses one JSON text (surrounding whitespace allowed).
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            var p = JSONReader(buffer)
            do throws(JSONParseError) { return .success(try p.document()) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        return try parse(Array(bytes))
    }

    /// Parses a JSON text given as a String.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// The compact JSON text (UTF-8, keys sorted, no NUL bytes).
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(into: &out)
        return out
    }

    /// Appends the compact JSON text to `out`.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Self.nullBytes
        case .bool(let b): out += b ? Self.trueBytes : Self.falseBytes
        case .integer(let i): Self.write(integer: i, into: &out)
        case .number(let d): Self.writeNumber(d, into: &out)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            Self.writeObject(o, into: &out)
        }
    }

    static func writeObject(_ o: [String: JSONValue], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, entry) in o.sorted(by: { keyPrecedes($0.key, $1.key) }).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            writeString(entry.key, into: &out)
            out.append(UInt8(ascii: ":"))
            entry.value.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The order of object keys: their UTF-8 bytes (for ASCII keys, and NFC keys, the order of
    /// `String.<`, without its Unicode comparison cost).
    public static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Appends the decimal digits of `i` (no String in between: the daemon writes many).
    public static func write(integer i: Int64, into out: inout [UInt8]) {
        if i < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = i.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            } while magnitude > 0
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }

    /// Appends `s` as a JSON string.
    public static func write(string s: String, into out: inout [UInt8]) { writeString(s, into: &out) }

    private static let nullBytes = Array("null".utf8)
    private static let trueBytes = Array("true".utf8)
    private static let falseBytes = Array("false".utf8)

    /// Integers up to 2^53 as integers; other finite numbers in Swift's shortest round-trip form
    /// (valid JSON: "0.1", "1e-07", "1e+300"); NaN and infinities, which JSON lacks, as null.
    static func writeNumber(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else { out += nullBytes; return }
        if d.rounded(.towardZero) == d && abs(d) <= maxExactInteger {
            out.append(contentsOf: String(Int64(d)).utf8)
        } else {
            out.append(contentsOf: d.description.utf8)
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x00..<0x20:
                out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0")); out.append(UInt8(ascii: "0"))
                out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Recursive-descent reader over a byte buffer.
private struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(reason: reason, offset: offset ?? pos)
    }

    mutating func document() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        if pos == bytes.count { throw fail("empty document") }
        let v = try value(depth: 0)
        skipWhitespace()
        if pos != bytes.count { throw fail("unexpected data after the JSON value") }
        return v
    }

    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw fail("unexpected end of input") }
        for i in 0..<n where bytes[pos + i] != word.utf8Start[i] {
            throw fail("invalid literal")
        }
        pos += n
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > JSONValue.maxDepth { throw fail("nesting deeper than \(JSONValue.maxDepth)") }
        pos += 1  // {
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(16) // an event line has about 20 keys: fewer rehashes
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            guard bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = pos
            let key = try string()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            skipWhitespace()
            let v = try value(depth: depth)
            if members.updateValue(v, forKey: key) != nil {
                throw fail("duplicate key \"\(key.prefix(64))\"", at: keyOffset)
            }
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > JSONValue.maxDepth { throw fail("nesting deeper than \(JSONValue.maxDepth)") }
        pos += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(elements) }
            throw fail("expected ',' or ']'")
        }
    }

    /// An integer literal within Int64 is `.integer` (exact); anything else a finite Double.
    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = pos
        func digits(_ r: inout JSONReader) -> Int {
            let s = r.pos
            while r.pos < r.bytes.count, r.bytes[r.pos] >= UInt8(ascii: "0"), r.bytes[r.pos] <= UInt8(ascii: "9") { r.pos += 1 }
            return r.pos - s
        }
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count else { throw fail("unexpected end of input") }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else if digits(&self) == 0 {
            throw fail("invalid number", at: start)
        }
        var integral = true
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            if digits(&self) == 0 { throw fail("invalid number", at: start) }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            integral = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            if digits(&self) == 0 { throw fail("invalid number", at: start) }
        }
        // At most 18 digits always fit an Int64: no text needed.
        let negative = bytes[start] == UInt8(ascii: "-")
        if integral, pos - start - (negative ? 1 : 0) <= 18 {
            var magnitude: Int64 = 0
            for i in (negative ? start + 1 : start)..<pos { magnitude = magnitude * 10 + Int64(bytes[i] &- UInt8(ascii: "0")) }
            return .integer(negative ? -magnitude : magnitude)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if integral, let i = Int64(text) { return .integer(i) }
        guard let d = Double(text), d.isFinite else { throw fail("number out of range", at: start) }
        return JSONValue(d)
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("unexpected end of input") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    mutating func string() throws(JSONParseError) -> String {
        let start = pos
        pos += 1  // opening quote
        // Fast path: no escapes.
        var scan = pos
        var bytesOr: UInt8 = 0
        while scan < bytes.count {
            let c = bytes[scan]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { break }
            bytesOr |= c
            scan += 1
        }
        if scan < bytes.count && bytes[scan] == UInt8(ascii: "\"") {
            let slice = UnsafeBufferPointer(rebasing: bytes[pos..<scan])
            if bytesOr < 0x80 { // ASCII is valid UTF-8: nothing to validate
                pos = scan + 1
                return String(decoding: slice, as: UTF8.self)
            }
            guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8 in string", at: start) }
            pos = scan + 1
            return s
        }
        var out: [UInt8] = Array(bytes[pos..<scan])
        pos = scan
        while true {
            guard pos < bytes.count else { throw fail("unterminated string", at: start) }
            let c = bytes[pos]
            switch c {
            case UInt8(ascii: "\""):
                pos += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string", at: start) }
                return s
            case UInt8(ascii: "\\"):
                pos += 1
                guard pos < bytes.count else { throw fail("unterminated string", at: start) }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    out += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    throw fail("invalid escape")
                }
            case 0x00..<0x20:
                throw fail("control character in string")
            default:
                out.append(c)
                pos += 1
            }
        }
    }
}

extension JSONValue {
    /// Reads a JSON text that is one object, calling `member` with each key (its bytes) and value
    /// in order, without building the object: for readers that want a few known keys (an event
    /// line). Returns false, having stopped, when `member` returns false or the text is not such
    /// an object or has a key with escapes: the caller then uses `parse`, which says what is wrong.
    /// Duplicate keys are the caller's to notice.
    public static func forEachMember(ofObject bytes: UnsafeBufferPointer<UInt8>,
                                     _ member: (_ key: UnsafeBufferPointer<UInt8>, _ value: JSONValue) -> Bool) -> Bool {
        var reader = JSONReader(bytes)
        do throws(JSONParseError) { return try reader.members(member) } catch { return false }
    }
}

extension JSONReader {
    /// The top-level object of `forEachMember`; false where `parse` takes over.
    mutating func members(_ member: (UnsafeBufferPointer<UInt8>, JSONValue) -> Bool) throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "{") else { return false }
        pos += 1
        skipWhitespace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") {
            pos += 1
        } else {
            while true {
                skipWhitespace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { return false }
                let keyStart = pos + 1
                var scan = keyStart
                while scan < bytes.count {
                    let c = bytes[scan]
                    if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { break }
                    scan += 1
                }
                guard scan < bytes.count, bytes[scan] == UInt8(ascii: "\"") else { return false }
                let key = UnsafeBufferPointer(rebasing: bytes[keyStart..<scan])
                pos = scan + 1
                skipWhitespace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { return false }
                pos += 1
                skipWhitespace()
                let v = try value(depth: 1)
                guard member(key, v) else { return false }
                skipWhitespace()
                guard pos < bytes.count else { return false }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; break }
                return false
            }
        }
        skipWhitespace()
        return pos == bytes.count
    }
}
