// ControlService: the control socket's methods (docs/operations.md §4), bound to the loader and
// the event service. Handlers run on the reactor thread, so a request sees one consistent state.
import CorralControl
import CorralKernel
import CorralOps
import CorralPolicy
import CorralSystem
import Foundation
import Logging

public final class ControlService: DaemonService {
    public let name = "control"
    let configuration: DaemonConfiguration
    let loader: LoaderService
    let events: EventService
    let logger: Logger
    let requestUnload: () -> Void
    var server: ControlServer?
    /// Reported in GetStatus as `policy_watch` (null without --watch-policy).
    var policyWatch: PolicyWatchService?

    init(configuration: DaemonConfiguration, loader: LoaderService, events: EventService, logger: Logger,
         requestUnload: @escaping () -> Void) {
        self.configuration = configuration
        self.loader = loader
        self.events = events
        self.logger = logger
        self.requestUnload = requestUnload
    }

    public func start(_ reactor: Reactor) throws {
        do { try Sys.mkdirs(String(configuration.controlSocket[..<(configuration.controlSocket.lastIndex(of: "/") ?? configuration.controlSocket.startIndex)])) } catch {}
        var cfg = ControlServerConfiguration(socketPath: configuration.controlSocket, authorization: configuration.authorization)
        cfg.version = "1"
        let s = ControlServer(configuration: cfg)
        register(s)
        try s.start(reactor: reactor)
        server = s
    }

    public func stop() {
        server?.stop()
        server = nil
    }

    private var manager: PolicyManager { loader.manager }

    private func register(_ s: ControlServer) {
        s.register(method: ControlMethod.getStatus, access: .read) { [unowned self] _ throws(ControlError) in
            .reply(self.status())
        }
        s.register(method: ControlMethod.apply, access: .change) { [unowned self] call throws(ControlError) in
            let text = try call.string("policy")
            let source = try call.optionalString("source") ?? "(control socket)"
            let fragments = try Self.fragments(call.parameters["fragments"])
            let (validate, compile, install) = try self.mapped { () throws(DaemonError) in
                try self.manager.apply(text: text, source: source, fragments: fragments)
            }
            self.logger.notice("applied \(source) as generation \(self.manager.generation) (by pid \(call.peer.pid) uid \(call.peer.uid))")
            return .reply(["generation": JSONValue(Double(self.manager.generation)), "slot": JSONValue(Int(self.manager.record.slot)),
                           "rules": JSONValue(self.manager.policy.rules.count),
                           "validate_ms": JSONValue(validate), "compile_ms": JSONValue(compile), "install_ms": JSONValue(install)])
        }
        s.register(method: ControlMethod.setMode, access: .change) { [unowned self] call throws(ControlError) in
            let mode = try call.string("mode")
            let rule = try call.optionalString("rule")
            try self.mapped { () throws(DaemonError) in try self.manager.setMode(rule: rule, mode: mode) }
            self.logger.notice("mode \(mode) for \(rule ?? "the whole policy"): generation \(self.manager.generation) (by pid \(call.peer.pid) uid \(call.peer.uid))")
            return .reply(["generation": JSONValue(Double(self.manager.generation))])
        }
        s.register(method: ControlMethod.loosen, access: .change) { [unowned self] call throws(ControlError) in
            let rule = try call.string("rule")
            let seconds = try call.integer("seconds", in: 1...86400)
            let until = try self.mapped { () throws(DaemonError) in try self.manager.loosen(rule: rule, seconds: Double(seconds)) }
            self.logger.notice("loosened \(rule) for \(seconds) s: audit until \(Int(until)), generation \(self.manager.generation)")
            return .reply(["generation": JSONValue(Double(self.manager.generation)), "until": JSONValue(until)])
        }
        s.register(method: ControlMethod.getEvents, access: .read) { [unowned self] call throws(ControlError) in
            let filter = EventFilter(rule: try call.optionalString("rule"), verdict: try call.optionalString("verdict"),
                                     hook: try call.optionalString("hook"),
                                     limit: try call.optionalInteger("limit", in: 0...EventRing.defaultCapacity) ?? 100)
            if let v = filter.verdict, !["allow", "deny", "audit"].contains(v) {
                throw .invalidParameter("verdict", reason: "expected allow, deny or audit")
            }
            self.events.subscribe(filter: filter, follow: try call.optionalBool("follow") ?? false, stream: call.stream)
            return .streaming
        }
        s.register(method: ControlMethod.explain, access: .read) { [unowned self] call throws(ControlError) in
            let id = try call.string("id")
            guard let event = self.events.event(id: id) else { throw .noSuchEvent(id: id) }
            let (policy, audit) = self.policy(ofGeneration: event.generation)
            let ex = EventExplanation.explain(event, policy: policy, auditAll: audit)
            var reply: [String: JSONValue] = ["text": .string(ex.text)]
            if let v = try? JSONValue(encoding: event) { reply["event"] = v }
            if let g = event.generation { reply["generation"] = JSONValue(Double(g)) }
            if let a = ex.agrees { reply["agrees"] = .bool(a) }
            return .reply(reply)
        }
        s.register(method: ControlMethod.why, access: .read) { [unowned self] call throws(ControlError) in
            let pid = try call.integer("pid", in: 1...Int(Int32.max))
            let actor = try call.optionalInteger("actor", in: 1...Int(Int32.max))
            let answer: WhyAnswer
            do {
                let q = try WhyQuery.parse(pid: Int32(pid), actor: actor.map(Int32.init),
                                           toCgroup: try call.optionalString("to_cgroup"), enter: try call.optionalString("enter"))
                let m = self.manager
                let effective = PolicyManager.effective(m.policy, m.record)
                answer = try q.answer(policy: effective, generation: m.generation, auditAll: m.record.policyMode == "audit",
                                      now: Sys.boottimeNanos(),
                                      live: ProcLiveState(policy: effective, kernel: SessionStateReader(session: m.session)))
            } catch let e as WhyError {
                switch e {
                case .noSuchProcess(let p): throw .noSuchProcess(pid: Int(p))
                case .invalidParameter(let n, let r): throw .invalidParameter(n, reason: r)
                case .kernel(let r): throw .kernelError(reason: r)
                }
            } catch let e as ControlError { throw e } catch { throw .kernelError(reason: "\(error)") }
            return .reply(["verdict": .string(answer.verdict.rawValue), "rule": answer.rule.map { .string($0) } ?? .null,
                           "mode": answer.mode.map { .string($0.rawValue) } ?? .null, "errno": JSONValue(Int(answer.errno)),
                           "generation": JSONValue(Double(answer.generation)), "text": .string(answer.text)])
        }
        s.register(method: ControlMethod.trustExecutable, access: .change) { [unowned self] call throws(ControlError) in
            // Handing the pinned programs to another binary: root only, whatever the groups say.
            guard call.peer.uid == 0 else { throw .permissionDenied(method: ControlMethod.trustExecutable) }
            let path = try call.string("path")
            let inode = try self.loader.trust(executable: path)
            return .reply(["path": .string(path), "inode": inode.map { JSONValue(Double($0)) } ?? .null,
                           "self_protection": .bool(inode != nil)])
        }
        s.register(method: ControlMethod.unload, access: .change) { [unowned self] call throws(ControlError) in
            self.logger.notice("unload requested by pid \(call.peer.pid) uid \(call.peer.uid)")
            self.requestUnload()
            return .reply([:])
        }
    }

