// The varlink interface description (org.varlink.service.GetInterfaceDescription) of io.corral,
// produced from ControlInterface's typed messages: each Parameters and Reply type is decoded once
// by `VarlinkSchemaDecoder`, which answers every request with a placeholder and records the key,
// its type and whether it was optional. A field added to a message appears here by itself.

/// A varlink type (https://varlink.org/Interface-Definition).
public indirect enum VarlinkType: Sendable, Hashable, CustomStringConvertible {
    case bool, int, float, string, object
    case array(VarlinkType)
    case map(VarlinkType)
    case optional(VarlinkType)
    case structure([VarlinkField])

    public var description: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "string"
        case .object: "object"
        case .array(let element): "[]" + element.description
        case .map(let value): "[string]" + value.description
        case .optional(let wrapped): "?" + wrapped.description
        case .structure(let fields): "(" + fields.map(\.description).joined(separator: ", ") + ")"
        }
    }
}

public struct VarlinkField: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var type: VarlinkType
    public init(_ name: String, _ type: VarlinkType) {
        self.name = name
        self.type = type
    }
    public var description: String { "\(name): \(type)" }
}

/// An error of the interface and its parameters.
public struct VarlinkErrorSpec: Sendable, Hashable {
    /// The full name, e.g. "io.corral.PolicyInvalid".
    public var name: String
    public var fields: [VarlinkField]
    public var doc: String
}

extension ControlInterface {
    public static let interfaceName = "io.corral"
    public static let url = "https://github.com/corral-sandbox/corral/blob/main/docs/operations.md#4-control-protocol"

    /// The varlink type of a Codable message (a struct: its fields in decoding order).
    public static func varlinkType<T: Decodable>(of type: T.Type) -> VarlinkType {
        VarlinkSchemaDecoder.type(of: type)
    }

    /// `method Name(parameters) -> (reply)` for one method (its name without the interface).
    public static func methodLine<M: ControlMethodSpec>(_ method: M.Type) -> String {
        let short = M.name.split(separator: ".").last.map(String.init) ?? M.name
        return "method \(short)\(varlinkType(of: M.Parameters.self)) -> \(varlinkType(of: M.Reply.self))"
    }

