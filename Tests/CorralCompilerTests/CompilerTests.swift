// Map contents for small policies compiled against a real temporary tree
// (the temp directory stands in for the cgroup2 root: cgroup ids are real inode numbers).
import CorralABI
import CorralCompiler
import CorralEvaluator
import CorralPolicy
import CorralSystem
import Testing

/// The policy of docs/compiler.md's style: every kind of map entry at least once.
struct Example {
    let tree: TempTree
    let exe: String
    let idA: UInt64, idB: UInt64, idOps: UInt64
    let policy: Policy
    let resolver: FileSystemResolver

    init() throws {
        tree = try TempTree()
        idA = try tree.mkdir("cg/a")
        idB = try tree.mkdir("cg/b")
        idOps = try tree.mkdir("cg/ops")
        exe = try tree.executable("bin/sandboxd")
        let ops = Subject(name: "ops", matcher: .cgroup(cg("/ops")), location: loc(3))
        policy = Policy(cgroupRoot: tree.path("cg"), subjects: [ops], rules: numbered([
            Rule(id: "stay-ab", kind: .stay, subjects: [.any, ops], cgroups: [cg("/a"), cg("/b")]),
            Rule(id: "init-manages", kind: .managers, subjects: [Subject(matcher: .pid1)]),
            Rule(id: "track-sandbox", kind: .track, subjects: [Subject(matcher: .exe(exe))],
                 namespaceTypes: [.uts, .net], trackLabel: "sandbox"),
            Rule(id: "lock-sandbox", kind: .lockOnEntry, mode: .audit, labels: ["sandbox", "other"],
                 denyUnshare: true),
            Rule(id: "no-a", kind: .denyInto, cgroups: [cg("/a")], errno: 13, overrides: ["stay-ab"]),
            Rule(id: "ops-delegated", kind: .delegated, subjects: [ops], cgroups: [cg("/b")]),
            Rule(id: "enter-only", kind: .allowEnterOnly, subjects: [.any, .any], labels: ["sandbox"]),
        ]))
        resolver = FileSystemResolver(cgroupRoot: policy.cgroupRoot)
    }

    func compile(gen: UInt32 = 1, options: CompileOptions = CompileOptions()) throws -> MapImage {
        try PolicyCompiler.compile(policy, gen: gen, generation: 7, resolver: resolver, options: options)
    }
}

@Suite struct CompilerTests {
    @Test func slotsExpandPerRuleSubjectAndScopeInFileOrder() throws {
        let ex = try Example()
        let image = try ex.compile()
        let expected: [(String, SubjectMatcher, CgroupPath?)] = [
            ("stay-ab", .any, cg("/a")), ("stay-ab", .any, cg("/b")),
            ("stay-ab", .cgroup(cg("/ops")), cg("/a")), ("stay-ab", .cgroup(cg("/ops")), cg("/b")),
            ("init-manages", .pid1, nil),
            ("track-sandbox", .exe(ex.exe), nil),
            ("lock-sandbox", .any, nil),
            ("no-a", .any, cg("/a")),
            ("ops-delegated", .cgroup(cg("/ops")), cg("/b")),
            ("enter-only", .any, nil),  // the duplicate `any` subject adds no slot
        ]
        #expect(image.slotOrigins.count == expected.count)
        #expect(image.rules.count == expected.count)
        #expect(image.generation.value.rule_slots == UInt32(expected.count))
        for (slot, (id, matcher, scope)) in expected.enumerated() {
            let origin = image.slotOrigins[slot]
            #expect(origin.slot == slot && origin.ruleID == id && origin.subject == matcher && origin.scope == scope)
        }
        let ids = [cg("/a"): ex.idA, cg("/b"): ex.idB]
        for origin in image.slotOrigins {
            let rule = image.slot(origin.slot)
            #expect(rule.cgroup_id == (origin.scope.map { ids[$0]! } ?? 0))
            #expect(rule.rule_uid == StableID.of(origin.ruleID))
            #expect(rule.list_pos == UInt32(image.hookRules.lazy.compactMap { listSlots($0.value).firstIndex(of: origin.slot) }.first ?? 0))
        }
    }

