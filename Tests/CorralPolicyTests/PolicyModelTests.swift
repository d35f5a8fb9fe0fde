import CorralPolicy
import Testing

@Suite struct PolicyModelTests {
    static let full = """
        version: 1
        mode: audit
        cgroup-root: /sys/fs/cgroup/unified
        subjects:
          init:     {pid1: true}
          logind:   {exe: /usr/lib/systemd/systemd-logind}
          marked:   {xattr: trusted.corral.manager}
          services: {cgroup: /system.slice}
          everyone: {any: true}
        rules:
          - id: track-sandbox
            kind: track
            description: "sandboxes started by init"
            subject: init
            types: [uts, net]
            label: sandbox
          - id: lock-sandbox
            kind: lock-on-entry
            mode: enforce
            subject: everyone
            labels: [sandbox]
            deny-unshare: true
            errno: EACCES
          - id: no-userns
            kind: deny-create
            subject: [services, {exe: /usr/bin/bwrap}]
            types: [user]
            errno: 38
          - id: no-enter
            kind: deny-enter
            types: [net]
            labels: [secret]
            errno: EBUSY
          - id: enter-sandbox-only
            kind: allow-enter-only
            subject: {xattr: user.corral.tool}
            labels: [sandbox]
            types: [mnt, pid]
          - id: logind-manages
            kind: managers
            subject: logind
          - id: user-delegated
            kind: delegated
            cgroup: /user.slice/user-1000.slice
            manager: [marked, {cgroup: /user.slice/user-1000.slice/user@1000.service}]
            errno: ENOENT
          - id: services-stay
            kind: stay
            subject: services
            cgroups: [/system.slice]
            overrides: [no-escape]
          - id: frozen
            kind: locked
            cgroups: [/frozen, /init.scope]
            errno: EINVAL
          - id: no-escape
            kind: deny-into
            subject: {cgroup: /user.slice}
            cgroups: [/system.slice, /machine.slice]
            errno: EOPNOTSUPP
          - id: sandbox-ids
            kind: id-map
            subject: services
            labels: [sandbox]
            uids: ["0 100000 65536"]
            setgroups: allow
        """

