// Reads scenario YAML into `Scenario`, reporting every problem as FILE:LINE:COL diagnostics.
import CorralPolicy
import CorralSystem
import CorralYAML

public enum ScenarioLoader {
    /// First inum given to namespaces created without an explicit `inum`.
    public static let firstAutoInum: UInt32 = 4_026_532_001

    public static func load(path: String) throws(PolicyErrors) -> Scenario {
        guard let data = try? Sys.readBytes(path) else {
            throw PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: path, line: 1, column: 1),
                                                 message: "cannot read scenario file", fieldPath: "", unreadable: true)])
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: path, line: 1, column: 1),
                                                 message: "scenario file is not UTF-8", fieldPath: "")])
        }
        return try parse(yaml: text, source: path)
    }

    public static func parse(yaml: String, source: String) throws(PolicyErrors) -> Scenario {
        var reader = Reader(source: source)
        let root: YAMLNode?
        do throws(YAMLError) {
            root = try YAMLComposer.compose(yaml)
        } catch {
            throw PolicyErrors([reader.yamlError(error, in: yaml)])
        }
        guard let root else {
            throw PolicyErrors([PolicyDiagnostic(location: SourceLocation(file: source, line: 1, column: 1),
                                                 message: "empty scenario file", fieldPath: "")])
        }
        let scenario = reader.scenario(root)
        if !reader.diagnostics.isEmpty { throw PolicyErrors(reader.diagnostics) }
        return scenario
    }
}

private struct Reader {
    let source: String
    var diagnostics: [PolicyDiagnostic] = []
    // Name tables, built in step order.
    var liveTasks: [String: Int32] = [:]
    var usedPids: [Int32: String] = [:]
    var liveNamespaces: [String: NamedNamespace] = [:]
    var freedNamespaces: Set<String> = []
    var nextInum = ScenarioLoader.firstAutoInum

    init(source: String) { self.source = source }

    func location(_ node: YAMLNode) -> SourceLocation {
        SourceLocation(file: source, line: max(node.mark.line, 1), column: max(node.mark.column, 1))
    }

    mutating func error(_ message: String, _ node: YAMLNode, _ path: String) {
        diagnostics.append(PolicyDiagnostic(location: location(node), message: message, fieldPath: path))
    }

    func yamlError(_ error: YAMLError, in yaml: String) -> PolicyDiagnostic {
        let (line, column, message): (Int, Int, String)
        switch error {
        case let .syntax(problem, mark, _, _): (line, column, message) = (mark.line, mark.column, problem)
        default: (line, column, message) = PolicyLoader.describe(error, in: yaml)
        }
        return PolicyDiagnostic(location: SourceLocation(file: source, line: line, column: column),
                                message: "invalid YAML: \(message)", fieldPath: "")
    }

    // MARK: typed access

