// Control socket protocol (docs/operations.md §4): varlink-style JSON messages, each terminated
// by a NUL byte.
//
//   request  {"method": "io.corral.Apply", "parameters": {...}, "more": false}
//   reply    {"parameters": {...}}                       (+ "continues": true while streaming)
//   error    {"error": "io.corral.PolicyInvalid", "parameters": {...}}

@_exported import CorralJSON

/// The NUL byte that ends every message.
public let controlMessageTerminator: UInt8 = 0

/// The method names of docs/operations.md §4 (from ControlInterface, for untyped calls).
public enum ControlMethod {
    public static let getInfo = ControlInterface.GetInfo.name
    public static let getStatus = ControlInterface.GetStatus.name
    public static let apply = ControlInterface.Apply.name
    public static let setMode = ControlInterface.SetMode.name
    public static let loosen = ControlInterface.Loosen.name
    public static let getEvents = ControlInterface.GetEvents.name
    public static let explain = ControlInterface.Explain.name
    public static let why = ControlInterface.Why.name
    public static let unload = ControlInterface.Unload.name
    public static let trustExecutable = ControlInterface.TrustExecutable.name
    public static let register = ControlInterface.Register.name
    public static let unregister = ControlInterface.Unregister.name
}

// MARK: requests

/// One call: a method, its parameters, and whether the caller accepts several replies.
public struct ControlRequest: Sendable, Hashable {
    public var method: String
    public var parameters: [String: JSONValue]
    public var more: Bool
    /// varlink's `oneway`: the caller wants no reply at all, not even an error.
    public var oneway: Bool

    public init(method: String, parameters: [String: JSONValue] = [:], more: Bool = false, oneway: Bool = false) {
        self.method = method
        self.parameters = parameters
        self.more = more
        self.oneway = oneway
    }

    /// The wire form, without the terminator. `more` is written only when true.
    public func encoded() -> [UInt8] {
        var o: [String: JSONValue] = ["method": .string(method), "parameters": .object(parameters)]
        if more { o["more"] = .bool(true) }
        if oneway { o["oneway"] = .bool(true) }
        return JSONValue.object(o).serialized()
    }

    /// Decodes one message (without its terminator). A message that is not valid JSON, is not
    /// an object, lacks a non-empty string `method`, or has a `parameters` that is not an
    /// object or a `more` that is not a bool, is `io.corral.MalformedRequest`. Absent or null
    /// `parameters`/`more` mean `{}`/false; other top-level keys are ignored.
    public static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Result<ControlRequest, ControlError> {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch {
            return .failure(.malformedRequest(reason: "invalid JSON: \(error)"))
        }
        guard case .object(let o) = value else {
            return .failure(.malformedRequest(reason: "the request is \(value.typeDescription), not an object"))
        }
        guard let methodValue = o["method"] else {
            return .failure(.malformedRequest(reason: "missing \"method\""))
        }
        guard case .string(let method) = methodValue else {
            return .failure(.malformedRequest(reason: "\"method\" is \(methodValue.typeDescription), not a string"))
        }
        guard !method.isEmpty else { return .failure(.malformedRequest(reason: "\"method\" is empty")) }
        var parameters: [String: JSONValue] = [:]
        switch o["parameters"] {
        case nil, .null?: break
        case .object(let p)?: parameters = p
        case let other?:
            return .failure(.malformedRequest(reason: "\"parameters\" is \(other.typeDescription), not an object"))
        }
        var more = false
        switch o["more"] {
        case nil, .null?: break
        case .bool(let b)?: more = b
        case let other?:
            return .failure(.malformedRequest(reason: "\"more\" is \(other.typeDescription), not a bool"))
        }
        var oneway = false
        switch o["oneway"] {
        case nil, .null?: break
        case .bool(let b)?: oneway = b
        case let other?:
            return .failure(.malformedRequest(reason: "\"oneway\" is \(other.typeDescription), not a bool"))
        }
        return .success(ControlRequest(method: method, parameters: parameters, more: more, oneway: oneway))
    }
}

// MARK: replies

/// One reply: success parameters or a named error, and whether more replies follow.
public struct ControlReply: Sendable, Hashable {
    public var result: Result<[String: JSONValue], ControlError>
    public var continues: Bool

    public init(parameters: [String: JSONValue], continues: Bool = false) {
        result = .success(parameters)
        self.continues = continues
    }

    public init(error: ControlError) {
        result = .failure(error)
        continues = false
    }

    /// The wire form, without the terminator.
    public func encoded() -> [UInt8] {
        var o: [String: JSONValue]
        switch result {
        case .success(let p): o = ["parameters": .object(p)]
        case .failure(let e): o = ["error": .string(e.name), "parameters": .object(e.parameters)]
        }
        if continues { o["continues"] = .bool(true) }
        return JSONValue.object(o).serialized()
    }

