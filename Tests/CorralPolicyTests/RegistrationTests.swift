import CorralPolicy
import Testing

/// RegistrationCheck (docs/policy.md, "Registrations"): what a delegated manager may register.
@Suite struct RegistrationTests {
    func path(_ s: String) -> CgroupPath { CgroupPath(s)! }

    /// The rules of one registration, parsed as a fragment after a main policy that delegates /d/*.
    func registered(_ yaml: String) throws -> [Rule] {
        let main = PolicyText(source: "main.yaml", text: "version: 1\nrules:\n  - {id: dlg, kind: delegated, manager: {cgroup: /mgr}, cgroup: /d/*}\n")
        let p = try PolicyLoader.parse(main: main, fragments: [PolicyText(source: "registration:reg-1", text: yaml)])
        return p.rules.filter { $0.location?.file == "registration:reg-1" }
    }

    @Test func scopesWithinTheSubtree() {
        let s = path("/d/c1")
        #expect(RegistrationCheck.scope(path("/d/c1"), isWithin: s))
        #expect(RegistrationCheck.scope(path("/d/c1/x"), isWithin: s))
        #expect(RegistrationCheck.scope(path("/d/c1/*/y"), isWithin: s))
        #expect(RegistrationCheck.scope(path("/d/c1/**"), isWithin: s))
        #expect(!RegistrationCheck.scope(path("/d"), isWithin: s), "the parent")
        #expect(!RegistrationCheck.scope(path("/d/c2"), isWithin: s), "a sibling")
        #expect(!RegistrationCheck.scope(path("/d/c1x"), isWithin: s), "a name with the subtree's as prefix")
        #expect(!RegistrationCheck.scope(path("/d/*"), isWithin: s), "a glob that matches c1 and its siblings")
        #expect(!RegistrationCheck.scope(path("/d/c*/x"), isWithin: s))
        #expect(!RegistrationCheck.scope(path("/**/c1/x"), isWithin: s))
        #expect(!RegistrationCheck.scope(path("/d/**"), isWithin: s))
        #expect(CgroupPath("/d/c1/../c2") == nil, "'..' is no cgroup path: the parser refuses it")
    }

    @Test func subtreeStrictlyInsideADelegation() {
        let dlg = Rule(id: "dlg", kind: .delegated, subjects: [Subject(matcher: .cgroup(path("/mgr")))], cgroups: [path("/d/*")])
        #expect(RegistrationCheck.delegatedInstance(of: dlg, strictlyContaining: path("/d/c1/x")) == path("/d/c1"))
        #expect(RegistrationCheck.delegatedInstance(of: dlg, strictlyContaining: path("/d/c1")) == nil, "an instance itself")
        #expect(RegistrationCheck.delegatedInstance(of: dlg, strictlyContaining: path("/d")) == nil)
        #expect(RegistrationCheck.delegatedInstance(of: dlg, strictlyContaining: path("/e/c1/x")) == nil)
        let exact = Rule(id: "e", kind: .delegated, cgroups: [path("/d")])
        #expect(RegistrationCheck.delegatedInstance(of: exact, strictlyContaining: path("/d/c1")) == path("/d"))
        let stay = Rule(id: "s", kind: .stay, cgroups: [path("/d")])
        #expect(RegistrationCheck.delegatedInstance(of: stay, strictlyContaining: path("/d/c1")) == nil, "only delegated rules delegate")
        #expect(RegistrationCheck.subtreeProblem(path("/d/*/x")) != nil && RegistrationCheck.subtreeProblem(.root) != nil)
        #expect(RegistrationCheck.subtreeProblem(path("/d/c1/x")) == nil)
    }

    @Test func aLockAndANestedDelegationInsideAreAccepted() throws {
        let rules = try registered("""
            version: 1
            rules:
              - {id: lock-c1, kind: locked, cgroups: [/d/c1/x/locked], overrides: [dlg]}
              - {id: stay-c1, kind: stay, subject: {exe: /usr/bin/crun}, cgroups: [/d/c1/x/s/*]}
              - {id: deny-c1, kind: deny-into, cgroups: [/d/c1/x/**]}
              - {id: inner, kind: delegated, manager: {cgroup: /d/c1/x/init}, cgroup: /d/c1/x/inner}
            """)
        #expect(rules.count == 4)
        #expect(RegistrationCheck.problems(rules: rules, subtree: path("/d/c1/x")).isEmpty)
    }