    func status() -> [String: JSONValue] {
        let m = manager
        var ruleModes: [String: JSONValue] = [:]
        for (k, v) in m.record.ruleModes { ruleModes[k] = .string(v) }
        var loosened: [String: JSONValue] = [:]
        for (k, v) in m.record.loosened { loosened[k] = JSONValue(v) }
        return [
            "kernel_mode": .string(m.session.mode.rawValue),
            "generation": JSONValue(Double(m.generation)), "slot": JSONValue(Int(m.record.slot)),
            "source": .string(m.record.source), "rules": JSONValue(m.policy.rules.count),
            "fragments": .array(m.record.fragments.map { .string($0.source) }),
            "policy_mode": .string(m.record.policyMode), "rule_modes": .object(ruleModes), "loosened": .object(loosened),
            "pins": .string(configuration.session.pinDirectory ?? ""),
            "adopted": .bool(m.adopted),
            "ringbuf_drops": JSONValue(Double(m.session.ringbufDrops)),
            "events_seen": JSONValue(Double(events.eventsSeen)),
            "last_apply": JSONValue(m.lastApplyAt),
            "policy_watch": policyWatch?.status() ?? .null,
        ]
    }

    /// The effective policy (overrides applied) of `generation` and whether it audited every rule.
    func policy(ofGeneration generation: UInt64?) -> (Policy?, Bool) {
        let m = manager
        guard let g = generation else { return (nil, false) }
        let rec = g == m.generation ? m.record : GenerationStore(stateDirectory: configuration.stateDirectory).read(g)
        guard let rec, let base = try? PolicyManager.parse(rec) else { return (nil, false) }
        return (PolicyManager.effective(base, rec), rec.policyMode == "audit")
    }

    /// io.corral.Apply's optional `fragments`: `[{"source": PATH, "policy": TEXT}]`, in merge order.
    static func fragments(_ value: JSONValue?) throws(ControlError) -> [GenerationRecord.Fragment] {
        guard let value else { return [] }
        if case .null = value { return [] }
        guard let items = value.arrayValue else { throw .invalidParameter("fragments", reason: "expected a list") }
        var result: [GenerationRecord.Fragment] = []
        for item in items {
            guard case .string(let source)? = item["source"], case .string(let text)? = item["policy"] else {
                throw .invalidParameter("fragments", reason: "each fragment needs a string 'source' and 'policy'")
            }
            result.append(GenerationRecord.Fragment(source: source, policy: text))
        }
        return result
    }

    private func mapped<T>(_ body: () throws(DaemonError) -> T) throws(ControlError) -> T {
        do { return try body() } catch {
            switch error {
            case .policyInvalid(let d): throw .policyInvalid(diagnostics: d)
            case .capacityExceeded(let r): throw .capacityExceeded(reason: r)
            case .noSuchRule(let r): throw .noSuchRule(r)
            case .noSuchEvent(let id): throw .noSuchEvent(id: id)
            case .noSuchProcess(let p): throw .noSuchProcess(pid: Int(p))
            case .invalidParameter(let p, let r): throw .invalidParameter(p, reason: r)
            case .kernel(let r): throw .kernelError(reason: r)
            }
        }
    }
}
