// ControlService: the control socket's methods (docs/operations.md §4), bound to the loader and
// the event service. Handlers run on the reactor thread, so a request sees one consistent state.
import CorralControl
import CorralKernel
import CorralOps
import CorralPolicy
import CorralSystem
import Glibc
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
        typealias I = ControlInterface
        s.register(I.GetStatus.self) { [unowned self] _, _ in self.status() }
        s.register(I.Apply.self) { [unowned self] p, call throws(ControlError) in
            let source = p.source ?? "(control socket)"
            let fragments = (p.fragments ?? []).map { GenerationRecord.Fragment(source: $0.source, policy: $0.policy) }
            let t = try self.mapped { () throws(DaemonError) in
                try self.manager.apply(text: p.policy, source: source, fragments: fragments)
            }
            self.logger.notice("applied \(source) as generation \(self.manager.generation) (by pid \(call.peer.pid) uid \(call.peer.uid))")
            return I.Apply.Reply(generation: self.manager.generation, slot: Int(self.manager.record.slot),
                                 rules: self.manager.policy.rules.count,
                                 validateMs: t.validateMillis, compileMs: t.compileMillis, installMs: t.installMillis,
                                 writeMs: t.writeMillis, switchMs: t.switchMillis, retireMs: t.retireMillis)
        }
        s.register(I.SetMode.self) { [unowned self] p, call throws(ControlError) in
            try self.mapped { () throws(DaemonError) in try self.manager.setMode(rule: p.rule, mode: p.mode) }
            self.logger.notice("mode \(p.mode) for \(p.rule ?? "the whole policy"): generation \(self.manager.generation) (by pid \(call.peer.pid) uid \(call.peer.uid))")
            return I.GenerationReply(generation: self.manager.generation)
        }
        s.register(I.Loosen.self) { [unowned self] p, _ throws(ControlError) in
            try ControlError.check("seconds", p.seconds, in: I.Loosen.seconds)
            let until = try self.mapped { () throws(DaemonError) in try self.manager.loosen(rule: p.rule, seconds: Double(p.seconds)) }
            self.logger.notice("loosened \(p.rule) for \(p.seconds) s: audit until \(Int(until)), generation \(self.manager.generation)")
            return I.Loosen.Reply(generation: self.manager.generation, until: until)
        }
        s.registerStreaming(I.GetEvents.self) { [unowned self] p, call throws(ControlError) in
            let limit = p.limit ?? 100
            try ControlError.check("limit", limit, in: 0...EventRing.defaultCapacity)
            if let v = p.verdict, !I.GetEvents.verdicts.contains(v) {
                throw .invalidParameter("verdict", reason: "expected allow, deny or audit")
            }
            let filter = EventFilter(rule: p.rule, verdict: p.verdict, hook: p.hook, limit: limit)
            self.events.subscribe(filter: filter, follow: p.follow ?? false, stream: call.stream)
        }
        s.register(I.Explain.self) { [unowned self] p, _ throws(ControlError) in
            guard let event = self.events.event(id: p.id) else { throw .noSuchEvent(id: p.id) }
            let (policy, audit) = self.policy(ofGeneration: event.generation)
            let ex = EventExplanation.explain(event, policy: policy, auditAll: audit)
            return I.Explain.Reply(text: ex.text, event: try? JSONValue(encoding: event), generation: event.generation,
                                   agrees: ex.agrees)
        }
        s.register(I.Why.self) { [unowned self] p, _ throws(ControlError) in
            try ControlError.check("pid", p.pid, in: I.Why.pids)
            if let actor = p.actor { try ControlError.check("actor", actor, in: I.Why.pids) }
            let answer: WhyAnswer
            do {
                let q = try WhyQuery.parse(pid: Int32(p.pid), actor: p.actor.map(Int32.init), toCgroup: p.toCgroup, enter: p.enter)
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
            let d = answer.decision
            return I.Why.Reply(verdict: d.verdict.rawValue, rule: d.rule, mode: d.mode?.rawValue,
                               errno: Int(d.err), generation: answer.generation, text: answer.text)
        }
        s.register(I.TrustExecutable.self) { [unowned self] p, _ throws(ControlError) in
            // Root only (TrustExecutable.rootOnly, checked by the server before this runs).
            let inode = try self.loader.trust(executable: p.path)
            return I.TrustExecutable.Reply(path: p.path, inode: inode, selfProtection: inode != nil)
        }
        s.register(I.Register.self) { [unowned self] p, call throws(ControlError) in
            // Open to every peer (I.Register.access): the manager check is the authorization.
            let (registration, rules) = try self.mapped { () throws(DaemonError) in
                try self.manager.register(pid: call.peer.pid, uid: call.peer.uid, subtree: p.subtree, rules: p.rules)
            }
            self.logger.notice("registration \(registration.id) for \(registration.subtree) by pid \(call.peer.pid) uid \(call.peer.uid) (manager of \(registration.managerRule)): rules \(rules.joined(separator: ", ")), generation \(self.manager.generation)")
            return I.Register.Reply(id: registration.id, generation: self.manager.generation, rules: rules)
        }
        s.register(I.Unregister.self) { [unowned self] p, call throws(ControlError) in
            guard let registration = self.manager.record.registrations.first(where: { $0.id == p.id }) else {
                throw .noSuchRegistration(id: p.id)
            }
            // The change level (uid 0, the admin group), or a manager of the registration's delegated rule.
            let auth = self.configuration.authorization
            let admin = Authorization.isAllowed(.change, peer: call.peer,
                                                identity: Authorization.identity(of: call.peer.pid, procRoot: auth.procRoot), config: auth)
            guard admin || self.manager.delegations(managedBy: call.peer.pid).contains(where: { $0.id == registration.managerRule }) else {
                throw .permissionDenied(method: I.Unregister.name)
            }
            try self.mapped { () throws(DaemonError) in try self.manager.unregister(id: p.id, why: "requested by pid \(call.peer.pid)") }
            self.logger.notice("registration \(p.id) for \(registration.subtree) removed by pid \(call.peer.pid) uid \(call.peer.uid): generation \(self.manager.generation)")
            return I.GenerationReply(generation: self.manager.generation)
        }
        s.register(I.Unload.self) { [unowned self] _, call in
            self.logger.notice("unload requested by pid \(call.peer.pid) uid \(call.peer.uid)")
            self.requestUnload()
            return NoFields()
        }
    }

    func status() -> ControlInterface.GetStatus.Reply {
        let m = manager
        return ControlInterface.GetStatus.Reply(
            kernelMode: m.session.mode.rawValue, generation: m.generation, slot: Int(m.record.slot),
            source: m.record.source, fragments: m.record.fragments.map(\.source), rules: m.policy.rules.count,
            policyMode: m.record.policyMode, ruleModes: m.record.ruleModes, loosened: m.record.loosened,
            pins: configuration.session.pinDirectory ?? "", adopted: m.adopted,
            ringbufDrops: UInt64(m.session.ringbufDrops), eventsSeen: UInt64(events.eventsSeen),
            lastApply: m.lastApplyAt, policyWatch: policyWatch?.status(),
            registrations: m.record.registrations.map {
                .init(id: $0.id, subtree: $0.subtree, managerRule: $0.managerRule, pid: Int($0.pid), uid: Int($0.uid),
                      rules: m.rules(of: $0).map(\.id), registeredAt: $0.registeredAt)
            },
            eventsSuppressed: m.session.eventsSuppressed, ruleOrigins: m.policy.ruleOrigins)
    }

    /// The effective policy (overrides applied) of `generation` and whether it audited every rule.
    func policy(ofGeneration generation: UInt64?) -> (Policy?, Bool) {
        let m = manager
        guard let g = generation else { return (nil, false) }
        let rec = g == m.generation ? m.record : GenerationStore(stateDirectory: configuration.stateDirectory).read(g)
        guard let rec, let base = try? PolicyManager.parse(rec) else { return (nil, false) }
        return (PolicyManager.effective(base, rec), rec.policyMode == "audit")
    }

    /// Runs `body`; a DaemonError becomes the method's io.corral error (docs/operations.md, control socket).
    private func mapped<T>(_ body: () throws(DaemonError) -> T) throws(ControlError) -> T {
        do { return try body() } catch {
            switch error {
            case .policyInvalid(let d): throw .policyInvalid(diagnostics: d)
            case .capacityExceeded(let r): throw .capacityExceeded(reason: r)
            case .noSuchRule(let r): throw .noSuchRule(r)
            case .noSuchEvent(let id): throw .noSuchEvent(id: id)
            case .noSuchProcess(let p): throw .noSuchProcess(pid: Int(p))
            case .invalidParameter(let p, let r): throw .invalidParameter(p, reason: r)
            case .kernel(let r), .unsupportedKernel(let r), .pinnedState(let r): throw .kernelError(reason: r)
            case .permissionDenied(let m): throw .permissionDenied(method: m)
            case .registrationOutsideSubtree(let s, let p): throw .registrationOutsideSubtree(subtree: s, problems: p)
            case .noSuchRegistration(let id): throw .noSuchRegistration(id: id)
            }
        }
    }
}
