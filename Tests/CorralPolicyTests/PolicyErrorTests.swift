import CorralPolicy
import Testing

/// Each error class, with exact text where the brief fixes it.
@Suite struct PolicyErrorTests {
    @Test func unknownKeys() {
        #expect(errors("version: 1\ncolour: blue\nrules: []\n") == ["p.yaml:2:1: error: unknown key 'colour' (colour)"])
        #expect(errors("version: 1\nrule: []\n") == ["p.yaml:2:1: error: unknown key 'rule' (did you mean 'rules'?) (rule)"])
        #expect(errors(policy("  - id: a\n    kind: stay\n    cgroups: [/a]\n    colour: red\n"))
            == ["p.yaml:6:5: error: unknown key 'colour' (rules[0].colour)"])
        #expect(errors(policy("  - id: a\n    kind: track\n    types: [net]\n    label: x\n    cgroups: [/a]\n"))
            == ["p.yaml:7:5: error: key 'cgroups' does not apply to a 'track' rule (rules[0].cgroups)"])
        #expect(errors(policy("  - {id: a, kind: stay, cgroup: /a}\n")) == [
            "p.yaml:3:5: error: missing required key 'cgroups' for a 'stay' rule (rules[0].cgroups)",
            "p.yaml:3:25: error: key 'cgroup' does not apply to a 'stay' rule (did you mean 'cgroups'?) (rules[0].cgroup)",
        ])
        #expect(errors(policy("  - {id: a, kind: managers, subject: x}\n", subjects: "  x: {exe: /a, colour: 1}\n"))
            .first == "p.yaml:3:16: error: unknown matcher 'colour' (expected one of: pid1, exe, xattr, cgroup, any) (subjects.x.colour)")
    }

    /// `events: {rate-limit: N}`: 0 (no limit, also the default) to 1,000,000 per rule per second.
    @Test func eventRateLimit() {
        #expect(load("version: 1\nrules: []\n").policy?.eventRateLimit == 0)
        #expect(load("version: 1\nevents: {rate-limit: 500}\nrules: []\n").policy?.eventRateLimit == 500)
        #expect(load("version: 1\nevents:\n  rate-limit: 0\nrules: []\n").policy?.eventRateLimit == 0)
        #expect(errors("version: 1\nevents: {rate-limit: 1000001}\n") == [
            "p.yaml:2:22: error: rate-limit 1000001 is out of range (expected 0, no limit, to 1000000 decision events per rule per second) (events.rate-limit)",
        ])
        #expect(errors("version: 1\nevents: {rate-limit: -1}\n").first?.contains("is out of range") == true)
        #expect(errors("version: 1\nevents: {rate-limit: lots}\n") == [
            "p.yaml:2:22: error: expected an integer, found a string (events.rate-limit)",
        ])
        #expect(errors("version: 1\nevents: {rate: 5}\n") == [
            "p.yaml:2:10: error: unknown key 'rate' (events.rate)",
        ])
        #expect(errors("version: 1\nevents: 5\n") == [
            "p.yaml:2:9: error: expected a mapping such as {rate-limit: 1000}, found an integer (events)",
        ])
    }

    @Test func wrongTypes() {
        #expect(errors(policy("  - id: a\n    kind: stay\n    cgroups: /system.slice\n"))
            == ["p.yaml:5:14: error: expected a list, found a string (rules[0].cgroups)"])
        #expect(errors("version: one\n") == ["p.yaml:1:10: error: expected an integer, found a string (version)"])
        #expect(errors("version: 1\nrules: {a: 1}\n") == ["p.yaml:2:8: error: expected a list, found a mapping (rules)"])
        #expect(errors("version: 1\nsubjects: [a]\n") == ["p.yaml:2:11: error: expected a mapping, found a list (subjects)"])
        #expect(errors(policy("  - {id: a, kind: lock-on-entry, labels: [x], deny-unshare: maybe}\n"))
            == ["p.yaml:3:61: error: expected a boolean (true or false), found a string (rules[0].deny-unshare)"])
        #expect(errors(policy("  - {id: a, kind: deny-create, types: [net], description: }\n"))
            == ["p.yaml:3:59: error: expected a string, found nothing (null) (rules[0].description)"])
        #expect(errors(policy("  - {id: a, kind: deny-create, types: [[net]]}\n"))
            == ["p.yaml:3:40: error: expected a string, found a list (rules[0].types[0])"])
        #expect(errors(policy("  - [a]\n")) == ["p.yaml:3:5: error: expected a mapping, found a list (rules[0])"])
        #expect(errors(policy("  - {id: a, kind: managers, subject: [[pid1]]}\n"))
            == ["p.yaml:3:39: error: expected a subject name or a matcher mapping, found a list (rules[0].subject[0])"])
    }

    @Test func missingFieldsAndBadValues() {
        let text = errors(policy("""
              - {kind: track, types: [net]}
              - {id: b}
              - {id: c, kind: trak}
              - {id: d, kind: deny-create, types: [net, nett], mode: strict, errno: EFOO}
              - {id: e, kind: deny-create, types: [net], errno: 0}
              - {id: f, kind: deny-create, types: []}
              - {id: g, kind: deny-enter}
              - {id: h, kind: delegated}
              - {id: i, kind: allow-enter-only, labels: ["bad label"]}
              - {id: j, kind: track, types: [net], label: x, errno: EPERM}

            """))
        #expect(text == [
            "p.yaml:3:5: error: missing required key 'id' (rules[0].id)",
            "p.yaml:3:5: error: missing required key 'label' for a 'track' rule (rules[0].label)",
            "p.yaml:4:5: error: missing required key 'kind' (rules[1].kind)",
            "p.yaml:5:19: error: unknown rule kind 'trak' (did you mean 'track'?) (rules[2].kind)",
            "p.yaml:6:45: error: unknown namespace type 'nett' (expected one of: mnt, uts, ipc, user, pid, net, cgroup, time) (rules[3].types[1])",
            "p.yaml:6:58: error: invalid mode 'strict' (expected enforce or audit) (rules[3].mode)",
            "p.yaml:6:73: error: unknown errno 'EFOO' (expected EPERM, ENOENT, EACCES, EBUSY, EINVAL, EOPNOTSUPP or a number from 1 to 4095) (rules[3].errno)",
            "p.yaml:7:53: error: errno 0 is out of range (expected 1 to 4095) (rules[4].errno)",
            "p.yaml:8:39: error: 'types' needs at least one namespace type (rules[5].types)",
            "p.yaml:9:5: error: a 'deny-enter' rule needs a non-empty 'types' or 'labels' (rules[6])",
            "p.yaml:10:5: error: missing required key 'manager' for a 'delegated' rule (rules[7].manager)",
            "p.yaml:10:5: error: missing required key 'cgroup' for a 'delegated' rule (rules[7].cgroup)",
            "p.yaml:11:46: error: invalid label 'bad label' (expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit) (rules[8].labels[0])",
            "p.yaml:12:50: error: key 'errno' does not apply to a 'track' rule (rules[9].errno)",
        ])
    }

    @Test func versions() {
        #expect(errors("version: 2\n") == ["p.yaml:1:10: error: unsupported version 2 (expected 1) (version)"])
        #expect(errors("version: 99999999999999999999999\n")
            == ["p.yaml:1:10: error: unsupported version 99999999999999999999999 (expected 1) (version)"])
        #expect(errors("rules: []\n") == ["p.yaml:1:1: error: missing required key 'version' (write 'version: 1') (version)"])
    }

    @Test func ruleIDs() {
        #expect(errors(policy("  - {id: Bad_Id, kind: managers, subject: pid1}\n"))
            == ["p.yaml:3:10: error: invalid rule id 'Bad_Id' (expected [a-z0-9][a-z0-9._-]{0,63}) (rules[0].id)"])
        let long = String(repeating: "a", count: 65)
        #expect(errors(policy("  - {id: \(long), kind: managers, subject: pid1}\n")).count == 1)
        #expect(errors(policy("""
              - id: same
                kind: managers
                subject: pid1
              - id: same
                kind: deny-create
                types: [net]

            """)) == ["p.yaml:6:9: error: duplicate rule id 'same' (first defined at line 3) (rules[1].id)"])
    }

    @Test func cgroupPaths() {
        #expect(errors(policy("  - id: user\n    kind: delegated\n    cgroup: /../x\n    manager: pid1\n"))
            == ["p.yaml:5:13: error: cgroup path '/../x' lies outside the cgroup root (rules[0].cgroup)"])
        #expect(errors(policy("  - {id: a, kind: stay, cgroups: [/a/../../b, /a/./b, /a//b, /a/, a/b, /a/../b]}\n")) == [
            "p.yaml:3:35: error: cgroup path '/a/../../b' lies outside the cgroup root (rules[0].cgroups[0])",
            "p.yaml:3:47: error: cgroup path '/a/./b' is not normalized; write '/a/b' (rules[0].cgroups[1])",
            "p.yaml:3:55: error: cgroup path '/a//b' is not normalized; write '/a/b' (rules[0].cgroups[2])",
            "p.yaml:3:62: error: cgroup path '/a/' is not normalized; write '/a' (rules[0].cgroups[3])",
            "p.yaml:3:67: error: cgroup path 'a/b' must be absolute (start with '/') (rules[0].cgroups[4])",
            "p.yaml:3:72: error: cgroup path '/a/../b' is not normalized; write '/b' (rules[0].cgroups[5])",
        ])
        #expect(errors(policy("  - {id: d, kind: delegated, cgroup: /, manager: pid1}\n"))
            == ["p.yaml:3:38: error: a delegated subtree cannot be the whole cgroup tree ('/') (rules[0].cgroup)"])
        #expect(errors("version: 1\ncgroup-root: sys/fs/cgroup\n")
            == ["p.yaml:2:14: error: cgroup-root 'sys/fs/cgroup' must be an absolute path (cgroup-root)"])
        #expect(errors("version: 1\nsubjects:\n  s: {cgroup: /x/..}\n")
            == ["p.yaml:3:15: error: cgroup path '/x/..' is not normalized; write '/' (subjects.s.cgroup)"])
    }

    @Test func subjects() {
        #expect(errors("""
            version: 1
            subjects:
              a: {exe: bin/x}
              b: {xattr: corral.manager}
              c: {xattr: trusted.}
              d: {}
              e: {exe: /x, xattr: user.x}
              f: {pid1: false}
              g: {any: false}
              h: {pid1: 1}
              i: /bin/x
              "bad name": {any: true}
            rules:
              - {id: r, kind: managers, subject: nobody}
              - {id: s, kind: managers, subject: []}
            """) == [
            "p.yaml:3:12: error: exe path 'bin/x' must be absolute (start with '/') (subjects.a.exe)",
            "p.yaml:4:14: error: xattr name 'corral.manager' needs a namespace prefix (trusted., user. or security.) (subjects.b.xattr)",
            "p.yaml:5:14: error: xattr name 'trusted.' has nothing after its namespace prefix (subjects.c.xattr)",
            "p.yaml:6:6: error: subject has no matcher (expected one of: pid1, exe, xattr, cgroup, any) (subjects.d)",
            "p.yaml:7:16: error: subject has several matchers (exe, xattr); use one matcher per subject and list several subjects for OR (subjects.e.xattr)",
            "p.yaml:8:13: error: 'pid1: false' matches no task; write 'pid1: true' or remove the subject (subjects.f.pid1)",
            "p.yaml:9:12: error: 'any: false' matches no task; write 'any: true' or remove the subject (subjects.g.any)",
            "p.yaml:10:13: error: expected a boolean (true or false), found an integer (subjects.h.pid1)",
            "p.yaml:11:6: error: expected a matcher mapping such as {exe: /usr/bin/x}, found a string (subjects.i)",
            "p.yaml:12:3: error: invalid subject name 'bad name' (expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit) (subjects.bad name)",
            "p.yaml:14:38: error: unknown subject 'nobody' (define it under 'subjects:' or write a matcher such as {exe: /usr/bin/x}) (rules[0].subject)",
            "p.yaml:15:38: error: subject list is empty (rules[1].subject)",
        ])
        #expect(errors(policy("  - {id: r, kind: managers, subject: logind}\n", subjects: "  login: {exe: /x}\n"))
            == ["p.yaml:5:38: error: unknown subject 'logind' (did you mean 'login'?) (rules[0].subject)"])
    }

    @Test func overrides() {
        #expect(errors(policy("""
              - {id: a, kind: managers, subject: pid1, overrides: [a, zz, b]}
              - {id: b, kind: stay, cgroups: [/x], overrides: [c]}
              - {id: c, kind: deny-into, cgroups: [/y], overrides: [a]}

            """)) == [
            "p.yaml:3:56: error: rule 'a' overrides itself (rules[0].overrides[0])",
            "p.yaml:3:59: error: overrides unknown rule id 'zz' (rules[0].overrides[1])",
            "p.yaml:5:57: error: overrides form a cycle: 'a' -> 'b' -> 'c' -> 'a' (rules[2].overrides[0])",
        ])
    }

    @Test func stableIDCollisions() {
        // FNV-1a("rltzx") == FNV-1a("r23ad") == 0x31979ce7.
        #expect(StableID.of("rltzx") == StableID.of("r23ad"))
        #expect(errors(policy("""
              - {id: rltzx, kind: track, types: [net], label: rltzx}
              - {id: r23ad, kind: lock-on-entry, labels: [r23ad]}

            """)) == [
            "p.yaml:4:10: error: rule id 'r23ad' has the same stable id (0x31979ce7) as rule 'rltzx' (line 3); rename one of them (rules[1].id)",
            "p.yaml:4:47: error: label 'r23ad' has the same stable id (0x31979ce7) as label 'rltzx' (line 3); rename one of them (rules[1].labels[0])",
        ])
    }

    @Test func capacities() {
        let labels = (1...9).map { "l\($0)" }.joined(separator: ", ")
        #expect(errors(policy("  - {id: a, kind: lock-on-entry, labels: [\(labels)]}\n"))
            == ["p.yaml:3:42: error: a rule may name at most 8 labels; this one names 9 (rules[0].labels)"])
        let eight = (1...8).map { "l\($0)" }.joined(separator: ", ")
        #expect(errors(policy("  - {id: a, kind: lock-on-entry, labels: [\(eight)]}\n")) == [])

        // any + 63 exe subjects fit; one more does not.
        func rules(_ count: Int) -> String {
            (1...count).map { "  - {id: r\($0), kind: deny-create, subject: {exe: /bin/x\($0)}, types: [net]}\n" }.joined()
                + "  - {id: all, kind: deny-create, types: [ipc]}\n"
        }
        #expect(errors(policy(rules(63))) == [])
        #expect(errors(policy(rules(64))) == [
            "p.yaml:67:5: error: the policy uses more than 64 distinct subjects (this is number 65); share subjects between rules or use a cgroup subject (rules[64].subject)",
        ])
    }

    @Test func stayLockedConflictNeedsOverrides() {
        let conflicting = """
            version: 1
            rules:
              - id: services-stay
                kind: stay
                cgroups: [/system.slice]
              - id: freeze-foo
                kind: locked
                cgroups: [/system.slice/foo.service]
            """
        #expect(errors(conflicting) == [
            "p.yaml:8:15: error: rule 'freeze-foo' conflicts with rule 'services-stay' (line 3): locked '/system.slice/foo.service' overlaps stay '/system.slice'; add 'overrides: [services-stay]' to 'freeze-foo' or 'overrides: [freeze-foo]' to 'services-stay' (rules[1].cgroups[0])",
        ])
        #expect(load(conflicting + "\n    overrides: [services-stay]\n").policy?.rules[1].overrides == ["services-stay"])
        // Either direction of nesting.
        #expect(errors(policy("  - {id: l, kind: locked, cgroups: [/a/b]}\n  - {id: s, kind: stay, cgroups: [/a]}\n")).count == 1)
    }

    @Test func otherConflicts() {
        #expect(errors(policy("  - {id: l, kind: locked, cgroups: [/u]}\n  - {id: d, kind: delegated, cgroup: /u/x, manager: pid1}\n")) == [
            "p.yaml:4:38: error: rule 'd' conflicts with rule 'l' (line 3): delegated '/u/x' overlaps locked '/u'; add 'overrides: [l]' to 'd' or 'overrides: [d]' to 'l' (rules[1].cgroup)",
        ])
        #expect(errors(policy("""
              - {id: de, kind: deny-enter, subject: [pid1, {exe: /x}], labels: [a, b]}
              - {id: ae, kind: allow-enter-only, subject: {exe: /x}, labels: [c, b]}

            """)) == [
            "p.yaml:4:70: error: rule 'ae' conflicts with rule 'de' (line 3): for subject 'exe:/x', label 'b' is both denied (deny-enter) and allowed (allow-enter-only); add 'overrides: [de]' to 'ae' or 'overrides: [ae]' to 'de' (rules[1].labels[1])",
        ])
        #expect(errors(policy("""
              - {id: t1, kind: track, subject: pid1, types: [net, uts], label: a}
              - {id: t2, kind: track, subject: pid1, types: [uts], label: b}

            """)) == [
            "p.yaml:4:63: error: rule 't2' conflicts with rule 't1' (line 3): both track uts namespaces of subject 'pid1' with different labels ('b' and 'a'); add 'overrides: [t1]' to 't2' or 'overrides: [t2]' to 't1' (rules[1].label)",
        ])
    }

    @Test func severalErrorsInOneRun() {
        let text = errors("""
            version: 1
            mode: strict
            rules:
              - id: a
                kind: stay
                cgroups: /a
              - id: a
                kind: deny-create
                types: [net]
                colour: red
            """)
        #expect(text == [
            "p.yaml:2:7: error: invalid mode 'strict' (expected enforce or audit) (mode)",
            "p.yaml:6:14: error: expected a list, found a string (rules[0].cgroups)",
            "p.yaml:7:9: error: duplicate rule id 'a' (first defined at line 4) (rules[1].id)",
            "p.yaml:10:5: error: unknown key 'colour' (rules[1].colour)",
        ])
    }

    @Test func yamlProblemsHavePositions() {
        #expect(errors("") == ["p.yaml:1:1: error: the policy is empty; expected a mapping with 'version: 1' and 'rules'"])
        #expect(errors("# only a comment\n") == ["p.yaml:1:1: error: the policy is empty; expected a mapping with 'version: 1' and 'rules'"])
        #expect(errors("- a\n- b\n") == ["p.yaml:1:1: error: expected a mapping at the top level (with 'version: 1' and 'rules'), found a list"])
        #expect(errors("hello\n") == ["p.yaml:1:1: error: expected a mapping at the top level (with 'version: 1' and 'rules'), found a string"])
        let syntax = errors("version: 1\nrules:\n  - {id: a\n")
        #expect(syntax.count == 1)
        #expect(syntax.first?.hasPrefix("p.yaml:4:1: error: YAML syntax error: ") == true)
        let tab = errors("version: 1\nrules:\n\t- x\n")
        #expect(tab.count == 1 && tab[0].hasPrefix("p.yaml:3:1: error: YAML syntax error: "))
        #expect(errors("version: 1\nversion: 1\n") == ["p.yaml:1:1: error: duplicate key 'version' in a mapping"])
        let nul = errors("version: 1\nrules: [\u{0}]\n")
        #expect(nul.count == 1 && nul[0].hasPrefix("p.yaml:2:9: error: YAML error: control characters are not allowed"))
        let deep = errors("version: 1\nrules: " + String(repeating: "[", count: 5000) + "\n")
        #expect(deep == ["p.yaml:2:135: error: YAML nesting is deeper than 128 levels"])
        let blockDeep = "version: 1\nrules:\n" + String(repeating: "- ", count: 3000) + "x\n"
        #expect(errors(blockDeep) == ["p.yaml:3:1: error: YAML nesting is deeper than 128 levels"])
    }

    @Test func loadReportsMissingFile() {
        #expect(throws: PolicyErrors.self) { try PolicyLoader.load(path: "/nonexistent/policy.yaml") }
        do {
            _ = try PolicyLoader.load(path: "/nonexistent/policy.yaml")
        } catch {
            #expect(error.description == "/nonexistent/policy.yaml:1:1: error: cannot read policy: no such file")
        }
        do {
            _ = try PolicyLoader.load(path: "/")
        } catch {
            #expect(error.description == "/:1:1: error: cannot read policy: it is a directory")
        }
    }
}

@Suite struct PtraceScopeKeyTests {
    @Test func defaultsOnAndCanBeTurnedOff() throws {
        let on = load(policy("  - {id: a, kind: lock-on-entry, labels: [x]}\n  - {id: b, kind: deny-create, types: [net], ptrace-scope: false}\n"))
        #expect(on.errors.isEmpty)
        #expect(on.policy?.rules.map(\.ptraceScope) == [true, false])
    }

    @Test func badValueAndWrongKindAreNamed() {
        #expect(errors(policy("  - {id: a, kind: deny-enter, types: [net], ptrace-scope: 2}\n"))
            == ["p.yaml:3:59: error: expected a boolean (true or false), found an integer (rules[0].ptrace-scope)"])
        let wrongKind = errors(policy("  - {id: a, kind: stay, cgroups: [/s], ptrace-scope: true}\n"))
        #expect(wrongKind.count == 1 && wrongKind[0].contains("key 'ptrace-scope' does not apply to a 'stay' rule")
                && wrongKind[0].hasSuffix("(rules[0].ptrace-scope)"))
    }
}

@Suite struct IDMapRuleTests {
    @Test func parsesRangesAndSetgroups() throws {
        let p = load(policy("""
              - id: maps
                kind: id-map
                labels: [sandbox]
                uids: ["0 100000 65536"]
                gids: ["0 100000 65536", "70000 70000 1"]
                setgroups: allow

            """))
        #expect(p.errors.isEmpty)
        let r = try #require(p.policy?.rules.first)
        #expect(r.kind == .idMap && r.labels == ["sandbox"] && r.setgroupsAllowed)
        #expect(r.uidRanges == [IDRange(inside: 0, outside: 100000, count: 65536)] && r.gidRanges.count == 2)
    }

    @Test func badRangesAreNamedWithTheirField() {
        let e = errors(policy("  - {id: m, kind: id-map, uids: [\"0 0 0\", \"1 2\"], setgroups: maybe}\n"))
        #expect(e == [
            "p.yaml:3:34: error: invalid id range '0 0 0' (expected \"INSIDE OUTSIDE COUNT\", count >= 1, each range within 0..2^32) (rules[0].uids[0])",
            "p.yaml:3:43: error: invalid id range '1 2' (expected \"INSIDE OUTSIDE COUNT\", count >= 1, each range within 0..2^32) (rules[0].uids[1])",
            "p.yaml:3:62: error: invalid setgroups 'maybe' (expected allow or deny) (rules[0].setgroups)",
        ])
        let many = errors(policy("  - {id: m, kind: id-map, gids: [\"0 0 1\", \"1 1 1\", \"2 2 1\", \"3 3 1\", \"4 4 1\"]}\n"))
        #expect(many.count == 1 && many[0].contains("at most 4 ranges in 'gids'"))
    }
}
