// Codable types to and from JSONValue, without going through text: the one JSON codec of Corral
// (control messages, the event log, generation records). Integers stay exact across the Int64
// range (and UInt64 up to Int64.max); Foundation's JSONEncoder/JSONDecoder are not involved.
//
//   let value = try JSONValueEncoder().encode(reply)          // JSONValue
//   let reply = try JSONValueDecoder().decode(Reply.self, from: value)
//
// A decoding failure is a `JSONDecodeError` that names the key ("generation": missing) and says
// what was expected and found, in the words the control protocol uses for InvalidParameter.

/// Why a JSON value does not decode as the type asked for.
public struct JSONDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Object keys and array indices from the top, e.g. ["rule_modes", "a"] or ["items", "3"].
    public var path: [String]
    /// "missing", "expected an integer, got a string", ...
    public var reason: String

    public init(path: [String], reason: String) {
        self.path = path
        self.reason = reason
    }

    /// The path joined with dots ("" at the top).
    public var key: String { path.joined(separator: ".") }

    /// `"generation": missing`, or just the reason at the top.
    public var description: String { path.isEmpty ? reason : "\"\(key)\": \(reason)" }
}

// MARK: - encoding

/// Encodes Encodable values as JSONValue.
public struct JSONValueEncoder: Sendable {
    /// What an Optional property that is nil becomes (synthesized `encode(to:)` calls
    /// `encodeIfPresent` for those).
    public enum NilEncoding: Sendable {
        /// The key is left out (as Foundation's JSONEncoder does).
        case omit
        /// The key is written with `null`.
        case null
    }

    public var nilEncoding: NilEncoding

    public init(nilEncoding: NilEncoding = .omit) { self.nilEncoding = nilEncoding }

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = EncodingSlot()
        try ValueEncoder.encode(value, into: root, path: [], nilEncoding: nilEncoding)
        return root.value
    }
}

/// A type that says how its own nil properties are written, whatever the encoder's default (for
/// this value; values nested in it inherit the choice unless they make their own).
public protocol JSONNilEncodingChoice {
    static var nilEncoding: JSONValueEncoder.NilEncoding { get }
}

/// Where one encoded value goes: a finished value, or an object or array still being filled.
private final class EncodingSlot {
    var scalar: JSONValue?
    var object: [String: EncodingSlot]?
    var array: [EncodingSlot]?

    var value: JSONValue {
        if let object { return .object(object.mapValues(\.value)) }
        if let array { return .array(array.map(\.value)) }
        return scalar ?? .object([:])
    }
}

private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

private func encodeScalar<T: Encodable>(_ value: T) -> JSONValue? {
    switch value {
    case let v as JSONValue: v
    case let v as String: .string(v)
    case let v as Bool: .bool(v)
    case let v as Int: .integer(Int64(v))
    case let v as Int8: .integer(Int64(v))
    case let v as Int16: .integer(Int64(v))
    case let v as Int32: .integer(Int64(v))
    case let v as Int64: .integer(v)
    case let v as UInt: JSONValue(UInt64(v))
    case let v as UInt8: .integer(Int64(v))
    case let v as UInt16: .integer(Int64(v))
    case let v as UInt32: .integer(Int64(v))
    case let v as UInt64: JSONValue(v)
    case let v as Double: JSONValue(v)
    case let v as Float: JSONValue(Double(v))
    default: nil
    }
}

