// The control interface, method by method (docs/operations.md §4): the one definition of every
// method's name, access level, parameters and reply, shared by the daemon (ControlService, which
// registers a handler per method) and the CLI (DaemonClient, which calls them). Field names are the
// wire's; a key that is missing or of the wrong type is a decode error naming the key (on the
// daemon: org.varlink.service.InvalidParameter; in the client: an invalid reply).
//
// `ControlInterface.methods` lists them all; io.corral's varlink interface description
// (org.varlink.service.GetInterfaceDescription) is produced from them (InterfaceDescription.swift).

/// One method of the control interface.
public protocol ControlMethodSpec {
    associatedtype Parameters: Codable & Sendable
    associatedtype Reply: Codable & Sendable
    /// "io.corral.Apply"
    static var name: String { get }
    static var access: AccessLevel { get }
    /// Only uid 0 may call it, whatever the groups say (checked with `access`, before the
    /// parameters are decoded: PermissionDenied comes before InvalidParameter).
    static var rootOnly: Bool { get }
}

extension ControlMethodSpec {
    public static var rootOnly: Bool { false }
}

/// No parameters, or an empty reply.
public struct NoFields: Codable, Sendable, Hashable {
    public init() {}
}

public enum ControlInterface {
    /// Every method, in the order of docs/operations.md §4.
    public static var methods: [any ControlMethodSpec.Type] { [
        GetInfo.self, GetInterfaceDescription.self, GetStatus.self, Apply.self, SetMode.self, Loosen.self, GetEvents.self,
        Explain.self, Why.self, Unload.self, TrustExecutable.self, Register.self, Unregister.self,
    ] }

    /// org.varlink.service.GetInfo (answered by ControlServer itself).
    public enum GetInfo: ControlMethodSpec {
        public static let name = "org.varlink.service.GetInfo"
        public static let access = AccessLevel.anyone
        public typealias Parameters = NoFields
        public struct Reply: Codable, Sendable, Hashable {
            public var vendor: String
            public var product: String
            public var version: String
            public var url: String
            public var interfaces: [String]
            public init(vendor: String, product: String, version: String, url: String, interfaces: [String]) {
                self.vendor = vendor
                self.product = product
                self.version = version
                self.url = url
                self.interfaces = interfaces
            }
        }
    }

    /// org.varlink.service.GetInterfaceDescription (answered by ControlServer itself): io.corral's
    /// description is produced from these typed messages (InterfaceDescription.swift).
    public enum GetInterfaceDescription: ControlMethodSpec {
        public static let name = "org.varlink.service.GetInterfaceDescription"
        public static let access = AccessLevel.anyone
        public struct Parameters: Codable, Sendable, Hashable {
            public var interface: String
            public init(interface: String) { self.interface = interface }
        }
        public struct Reply: Codable, Sendable, Hashable {
            public var description: String
            public init(description: String) { self.description = description }
        }
    }

    public enum GetStatus: ControlMethodSpec {
        public static let name = "io.corral.GetStatus"
        public static let access = AccessLevel.read
        public typealias Parameters = NoFields
        /// `null` for an absent `policy_watch`.
        public struct Reply: Codable, Sendable, Hashable, JSONNilEncodingChoice {
            public static let nilEncoding = JSONValueEncoder.NilEncoding.null
            public var kernelMode: String
            public var generation: UInt64
            public var slot: Int
            public var source: String
            /// The fragment files merged into the policy, in merge order (nil: a daemon that
            /// predates fragments).
            public var fragments: [String]?
            public var rules: Int
            /// Rule id → where it comes from: `FILE:LINE` (the main file or a fragment) or
            /// `registration reg-1 (manager pid …)` (nil: a daemon that predates origins).
            public var ruleOrigins: [String: String]?
            public var policyMode: String
            public var ruleModes: [String: String]
            /// Rule id → unix time its loosening ends.
            public var loosened: [String: Double]
            public var pins: String
            public var adopted: Bool
            public var ringbufDrops: UInt64
            /// Decision events the kernel did not send: their rule was over `events.rate-limit`
            /// (nil: a daemon that predates the limit).
            public var eventsSuppressed: UInt64?
            public var eventsSeen: UInt64
            public var lastApply: Double
            /// nil without --watch-policy.
            public var policyWatch: PolicyWatchStatus?
            /// The registrations of delegated managers (nil: a daemon that predates them).
            public var registrations: [RegistrationStatus]?

