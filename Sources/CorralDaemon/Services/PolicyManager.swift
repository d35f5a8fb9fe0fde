// The loader's state machine: load or adopt, apply a policy, per-rule and policy-wide mode,
// temporary loosening. Every change is one new generation through the atomic switch
// (docs/operations.md §1); a change that fails validation, compilation or the install leaves
// the active generation, the overrides and the record untouched.
import CorralCompiler
import CorralControl
import CorralEvaluator
import CorralKernel
import CorralOps
import CorralPolicy
import CorralSystem

/// One administrative action, for the event trail (`"hook": "admin"`).
public struct AdminAction: Sendable {
    public var action: String
    public var generation: UInt64
    public var fields: [String: String]
}

public final class PolicyManager {
    public let session: CorralSession
    public private(set) var record: GenerationRecord
    public private(set) var policy: Policy
    public private(set) var adopted: Bool
    public private(set) var lastApplyAt: Double
    let store: GenerationStore
    let clock: () -> Double
    /// CLOCK_BOOTTIME nanoseconds: the clock of loosening deadlines (the kernel's too).
    let boottime: () -> UInt64
    /// Called after every successful change.
    public var onAction: (AdminAction) -> Void = { _ in }

    /// Adopts the pinned state in `options.pinDirectory` when there is any, else loads fresh.
    /// `initial` (text, source) is required for a fresh load; with adoption it replaces the
    /// recorded policy. Without either, adoption refuses (the daemon cannot know the policy).
    public init(options: SessionOptions, stateDirectory: String, initial: (text: String, source: String)?,
                initialFragments: [GenerationRecord.Fragment] = [],
                clock: @escaping () -> Double = { Double(Sys.realTimeNanos()) / 1e9 },
                boottime: @escaping () -> UInt64 = Sys.boottimeNanos) throws(DaemonError) {
        store = GenerationStore(stateDirectory: stateDirectory)
        self.clock = clock
        self.boottime = boottime
        let now = clock()
        let pinDir = options.pinDirectory
        if let dir = pinDir, CorralObject.hasPinnedState(dir) {
            let object: CorralObject
            let active: UInt64
            do {
                object = try CorralObject(adopting: dir)
                active = try PolicyInstaller(object: object).activeGenerationNumber()
            } catch { throw .pinnedState("adopting \(dir): \(error)") }
            var rec: GenerationRecord
            if let initial {
                rec = GenerationRecord(generation: 0, slot: 0, source: initial.source, policy: initial.text,
                                       policyMode: options.auditAll ? "audit" : "enforce", ruleModes: [:], loosened: [:], appliedAt: now)
                rec.fragments = initialFragments
                // Registrations outlive a restart with --policy: the active record's are kept
                // while the new policy still delegates their subtrees (docs/policy.md, "Registrations").
                if let stored = store.read(active) {
                    rec.registrations = stored.registrations
                    rec.registrationSerial = stored.registrationSerial
                    _ = try Self.dropOrphanedRegistrations(&rec)
                }
            } else if let stored = store.read(active) {
                rec = stored
            } else {
                throw .pinnedState("adopting \(dir): no record of the active generation \(active) in \(store.directory); "
                              + "start with --policy FILE to install a fresh generation over the pinned programs, "
                              + "or --unload to remove the pins")
            }
            // The recorded overrides are re-applied in the generation installed below, before
            // the daemon reports ready; loosenings that ran out meanwhile are dropped (the
            // kernel already enforced them: corral_rule.audit_until_ns).
            _ = rec.dropExpiredLoosenings(boottime: boottime())
            let base = try Self.parse(rec)
            let effective = Self.effective(base, rec)
            let store = self.store
            do {
                session = try CorralSession(adopting: object, policy: effective, options: options) { (image: MapImage) throws(KernelError) in
                    rec.generation = image.generation.value.generation
                    rec.slot = image.gen
                    rec.appliedAt = now
                    try Self.persist(store, rec)
                }
            } catch { throw DaemonError(error) }
            policy = base
            record = rec
            adopted = true
        } else {
            guard let initial else { throw .invalidParameter("policy", "no pinned state to adopt; --policy is required") }
            var rec = GenerationRecord(generation: 1, slot: 0, source: initial.source, policy: initial.text,
                                       policyMode: options.auditAll ? "audit" : "enforce", ruleModes: [:], loosened: [:], appliedAt: now)
            rec.fragments = initialFragments
            let base = try Self.parse(rec)
            let store = self.store
            do {
                session = try CorralSession(policy: base, options: options) { (image: MapImage) throws(KernelError) in
                    rec.generation = image.generation.value.generation
                    rec.slot = image.gen
                    try Self.persist(store, rec)
                }
            } catch { throw DaemonError(error) }
            policy = base
            record = rec
            adopted = false
        }
        lastApplyAt = now
    }