    @Test func anythingReachingOutsideIsRefused() throws {
        let rules = try registered("""
            version: 1
            rules:
              - {id: lock-sibling, kind: locked, cgroups: [/d/c1/y], overrides: [dlg]}
              - {id: lock-glob, kind: locked, cgroups: [/d/*/y], overrides: [dlg, open]}
              - {id: open, kind: delegated, manager: {cgroup: /d/c1/x/init}, cgroup: /d/c2}
              - {id: any-manager, kind: delegated, manager: any, cgroup: /d/c1/x/inner}
              - {id: exe-manager, kind: delegated, manager: {exe: /bin/sh}, cgroup: /d/c1/x/inner}
              - {id: outside-manager, kind: delegated, manager: {cgroup: /mgr}, cgroup: /d/c1/x/inner}
              - {id: mgrs, kind: managers, subject: {cgroup: /d/c1/x}}
              - {id: trk, kind: track, subject: {cgroup: /d/c1/x}, types: [net], label: c1}
              - {id: beats, kind: delegated, manager: {cgroup: /d/c1/x/init}, cgroup: /d/c1/x/z, overrides: [dlg]}
            """)
        let problems = RegistrationCheck.problems(rules: rules, subtree: path("/d/c1/x"))
        let byRule = Dictionary(grouping: problems, by: { $0.rule ?? "" }).mapValues { $0.map(\.field) }
        #expect(byRule == [
            "lock-sibling": ["cgroups"], "lock-glob": ["cgroups"], "open": ["cgroup"], "any-manager": ["manager"],
            "exe-manager": ["manager"], "outside-manager": ["manager"], "mgrs": ["kind"], "trk": ["kind"],
            "beats": ["overrides"],
        ])
        #expect(problems.first { $0.rule == "lock-sibling" }?.description
            == "rule lock-sibling: cgroups: /d/c1/y reaches outside the registered subtree /d/c1/x")
        #expect(RegistrationCheck.problems(rules: [], subtree: path("/d/c1/x")).map(\.field) == ["rules"])
    }

    /// A named subject in a registration would be visible to the policy's own rules: one named
    /// `pid1` turns the policy's `subject: pid1` into whatever the registration says.
    @Test func namedSubjectsAreRefused() throws {
        let main = PolicyText(source: "main.yaml", text: """
            version: 1
            rules:
              - {id: dlg, kind: delegated, manager: {cgroup: /mgr}, cgroup: /d/*}
              - {id: init-manages, kind: managers, subject: pid1}
            """)
        let reg = PolicyText(source: "registration:reg-1", text: """
            version: 1
            subjects:
              pid1: {cgroup: /d/c1/x}
            rules:
              - {id: lock-c1, kind: locked, cgroups: [/d/c1/x/locked], overrides: [dlg]}
            """)
        let p = try PolicyLoader.parse(main: main, fragments: [reg])
        #expect(p.rule(id: "init-manages")?.subjects.first?.matcher == .cgroup(path("/d/c1/x")),
                "the hazard: the policy's own rule now matches the registration's subject")
        let named = p.subjects.filter { $0.location?.file == "registration:reg-1" }
        let rules = p.rules.filter { $0.location?.file == "registration:reg-1" }
        let problems = RegistrationCheck.problems(rules: rules, namedSubjects: named, subtree: path("/d/c1/x"))
        #expect(problems.map(\.field) == ["subjects"])
        let many = (0...RegistrationCheck.maxRules).map { Rule(id: "r\($0)", kind: .denyInto, cgroups: [path("/d/c1/x/\($0)")]) }
        #expect(RegistrationCheck.problems(rules: many, subtree: path("/d/c1/x")).map(\.field) == ["rules"])
    }
}