    /// io.corral's description, as GetInterfaceDescription returns it.
    public static var interfaceDescription: String {
        var lines = [
            "# Corral's control interface: docs/operations.md, section 4. Produced from the typed",
            "# messages of ControlInterface (Sources/CorralControl/Interface.swift).",
            "interface \(interfaceName)",
        ]
        for method in methods where method.name.hasPrefix(interfaceName + ".") {
            lines.append("")
            lines.append("# Access: \(method.access)\(method.rootOnly ? ", uid 0 only" : "").")
            lines.append(methodLine(method))
        }
        for error in ControlError.interfaceErrors {
            lines.append("")
            lines.append("# \(error.doc)")
            let short = error.name.split(separator: ".").last.map(String.init) ?? error.name
            lines.append("error \(short) \(VarlinkType.structure(error.fields))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// org.varlink.service's description (the standard text, with PermissionDenied and ExpectedMore).
    public static let serviceDescription = """
        # The Varlink Service Interface is provided by every varlink service. It
        # describes the service and the interfaces it implements.
        interface org.varlink.service

        # Get a list of all the interfaces a service provides and information
        # about the implementation.
        method GetInfo() -> (
          vendor: string,
          product: string,
          version: string,
          url: string,
          interfaces: []string
        )

        # Get the description of an interface that is implemented by this service.
        method GetInterfaceDescription(interface: string) -> (description: string)

        # The requested interface was not found.
        error InterfaceNotFound (interface: string)

        # The requested method was not found
        error MethodNotFound (method: string)

        # The interface defines the requested method, but the service does not
        # implement it.
        error MethodNotImplemented (method: string)

        # One of the passed parameters is invalid.
        error InvalidParameter (parameter: string)

        # Client is denied access
        error PermissionDenied ()

        # Method is expected to be called with 'more' set to true, but wasn't
        error ExpectedMore ()

        """
}

// MARK: the recording decoder

/// Decodes any Decodable into placeholders while recording its shape.
struct VarlinkSchemaDecoder: Decoder {
    final class Recorder {
        var fields: [VarlinkField] = []
        /// Set by a single-value or unkeyed decode.
        var type: VarlinkType?
    }
    let recorder = Recorder()
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    static func type<T: Decodable>(of type: T.Type) -> VarlinkType {
        if T.self == JSONValue.self { return .object }
        if let special = T.self as? any VarlinkSchemaSpecial.Type { return special.varlinkSchema }
        switch T.self {
        case is Bool.Type: return .bool
        case is String.Type: return .string
        case is Double.Type, is Float.Type: return .float
        case is Int.Type, is Int8.Type, is Int16.Type, is Int32.Type, is Int64.Type,
             is UInt.Type, is UInt8.Type, is UInt16.Type, is UInt32.Type, is UInt64.Type: return .int
        default: break
        }
        let decoder = VarlinkSchemaDecoder()
        _ = try? T(from: decoder)
        return decoder.recorder.type ?? .structure(decoder.recorder.fields)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>(recorder: recorder))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { Unkeyed(recorder: recorder) }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(recorder: recorder) }

    /// A placeholder of `T` (decoded by a fresh recorder, whose record is dropped).
    static func placeholder<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == JSONValue.self { return JSONValue.null as! T }
        switch T.self {
        case is Bool.Type: return false as! T
        case is String.Type: return "" as! T
        case is Double.Type: return 0.0 as! T
        case is Float.Type: return Float(0) as! T
        case is Int.Type: return 0 as! T
        case is Int8.Type: return Int8(0) as! T
        case is Int16.Type: return Int16(0) as! T
        case is Int32.Type: return Int32(0) as! T
        case is Int64.Type: return Int64(0) as! T
        case is UInt.Type: return UInt(0) as! T
        case is UInt8.Type: return UInt8(0) as! T
        case is UInt16.Type: return UInt16(0) as! T
        case is UInt32.Type: return UInt32(0) as! T
        case is UInt64.Type: return UInt64(0) as! T
        default: return try T(from: VarlinkSchemaDecoder())
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let recorder: Recorder
        var codingPath: [any CodingKey] = []
        var allKeys: [Key] { [] }
        func contains(_ key: Key) -> Bool { true }
        func decodeNil(forKey key: Key) throws -> Bool { false }

        private func required<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
            recorder.fields.append(VarlinkField(key.stringValue, VarlinkSchemaDecoder.type(of: T.self)))
            return try VarlinkSchemaDecoder.placeholder(T.self)
        }

        private func optional<T: Decodable>(_ type: T.Type, _ key: Key) -> T? {
            recorder.fields.append(VarlinkField(key.stringValue, .optional(VarlinkSchemaDecoder.type(of: T.self))))
            return nil
        }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try required(type, key) }
        func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { optional(type, key) }

        // The concrete overloads are requirements of their own: route them to the generic ones.
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try required(type, key) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try required(type, key) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try required(type, key) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try required(type, key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try required(type, key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try required(type, key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try required(type, key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try required(type, key) }
        func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { optional(type, key) }
        func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { optional(type, key) }
        func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { optional(type, key) }
        func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { optional(type, key) }
        func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { optional(type, key) }
        func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { optional(type, key) }
        func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { optional(type, key) }
        func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { optional(type, key) }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            KeyedDecodingContainer(Keyed<NestedKey>(recorder: Recorder()))
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { Unkeyed(recorder: Recorder()) }
        func superDecoder() throws -> any Decoder { VarlinkSchemaDecoder() }
        func superDecoder(forKey key: Key) throws -> any Decoder { VarlinkSchemaDecoder() }
    }

    /// An array: one element is decoded, its type recorded.
    struct Unkeyed: UnkeyedDecodingContainer {
        let recorder: Recorder
        var codingPath: [any CodingKey] = []
        var count: Int? { 1 }
        var isAtEnd: Bool { currentIndex > 0 }
        var currentIndex = 0
        mutating func decodeNil() throws -> Bool { false }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            recorder.type = .array(VarlinkSchemaDecoder.type(of: T.self))
            currentIndex += 1
            return try VarlinkSchemaDecoder.placeholder(T.self)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            currentIndex += 1
            return KeyedDecodingContainer(Keyed<NestedKey>(recorder: Recorder()))
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            currentIndex += 1
            return Unkeyed(recorder: Recorder())
        }
        mutating func superDecoder() throws -> any Decoder { VarlinkSchemaDecoder() }
    }

    /// A single value (a type that decodes itself from one primitive).
    struct Single: SingleValueDecodingContainer {
        let recorder: Recorder
        var codingPath: [any CodingKey] = []
        func decodeNil() -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            recorder.type = VarlinkSchemaDecoder.type(of: T.self)
            return try VarlinkSchemaDecoder.placeholder(T.self)
        }
    }
}

/// Types the recording decoder cannot see through (dictionaries iterate keys it does not have).
protocol VarlinkSchemaSpecial { static var varlinkSchema: VarlinkType { get } }

extension Dictionary: VarlinkSchemaSpecial where Key == String, Value: Decodable {
    static var varlinkSchema: VarlinkType { .map(VarlinkSchemaDecoder.type(of: Value.self)) }
}

extension Array: VarlinkSchemaSpecial where Element: Decodable {
    static var varlinkSchema: VarlinkType { .array(VarlinkSchemaDecoder.type(of: Element.self)) }
}

extension Optional: VarlinkSchemaSpecial where Wrapped: Decodable {
    static var varlinkSchema: VarlinkType { .optional(VarlinkSchemaDecoder.type(of: Wrapped.self)) }
}