    public var generation: UInt64 { record.generation }

    // MARK: changes

    /// Validates, compiles and installs `text` as the next generation. Overrides of rules that
    /// the new policy still has are kept. `origin` says who asked, for the event trail:
    /// `control` (io.corral.Apply) or `watch` (the policy file changed, PolicyWatchService).
    @discardableResult
    /// `fragments` (docs/policy.md, "Fragments") are merged after `text`, validated with it as one policy.
    public func apply(text: String, source: String, fragments: [GenerationRecord.Fragment] = [],
                      origin: String = "control") throws(DaemonError) -> ApplyTimes {
        let tv = Sys.monotonicNanos()
        var next = record
        next.policy = text
        next.source = source
        next.fragments = fragments
        let orphaned = try Self.dropOrphanedRegistrations(&next)
        let base = try Self.parse(next)
        let ids = Set(base.rules.map(\.id))
        next.ruleModes = next.ruleModes.filter { ids.contains($0.key) }
        next.loosened = next.loosened.filter { ids.contains($0.key) }
        next.loosenedUntilBoottime = next.loosenedUntilBoottime.filter { ids.contains($0.key) }
        let t0 = Sys.monotonicNanos()
        var t1 = t0
        try install(base: base, next) { t1 = Sys.monotonicNanos() }
        let t2 = Sys.monotonicNanos()
        var fields = ["source": source, "rules": String(base.rules.count), "origin": origin]
        if !orphaned.isEmpty { fields["registrations_dropped"] = orphaned.joined(separator: ",") }
        onAction(AdminAction(action: "apply", generation: record.generation, fields: fields))
        let r = session.lastInstall
        return ApplyTimes(validateMillis: Double(t0 - tv) / 1e6, compileMillis: Double(t1 - t0) / 1e6,
                          installMillis: Double(t2 - t1) / 1e6, writeMillis: Double(r.writeNanos) / 1e6,
                          switchMillis: Double(r.switchNanos) / 1e6, retireMillis: Double(r.retireNanos) / 1e6)
    }

    /// The phases of one apply, in milliseconds. `install` is everything after compiling (the
    /// generation record is written, then the installer's write, switch and retire phases:
    /// `ClassificationReport`).
    public struct ApplyTimes: Sendable {
        public var validateMillis, compileMillis, installMillis, writeMillis, switchMillis, retireMillis: Double
    }

    /// `mode`: audit, enforce, or policy (drop the override). `rule` nil: the whole policy.
    public func setMode(rule: String?, mode: String) throws(DaemonError) {
        var next = record
        if let rule {
            guard policy.rules.contains(where: { $0.id == rule }) else { throw .noSuchRule(rule) }
            switch mode {
            case "audit", "enforce": next.ruleModes[rule] = mode
            case "policy": next.ruleModes[rule] = nil
            default: throw .invalidParameter("mode", "expected audit, enforce or policy, got '\(mode)'")
            }
            next.loosened[rule] = nil
            next.loosenedUntilBoottime[rule] = nil
        } else {
            switch mode {
            case "audit", "enforce": next.policyMode = mode
            case "policy": next.policyMode = "enforce"
            default: throw .invalidParameter("mode", "expected audit, enforce or policy, got '\(mode)'")
            }
        }
        try install(base: policy, next)
        onAction(AdminAction(action: "mode", generation: record.generation,
                             fields: ["rule": rule ?? "*", "mode": mode]))
    }

    /// Audits `rule` for `seconds`. The deadline is in the kernel (corral_rule.audit_until_ns on
    /// CLOCK_BOOTTIME): the rule is enforced again at that time with or without a daemon;
    /// `expire()` then only writes the generation that drops the loosening.
    @discardableResult
    public func loosen(rule: String, seconds: Double) throws(DaemonError) -> Double {
        guard policy.rules.contains(where: { $0.id == rule }) else { throw .noSuchRule(rule) }
        guard seconds >= 1, seconds <= 86400 else { throw .invalidParameter("seconds", "must be 1…86400, got \(seconds)") }
        var next = record
        let until = clock() + seconds
        next.loosened[rule] = until
        next.loosenedUntilBoottime[rule] = boottime() + UInt64(seconds * 1e9)
        try install(base: policy, next)
        onAction(AdminAction(action: "loosen", generation: record.generation,
                             fields: ["rule": rule, "until": Sys.format("%.0f", until)]))
        return until
    }