    /// Decodes one reply message (without its terminator).
    public static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Result<ControlReply, JSONParseError> {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { return .failure(error) }
        guard case .object(let o) = value else {
            return .failure(JSONParseError(reason: "the reply is \(value.typeDescription), not an object", offset: 0))
        }
        var parameters: [String: JSONValue] = [:]
        switch o["parameters"] {
        case nil, .null?: break
        case .object(let p)?: parameters = p
        case let other?:
            return .failure(JSONParseError(reason: "reply \"parameters\" is \(other.typeDescription)", offset: 0))
        }
        switch o["error"] {
        case nil, .null?:
            return .success(ControlReply(parameters: parameters, continues: o["continues"]?.boolValue ?? false))
        case .string(let name)?:
            return .success(ControlReply(error: ControlError(name: name, parameters: parameters)))
        case let other?:
            return .failure(JSONParseError(reason: "reply \"error\" is \(other.typeDescription)", offset: 0))
        }
    }
}

// MARK: errors

/// A named protocol error with its parameters (docs/operations.md §4 lists the names).
public struct ControlError: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var parameters: [String: JSONValue]

    public init(name: String, parameters: [String: JSONValue] = [:]) {
        self.name = name
        self.parameters = parameters
    }

    public enum Name {
        public static let methodNotFound = "org.varlink.service.MethodNotFound"
        public static let invalidParameter = "org.varlink.service.InvalidParameter"
        public static let interfaceNotFound = "org.varlink.service.InterfaceNotFound"
        public static let permissionDenied = "org.varlink.service.PermissionDenied"
        public static let malformedRequest = "io.corral.MalformedRequest"
        public static let requestTooLarge = "io.corral.RequestTooLarge"
        public static let policyInvalid = "io.corral.PolicyInvalid"
        public static let capacityExceeded = "io.corral.CapacityExceeded"
        public static let noSuchRule = "io.corral.NoSuchRule"
        public static let noSuchEvent = "io.corral.NoSuchEvent"
        public static let noSuchProcess = "io.corral.NoSuchProcess"
        public static let kernelError = "io.corral.KernelError"
        public static let registrationOutsideSubtree = "io.corral.RegistrationOutsideSubtree"
        public static let noSuchRegistration = "io.corral.NoSuchRegistration"

        /// Every name of the contract.
        public static let all: Set<String> = [
            methodNotFound, interfaceNotFound, invalidParameter, permissionDenied, malformedRequest, requestTooLarge,
            policyInvalid, capacityExceeded, noSuchRule, noSuchEvent, noSuchProcess, kernelError,
            registrationOutsideSubtree, noSuchRegistration,
        ]
    }

    public static func methodNotFound(method: String) -> ControlError {
        ControlError(name: Name.methodNotFound, parameters: ["method": .string(method)])
    }
    public static func invalidParameter(_ parameter: String, reason: String) -> ControlError {
        ControlError(name: Name.invalidParameter, parameters: ["parameter": .string(parameter), "reason": .string(reason)])
    }
    public static func interfaceNotFound(_ interface: String) -> ControlError {
        ControlError(name: Name.interfaceNotFound, parameters: ["interface": .string(interface)])
    }
    /// varlink's standard `PermissionDenied ()`; `method` is Corral's addition (clients ignore it).
    public static func permissionDenied(method: String) -> ControlError {
        ControlError(name: Name.permissionDenied, parameters: ["method": .string(method)])
    }
    public static func malformedRequest(reason: String) -> ControlError {
        ControlError(name: Name.malformedRequest, parameters: ["reason": .string(reason)])
    }
    public static func requestTooLarge(limit: Int) -> ControlError {
        ControlError(name: Name.requestTooLarge, parameters: ["limit": JSONValue(limit)])
    }
    public static func policyInvalid(diagnostics: [String]) -> ControlError {
        ControlError(name: Name.policyInvalid, parameters: ["diagnostics": JSONValue(diagnostics)])
    }
    public static func capacityExceeded(reason: String) -> ControlError {
        ControlError(name: Name.capacityExceeded, parameters: ["reason": .string(reason)])
    }
    public static func noSuchRule(_ rule: String) -> ControlError {
        ControlError(name: Name.noSuchRule, parameters: ["rule": .string(rule)])
    }
    /// `id` is the event id as the daemon records it (`"<seq>"`, a string).
    public static func noSuchEvent(id: String) -> ControlError {
        ControlError(name: Name.noSuchEvent, parameters: ["id": .string(id)])
    }
    public static func noSuchProcess(pid: Int) -> ControlError {
        ControlError(name: Name.noSuchProcess, parameters: ["pid": JSONValue(pid)])
    }
    public static func kernelError(reason: String) -> ControlError {
        ControlError(name: Name.kernelError, parameters: ["reason": .string(reason)])
    }
    /// A registration whose subtree or rules reach outside the caller's delegated subtree:
    /// one line per problem, naming the rule and field.
    public static func registrationOutsideSubtree(subtree: String, problems: [String]) -> ControlError {
        ControlError(name: Name.registrationOutsideSubtree, parameters: ["subtree": .string(subtree), "problems": JSONValue(problems)])
    }
    public static func noSuchRegistration(id: String) -> ControlError {
        ControlError(name: Name.noSuchRegistration, parameters: ["id": .string(id)])
    }

    /// io.corral's own errors and their parameters, for the interface description (the
    /// org.varlink.service ones are in its standard text). InterfaceTests checks every name.
    public static let interfaceErrors: [VarlinkErrorSpec] = [
        VarlinkErrorSpec(name: Name.malformedRequest, fields: [VarlinkField("reason", .string)],
                         doc: "The message is not a varlink request (not JSON, not an object, no method, ...)."),
        VarlinkErrorSpec(name: Name.requestTooLarge, fields: [VarlinkField("limit", .int)],
                         doc: "The request is longer than limit bytes; the connection is closed after this reply."),
        VarlinkErrorSpec(name: Name.policyInvalid, fields: [VarlinkField("diagnostics", .array(.string))],
                         doc: "The policy has errors (file:line:col: error: ...); nothing was applied."),
        VarlinkErrorSpec(name: Name.capacityExceeded, fields: [VarlinkField("reason", .string)],
                         doc: "The policy does not fit the BPF maps; nothing was applied."),
        VarlinkErrorSpec(name: Name.noSuchRule, fields: [VarlinkField("rule", .string)],
                         doc: "No rule of the active policy has this id."),
        VarlinkErrorSpec(name: Name.noSuchEvent, fields: [VarlinkField("id", .string)],
                         doc: "No recorded event has this id."),
        VarlinkErrorSpec(name: Name.noSuchProcess, fields: [VarlinkField("pid", .int)],
                         doc: "No process has this pid."),
        VarlinkErrorSpec(name: Name.kernelError, fields: [VarlinkField("reason", .string)],
                         doc: "A BPF or system call failed; the active generation is unchanged."),
        VarlinkErrorSpec(name: Name.registrationOutsideSubtree,
                         fields: [VarlinkField("subtree", .string), VarlinkField("problems", .array(.string))],
                         doc: "A registration reaches outside the caller's delegated subtree, or loosens; nothing changed."),
        VarlinkErrorSpec(name: Name.noSuchRegistration, fields: [VarlinkField("id", .string)],
                         doc: "No registration has this id."),
    ]

    /// `io.corral.PolicyInvalid: {"diagnostics":[...]}`
    public var description: String {
        parameters.isEmpty ? name : "\(name): \(JSONValue.object(parameters))"
    }
}