private struct ValueEncoder: Encoder {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]
    let nilEncoding: JSONValueEncoder.NilEncoding
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if slot.object == nil { slot.object = [:] }
        return KeyedEncodingContainer(KeyedEncoder<Key>(slot: slot, codingPath: codingPath, nilEncoding: nilEncoding))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if slot.array == nil { slot.array = [] }
        return UnkeyedEncoder(slot: slot, codingPath: codingPath, nilEncoding: nilEncoding)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleEncoder(slot: slot, codingPath: codingPath, nilEncoding: nilEncoding)
    }

    /// Encodes `value` into `slot` (scalars directly, everything else through its encode(to:)).
    static func encode<T: Encodable>(_ value: T, into slot: EncodingSlot, path: [any CodingKey],
                                     nilEncoding: JSONValueEncoder.NilEncoding) throws {
        if let scalar = encodeScalar(value) {
            if case .number(let d) = scalar, !d.isFinite {
                throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "\(d) is not a JSON number"))
            }
            slot.scalar = scalar
        } else {
            let nils = (T.self as? any JSONNilEncodingChoice.Type)?.nilEncoding ?? nilEncoding
            try value.encode(to: ValueEncoder(slot: slot, codingPath: path, nilEncoding: nils))
        }
    }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]
    let nilEncoding: JSONValueEncoder.NilEncoding

    private func child(_ key: any CodingKey) -> EncodingSlot {
        let s = EncodingSlot()
        slot.object![key.stringValue] = s
        return s
    }

    mutating func encodeNil(forKey key: Key) throws { child(key).scalar = .null }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try ValueEncoder.encode(value, into: child(key), path: codingPath + [key], nilEncoding: nilEncoding)
    }

    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else if nilEncoding == .null { try encodeNil(forKey: key) }
    }
    // The standard library's defaults for these leave nil out whatever `nilEncoding` says.
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeIfPresent(value as String??, key) }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeIfPresent(value as Bool??, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeIfPresent(value as Double??, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeIfPresent(value as Float??, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeIfPresent(value as Int??, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeIfPresent(value as Int8??, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeIfPresent(value as Int16??, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeIfPresent(value as Int32??, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeIfPresent(value as Int64??, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeIfPresent(value as UInt??, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeIfPresent(value as UInt8??, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeIfPresent(value as UInt16??, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeIfPresent(value as UInt32??, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeIfPresent(value as UInt64??, key) }

    private mutating func encodeIfPresent<T: Encodable>(_ value: T??, _ key: Key) throws {
        if case .some(.some(let v)) = value { try encode(v, forKey: key) } else if nilEncoding == .null { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey> {
        ValueEncoder(slot: child(key), codingPath: codingPath + [key], nilEncoding: nilEncoding).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        ValueEncoder(slot: child(key), codingPath: codingPath + [key], nilEncoding: nilEncoding).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        ValueEncoder(slot: child(AnyCodingKey(stringValue: "super")), codingPath: codingPath, nilEncoding: nilEncoding)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        ValueEncoder(slot: child(key), codingPath: codingPath + [key], nilEncoding: nilEncoding)
    }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]
    let nilEncoding: JSONValueEncoder.NilEncoding
    var count: Int { slot.array!.count }

    private func next() -> (EncodingSlot, [any CodingKey]) {
        let s = EncodingSlot()
        let path = codingPath + [AnyCodingKey(intValue: slot.array!.count)]
        slot.array!.append(s)
        return (s, path)
    }

    mutating func encodeNil() throws { next().0.scalar = .null }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let (s, path) = next()
        try ValueEncoder.encode(value, into: s, path: path, nilEncoding: nilEncoding)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let (s, path) = next()
        return ValueEncoder(slot: s, codingPath: path, nilEncoding: nilEncoding).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let (s, path) = next()
        return ValueEncoder(slot: s, codingPath: path, nilEncoding: nilEncoding).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let (s, path) = next()
        return ValueEncoder(slot: s, codingPath: path, nilEncoding: nilEncoding)
    }
}

private struct SingleEncoder: SingleValueEncodingContainer {
    let slot: EncodingSlot
    let codingPath: [any CodingKey]
    let nilEncoding: JSONValueEncoder.NilEncoding

    mutating func encodeNil() throws { slot.scalar = .null }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try ValueEncoder.encode(value, into: slot, path: codingPath, nilEncoding: nilEncoding)
    }
}

// MARK: - decoding

/// Decodes Decodable values from JSONValue. Object keys the type does not ask for are ignored;
/// an absent key and `null` both decode as nil for an Optional property.
public struct JSONValueDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type = T.self, from value: JSONValue) throws(JSONDecodeError) -> T {
        do {
            return try ValueDecoder.decode(T.self, from: value, path: [])
        } catch let error as JSONDecodeError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            throw JSONDecodeError(path: context.codingPath.map(\.stringValue), reason: context.debugDescription)
        } catch let DecodingError.typeMismatch(_, context) {
            throw JSONDecodeError(path: context.codingPath.map(\.stringValue), reason: context.debugDescription)
        } catch let DecodingError.keyNotFound(key, context) {
            throw JSONDecodeError(path: (context.codingPath + [key]).map(\.stringValue), reason: "missing")
        } catch let DecodingError.valueNotFound(_, context) {
            throw JSONDecodeError(path: context.codingPath.map(\.stringValue), reason: "missing")
        } catch {
            throw JSONDecodeError(path: [], reason: "\(error)")
        }
    }
}

extension JSONValue {
    /// "an integer", for messages: the exact integer this value holds, or why it is not one.
    /// (`expected an integer, got a string`, `expected an integer, got 1.5`).
    public func exactInteger() throws(JSONDecodeError) -> Int64 {
        guard doubleValue != nil else { throw JSONDecodeError(path: [], reason: "expected an integer, got \(typeDescription)") }
        guard let i = int64Value else { throw JSONDecodeError(path: [], reason: "expected an integer, got \(self)") }
        return i
    }
}

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func fail(_ path: [any CodingKey], _ reason: String) -> JSONDecodeError {
        JSONDecodeError(path: path.map(\.stringValue), reason: reason)
    }

    static func mismatch(_ expected: String, _ value: JSONValue, _ path: [any CodingKey]) -> JSONDecodeError {
        fail(path, "expected \(expected), got \(value.typeDescription)")
    }

    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: JSONValue, _ path: [any CodingKey]) throws -> I {
        let i: Int64
        do { i = try value.exactInteger() } catch { throw fail(path, error.reason) }
        guard let exact = I(exactly: i) else { throw fail(path, "\(i) is outside \(I.min)…\(I.max)") }
        return exact
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, path: [any CodingKey]) throws -> T {
        switch type {
        case is JSONValue.Type: return value as! T
        case is String.Type:
            guard case .string(let s) = value else { throw mismatch("a string", value, path) }
            return s as! T
        case is Bool.Type:
            guard case .bool(let b) = value else { throw mismatch("a bool", value, path) }
            return b as! T
        case is Double.Type, is Float.Type:
            guard let d = value.doubleValue else { throw mismatch("a number", value, path) }
            return (type == Float.self ? Float(d) as Any : d as Any) as! T
        case is Int.Type: return try integer(Int.self, value, path) as! T
        case is Int8.Type: return try integer(Int8.self, value, path) as! T
        case is Int16.Type: return try integer(Int16.self, value, path) as! T
        case is Int32.Type: return try integer(Int32.self, value, path) as! T
        case is Int64.Type: return try integer(Int64.self, value, path) as! T
        case is UInt.Type: return try integer(UInt.self, value, path) as! T
        case is UInt8.Type: return try integer(UInt8.self, value, path) as! T
        case is UInt16.Type: return try integer(UInt16.self, value, path) as! T
        case is UInt32.Type: return try integer(UInt32.self, value, path) as! T
        case is UInt64.Type: return try integer(UInt64.self, value, path) as! T
        default: return try T(from: ValueDecoder(value: value, codingPath: path))
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let o) = value else { throw Self.mismatch("an object", value, codingPath) }
        return KeyedDecodingContainer(KeyedDecoder<Key>(object: o, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let a) = value else { throw Self.mismatch("an array", value, codingPath) }
        return UnkeyedDecoder(array: a, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleDecoder(value: value, codingPath: codingPath)
    }
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: [String: JSONValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func present(_ key: Key) throws -> JSONValue {
        guard let v = object[key.stringValue] else { throw ValueDecoder.fail(codingPath + [key], "missing") }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        switch object[key.stringValue] {
        case nil, .null?: true
        default: false
        }
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let v = try present(key)
        // A required key that is null is missing, as the control protocol has it.
        if case .null = v, !(T.self is JSONValue.Type) { throw ValueDecoder.fail(codingPath + [key], "missing") }
        return try ValueDecoder.decode(T.self, from: v, path: codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        switch object[key.stringValue] {
        case nil, .null?: nil
        case let v?: try ValueDecoder.decode(T.self, from: v, path: codingPath + [key])
        }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: try present(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: try present(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: object["super"] ?? .null, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: object[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(array: [JSONValue], codingPath: [any CodingKey]) {
        self.array = array
        self.codingPath = codingPath
    }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private mutating func next() throws -> (JSONValue, [any CodingKey]) {
        let path = codingPath + [AnyCodingKey(intValue: currentIndex)]
        guard !isAtEnd else { throw ValueDecoder.fail(path, "missing") }
        defer { currentIndex += 1 }
        return (array[currentIndex], path)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .null = array[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (v, path) = try next()
        return try ValueDecoder.decode(T.self, from: v, path: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (v, path) = try next()
        return try ValueDecoder(value: v, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (v, path) = try next()
        return try ValueDecoder(value: v, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (v, path) = try next()
        return ValueDecoder(value: v, codingPath: path)
    }
}

private struct SingleDecoder: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value.isNull }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try ValueDecoder.decode(T.self, from: value, path: codingPath)
    }
}