    @Test func everyKindAndSubjectForm() throws {
        let policy = try PolicyLoader.parse(yaml: Self.full, source: "full.yaml")
        #expect(policy.version == 1)
        #expect(policy.defaultMode == .audit)
        #expect(policy.cgroupRoot == "/sys/fs/cgroup/unified")
        #expect(policy.source == "full.yaml")
        #expect(policy.subjects.map(\.name) == ["init", "logind", "marked", "services", "everyone"])
        #expect(policy.subjects.map(\.matcher) == [
            .pid1, .exe("/usr/lib/systemd/systemd-logind"), .xattr("trusted.corral.manager"),
            .cgroup(CgroupPath("/system.slice")!), .any,
        ])
        #expect(policy.subjects[1].location == SourceLocation(file: "full.yaml", line: 6, column: 3))
        #expect(policy.rules.map(\.kind) == RuleKind.allCases)
        #expect(policy.rules.map(\.index) == Array(0..<11))
        #expect(policy.rules.map(\.mode) == [.audit, .enforce, .audit, .audit, .audit, .audit, .audit, .audit, .audit, .audit, .audit])
        let ids = try #require(policy.rule(id: "sandbox-ids"))
        #expect(ids.uidRanges == [IDRange(inside: 0, outside: 100000, count: 65536)] && ids.gidRanges.isEmpty && ids.setgroupsAllowed)

        let track = try #require(policy.rule(id: "track-sandbox"))
        #expect(track.description == "sandboxes started by init")
        #expect(track.subjects == [policy.subjects[0]])
        #expect(track.subjects[0].name == "init")
        #expect(track.namespaceTypes == [.uts, .net])
        #expect(track.trackLabel == "sandbox")
        #expect(track.errno == 1)
        #expect(track.location == SourceLocation(file: "full.yaml", line: 11, column: 5))

        let lock = try #require(policy.rule(id: "lock-sandbox"))
        #expect(lock.subjects.map(\.matcher) == [.any])
        #expect(lock.subjects[0].name == "everyone")
        #expect(lock.labels == ["sandbox"])
        #expect(lock.denyUnshare)
        #expect(lock.errno == 13)

        let denyCreate = try #require(policy.rule(id: "no-userns"))
        #expect(denyCreate.subjects.map(\.name) == ["services", nil])
        #expect(denyCreate.subjects.map(\.matcher) == [.cgroup(CgroupPath("/system.slice")!), .exe("/usr/bin/bwrap")])
        #expect(denyCreate.namespaceTypes == [.user])
        #expect(denyCreate.errno == 38)

        let denyEnter = try #require(policy.rule(id: "no-enter"))
        #expect(denyEnter.subjects == [Subject.any])
        #expect(denyEnter.namespaceTypes == [.net])
        #expect(denyEnter.labels == ["secret"])
        #expect(denyEnter.errno == 16)

        let allow = try #require(policy.rule(id: "enter-sandbox-only"))
        #expect(allow.subjects.map(\.matcher) == [.xattr("user.corral.tool")])
        #expect(allow.subjects[0].name == nil)
        #expect(allow.namespaceTypes == [.mnt, .pid])

        let managers = try #require(policy.rule(id: "logind-manages"))
        #expect(managers.subjects.map(\.name) == ["logind"])

        let delegated = try #require(policy.rule(id: "user-delegated"))
        #expect(delegated.cgroups == [CgroupPath("/user.slice/user-1000.slice")!])
        #expect(delegated.subjects.map(\.matcher) == [
            .xattr("trusted.corral.manager"), .cgroup(CgroupPath("/user.slice/user-1000.slice/user@1000.service")!),
        ])
        #expect(delegated.errno == 2)

        let stay = try #require(policy.rule(id: "services-stay"))
        #expect(stay.cgroups.map(\.description) == ["/system.slice"])
        #expect(stay.overrides == ["no-escape"])

        #expect(policy.rule(id: "frozen")?.cgroups.map(\.description) == ["/frozen", "/init.scope"])
        #expect(policy.rule(id: "frozen")?.subjects == [Subject.any])
        #expect(policy.rule(id: "frozen")?.errno == 22)
        #expect(policy.rule(id: "no-escape")?.cgroups.map(\.description) == ["/system.slice", "/machine.slice"])
        #expect(policy.rule(id: "no-escape")?.errno == 95)

        // Distinct subjects: 5 named + exe bwrap + xattr tool + 2 inline cgroups.
        #expect(policy.distinctSubjectMatchers.count == 9)
        // The overrides edge feeds the conflict order.
        #expect(RuleOrder.precedence(of: policy.rules)["services-stay"] == 1)
    }

    @Test func minimalPolicyDefaults() throws {
        let policy = try PolicyLoader.parse(yaml: "version: 1\n", source: "m.yaml")
        #expect(policy.defaultMode == .enforce)
        #expect(policy.cgroupRoot == "/sys/fs/cgroup")
        #expect(policy.subjects.isEmpty)
        #expect(policy.rules.isEmpty)
        let empty = try PolicyLoader.parse(yaml: "version: 1\nsubjects: {}\nrules: []\n", source: "m.yaml")
        #expect(empty.rules.isEmpty)
    }

    @Test func ruleModeOverridesDefaultBothWays() throws {
        let yaml = """
            version: 1
            rules:
              - {id: a, kind: deny-create, types: [net]}
              - {id: b, kind: deny-create, types: [ipc], mode: audit}
            """
        let policy = try PolicyLoader.parse(yaml: yaml, source: "p.yaml")
        #expect(policy.rules.map(\.mode) == [.enforce, .audit])
        let audited = try PolicyLoader.parse(yaml: yaml.replacingOccurrences(of: "version: 1", with: "version: 1\nmode: audit")
            .replacingOccurrences(of: "mode: audit}", with: "mode: enforce}"), source: "p.yaml")
        #expect(audited.rules.map(\.mode) == [.audit, .enforce])
    }

    @Test func builtInSubjectNamesAndDefaults() throws {
        let policy = try PolicyLoader.parse(yaml: policy("""
              - {id: a, kind: managers, subject: pid1}
              - {id: b, kind: deny-create, subject: any, types: [net, net, time]}
              - {id: c, kind: deny-create, types: [cgroup]}
            """), source: "p.yaml")
        #expect(policy.rules[0].subjects.map(\.matcher) == [.pid1])
        #expect(policy.rules[1].subjects == [Subject.any])
        #expect(policy.rules[1].namespaceTypes == [.net, .time])
        #expect(policy.rules[2].subjects == [Subject.any])
    }

    @Test func namedSubjectShadowsBuiltInName() throws {
        let policy = try PolicyLoader.parse(yaml: policy("  - {id: a, kind: managers, subject: pid1}\n",
                                                         subjects: "  pid1: {exe: /sbin/init}\n"), source: "p.yaml")
        #expect(policy.rules[0].subjects.map(\.matcher) == [.exe("/sbin/init")])
    }

    @Test func errnoNamesAndNumbers() throws {
        let names = ["EPERM": 1, "ENOENT": 2, "EACCES": 13, "EBUSY": 16, "EINVAL": 22, "EOPNOTSUPP": 95, "7": 7, "4095": 4095]
        for (text, value) in names {
            let policy = try PolicyLoader.parse(yaml: policy("  - {id: a, kind: deny-create, types: [net], errno: \(text)}\n"),
                                                source: "p.yaml")
            #expect(policy.rules[0].errno == Int32(value), "\(text)")
        }
        #expect(ErrnoNames.name(of: 95) == "EOPNOTSUPP")
        #expect(ErrnoNames.name(of: 7) == "7")
    }

    @Test func quotedAndNumericScalars() throws {
        let policy = try PolicyLoader.parse(yaml: """
            version: 1
            rules:
              - id: "123"
                kind: 'track'
                types: ["net"]
                label: 2024
            """, source: "p.yaml")
        #expect(policy.rules[0].id == "123")
        #expect(policy.rules[0].trackLabel == "2024")
    }

    @Test func overridesResolveConflicts() throws {
        // stay vs locked on nested cgroups, resolved either way, also transitively.
        for yaml in [
            policy("  - {id: s, kind: stay, cgroups: [/a]}\n  - {id: l, kind: locked, cgroups: [/a/b], overrides: [s]}\n"),
            policy("  - {id: s, kind: stay, cgroups: [/a], overrides: [l]}\n  - {id: l, kind: locked, cgroups: [/a/b]}\n"),
            policy("""
                  - {id: s, kind: stay, cgroups: [/a], overrides: [m]}
                  - {id: m, kind: managers, subject: pid1, overrides: [l]}
                  - {id: l, kind: locked, cgroups: [/a]}

                """),
        ] {
            #expect(load(yaml).errors == [])
        }
    }

    @Test func nonOverlappingRulesDoNotConflict() {
        let yaml = policy("""
              - {id: s, kind: stay, cgroups: [/a]}
              - {id: l, kind: locked, cgroups: [/ab, /b]}
              - {id: d, kind: delegated, cgroup: /c, manager: pid1}
              - {id: t1, kind: track, types: [net], label: x}
              - {id: t2, kind: track, types: [uts], label: y}
              - {id: t3, kind: track, subject: pid1, types: [net], label: z}
              - {id: t4, kind: track, types: [net], label: x}
              - {id: de, kind: deny-enter, labels: [x]}
              - {id: ae, kind: allow-enter-only, labels: [y]}
              - {id: ae2, kind: allow-enter-only, subject: pid1, labels: [x]}

            """)
        #expect(load(yaml).errors == [])
    }
}

@Suite struct RuleOrderDescribeTests {
    @Test func ranksReadAsTheirFields() {
        let lock = Rule(id: "l", kind: .locked, cgroups: [CgroupPath("/a")!], index: 2)
        let cg = Subject(matcher: .cgroup(CgroupPath("/system.slice/a.service")!))
        #expect(RuleOrder.describe(RuleOrder.rank(rule: lock, subject: cg, effect: .deny, precedence: 1))
                == "overrides level 1, lock tier, subject cgroup (exact, depth 2), deny, rule 3 in the file")
        let any = Rule(id: "a", kind: .stay, cgroups: [CgroupPath("/a")!], index: 0)
        #expect(RuleOrder.describe(RuleOrder.rank(rule: any, subject: .any, effect: .allow, precedence: 0))
                == "subject any, allow, rule 1 in the file")
        #expect(RuleOrder.describe(0x0000_0040_07FF_FFFC) == "subject pid1, allow, rule 4 in the file")
    }
}
