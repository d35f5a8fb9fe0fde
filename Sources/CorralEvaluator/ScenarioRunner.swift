// Runs a scenario through the evaluator and checks its expectations.
import CorralPolicy

/// The result of one step.
public struct StepOutcome: Codable, Sendable {
    public var step: Int
    public var action: String
    /// e.g. "setns child -> sandbox-uts (uts 4026532001)".
    public var description: String
    /// Decisions in hook order (unshare of several types makes several).
    public var decisions: [Decision]
    /// The expectation as written, e.g. "deny by lock-sandbox EPERM"; nil when the step has none.
    public var expected: String?
    /// One entry per expectation field that did not hold.
    public var failures: [String]

    public var passed: Bool { failures.isEmpty }

    /// The decision an expectation is checked against: the first deny, else the first audit, else the first.
    public var primary: Decision? {
        decisions.first { $0.verdict == .deny } ?? decisions.first { $0.verdict == .audit } ?? decisions.first
    }
}

public struct ScenarioRun: Sendable {
    public var outcomes: [StepOutcome]
    public var evaluator: Evaluator
    /// Steps the scenario has (outcomes stop at `through:` when a run is cut short).
    public var stepCount: Int

    public var expectationCount: Int { outcomes.filter { $0.expected != nil }.count }
    public var failedSteps: [Int] { outcomes.filter { !$0.passed }.map(\.step) }
    public var passed: Bool { failedSteps.isEmpty }

    /// "2 of 5 expectations failed (steps 4, 7)" or "5 expectations held".
    public var summary: String {
        let failed = failedSteps
        if failed.isEmpty { return "\(expectationCount) expectation\(expectationCount == 1 ? "" : "s") held" }
        return "\(failed.count) of \(expectationCount) expectations failed (step\(failed.count == 1 ? "" : "s") \(failed.map(String.init).joined(separator: ", ")))"
    }
}

public enum ScenarioRunner {
    public typealias PolicyLoad = (String) throws(PolicyErrors) -> Policy

    /// Loads every policy the scenario needs up front, so load errors come before any step runs.
    /// `initialPolicy` overrides the scenario's `policy:` key.
    public static func run(
        _ scenario: Scenario, initialPolicy: Policy? = nil, through lastStep: Int? = nil,
        load: PolicyLoad = { path throws(PolicyErrors) in try PolicyLoader.load(fileOrDirectory: path) }
    ) throws(PolicyErrors) -> ScenarioRun {
        var policies: [String: Policy] = [:]
        var errors: [PolicyDiagnostic] = []
        var start = initialPolicy
        if start == nil, let path = scenario.policyPath {
            do { start = try load(path) } catch { errors += error.diagnostics }
        }
        for step in scenario.steps {
            guard case .policy(let path?) = step.action, policies[path] == nil else { continue }
            do { policies[path] = try load(path) } catch { errors += error.diagnostics }
        }
        if !errors.isEmpty { throw PolicyErrors(errors) }

        var state = RunState(scenario: scenario, evaluator: Evaluator(policy: start, auditAll: scenario.auditAll,
                                                                       cgroupIDs: scenario.cgroups))
        for task in scenario.tasks {
            state.pids[task.name] = task.pid
            state.evaluator.addTask(TaskState(pid: task.pid, tgid: task.tgid, comm: task.comm, exe: task.exe,
                                              exeXattrs: Set(task.xattrs), cgroup: task.cgroup, traced: task.traced))
            for name in task.namespaces {
                if let ns = scenario.namespaces[name] {
                    state.evaluator.setNamespace(task: task.pid, type: ns.type, inum: ns.inum)
                }
            }
        }
        // Register configured cgroups first so synthetic ids come after them.
        for path in scenario.cgroups.keys.sorted() { _ = state.evaluator.cgroupID(for: path) }
        var outcomes: [StepOutcome] = []
        for step in scenario.steps {
            if let lastStep, step.number > lastStep { break }
            var outcome = state.perform(step, policies: policies)
            if let expect = step.expect {
                outcome.expected = describe(expect)
                outcome.failures = check(expect, outcome)
            }
            outcomes.append(outcome)
        }
        return ScenarioRun(outcomes: outcomes, evaluator: state.evaluator, stepCount: scenario.steps.count)
    }

