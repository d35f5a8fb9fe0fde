// The loader's state machine: load or adopt, apply a policy, per-rule and policy-wide mode,
// temporary loosening. Every change is one new generation through the atomic switch
// (docs/operations.md §1); a change that fails validation, compilation or the install leaves
// the active generation, the overrides and the record untouched.
import CorralCompiler
import CorralKernel
import CorralOps
import CorralPolicy
import CorralSystem
import Foundation

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
                clock: @escaping () -> Double = { Date().timeIntervalSince1970 },
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
            } catch { throw DaemonError(error) }
            var rec: GenerationRecord
            if let initial {
                rec = GenerationRecord(generation: 0, slot: 0, source: initial.source, policy: initial.text,
                                       policyMode: options.auditAll ? "audit" : "enforce", ruleModes: [:], loosened: [:], appliedAt: now)
                rec.fragments = initialFragments
            } else if let stored = store.read(active) {
                rec = stored
            } else {
                throw .kernel("adopting \(dir): no record of the active generation \(active) in \(store.directory); "
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
        let base = try Self.parse(next)
        let ids = Set(base.rules.map(\.id))
        next.ruleModes = next.ruleModes.filter { ids.contains($0.key) }
        next.loosened = next.loosened.filter { ids.contains($0.key) }
        next.loosenedUntilBoottime = next.loosenedUntilBoottime.filter { ids.contains($0.key) }
        let t0 = Sys.monotonicNanos()
        var t1 = t0
        try install(base: base, next) { t1 = Sys.monotonicNanos() }
        let t2 = Sys.monotonicNanos()
        onAction(AdminAction(action: "apply", generation: record.generation,
                             fields: ["source": source, "rules": String(base.rules.count), "origin": origin]))
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
                             fields: ["rule": rule, "until": String(format: "%.0f", until)]))
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
