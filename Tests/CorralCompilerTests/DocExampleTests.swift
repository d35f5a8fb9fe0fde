// docs/compiler.md's worked example, compiled against a real temporary tree.
import CorralABI
import CorralCompiler
import CorralPolicy
import CorralSystem
import Testing

@Test func docsWorkedExample() throws {
    let tree = try TempTree()
    let system = try tree.mkdir("cg/system.slice")
    let untrusted = try tree.mkdir("cg/untrusted")
    let ops = try tree.mkdir("cg/ops.slice")
    let work = try tree.mkdir("cg/ops.slice/work")
    let exe = try tree.executable("usr/bin/sandboxd")
    let opsSubject = Subject(name: "ops", matcher: .cgroup(cg("/ops.slice")))
    let policy = Policy(cgroupRoot: tree.path("cg"), subjects: [opsSubject], rules: numbered([
        Rule(id: "stay-services", kind: .stay, cgroups: [cg("/system.slice")]),
        Rule(id: "init-manages", kind: .managers, subjects: [Subject(matcher: .pid1)]),
        Rule(id: "track-sandbox", kind: .track, subjects: [Subject(matcher: .exe(exe))],
             namespaceTypes: [.uts, .net], trackLabel: "sandbox"),
        Rule(id: "lock-sandbox", kind: .lockOnEntry, labels: ["sandbox"], denyUnshare: true),
        Rule(id: "no-untrusted", kind: .denyInto, cgroups: [cg("/untrusted"), cg("/later.slice")],
             errno: 13, overrides: ["stay-services"]),
        Rule(id: "ops-delegated", kind: .delegated, subjects: [opsSubject], cgroups: [cg("/ops.slice/work")]),
    ]))
    let image = try PolicyCompiler.compile(policy, gen: 0, generation: 7,
                                           resolver: FileSystemResolver(cgroupRoot: policy.cgroupRoot))
    let g = image.generation.value
    #expect(g.generation == 7 && g.any_mask == 0x1 && g.pid1_mask == 0x2 && g.rule_slots == 7 && g.flags == 0)

    let expected: [(String, UInt64, UInt64, UInt64, corral_rule_kind)] = [
        ("stay-services", 0x0000_0000_07FF_FFFF, 0x1, system, CORRAL_RULE_STAY),
        ("init-manages", 0x0000_0040_07FF_FFFE, 0x2, 0, CORRAL_RULE_MANAGERS),
        ("track-sandbox", 0x0000_0030_07FF_FFFD, 0x4, 0, CORRAL_RULE_TRACK),
        ("lock-sandbox", 0x0000_1000_07FF_FFFC, 0x1, 0, CORRAL_RULE_LOCK_ON_ENTRY),
        ("no-untrusted", 0x0001_0000_07FF_FFFB, 0x1, untrusted, CORRAL_RULE_DENY_INTO),
        ("no-untrusted", 0x0001_0000_07FF_FFFB, 0x1, 0, CORRAL_RULE_DENY_INTO),
        ("ops-delegated", 0x0000_0010_37FF_FFFA, 0x8, work, CORRAL_RULE_DELEGATED),
    ]
    #expect(image.rules.count == expected.count)
    for (slot, (id, rank, mask, cgroup, kind)) in expected.enumerated() {
        let rule = image.slot(slot)
        #expect(rule.rule_uid == StableID.of(id) && rule.rank == rank && rule.subject_mask == mask)
        #expect(rule.cgroup_id == cgroup && rule.kind == UInt16(kind.rawValue), "slot \(slot)")
        #expect(rule.err == (id == "no-untrusted" ? 13 : 1))
    }
    #expect(image.slot(2).ns_types == 0x4400_0000 && image.slot(2).track_label == StableID.of("sandbox"))
    #expect(image.slot(3).flags == UInt8(CORRAL_RULE_F_DENY_UNSHARE | CORRAL_RULE_F_PTRACE_SCOPE))
    #expect(labels(image.slot(3)) == [StableID.of("sandbox"), 0, 0, 0, 0, 0, 0, 0])

    #expect(image.list(CORRAL_LIST_NS_ALLOC) == [2])
    #expect(image.list(CORRAL_LIST_NS_INSTALL) == [3])
    #expect(image.list(CORRAL_LIST_CGROUP) == [1, 6])
    #expect(image.anchor("/system.slice") == [0] && image.anchor("/untrusted") == [4] && image.anchor("/later.slice") == [5])
    #expect(image.anchor("/ops.slice/work") == [6] && image.anchor("/ops.slice") == [])
    #expect(image.subjectBits("/ops.slice") == 0x8 && image.subjectBits("/ops.slice/work") == 0)
    #expect(image.generation.value.pattern_nodes == 6)  // /, system.slice, untrusted, later.slice, ops.slice, work
    _ = (ops, work)
    let status = try FileSystem.status(exe)
    #expect(image.subjectExes.map(\.key.ino) == [status.inode] && image.subjectExes.map(\.value) == [0x4])
    let uids = Dictionary(uniqueKeysWithValues: image.ruleUIDs.map { (image.ruleIDByUID[$0.key.rule_uid]!, $0.value) })
    #expect(uids == ["stay-services": 0, "init-manages": 1, "track-sandbox": 2, "lock-sandbox": 3,
                     "no-untrusted": 4, "ops-delegated": 6])
    // /later.slice does not exist: not unresolved, classified when it is created (slot 5 has no id).
    #expect(image.unresolved.isEmpty && image.slot(5).cgroup_id == 0)
}