    /// The expectation in words, e.g. "deny by lock-sandbox EPERM".
    public static func describe(_ e: Expectation) -> String {
        var parts: [String] = [e.verdict?.rawValue ?? "any verdict"]
        switch e.rule {
        case .id(let id): parts.append("by \(id)")
        case .none?: parts.append("by no rule")
        case nil: break
        }
        if let errno = e.errno { parts.append(errno == 0 ? "errno 0" : ErrnoNames.symbol(of: errno)) }
        if let tracked = e.tracked { parts.append("tracked as \(tracked)") }
        if let locked = e.locked { parts.append("locked by \(locked)") }
        if let r = e.record {
            var fields: [String] = []
            if let v = r.pid { fields.append("pid=\(v)") }
            if let v = r.tgid { fields.append("tgid=\(v)") }
            if let v = r.targetPID { fields.append("target_pid=\(v)") }
            if let v = r.srcCgroup { fields.append("src_cgroup=\(v)") }
            if let v = r.dstCgroup { fields.append("dst_cgroup=\(v)") }
            if let v = r.threadgroup { fields.append("threadgroup=\(v)") }
            if let v = r.nsType { fields.append("ns_type=\(v.rawValue)") }
            if let v = r.nsInum { fields.append("ns_inum=\(v)") }
            if let v = r.nsLabel { fields.append("ns_label=\(v)") }
            if let v = r.hookCount { fields.append("hook_count=\(v)") }
            if let v = r.hookCountAtLeast { fields.append("hook_count>=\(v)") }
            parts.append("record {\(fields.joined(separator: ", "))}")
        }
        return parts.joined(separator: " ")
    }

    static func check(_ e: Expectation, _ outcome: StepOutcome) -> [String] {
        guard let d = outcome.primary else { return ["the step made no decision"] }
        var failures: [String] = []
        func mismatch<T: Equatable>(_ field: String, _ want: T?, _ got: T, _ show: (T) -> String) {
            if let want, want != got { failures.append("\(field): expected \(show(want)), got \(show(got))") }
        }
        mismatch("verdict", e.verdict, d.verdict) { $0.rawValue }
        switch e.rule {
        case .id(let id) where d.rule != id: failures.append("rule: expected \(id), got \(d.rule ?? "none")")
        case .none? where d.rule != nil: failures.append("rule: expected none, got \(d.rule!)")
        default: break
        }
        mismatch("errno", e.errno, d.err) { $0 == 0 ? "0" : ErrnoNames.symbol(of: $0) }
        if let label = e.tracked {
            let got = outcome.decisions.compactMap(\.effects.tracked?.label)
            if !got.contains(label) { failures.append("tracked: expected \(label), got \(got.first ?? "untracked")") }
        }
        if let rule = e.locked, d.effects.locked?.ruleID != rule {
            failures.append("locked: expected \(rule), got \(d.effects.locked?.ruleID ?? "not locked")")
        }
        if let r = e.record {
            let got = d.record
            func field<T: Equatable>(_ name: String, _ want: T?, _ got: T?) {
                if let want, want != got { failures.append("record.\(name): expected \(want), got \(got.map { "\($0)" } ?? "none")") }
            }
            field("pid", r.pid.map { UInt32(bitPattern: $0) }, got.pid)
            field("tgid", r.tgid.map { UInt32(bitPattern: $0) }, got.tgid)
            field("target_pid", r.targetPID.map { UInt32(bitPattern: $0) }, got.targetPID)
            field("src_cgroup", r.srcCgroup, got.srcCgroup)
            field("dst_cgroup", r.dstCgroup, got.dstCgroup)
            field("threadgroup", r.threadgroup, got.threadgroup)
            field("ns_type", r.nsType?.rawValue, got.nsType)
            field("ns_inum", r.nsInum, got.nsInum)
            field("ns_label", r.nsLabel, got.nsLabel)
            field("hook_count", r.hookCount, got.hookCount)
            if let least = r.hookCountAtLeast, (got.hookCount ?? 0) < least {
                failures.append("record.hook_count: expected at least \(least), got \(got.hookCount ?? 0)")
            }
        }
        return failures
    }
}

private struct RunState {
    let scenario: Scenario
    var evaluator: Evaluator
    var pids: [String: Int32] = [:]
    var namespaces: [String: NamedNamespace]
    /// Named namespaces whose creation was denied.
    var missing: Set<String> = []