    static func kind(_ node: YAMLNode) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let s): ScalarKind(s) == .null ? "nothing" : "'\(s.string)'"
        }
    }

    mutating func string(_ node: YAMLNode, _ path: String) -> String? {
        if case .scalar(let s) = node, !s.string.isEmpty, ScalarKind(s) != .null { return s.string }
        error("expected a string, found \(Reader.kind(node))", node, path)
        return nil
    }

    mutating func bool(_ node: YAMLNode, _ path: String) -> Bool? {
        // The YAML 1.1 booleans, as policies read them (ScalarKind).
        if let value = ScalarKind(node)?.boolValue { return value }
        error("expected true or false, found \(Reader.kind(node))", node, path)
        return nil
    }

    mutating func unsigned<T: FixedWidthInteger & UnsignedInteger>(_ node: YAMLNode, _ path: String, as: T.Type) -> T? {
        if case .scalar(let s) = node, let value = T(s.string) { return value }
        error("expected a non-negative integer, found \(Reader.kind(node))", node, path)
        return nil
    }

    mutating func pid(_ node: YAMLNode, _ path: String) -> Int32? {
        if case .scalar(let s) = node, let value = Int32(s.string), value > 0 { return value }
        error("expected a pid (a positive integer), found \(Reader.kind(node))", node, path)
        return nil
    }

    mutating func cgroup(_ node: YAMLNode, _ path: String) -> CgroupPath? {
        guard let text = string(node, path) else { return nil }
        guard let value = CgroupPath(text) else {
            error("'\(text)' is not a cgroup path: write it absolute, like /a/b, without '..'", node, path)
            return nil
        }
        if value.isPattern {
            error("'\(text)' is a pattern; a scenario names one cgroup (patterns belong in the policy)", node, path)
            return nil
        }
        return value
    }

    mutating func nsType(_ node: YAMLNode, _ path: String) -> NamespaceType? {
        guard let text = string(node, path) else { return nil }
        guard let type = NamespaceType(rawValue: text) else {
            error("unknown namespace type '\(text)' (expected one of \(NamespaceType.allCases.map(\.rawValue).joined(separator: ", ")))", node, path)
            return nil
        }
        return type
    }

    mutating func list(_ node: YAMLNode, _ path: String) -> [YAMLNode]? {
        if case .sequence(let seq) = node { return Array(seq) }
        error("expected a list, found \(Reader.kind(node))", node, path)
        return nil
    }

    /// Mapping entries; reports unknown and missing keys.
    mutating func mapping(_ node: YAMLNode, _ path: String, allowed: [String], required: [String] = [])
        -> [String: (key: YAMLNode, value: YAMLNode)]? {
        guard case .mapping(let mapping) = node else {
            error("expected a mapping, found \(Reader.kind(node))", node, path)
            return nil
        }
        var entries: [String: (key: YAMLNode, value: YAMLNode)] = [:]
        for (key, value) in mapping {
            guard case .scalar(let s) = key else {
                error("expected a key name", key, path)
                continue
            }
            if !allowed.contains(s.string) {
                error("unknown key '\(s.string)' (expected one of \(allowed.joined(separator: ", ")))", key, join(path, s.string))
                continue
            }
            if entries[s.string] != nil { error("duplicate key '\(s.string)'", key, join(path, s.string)); continue }
            entries[s.string] = (key, value)
        }
        for key in required where entries[key] == nil {
            error("missing required key '\(key)'", node, path)
        }
        return entries
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    // MARK: names

    mutating func taskRef(_ node: YAMLNode, _ path: String) -> String? {
        guard let name = string(node, path) else { return nil }
        guard liveTasks[name] != nil else {
            let known = liveTasks.keys.sorted().joined(separator: ", ")
            error("unknown task '\(name)' (known here: \(known.isEmpty ? "none" : known))", node, path)
            return nil
        }
        return name
    }

    mutating func newTask(_ nameNode: YAMLNode, _ pidNode: YAMLNode?, _ path: String, pidPath: String) -> (String, Int32)? {
        guard let name = string(nameNode, path) else { return nil }
        if liveTasks[name] != nil { error("task '\(name)' already exists", nameNode, path); return nil }
        guard let pidNode else { return nil }
        guard let pid = pid(pidNode, pidPath) else { return nil }
        if let other = usedPids[pid], liveTasks[other] != nil {
            error("pid \(pid) is already used by task '\(other)'", pidNode, pidPath)
            return nil
        }
        liveTasks[name] = pid
        usedPids[pid] = name
        return (name, pid)
    }

    mutating func nsRef(_ node: YAMLNode, _ path: String) -> String? {
        guard let name = string(node, path) else { return nil }
        if liveNamespaces[name] != nil { return name }
        if freedNamespaces.contains(name) {
            error("namespace '\(name)' was freed by an earlier step", node, path)
        } else {
            let known = liveNamespaces.keys.sorted().joined(separator: ", ")
            error("unknown namespace '\(name)' (declare it under namespaces: or name it with unshare's as:; known here: \(known.isEmpty ? "none" : known))", node, path)
        }
        return nil
    }

    mutating func checkInumFree(_ inum: UInt32, _ node: YAMLNode, _ path: String) -> Bool {
        if inum == 0 { error("inum 0 is reserved for anonymous mount namespaces", node, path); return false }
        if let (name, _) = liveNamespaces.first(where: { $0.value.inum == inum }) {
            error("inum \(inum) is in use by namespace '\(name)' (free it first)", node, path)
            return false
        }
        return true
    }

    // MARK: document

    mutating func scenario(_ root: YAMLNode) -> Scenario {
        var scenario = Scenario(source: source, policyPath: nil, auditAll: false, cgroups: [:], namespaces: [:],
                                tasks: [], steps: [])
        guard let top = mapping(root, "", allowed: ["policy", "audit-all", "cgroups", "namespaces", "tasks", "steps", "description"],
                                required: ["steps"]) else { return scenario }
        if let (_, node) = top["policy"], let path = string(node, "policy") {
            scenario.policyPath = Scenario.resolve(path, relativeTo: source)
        }
        if let (_, node) = top["audit-all"], let value = bool(node, "audit-all") { scenario.auditAll = value }
        if let (_, node) = top["description"] { _ = string(node, "description") }
        if let (_, node) = top["cgroups"], case .mapping(let map) = node {
            var seen: [UInt64: String] = [:]
            for (key, value) in map {
                guard let text = string(key, "cgroups") else { continue }
                let fieldPath = "cgroups.\(text)"
                guard let path = CgroupPath(text), !path.isPattern else {
                    error("'\(text)' is not a cgroup path: write it absolute, like /a/b, without '*'", key, fieldPath)
                    continue
                }
                guard let id = unsigned(value, fieldPath, as: UInt64.self) else { continue }
                if id == 0 { error("cgroup id 0 is reserved", value, fieldPath); continue }
                if let other = seen[id] { error("id \(id) is also given to \(other)", value, fieldPath); continue }
                seen[id] = text
                scenario.cgroups[path] = id
            }
        }
        if let (_, node) = top["cgroups"], node.mapping == nil {
            error("expected a mapping of cgroup paths to ids, found \(Reader.kind(node))", node, "cgroups")
        }
        if let (_, node) = top["namespaces"], case .mapping(let map) = node {
            for (key, value) in map {
                guard let name = string(key, "namespaces") else { continue }
                let fieldPath = "namespaces.\(name)"
                guard let entries = mapping(value, fieldPath, allowed: ["type", "inum"], required: ["type", "inum"]),
                      let type = entries["type"].flatMap({ nsType($0.value, fieldPath + ".type") }),
                      let inumNode = entries["inum"]?.value,
                      let inum = unsigned(inumNode, fieldPath + ".inum", as: UInt32.self) else { continue }
                guard checkInumFree(inum, inumNode, fieldPath + ".inum") else { continue }
                liveNamespaces[name] = NamedNamespace(type: type, inum: inum)
                scenario.namespaces[name] = NamedNamespace(type: type, inum: inum)
            }
        } else if let (_, node) = top["namespaces"] {
            error("expected a mapping of namespace names, found \(Reader.kind(node))", node, "namespaces")
        }
        if let (_, node) = top["tasks"], let items = list(node, "tasks") {
            for (i, item) in items.enumerated() {
                if let task = taskDecl(item, "tasks[\(i)]") { scenario.tasks.append(task) }
            }
        }
        if let (_, node) = top["steps"], let items = list(node, "steps") {
            if items.isEmpty { error("a scenario needs at least one step", node, "steps") }
            for (i, item) in items.enumerated() {
                if let step = step(item, number: i + 1, "steps[\(i)]") { scenario.steps.append(step) }
            }
        }
        return scenario
    }

    mutating func taskDecl(_ node: YAMLNode, _ path: String) -> ScenarioTask? {
        guard let e = mapping(node, path, allowed: ["name", "pid", "tgid", "comm", "exe", "xattrs", "cgroup", "traced", "namespaces"],
                              required: ["name", "pid"]),
              let nameNode = e["name"]?.value,
              let (name, pid) = newTask(nameNode, e["pid"]?.value, join(path, "name"), pidPath: join(path, "pid"))
        else { return nil }
        var task = ScenarioTask(name: name, pid: pid, tgid: nil, comm: nil, exe: "", xattrs: [], cgroup: .root,
                                traced: false, location: location(node))
        if let (_, v) = e["tgid"] { task.tgid = self.pid(v, join(path, "tgid")) }
        if let (_, v) = e["comm"] { task.comm = string(v, join(path, "comm")) }
        if let (_, v) = e["exe"] { task.exe = string(v, join(path, "exe")) ?? "" }
        if let (_, v) = e["xattrs"] { task.xattrs = stringList(v, join(path, "xattrs")) }
        if let (_, v) = e["cgroup"] { task.cgroup = cgroup(v, join(path, "cgroup")) ?? .root }
        if let (_, v) = e["traced"] { task.traced = bool(v, join(path, "traced")) ?? false }
        if let (_, v) = e["namespaces"], let items = list(v, join(path, "namespaces")) {
            task.namespaces = items.enumerated().compactMap { nsRef($0.element, "\(join(path, "namespaces"))[\($0.offset)]") }
        }
        return task
    }

    mutating func stringList(_ node: YAMLNode, _ path: String) -> [String] {
        guard let items = list(node, path) else { return [] }
        return items.enumerated().compactMap { string($0.element, "\(path)[\($0.offset)]") }
    }

    static let actions = ["unshare", "fork", "setns", "exec", "exit", "migrate", "clone3", "free", "policy", "audit-all"]

    mutating func step(_ node: YAMLNode, number: Int, _ path: String) -> ScenarioStep? {
        guard let e = mapping(node, path, allowed: Reader.actions + ["expect", "note"]) else { return nil }
        let present = Reader.actions.filter { e[$0] != nil }
        guard present.count == 1, let key = present.first, let (_, body) = e[key] else {
            error(present.isEmpty ? "a step needs one action (\(Reader.actions.joined(separator: ", ")))"
                  : "a step has exactly one action, found \(present.joined(separator: ", "))", node, path)
            return nil
        }
        if let (_, v) = e["note"] { _ = string(v, join(path, "note")) }
        let actionPath = join(path, key)
        guard let action = action(key, body, actionPath) else { return nil }
        var expect: Expectation?
        if let (keyNode, v) = e["expect"] {
            if !action.decides {
                error("a \(key) step makes no decision, so it cannot have expect", keyNode, join(path, "expect"))
            } else {
                expect = expectation(v, join(path, "expect"))
            }
        }
        return ScenarioStep(number: number, action: action, expect: expect, location: location(node))
    }

    mutating func action(_ key: String, _ body: YAMLNode, _ path: String) -> ScenarioAction? {
        switch key {
        case "unshare":
            guard let e = mapping(body, path, allowed: ["task", "types", "as", "inum"], required: ["task", "types"]),
                  let task = e["task"].flatMap({ taskRef($0.value, join(path, "task")) }),
                  let typesNode = e["types"]?.value else { return nil }
            var types: [NamespaceType] = []
            if case .scalar = typesNode { if let t = nsType(typesNode, join(path, "types")) { types = [t] } }
            else if let items = list(typesNode, join(path, "types")) {
                types = items.enumerated().compactMap { nsType($0.element, join(path, "types[\($0.offset)]")) }
            }
            if types.isEmpty { error("unshare needs at least one namespace type", typesNode, join(path, "types")); return nil }
            if Set(types).count != types.count { error("a type is listed twice", typesNode, join(path, "types")); return nil }
            var inum: UInt32?
            if let (_, v) = e["inum"] {
                guard types.count == 1 else { error("inum needs exactly one type", v, join(path, "inum")); return nil }
                guard let value = unsigned(v, join(path, "inum"), as: UInt32.self),
                      checkInumFree(value, v, join(path, "inum")) else { return nil }
                inum = value
            }
            var name: String?
            if let (_, v) = e["as"] {
                guard types.count == 1 else { error("as names one namespace: list exactly one type", v, join(path, "as")); return nil }
                guard let text = string(v, join(path, "as")) else { return nil }
                if liveNamespaces[text] != nil { error("namespace '\(text)' already exists", v, join(path, "as")); return nil }
                name = text
            }
            // Assign inums now so names resolve statically; the runner uses the same numbers.
            var assigned: [UInt32] = []
            for _ in types {
                if let inum { assigned.append(inum); continue }
                while liveNamespaces.values.contains(where: { $0.inum == nextInum }) { nextInum &+= 1 }
                assigned.append(nextInum)
                nextInum &+= 1
            }
            if let name, let type = types.first {
                liveNamespaces[name] = NamedNamespace(type: type, inum: assigned[0])
                freedNamespaces.remove(name)
            }
            return .unshare(task: task, types: types, name: name, inums: assigned)
        case "fork", "clone3":
            let extra = key == "fork" ? ["parent", "child", "pid", "thread"] : ["parent", "child", "pid", "into", "thread"]
            guard let e = mapping(body, path, allowed: extra, required: key == "fork" ? ["parent", "child", "pid"] : ["parent", "child", "pid", "into"]),
                  let parent = e["parent"].flatMap({ taskRef($0.value, join(path, "parent")) }),
                  let childNode = e["child"]?.value else { return nil }
            let thread = e["thread"].flatMap { bool($0.value, join(path, "thread")) } ?? false
            var into: CgroupPath?
            if key == "clone3" {
                guard let dst = e["into"].flatMap({ cgroup($0.value, join(path, "into")) }) else { return nil }
                into = dst
            }
            guard let (child, pid) = newTask(childNode, e["pid"]?.value, join(path, "child"), pidPath: join(path, "pid"))
            else { return nil }
            if let into { return .clone3(parent: parent, child: child, pid: pid, into: into, thread: thread) }
            return .fork(parent: parent, child: child, pid: pid, thread: thread)
        case "setns":
            guard let e = mapping(body, path, allowed: ["task", "ns"], required: ["task", "ns"]) else { return nil }
            let task = e["task"].flatMap { taskRef($0.value, join(path, "task")) }
            let ns = e["ns"].flatMap { nsRef($0.value, join(path, "ns")) }
            guard let task, let ns else { return nil }
            return .setns(task: task, ns: ns)
        case "exec":
            guard let e = mapping(body, path, allowed: ["task", "exe", "xattrs", "anonymous"], required: ["task", "exe"]),
                  let task = e["task"].flatMap({ taskRef($0.value, join(path, "task")) }),
                  let exe = e["exe"].flatMap({ string($0.value, join(path, "exe")) }) else { return nil }
            let xattrs = e["xattrs"].map { stringList($0.value, join(path, "xattrs")) } ?? []
            let anonymous = e["anonymous"].flatMap { bool($0.value, join(path, "anonymous")) } ?? false
            return .exec(task: task, exe: exe, xattrs: xattrs, anonymous: anonymous)
        case "exit":
            let task: String?
            if case .mapping = body {
                guard let e = mapping(body, path, allowed: ["task"], required: ["task"]) else { return nil }
                task = e["task"].flatMap { taskRef($0.value, join(path, "task")) }
            } else {
                task = taskRef(body, path)
            }
            guard let task else { return nil }
            liveTasks[task] = nil
            return .exit(task: task)
        case "migrate":
            guard let e = mapping(body, path, allowed: ["task", "target", "to", "via"], required: ["task", "to"]),
                  let actor = e["task"].flatMap({ taskRef($0.value, join(path, "task")) }),
                  let to = e["to"].flatMap({ cgroup($0.value, join(path, "to")) }) else { return nil }
            var target = actor
            if let (_, v) = e["target"] { guard let t = taskRef(v, join(path, "target")) else { return nil }; target = t }
            var via = AttachVia.procs
            if let (_, v) = e["via"] {
                guard let text = string(v, join(path, "via")) else { return nil }
                guard let value = AttachVia(rawValue: text), value != .clone3 else {
                    error("via must be procs or threads (use a clone3 step for CLONE_INTO_CGROUP)", v, join(path, "via"))
                    return nil
                }
                via = value
            }
            return .migrate(actor: actor, target: target, to: to, via: via)
        case "free":
            let ns: String?
            if case .mapping = body {
                guard let e = mapping(body, path, allowed: ["ns"], required: ["ns"]) else { return nil }
                ns = e["ns"].flatMap { nsRef($0.value, join(path, "ns")) }
            } else {
                ns = nsRef(body, path)
            }
            guard let ns else { return nil }
            liveNamespaces[ns] = nil
            freedNamespaces.insert(ns)
            return .free(ns: ns)
        case "policy":
            guard let text = string(body, path) else { return nil }
            return .policy(path: text == "none" ? nil : Scenario.resolve(text, relativeTo: source))
        case "audit-all":
            guard let value = bool(body, path) else { return nil }
            return .auditAll(value)
        default:
            return nil
        }
    }

    mutating func expectation(_ node: YAMLNode, _ path: String) -> Expectation? {
        if case .scalar = node {
            guard let text = string(node, path) else { return nil }
            guard let verdict = Verdict(rawValue: text) else {
                error("expected allow, deny, audit or a mapping, found '\(text)'", node, path)
                return nil
            }
            return Expectation(verdict: verdict)
        }
        guard let e = mapping(node, path, allowed: ["verdict", "rule", "errno", "record", "tracked", "locked"]) else { return nil }
        var expect = Expectation()
        if let (_, v) = e["verdict"], let text = string(v, join(path, "verdict")) {
            if let verdict = Verdict(rawValue: text) { expect.verdict = verdict }
            else { error("verdict must be allow, deny or audit, found '\(text)'", v, join(path, "verdict")) }
        }
        if let (_, v) = e["rule"] {
            if ScalarKind(v) == .null { expect.rule = Expectation.RuleExpectation.none }
            else if let id = string(v, join(path, "rule")) { expect.rule = .id(id) }
        }
        if let (_, v) = e["errno"], let text = string(v, join(path, "errno")) {
            if let value = ErrnoNames.parse(text) { expect.errno = value }
            else if text == "0" { expect.errno = 0 }
            else { error("unknown errno '\(text)'", v, join(path, "errno")) }
        }
        if let (_, v) = e["tracked"] { expect.tracked = string(v, join(path, "tracked")) }
        if let (_, v) = e["locked"] { expect.locked = string(v, join(path, "locked")) }
        if let (_, v) = e["record"] { expect.record = recordExpectation(v, join(path, "record")) }
        return expect
    }

    mutating func recordExpectation(_ node: YAMLNode, _ path: String) -> RecordExpectation? {
        let keys = ["pid", "tgid", "target_pid", "src_cgroup", "dst_cgroup", "threadgroup", "ns_type", "ns_inum",
                    "ns_label", "hook_count", "hook_count_at_least"]
        guard let e = mapping(node, path, allowed: keys) else { return nil }
        var r = RecordExpectation()
        func p(_ key: String) -> String { join(path, key) }
        if let (_, v) = e["pid"] { r.pid = unsigned(v, p("pid"), as: UInt32.self).map { Int32(truncatingIfNeeded: $0) } }
        if let (_, v) = e["tgid"] { r.tgid = unsigned(v, p("tgid"), as: UInt32.self).map { Int32(truncatingIfNeeded: $0) } }
        if let (_, v) = e["target_pid"] { r.targetPID = unsigned(v, p("target_pid"), as: UInt32.self).map { Int32(truncatingIfNeeded: $0) } }
        if let (_, v) = e["src_cgroup"] { r.srcCgroup = unsigned(v, p("src_cgroup"), as: UInt64.self) }
        if let (_, v) = e["dst_cgroup"] { r.dstCgroup = unsigned(v, p("dst_cgroup"), as: UInt64.self) }
        if let (_, v) = e["threadgroup"] {
            if let flag = ScalarKind(v)?.boolValue { r.threadgroup = flag ? 1 : 0 }
            else if let value = unsigned(v, p("threadgroup"), as: UInt8.self), value <= 1 { r.threadgroup = value }
            else { error("threadgroup must be 0 or 1", v, p("threadgroup")) }
        }
        if let (_, v) = e["ns_type"] { r.nsType = nsType(v, p("ns_type")) }
        if let (_, v) = e["ns_inum"] { r.nsInum = unsigned(v, p("ns_inum"), as: UInt32.self) }
        if let (_, v) = e["ns_label"] { r.nsLabel = string(v, p("ns_label")) }
        if let (_, v) = e["hook_count"] { r.hookCount = unsigned(v, p("hook_count"), as: UInt64.self) }
        if let (_, v) = e["hook_count_at_least"] { r.hookCountAtLeast = unsigned(v, p("hook_count_at_least"), as: UInt64.self) }
        return r
    }
}
