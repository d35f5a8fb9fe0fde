// A JSON document as a Swift value: what control-protocol parameters and replies are made of.
//
// Integers are exact across the 64-bit signed range (`.integer`): a literal without fraction or
// exponent reads as one, and counters such as `timestamp_ns` or `seq` never round. Other numbers
// are Doubles; a Double that holds an integer of at most 2^53 is stored as `.integer`, so the two
// spellings of one value compare equal. UInt64 values above Int64.max become (rounded) Doubles.
// The text form is produced and read by JSONWire.swift (strict, depth-limited); JSONCoder.swift
// moves Codable types to and from JSONValue (`init(encoding:)`, `decode(as:)`). Together they are
// Corral's one JSON codec: the control protocol, the event log and generation records use it.

public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// An exact integer.
    case integer(Int64)
    /// A number with a fraction or exponent, or beyond the Int64 range.
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// 2^53: integers of at most this magnitude are exactly representable as Double.
    public static let maxExactInteger: Double = 9_007_199_254_740_992

    public init(_ value: Int) { self = .integer(Int64(value)) }
    public init(_ value: Int64) { self = .integer(value) }
    /// Exact up to Int64.max; larger values become a (rounded) Double.
    public init(_ value: UInt64) { self = value <= UInt64(Int64.max) ? .integer(Int64(value)) : .number(Double(value)) }
    public init(_ value: UInt32) { self = .integer(Int64(value)) }
    public init(_ value: Double) {
        if value.isFinite, value.rounded(.towardZero) == value, abs(value) <= Self.maxExactInteger {
            self = .integer(Int64(value))
        } else {
            self = .number(value)
        }
    }
    public init(_ value: String) { self = .string(value) }
    public init(_ value: Bool) { self = .bool(value) }
    public init(_ values: [String]) { self = .array(values.map { .string($0) }) }
}

// MARK: equality

extension JSONValue: Hashable {
    /// `.number(7.0)` and `.integer(7)` are one value: a Double that holds an integer of at
    /// most 2^53 compares (and hashes) as that integer.
    private var canonical: JSONValue {
        if case .number = self, let i = int64Value { return .integer(i) }
        return self
    }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a.canonical, b.canonical) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.integer(let x), .integer(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x == y
        default: false
        }
    }

    public func hash(into h: inout Hasher) {
        switch canonical {
        case .null: h.combine(0)
        case .bool(let b): h.combine(1); h.combine(b)
        case .integer(let i): h.combine(2); h.combine(i)
        case .number(let d): h.combine(3); h.combine(d)
        case .string(let s): h.combine(4); h.combine(s)
        case .array(let a): h.combine(5); h.combine(a)
        case .object(let o): h.combine(6); h.combine(o)
        }
    }
}

// MARK: accessors

extension JSONValue {
    public var isNull: Bool { if case .null = self { true } else { false } }

    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }

    public var doubleValue: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }

    /// The number as an Int when it is an exact integer.
    public var intValue: Int? { int64Value.map(Int.init) }

    /// The number as an Int64 when it is an exact integer.
    public var int64Value: Int64? {
        switch self {
        case .integer(let i): i
        case .number(let d) where d.isFinite && d.rounded(.towardZero) == d && abs(d) <= Self.maxExactInteger: Int64(d)
        default: nil
        }
    }

    /// The number as a UInt64 when it is an exact, non-negative integer.
    public var uint64Value: UInt64? { int64Value.flatMap { $0 >= 0 ? UInt64($0) : nil } }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }

    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }

    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }

    /// The member `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? { objectValue?[key] }

    /// Element `index` of an array (nil for other values or out of range).
    public subscript(index: Int) -> JSONValue? {
        guard let a = arrayValue, index >= 0, index < a.count else { return nil }
        return a[index]
    }

    /// "null", "a bool", "a number", "a string", "an array" or "an object" (for messages).
    public var typeDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a bool"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// "null", "bool", "number", "string", "array" or "object".
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .integer, .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

// MARK: literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .integer(Int64(value)) }
    public init(floatLiteral value: Double) { self.init(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

// MARK: Codable

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self.init(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? c.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .number(let d):
            if let i = self.int64Value { try c.encode(i) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue {
    /// The JSON form of an Encodable value (JSONValueEncoder: nil optionals left out; non-finite
    /// numbers fail).
    public init<T: Encodable>(encoding value: T) throws {
        self = try JSONValueEncoder().encode(value)
    }

    /// Decodes this value as `T` (JSONValueDecoder).
    public func decode<T: Decodable>(as type: T.Type = T.self) throws(JSONDecodeError) -> T {
        try JSONValueDecoder().decode(T.self, from: self)
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact wire form, keys sorted.
    public var description: String { String(decoding: serialized(), as: UTF8.self) }
}