            enum CodingKeys: String, CodingKey {
                case generation, slot, source, fragments, rules, loosened, pins, adopted
                case kernelMode = "kernel_mode", policyMode = "policy_mode", ruleModes = "rule_modes"
                case ringbufDrops = "ringbuf_drops", eventsSeen = "events_seen", lastApply = "last_apply"
                case eventsSuppressed = "events_suppressed"
                case policyWatch = "policy_watch"
                case registrations
                case ruleOrigins = "rule_origins"
            }

            public init(kernelMode: String, generation: UInt64, slot: Int, source: String, fragments: [String]? = nil,
                        rules: Int, policyMode: String,
                        ruleModes: [String: String], loosened: [String: Double], pins: String, adopted: Bool,
                        ringbufDrops: UInt64, eventsSeen: UInt64, lastApply: Double, policyWatch: PolicyWatchStatus?,
                        registrations: [RegistrationStatus]? = nil, eventsSuppressed: UInt64? = nil,
                        ruleOrigins: [String: String]? = nil) {
                self.ruleOrigins = ruleOrigins
                self.kernelMode = kernelMode
                self.generation = generation
                self.slot = slot
                self.source = source
                self.fragments = fragments
                self.rules = rules
                self.policyMode = policyMode
                self.ruleModes = ruleModes
                self.loosened = loosened
                self.pins = pins
                self.adopted = adopted
                self.ringbufDrops = ringbufDrops
                self.eventsSuppressed = eventsSuppressed
                self.eventsSeen = eventsSeen
                self.lastApply = lastApply
                self.policyWatch = policyWatch
                self.registrations = registrations
            }
        }

        /// One registration (io.corral.Register).
        public struct RegistrationStatus: Codable, Sendable, Hashable {
            public var id: String
            public var subtree: String
            /// The `delegated` rule whose manager registered it.
            public var managerRule: String
            public var pid: Int
            public var uid: Int
            /// The registered rules' ids.
            public var rules: [String]
            public var registeredAt: Double

            enum CodingKeys: String, CodingKey {
                case id, subtree, pid, uid, rules
                case managerRule = "manager_rule", registeredAt = "registered_at"
            }

            public init(id: String, subtree: String, managerRule: String, pid: Int, uid: Int, rules: [String], registeredAt: Double) {
                self.id = id
                self.subtree = subtree
                self.managerRule = managerRule
                self.pid = pid
                self.uid = uid
                self.rules = rules
                self.registeredAt = registeredAt
            }
        }

        /// `--watch-policy`'s state. Absent fields are left out.
        public struct PolicyWatchStatus: Codable, Sendable, Hashable, JSONNilEncodingChoice {
            public static let nilEncoding = JSONValueEncoder.NilEncoding.omit
            public var path: String
            /// none, unchanged, applied or refused.
            public var lastChange: String
            /// The generation the last change applied as.
            public var generation: UInt64?
            /// Why the last change was refused.
            public var diagnostics: [String]?
            /// Why the file could not be read.
            public var unreadable: String?

            enum CodingKeys: String, CodingKey {
                case path, generation, diagnostics, unreadable
                case lastChange = "last_change"
            }

            public init(path: String, lastChange: String, generation: UInt64? = nil, diagnostics: [String]? = nil,
                        unreadable: String? = nil) {
                self.path = path
                self.lastChange = lastChange
                self.generation = generation
                self.diagnostics = diagnostics
                self.unreadable = unreadable
            }
        }
    }