    /// Drops loosenings whose time is up (one generation for all of them). Returns the rules.
    @discardableResult
    public func expire() throws(DaemonError) -> [String] {
        var next = record
        let due = next.dropExpiredLoosenings(boottime: boottime())
        guard !due.isEmpty else { return [] }
        try install(base: policy, next)
        onAction(AdminAction(action: "loosen-expired", generation: record.generation,
                             fields: ["rules": due.joined(separator: ",")]))
        return due
    }

    /// Whether a loosening has run out and `expire()` has a generation to write.
    public var hasExpiredLoosening: Bool { !record.expiredLoosenings(boottime: boottime()).isEmpty }

    // MARK: registrations (docs/policy.md, "Registrations")

    /// The rules of the applied policy (main file and fragments), without registered ones.
    public var appliedRules: [Rule] {
        let registered = Set(record.registrations.map(\.source))
        return policy.rules.filter { !registered.contains($0.location?.file ?? "") }
    }

    /// The registered rules of `registration`, in policy order.
    public func rules(of registration: GenerationRecord.Registration) -> [Rule] {
        policy.rules.filter { $0.location?.file == registration.source }
    }

    /// The `delegated` rules of the applied policy whose managers the process `pid` matches, as
    /// the policy would match it (its executable, the executable's xattrs, its cgroup, tgid 1).
    /// Empty when the process is gone or unreadable.
    public func delegations(managedBy pid: Int32) -> [Rule] {
        guard let task = liveTask(pid) else { return [] }
        return appliedRules.filter { rule in
            rule.kind == .delegated && rule.subjects.contains { Evaluator.match($0, task).matches }
        }
    }

    /// The process `pid` as the policy would match it; nil when it is gone or unreadable.
    private func liveTask(_ pid: Int32) -> TaskState? {
        let live = ProcLiveState(policy: Self.effective(policy, record), kernel: SessionStateReader(session: session))
        return pid > 0 ? try? live.task(pid: pid) : nil
    }

    /// Registers `rules` (a fragment's YAML text) for `subtree` on behalf of process `pid`, as one
    /// new generation. Refused, with nothing changed: PermissionDenied when the process manages no
    /// delegated subtree, RegistrationOutsideSubtree when `subtree` is not strictly inside one it
    /// manages or a rule reaches outside `subtree` (RegistrationCheck), PolicyInvalid when the
    /// rules do not parse or conflict with the policy.
    public func register(pid: Int32, uid: UInt32, subtree text: String, rules text2: String) throws(DaemonError)
        -> (registration: GenerationRecord.Registration, rules: [String]) {
        let managed = delegations(managedBy: pid)
        guard !managed.isEmpty else { throw .permissionDenied(ControlInterface.Register.name) }
        guard let subtree = CgroupPath(text) else {
            throw .invalidParameter("subtree", "'\(text)' is not an absolute cgroup path without '..'")
        }
        if let problem = RegistrationCheck.subtreeProblem(subtree) {
            throw .registrationOutsideSubtree(subtree.description, [problem.description])
        }
        guard let delegation = managed.first(where: { RegistrationCheck.delegatedInstance(of: $0, strictlyContaining: subtree) != nil }) else {
            throw .registrationOutsideSubtree(subtree.description, [
                "subtree: \(subtree) is not strictly inside a subtree delegated to this manager (rules \(managed.map(\.id).joined(separator: ", ")): "
                    + managed.flatMap(\.cgroups).map(\.description).joined(separator: ", ") + ")",
            ])
        }
        let directory = policy.cgroupRoot + subtree.description
        guard Sys.exists(directory) else { throw .invalidParameter("subtree", "\(directory) does not exist") }
        guard record.registrations.count < RegistrationCheck.maxRegistrations else {
            throw .capacityExceeded("the daemon keeps at most \(RegistrationCheck.maxRegistrations) registrations")
        }
        var next = record
        next.registrationSerial += 1
        let registration = GenerationRecord.Registration(
            id: "reg-\(next.registrationSerial)", subtree: subtree.description, managerRule: delegation.id,
            pid: pid, uid: uid, policy: text2, registeredAt: clock(),
            unit: liveTask(pid).flatMap { Workload.identify(cgroupPath: $0.cgroup.description).unit })
        next.registrations.append(registration)
        let base = try Self.parse(next)
        let mine = base.rules.filter { $0.location?.file == registration.source }
        let named = base.subjects.filter { $0.location?.file == registration.source }
        let problems = RegistrationCheck.problems(rules: mine, namedSubjects: named, subtree: subtree)
        guard problems.isEmpty else { throw .registrationOutsideSubtree(subtree.description, problems.map(\.description)) }
        try install(base: base, next)
        onAction(AdminAction(action: "register", generation: record.generation,
                             fields: ["registration": registration.id, "subtree": registration.subtree,
                                      "manager_rule": delegation.id, "pid": String(pid), "rules": mine.map(\.id).joined(separator: ",")]))
        return (registration, mine.map(\.id))
    }