    @Test func ranksAreRuleOrderRanksOfTheSlotsSubject() throws {
        let ex = try Example()
        let image = try ex.compile()
        let precedence = RuleOrder.precedence(of: ex.policy.rules)
        #expect(precedence["no-a"] == 1)
        for origin in image.slotOrigins {
            let rule = ex.policy.rules[origin.ruleIndex]
            let subject = rule.subjects.first { $0.matcher == origin.subject }!
            let expected = RuleOrder.rank(rule: rule, subject: subject, effect: .allow,
                                          precedence: precedence[rule.id] ?? 0)
            #expect(image.slot(origin.slot).rank == expected)
            #expect(image.slot(origin.slot).rank & RuleOrder.denyBit == 0)
        }
        // Specificity differs between the two subjects of one rule; precedence lifts no-a.
        #expect(image.slot(2).rank > image.slot(0).rank)
        #expect(image.slot(7).rank > image.slot(2).rank)
    }

    @Test func ruleFieldsCarryKindModeFlagsTypesErrnoAndLabels() throws {
        let ex = try Example()
        let image = try ex.compile()
        let stay = image.slot(0)
        #expect(stay.kind == UInt16(CORRAL_RULE_STAY.rawValue))
        #expect(stay.mode == UInt8(CORRAL_MODE_ENFORCE.rawValue) && stay.flags == 0 && stay.err == 1)
        #expect(labels(stay) == [0, 0, 0, 0, 0, 0, 0, 0] && stay.track_label == 0 && stay.ns_types == 0)

        let track = image.slot(5)
        #expect(track.kind == UInt16(CORRAL_RULE_TRACK.rawValue))
        #expect(track.ns_types == 0x0400_0000 | 0x4000_0000)
        #expect(track.track_label == StableID.of("sandbox"))

        let lock = image.slot(6)
        #expect(lock.kind == UInt16(CORRAL_RULE_LOCK_ON_ENTRY.rawValue))
        #expect(lock.mode == UInt8(CORRAL_MODE_AUDIT.rawValue))
        #expect(lock.flags == UInt8(CORRAL_RULE_F_DENY_UNSHARE | CORRAL_RULE_F_PTRACE_SCOPE))
        #expect(labels(lock) == [StableID.of("sandbox"), StableID.of("other"), 0, 0, 0, 0, 0, 0])

        let denyInto = image.slot(7)
        #expect(denyInto.kind == UInt16(CORRAL_RULE_DENY_INTO.rawValue) && denyInto.err == 13)
        #expect(image.slot(8).kind == UInt16(CORRAL_RULE_DELEGATED.rawValue))
        #expect(image.slot(9).kind == UInt16(CORRAL_RULE_ALLOW_ENTER_ONLY.rawValue))

        #expect(image.labelByID[StableID.of("other")] == "other")
        #expect(image.ruleIDByUID[StableID.of("no-a")] == "no-a")
        #expect(image.cgroupPathByID[ex.idOps] == cg("/ops"))
        #expect((0..<10).allSatisfy { image.slot($0).audit_until_ns == 0 }, "no loosening in a policy file")
    }