    public enum Apply: ControlMethodSpec {
        public static let name = "io.corral.Apply"
        public static let access = AccessLevel.change
        public struct Parameters: Codable, Sendable, Hashable {
            /// The policy's YAML text.
            public var policy: String
            /// Its file name, for diagnostics (default "(control socket)").
            public var source: String?
            /// Drop-in fragments validated with it as one policy (docs/policy.md, "Fragments").
            public var fragments: [Fragment]?
            public init(policy: String, source: String?, fragments: [Fragment]? = nil) {
                self.policy = policy
                self.source = source
                self.fragments = fragments
            }
        }
        /// One fragment file: its path and its YAML text.
        public struct Fragment: Codable, Sendable, Hashable {
            public var source: String
            public var policy: String
            public init(source: String, policy: String) {
                self.source = source
                self.policy = policy
            }
        }
        public struct Reply: Codable, Sendable, Hashable {
            public var generation: UInt64
            public var slot: Int
            public var rules: Int
            public var validateMs: Double
            public var compileMs: Double
            public var installMs: Double
            /// Parts of install_ms (absent from older daemons): writing the inactive slot and
            /// classifying into it, the one write that switches, clearing the old slot.
            public var writeMs: Double?
            public var switchMs: Double?
            public var retireMs: Double?

            enum CodingKeys: String, CodingKey {
                case generation, slot, rules
                case validateMs = "validate_ms", compileMs = "compile_ms", installMs = "install_ms"
                case writeMs = "write_ms", switchMs = "switch_ms", retireMs = "retire_ms"
            }

            public init(generation: UInt64, slot: Int, rules: Int, validateMs: Double, compileMs: Double, installMs: Double,
                        writeMs: Double? = nil, switchMs: Double? = nil, retireMs: Double? = nil) {
                self.generation = generation
                self.slot = slot
                self.rules = rules
                self.validateMs = validateMs
                self.compileMs = compileMs
                self.installMs = installMs
                self.writeMs = writeMs
                self.switchMs = switchMs
                self.retireMs = retireMs
            }
        }
    }

    /// Reply: the generation the change made.
    public struct GenerationReply: Codable, Sendable, Hashable {
        public var generation: UInt64
        public init(generation: UInt64) { self.generation = generation }
    }

    public enum SetMode: ControlMethodSpec {
        public static let name = "io.corral.SetMode"
        public static let access = AccessLevel.change
        public struct Parameters: Codable, Sendable, Hashable {
            /// audit, enforce or policy.
            public var mode: String
            /// nil: the whole policy.
            public var rule: String?
            public init(mode: String, rule: String?) {
                self.mode = mode
                self.rule = rule
            }
        }
        public typealias Reply = GenerationReply
    }

    public enum Loosen: ControlMethodSpec {
        public static let name = "io.corral.Loosen"
        public static let access = AccessLevel.change
        /// `seconds`: 1 to 86400.
        public static let seconds = 1...86400
        public struct Parameters: Codable, Sendable, Hashable {
            public var rule: String
            public var seconds: Int
            public init(rule: String, seconds: Int) {
                self.rule = rule
                self.seconds = seconds
            }
        }
        public struct Reply: Codable, Sendable, Hashable {
            public var generation: UInt64
            /// Unix time the rule is enforced again.
            public var until: Double
            public init(generation: UInt64, until: Double) {
                self.generation = generation
                self.until = until
            }
        }
    }