// MARK: parameter access

/// Typed access to request parameters for method handlers. Each accessor throws
/// `org.varlink.service.InvalidParameter {parameter, reason}` for a missing (required) or
/// mistyped parameter; absent and null count as missing.
public protocol ControlParameterAccess {
    var parameters: [String: JSONValue] { get }
}

extension ControlParameterAccess {
    /// Parameter `name` as `T` through JSONValueDecoder (the decoder typed methods use, so the
    /// reasons read alike); nil when absent or null.
    private func optional<T: Decodable>(_ name: String, as type: T.Type) throws(ControlError) -> T? {
        switch parameters[name] {
        case nil, .null?: return nil
        case let v?:
            do { return try JSONValueDecoder().decode(T.self, from: v) } catch {
                throw .invalidParameter(name, reason: error.reason)
            }
        }
    }

    public func optionalString(_ name: String) throws(ControlError) -> String? {
        try optional(name, as: String.self)
    }

    public func string(_ name: String) throws(ControlError) -> String {
        guard let s = try optionalString(name) else { throw .invalidParameter(name, reason: "missing") }
        return s
    }

    /// An integral number (exact: an integer literal within Int64, or a number literal of at
    /// most 2^53 without a fraction), within `range` when given.
    public func optionalInteger(_ name: String, in range: ClosedRange<Int>? = nil) throws(ControlError) -> Int? {
        guard let i = try optional(name, as: Int.self) else { return nil }
        if let range { try ControlError.check(name, i, in: range) }
        return i
    }

    public func integer(_ name: String, in range: ClosedRange<Int>? = nil) throws(ControlError) -> Int {
        guard let i = try optionalInteger(name, in: range) else { throw .invalidParameter(name, reason: "missing") }
        return i
    }

    public func optionalBool(_ name: String) throws(ControlError) -> Bool? {
        try optional(name, as: Bool.self)
    }

    /// One of `allowed` (e.g. `mode`: audit/enforce/policy).
    public func optionalChoice(_ name: String, _ allowed: [String]) throws(ControlError) -> String? {
        guard let s = try optionalString(name) else { return nil }
        guard allowed.contains(s) else {
            throw .invalidParameter(name, reason: "expected one of \(allowed.joined(separator: ", "))")
        }
        return s
    }

    /// Throws InvalidParameter for the first (sorted) parameter not in `known`.
    public func rejectUnknownParameters(_ known: Set<String>) throws(ControlError) {
        if let extra = parameters.keys.filter({ !known.contains($0) }).sorted().first {
            throw .invalidParameter(extra, reason: "unknown parameter")
        }
    }
}

extension ControlRequest: ControlParameterAccess {}