    @Test func ptraceScopeFlagsLocksAndCgroupSubjectSlotsOnly() throws {
        let ex = try Example()
        let image = try ex.compile()
        let scope = UInt8(CORRAL_RULE_F_PTRACE_SCOPE)
        #expect(image.slot(6).flags & scope != 0, "lock-sandbox: a lock-on-entry rule, scoped by default")
        var policy = ex.policy
        policy.rules.append(Rule(id: "jail", kind: .denyCreate,
                                 subjects: [Subject(matcher: .cgroup(cg("/ops"))), Subject(matcher: .pid1)],
                                 namespaceTypes: [.net], index: policy.rules.count))
        let jailed = try PolicyCompiler.compile(policy, gen: 1, generation: 7, resolver: ex.resolver)
        let jailSlots = jailed.slots(ofRule: "jail")
        #expect(jailSlots.count == 2)
        #expect(jailed.slot(jailSlots[0]).flags & scope != 0 && jailed.slot(jailSlots[1]).flags & scope == 0,
                "the cgroup subject's slot is a domain; pid1's is not")
        policy.rules[policy.rules.count - 1].ptraceScope = false
        policy.rules[3].ptraceScope = false
        let off = try PolicyCompiler.compile(policy, gen: 1, generation: 7, resolver: ex.resolver)
        #expect(off.slot(6).flags & scope == 0 && off.slot(jailSlots[0]).flags & scope == 0)
    }

    @Test func idMapRulesGetRangesAListAndTheSetgroupsFlag() throws {
        let ex = try Example()
        var policy = ex.policy
        var maps = Rule(id: "maps", kind: .idMap, subjects: [.any, Subject(matcher: .pid1)], labels: ["sandbox"],
                        index: policy.rules.count)
        maps.uidRanges = [IDRange(inside: 0, outside: 100000, count: 65536), IDRange(inside: 70000, outside: 70000, count: 1)]
        maps.setgroupsAllowed = true
        policy.rules.append(maps)
        let image = try PolicyCompiler.compile(policy, gen: 1, generation: 7, resolver: ex.resolver)
        let slots = image.slots(ofRule: "maps")
        #expect(slots.count == 2 && image.list(CORRAL_LIST_ID_MAP) == slots)
        #expect(slots.allSatisfy { image.slot($0).kind == UInt16(CORRAL_RULE_ID_MAP.rawValue)
                                   && image.slot($0).flags & UInt8(CORRAL_RULE_F_SETGROUPS) != 0 })
        let keys = image.idRanges.map(\.key)
        #expect(keys == slots.map { UInt32(CORRAL_MAX_RULE_SLOTS) + UInt32($0) })
        let v = image.idRanges[0].value
        #expect(v.n_uid == 2 && v.n_gid == 0 && v.uid.0.outside == 100000 && v.uid.1.inside == 70000 && v.uid.1.count == 1)
        #expect(image.entries(map: .idRanges).allSatisfy { $0.key.count == 4 && $0.value.count == PolicyMap.idRanges.valueSize })
        #expect(PolicyMap.idRanges.generation(ofKey: Array(image.entries(map: .idRanges)[0].key)) == 1)
        #expect(Evaluator.maxIDMapExtents == Int(CORRAL_MAX_ID_EXTENTS), "the evaluator's copy of the ABI limit")
    }

    @Test func looseningDeadlineIsWrittenToEverySlotOfTheRule() throws {
        let ex = try Example()
        var policy = ex.policy
        policy.rules[0].auditUntil = 123_000_000_000 // stay-ab: slots 0-3
        let image = try PolicyCompiler.compile(policy, gen: 1, generation: 7, resolver: ex.resolver)
        #expect((0..<4).allSatisfy { image.slot($0).audit_until_ns == 123_000_000_000 })
        #expect(image.slot(0).mode == UInt8(CORRAL_MODE_ENFORCE.rawValue), "the mode after the deadline stays")
        #expect(image.slot(4).audit_until_ns == 0)
    }

    @Test func hookListsHoldSubjectDrivenKinds() throws {
        let ex = try Example()
        let image = try ex.compile(gen: 1)
        #expect(image.hookRules.map(\.key) == [4, 5, 6, 7])  // gen 1 * CORRAL_LIST_COUNT + list
        #expect(image.list(CORRAL_LIST_NS_ALLOC) == [5])
        #expect(image.list(CORRAL_LIST_NS_INSTALL) == [6, 9])
        #expect(image.list(CORRAL_LIST_CGROUP) == [4, 8])
    }

    @Test func anchorsListStayLockedDenyIntoAndDelegatedSlots() throws {
        let ex = try Example()
        let image = try ex.compile(gen: 1)
        #expect(image.anchor("/a") == [0, 2, 7])
        // ops-delegated (slot 8) is anchored too (inside an instance) and in the CGROUP list (outside)
        #expect(image.anchor("/b") == [1, 3, 8])
        #expect(image.anchor("/c") == [])           // a child of the live root: an empty entry
        #expect(image.anchor("/c/d") == nil)        // below a non-live cgroup: no entry
        #expect(image.patternNames.allSatisfy { $0.key.gen == 1 })
        #expect(image.patternNodes.map(\.key).first == UInt32(CORRAL_MAX_PATTERN_NODES))
    }

    @Test func ruleUIDsMapToFirstSlot() throws {
        let ex = try Example()
        let image = try ex.compile(gen: 1)
        #expect(image.ruleUIDs.count == ex.policy.rules.count)
        for entry in image.ruleUIDs {
            let id = image.ruleIDByUID[entry.key.rule_uid]!
            #expect(entry.key.gen == 1)
            #expect(Int(entry.value) == image.slots(ofRule: id).min())
        }
        #expect(image.ruleUIDs.first { $0.key.rule_uid == StableID.of("stay-ab") }?.value == 0)
        #expect(image.ruleUIDs.first { $0.key.rule_uid == StableID.of("no-a") }?.value == 7)
    }

    @Test func subjectBitsAreDedupedAndMasksSet() throws {
        let ex = try Example()
        let image = try ex.compile(gen: 1)
        // any, cgroup:/ops (named + reused), pid1, exe: in order of first use.
        #expect(image.subjects.map(\.matcher) == [.any, .cgroup(cg("/ops")), .pid1, .exe(ex.exe)])
        let header = image.generation.value
        #expect(image.generation.key == 1)
        #expect(header.generation == 7 && header.any_mask == 0x1 && header.pid1_mask == 0x4 && header.flags == 0)
        #expect(header.event_rate == 0)
        var limited = ex.policy
        limited.eventRateLimit = 250
        #expect(try PolicyCompiler.compile(limited, gen: 1, generation: 7, resolver: ex.resolver).generation.value.event_rate == 250)
        #expect(image.slot(0).subject_mask == 0x1 && image.slot(2).subject_mask == 0x2)
        #expect(image.slot(4).subject_mask == 0x4 && image.slot(5).subject_mask == 0x8)
        #expect(image.slot(8).subject_mask == 0x2)

        #expect(image.subjectBits("/ops") == 0x2 && image.subjectBits("/a") == 0 && image.subjectBits("/") == 0)

        let status = try FileSystem.status(ex.exe)
        #expect(image.subjectExes.count == 1)
        #expect(image.subjectExes[0].key.ino == status.inode)
        #expect(image.subjectExes[0].key.dev == status.kernelDevice)
        #expect(image.subjectExes[0].key.gen == 1 && image.subjectExes[0].value == 0x8)
        #expect(image.unresolved.isEmpty)
    }

    @Test func subjectsSharingAKeyOrTheirBits() throws {
        let tree = try TempTree()
        let exe = try tree.executable("bin/tool")
        try tree.symlink("bin/tool-link", to: exe)
        let opsID = try tree.mkdir("cg/ops")
        try tree.symlink("cg/ops-alias", to: tree.path("cg/ops"))
        let policy = Policy(cgroupRoot: tree.path("cg"), rules: numbered([
            Rule(id: "a", kind: .denyCreate, subjects: [Subject(matcher: .exe(exe))], namespaceTypes: [.net]),
            Rule(id: "b", kind: .denyCreate, subjects: [Subject(matcher: .exe(tree.path("bin/tool-link")))],
                 namespaceTypes: [.user]),
            Rule(id: "c", kind: .managers, subjects: [Subject(matcher: .cgroup(cg("/ops"))),
                                                      Subject(matcher: .cgroup(cg("/ops-alias")))]),
            Rule(id: "d", kind: .managers, subjects: [.any, Subject(matcher: .pid1), .any]),
            Rule(id: "e", kind: .denyEnter, subjects: [Subject(matcher: .pid1)], namespaceTypes: [.mnt]),
        ]))
        let image = try PolicyCompiler.compile(policy, gen: 0, generation: 1,
                                               resolver: FileSystemResolver(cgroupRoot: policy.cgroupRoot),
                                               options: CompileOptions(auditAll: true))
        #expect(image.subjects.count == 6)  // two exe paths, two cgroup paths, any, pid1
        #expect(image.subjectExes.count == 1)
        #expect(image.subjectExes[0].value == 0b11)
        #expect(image.executablePaths[ExecutableID(dev: image.subjectExes[0].key.dev,
                                                   ino: image.subjectExes[0].key.ino)]?.count == 2)
        // /ops-alias is another name: the kernel sees cgroup names, not symlinks (only /ops is a cgroup)
        #expect(image.subjectBits("/ops") == 0b0100 && image.subjectBits("/ops-alias") == 0b1000)
        _ = opsID
        #expect(image.generation.value.any_mask == 0b1_0000 && image.generation.value.pid1_mask == 0b10_0000)
        #expect(image.generation.value.flags == UInt32(CORRAL_F_AUDIT_ALL))
        #expect(image.slots(ofRule: "d").count == 2)
        #expect(image.slot(image.slots(ofRule: "e")[0]).subject_mask == 0b10_0000)
    }

    @Test func unresolvedReferencesAreReportedNotThrown() throws {
        let tree = try TempTree()
        let presentID = try tree.mkdir("cg/present")
        let emptyDir = tree.path("empty")
        try tree.mkdir("empty")
        let missingExe = tree.path("bin/missing")
        let late = Subject(name: "late", matcher: .cgroup(cg("/late")), location: loc(4))
        let policy = Policy(cgroupRoot: tree.path("cg"), subjects: [late], rules: numbered([
            Rule(id: "stay-later", kind: .stay, cgroups: [cg("/present"), cg("/later")]),
            Rule(id: "deleg-later", kind: .delegated, subjects: [late], cgroups: [cg("/later")]),
            Rule(id: "exe-missing", kind: .denyCreate, subjects: [Subject(matcher: .exe(missingExe))],
                 namespaceTypes: [.user]),
            Rule(id: "xattr-none", kind: .denyCreate, subjects: [Subject(matcher: .xattr("user.corral.none"))],
                 namespaceTypes: [.net]),
            Rule(id: "late-managers", kind: .managers, subjects: [late]),
        ]))
        let image = try PolicyCompiler.compile(policy, gen: 0, generation: 1,
                                               resolver: FileSystemResolver(cgroupRoot: policy.cgroupRoot),
                                               options: CompileOptions(xattrSearchPaths: [emptyDir]))
        let found = image.unresolved.map { "\($0.ruleID) \($0.fieldPath) \($0.kind.rawValue) \($0.path)" }
        // Cgroup paths are never unresolved: they are classified when their cgroups are created.
        #expect(found == [
            "exe-missing rules[2].subjects[0] executable \(missingExe)",
            "xattr-none rules[3].subjects[0] xattr user.corral.none",
        ])
        #expect(image.unresolved[0].error == .noSuchFile && image.unresolved[1].error == nil)
        #expect(image.unresolved[0].description.contains("warning: rule exe-missing"))

        // Every scope has its slot and its anchor, existing or not; cgroup_id only for what exists.
        #expect(image.slots(ofRule: "stay-later") == [0, 1])
        #expect(image.slot(0).cgroup_id == presentID && image.slot(1).cgroup_id == 0)
        #expect(image.anchor("/present") == [0] && image.anchor("/later") == [1, 2])
        // Delegated is in the CGROUP list as well (the deny outside its instances).
        #expect(image.list(CORRAL_LIST_CGROUP) == [2, 5])
        #expect(image.subjectBits("/late") == 0x2)
        #expect(image.subjectExes.isEmpty)
        #expect(image.subjects.count == 4)  // any, late, exe, xattr
        // The xattr subject's name is in corral_subj_xattr: a file marked later is recognized by the kernel.
        #expect(image.subjectXattrs.count == 1)
        let x = image.subjectXattrs[0]
        #expect(x.key.hash == CgroupClassifier.nameHash("user.corral.none") && x.key.gen == 0)
        #expect(x.value.len == 16 && x.value.bits == 1 << 3)
        #expect(withUnsafeBytes(of: x.value.name) { String(decoding: $0.prefix(16), as: UTF8.self) } == "user.corral.none")
    }

    @Test func rawEntriesUseABILayoutAndGenerationKeys() throws {
        let ex = try Example()
        for gen: UInt32 in [0, 1] {
            let image = try ex.compile(gen: gen)
            func u32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
            let rules = image.entries(map: "corral_rules")
            #expect(rules.count == 10)
            #expect(rules.map { u32($0.key) } == (0..<10).map { gen * 16384 + UInt32($0) })
            #expect(rules.allSatisfy { $0.key.count == 4 && $0.value.count == 88 })
            // rank is the first field
            #expect(rules[3].value.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == image.slot(3).rank)
            let lists = image.entries(map: "corral_hook_rules")
            #expect(lists.map { u32($0.key) } == [gen * 4, gen * 4 + 1, gen * 4 + 2, gen * 4 + 3])
            #expect(lists.allSatisfy { $0.value.count == 136 })
            #expect(image.entries(map: "corral_pattern_nodes").allSatisfy { $0.key.count == 4 && $0.value.count == 56 })
            #expect(image.entries(map: "corral_pattern_names").allSatisfy { $0.key.count == 16 && $0.value.count == 264 })
            #expect(image.entries(map: "corral_subj_exe").allSatisfy { $0.key.count == 16 && $0.value.count == 8 })
            #expect(image.entries(map: "corral_rule_uids").allSatisfy { $0.key.count == 8 && $0.value.count == 4 })
            let header = image.entries(map: "corral_generations")
            #expect(header.count == 1 && u32(header[0].key) == gen && header[0].value.count == 40)
            #expect(image.entries(map: "corral_nonexistent").isEmpty)
            for map in PolicyMap.allCases {
                let raw = image.entries(map: map)
                #expect(raw.count == image.count(map: map))
                #expect(raw.allSatisfy { map.generation(ofKey: $0.key) == gen }, "\(map.rawValue)")
            }
            #expect(image.summary.map(\.description) == [
                "corral_generations: 1", "corral_rules: 10", "corral_hook_rules: 4", "corral_pattern_nodes: 4",
                "corral_pattern_names: 3", "corral_pattern_globs: 0", "corral_subj_exe: 1", "corral_subj_xattr: 0",
                "corral_rule_uids: 7", "corral_id_ranges: 0",
            ])
        }
    }

    @Test func generationSlotMustBeZeroOrOne() throws {
        let ex = try Example()
        #expect(throws: CompileErrors.self) { try ex.compile(gen: 2) }
    }

    @Test func collidingLabelIDsAreRejected() throws {
        // "costarring" and "liquid" collide under FNV-1a 32.
        #expect(StableID.of("costarring") == StableID.of("liquid"))
        let policy = Policy(rules: numbered([
            Rule(id: "t", kind: .track, namespaceTypes: [.uts], trackLabel: "costarring"),
            Rule(id: "d", kind: .denyEnter, labels: ["liquid"]),
        ]))
        let errors = compileExpectingErrors(policy, resolver: TableResolver())
        #expect(errors.count == 1)
        #expect(errors.first?.fieldPath == "rules[1].labels[0]")
        #expect(errors.first?.location == loc(11))
    }
}