    /// Streams one reply per recent event (and per new one with `follow` and `more`), then a final
    /// `{count}` (or `{}` when the daemon stops).
    public enum GetEvents: ControlMethodSpec {
        public static let name = "io.corral.GetEvents"
        public static let access = AccessLevel.read
        public static let verdicts = ["allow", "deny", "audit"]
        public struct Parameters: Codable, Sendable, Hashable {
            public var rule: String?
            /// allow, deny or audit.
            public var verdict: String?
            public var hook: String?
            /// The newest N (default 100).
            public var limit: Int?
            public var follow: Bool?
            public init(rule: String? = nil, verdict: String? = nil, hook: String? = nil, limit: Int? = nil, follow: Bool? = nil) {
                self.rule = rule
                self.verdict = verdict
                self.hook = hook
                self.limit = limit
                self.follow = follow
            }
        }
        public struct Reply: Codable, Sendable, Hashable, JSONNilEncodingChoice {
            public static let nilEncoding = JSONValueEncoder.NilEncoding.omit
            /// One recorded event (CorralOps.Event's JSON form).
            public var event: JSONValue?
            /// The final reply of a call without `follow`: how many events were sent.
            public var count: Int?
            public init(event: JSONValue? = nil, count: Int? = nil) {
                self.event = event
                self.count = count
            }
        }
    }

    public enum Explain: ControlMethodSpec {
        public static let name = "io.corral.Explain"
        public static let access = AccessLevel.read
        public struct Parameters: Codable, Sendable, Hashable {
            /// The recorded event's id.
            public var id: String
            public init(id: String) { self.id = id }
        }
        /// Absent fields are left out.
        public struct Reply: Codable, Sendable, Hashable, JSONNilEncodingChoice {
            public static let nilEncoding = JSONValueEncoder.NilEncoding.omit
            public var text: String
            public var event: JSONValue?
            public var generation: UInt64?
            /// Whether the reference evaluator reaches the kernel's verdict.
            public var agrees: Bool?
            public init(text: String, event: JSONValue? = nil, generation: UInt64? = nil, agrees: Bool? = nil) {
                self.text = text
                self.event = event
                self.generation = generation
                self.agrees = agrees
            }
        }
    }

    public enum Why: ControlMethodSpec {
        public static let name = "io.corral.Why"
        public static let access = AccessLevel.read
        public static let pids = 1...Int(Int32.max)
        public struct Parameters: Codable, Sendable, Hashable {
            public var pid: Int
            public var actor: Int?
            public var toCgroup: String?
            public var enter: String?

            enum CodingKeys: String, CodingKey {
                case pid, actor, enter
                case toCgroup = "to_cgroup"
            }

            public init(pid: Int, actor: Int? = nil, toCgroup: String? = nil, enter: String? = nil) {
                self.pid = pid
                self.actor = actor
                self.toCgroup = toCgroup
                self.enter = enter
            }
        }
        /// `rule` and `mode` are null when no rule decided.
        public struct Reply: Codable, Sendable, Hashable, JSONNilEncodingChoice {
            public static let nilEncoding = JSONValueEncoder.NilEncoding.null
            public var verdict: String
            public var rule: String?
            public var mode: String?
            public var errno: Int
            public var generation: UInt64
            public var text: String
            public init(verdict: String, rule: String?, mode: String?, errno: Int, generation: UInt64, text: String) {
                self.verdict = verdict
                self.rule = rule
                self.mode = mode
                self.errno = errno
                self.generation = generation
                self.text = text
            }
        }
    }

    public enum Unload: ControlMethodSpec {
        public static let name = "io.corral.Unload"
        public static let access = AccessLevel.change
        public typealias Parameters = NoFields
        public typealias Reply = NoFields
    }

    /// Root only, whatever the groups say: it hands the pinned programs to another binary.
    public enum TrustExecutable: ControlMethodSpec {
        public static let name = "io.corral.TrustExecutable"
        public static let access = AccessLevel.change
        public static let rootOnly = true
        public struct Parameters: Codable, Sendable, Hashable {
            public var path: String
            public init(path: String) { self.path = path }
        }
        /// `inode` is null when self-protection is off.
        public struct Reply: Codable, Sendable, Hashable, JSONNilEncodingChoice {
            public static let nilEncoding = JSONValueEncoder.NilEncoding.null
            public var path: String
            public var inode: UInt64?
            public var selfProtection: Bool