    /// Removes registration `id` (one new generation).
    public func unregister(id: String, why: String) throws(DaemonError) {
        guard record.registrations.contains(where: { $0.id == id }) else { throw .noSuchRegistration(id) }
        try removeRegistrations([id], why: why)
    }

    /// Removes the registrations whose subtree's cgroup no longer exists (one generation for all).
    /// Returns their ids.
    @discardableResult
    public func dropVanishedRegistrations() throws(DaemonError) -> [String] {
        let gone = record.registrations.filter { !Sys.exists(policy.cgroupRoot + $0.subtree) }.map(\.id)
        guard !gone.isEmpty else { return [] }
        try removeRegistrations(gone, why: "cgroup removed")
        return gone
    }

    private func removeRegistrations(_ ids: [String], why: String) throws(DaemonError) {
        var next = record
        next.registrations.removeAll { ids.contains($0.id) }
        let base = try Self.parse(next)
        let kept = Set(base.rules.map(\.id))
        next.ruleModes = next.ruleModes.filter { kept.contains($0.key) }
        next.loosened = next.loosened.filter { kept.contains($0.key) }
        next.loosenedUntilBoottime = next.loosenedUntilBoottime.filter { kept.contains($0.key) }
        try install(base: base, next)
        onAction(AdminAction(action: "unregister", generation: record.generation,
                             fields: ["registrations": ids.joined(separator: ","), "why": why]))
    }

    /// Drops the registrations of `rec` whose `delegated` rule is gone from its applied policy or
    /// no longer strictly contains their subtree (an apply took the delegation away). Returns their ids.
    static func dropOrphanedRegistrations(_ rec: inout GenerationRecord) throws(DaemonError) -> [String] {
        guard !rec.registrations.isEmpty else { return [] }
        let applied: Policy
        do { applied = try rec.parsePolicy(registrations: false) } catch {
            throw .policyInvalid(error.diagnostics.map(\.description))
        }
        var dropped: [String] = []
        rec.registrations.removeAll { registration in
            guard let subtree = CgroupPath(registration.subtree), let rule = applied.rule(id: registration.managerRule),
                  RegistrationCheck.delegatedInstance(of: rule, strictlyContaining: subtree) != nil else {
                dropped.append(registration.id)
                return true
            }
            return false
        }
        return dropped
    }

    // MARK: internals

    private func install(base: Policy, _ next: GenerationRecord, compiled: () -> Void = {}) throws(DaemonError) {
        var rec = next
        rec.appliedAt = clock()
        let store = self.store
        do {
            try session.replacePolicy(Self.effective(base, rec), auditAll: rec.policyMode == "audit") { (image: MapImage) throws(KernelError) in
                compiled()
                rec.generation = image.generation.value.generation
                rec.slot = image.gen
                try Self.persist(store, rec)
            }
        } catch { throw DaemonError(error) }
        policy = base
        record = rec
        lastApplyAt = rec.appliedAt
    }

    static func persist(_ store: GenerationStore, _ rec: GenerationRecord) throws(KernelError) {
        do { try store.write(rec) } catch { throw .system(call: "write \(store.path(rec.generation))", errno: error) }
    }

    static func parse(_ text: String, source: String) throws(DaemonError) -> Policy {
        do { return try PolicyLoader.parse(yaml: text, source: source) } catch {
            throw .policyInvalid(error.diagnostics.map(\.description))
        }
    }

    /// A record's policy: its main text and its fragments.
    static func parse(_ rec: GenerationRecord) throws(DaemonError) -> Policy {
        do { return try rec.parsePolicy() } catch {
            throw .policyInvalid(error.diagnostics.map(\.description))
        }
    }

    /// The base policy with the record's overrides: loosened rules are audit until their time.
    static func effective(_ base: Policy, _ rec: GenerationRecord) -> Policy { rec.applyingOverrides(to: base) }
}