    init(scenario: Scenario, evaluator: Evaluator) {
        self.scenario = scenario
        self.evaluator = evaluator
        namespaces = scenario.namespaces
    }

    func pid(_ name: String) -> Int32 { pids[name] ?? 0 }

    func nsText(_ name: String) -> String {
        guard let ns = namespaces[name] else { return name }
        return "\(name) (\(ns.type.rawValue) \(ns.inum)\(missing.contains(name) ? ", never created" : ""))"
    }

    mutating func perform(_ step: ScenarioStep, policies: [String: Policy]) -> StepOutcome {
        var decisions: [Decision] = []
        let text: String
        switch step.action {
        case .unshare(let task, let types, let name, let inums):
            var created: [UInt32] = []
            for (type, inum) in zip(types, inums) {
                let decision = evaluator.namespaceAlloc(actor: pid(task), type: type, inum: inum)
                decisions.append(decision)
                guard decision.permitted else {
                    // The syscall fails: namespaces made so far in this step are freed again.
                    for inum in created { decisions.append(evaluator.namespaceFree(inum: inum)) }
                    created = []
                    break
                }
                created.append(inum)
            }
            for (type, inum) in zip(types, created) { evaluator.setNamespace(task: pid(task), type: type, inum: inum) }
            if let name, let type = types.first, let inum = inums.first {
                namespaces[name] = NamedNamespace(type: type, inum: inum)
                if created.isEmpty { missing.insert(name) } else { missing.remove(name) }
            }
            let made = zip(types, inums).map { "\($0.rawValue) \($1)" }.joined(separator: ", ")
            text = "unshare \(task) \(types.map(\.rawValue).joined(separator: ","))"
                + (name.map { " -> \($0)" } ?? "") + " (\(made))"
        case .fork(let parent, let child, let childPid, let thread):
            evaluator.fork(parent: pid(parent), child: childPid, thread: thread)
            pids[child] = childPid
            text = "fork \(parent) -> \(child) (\(thread ? "thread" : "pid") \(childPid))"
        case .setns(let task, let ns):
            let target = namespaces[ns] ?? NamedNamespace(type: .uts, inum: 0)
            decisions.append(evaluator.namespaceInstall(actor: pid(task), type: target.type, inum: target.inum))
            text = "setns \(task) -> \(nsText(ns))"
        case .exec(let task, let exe, let xattrs, let anonymous):
            evaluator.exec(task: pid(task), exe: exe, xattrs: Set(xattrs), anonymous: anonymous)
            text = "exec \(task) \(exe)" + (anonymous ? " (anonymous: identity kept)" : "")
        case .exit(let task):
            evaluator.exit(task: pid(task))
            pids[task] = nil
            text = "exit \(task)"
        case .migrate(let actor, let target, let to, let via):
            let from = evaluator.task(pid(target))?.cgroup ?? .root
            decisions.append(evaluator.cgroupAttach(actor: pid(actor), target: pid(target), dst: to, via: via))
            text = "migrate \(actor) moves \(target) (pid \(pid(target))) \(from) -> \(to) via cgroup.\(via.rawValue)"
        case .clone3(let parent, let child, let childPid, let into, let thread):
            let decision = evaluator.clone3(parent: pid(parent), child: childPid, into: into, thread: thread)
            decisions.append(decision)
            if decision.permitted { pids[child] = childPid }
            text = "clone3 \(parent) -> \(child) (\(thread ? "thread" : "pid") \(childPid)) into \(into)"
                + (decision.permitted ? "" : ", child not created")
        case .free(let ns):
            let target = namespaces[ns]
            decisions.append(evaluator.namespaceFree(inum: target?.inum ?? 0))
            text = "free \(nsText(ns))"
            namespaces[ns] = nil
        case .policy(let path):
            evaluator.replacePolicy(path.flatMap { policies[$0] })
            text = "policy " + (path.map { Self.relative($0, to: scenario.source) } ?? "none")
        case .auditAll(let on):
            evaluator.auditAll = on
            text = "audit-all \(on ? "on" : "off")"
        }
        return StepOutcome(step: step.number, action: step.action.name, description: text, decisions: decisions,
                           expected: nil, failures: [])
    }

    static func relative(_ path: String, to file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return path }
        let dir = String(file[...slash])
        return path.hasPrefix(dir) ? String(path.dropFirst(dir.count)) : path
    }
}