            enum CodingKeys: String, CodingKey {
                case path, inode
                case selfProtection = "self_protection"
            }

            public init(path: String, inode: UInt64?, selfProtection: Bool) {
                self.path = path
                self.inode = inode
                self.selfProtection = selfProtection
            }
        }
    }
}

extension ControlInterface {
    /// A delegated manager registers rules for a subtree of its delegation (docs/policy.md,
    /// "Registrations"). Open to every peer at the socket; the daemon then requires the peer
    /// process to match a manager of a `delegated` rule whose subtree strictly contains `subtree`
    /// (else org.varlink.service.PermissionDenied), and the rules to stay inside `subtree` (else
    /// io.corral.RegistrationOutsideSubtree).
    public enum Register: ControlMethodSpec {
        public static let name = "io.corral.Register"
        public static let access = AccessLevel.anyone
        public struct Parameters: Codable, Sendable, Hashable {
            /// The cgroup the rules stay inside: an exact path under the policy's cgroup root.
            public var subtree: String
            /// The rules: a policy fragment's YAML text (`version: 1`, `rules:`).
            public var rules: String
            public init(subtree: String, rules: String) {
                self.subtree = subtree
                self.rules = rules
            }
        }
        public struct Reply: Codable, Sendable, Hashable {
            /// The registration's id, for io.corral.Unregister.
            public var id: String
            public var generation: UInt64
            /// The registered rules' ids.
            public var rules: [String]
            public init(id: String, generation: UInt64, rules: [String]) {
                self.id = id
                self.generation = generation
                self.rules = rules
            }
        }
    }

    /// Removes a registration. Open to every peer; the daemon allows the `change` level (uid 0,
    /// the admin group) and a peer that matches a manager of the registration's `delegated` rule.
    public enum Unregister: ControlMethodSpec {
        public static let name = "io.corral.Unregister"
        public static let access = AccessLevel.anyone
        public struct Parameters: Codable, Sendable, Hashable {
            public var id: String
            public init(id: String) { self.id = id }
        }
        public typealias Reply = GenerationReply
    }
}

// MARK: encoding and decoding messages

extension ControlMethodSpec {
    /// Parameters as the wire has them (nil fields left out).
    public static func encode(parameters: Parameters) -> [String: JSONValue] {
        (try? JSONValueEncoder().encode(parameters))?.objectValue ?? [:]
    }

    /// The request's parameters, or InvalidParameter naming the first bad one.
    public static func decode(parameters: [String: JSONValue]) throws(ControlError) -> Parameters {
        do { return try JSONValueDecoder().decode(Parameters.self, from: .object(parameters)) } catch {
            throw .invalidParameter(error.path.isEmpty ? "parameters" : error.key, reason: error.reason)
        }
    }

    /// A reply's wire form. A reply that cannot be encoded (a non-finite number) is a KernelError.
    public static func encode(reply: Reply) throws(ControlError) -> [String: JSONValue] {
        do {
            guard case .object(let o) = try JSONValueEncoder().encode(reply) else {
                throw ControlError.kernelError(reason: "\(name): the reply is not an object")
            }
            return o
        } catch let error as ControlError {
            throw error
        } catch {
            throw .kernelError(reason: "\(name): cannot encode the reply: \(error)")
        }
    }

    /// A reply's parameters as `Reply`; the error names the key.
    public static func decode(reply: [String: JSONValue]) throws(JSONDecodeError) -> Reply {
        try JSONValueDecoder().decode(Reply.self, from: .object(reply))
    }
}

extension ControlError {
    /// InvalidParameter unless `value` is within `range` ("42 is outside 1…10").
    public static func check(_ name: String, _ value: Int, in range: ClosedRange<Int>) throws(ControlError) {
        if !range.contains(value) {
            throw .invalidParameter(name, reason: "\(value) is outside \(range.lowerBound)…\(range.upperBound)")
        }
    }
}
