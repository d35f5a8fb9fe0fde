// Every CORRAL_MAX_* the compiler enforces: the limit itself compiles, one more is a
// diagnostic at the overflowing rule naming the capacity and the number needed.
import CorralABI
import CorralCompiler
import CorralPolicy
import CorralSystem
import CorralTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct CapacityTests {
    @Test func ruleSlots() throws {
        // One stay rule with 16385 scopes: the slot limit (and the trie's node limit) is hit.
        let scopes = (0...16384).map { cg("/c\($0)") }
        let policy = Policy(rules: numbered([Rule(id: "big", kind: .stay, cgroups: scopes)]))
        let errors = compileExpectingErrors(policy, resolver: TableResolver())
        #expect(errors.map(\.fieldPath) == ["rules[0].cgroups[16383]", "rules[0].cgroups[16384]", "rules[0].cgroups[16384]"])
        #expect(errors.first?.location == loc(10))
        #expect(errors[0].message == "pattern trie nodes (distinct path prefixes) needs 16386, more than CORRAL_MAX_PATTERN_NODES = 16384")
        #expect(errors[1].message == "rule slots (one per rule, subject and cgroup) needs 16385, more than CORRAL_MAX_RULE_SLOTS = 16384")
        #expect(errors[2].message == "literal path components needs 16385, more than CORRAL_MAX_PATTERN_NAMES = 16384")

        let fits = Policy(rules: numbered([Rule(id: "big", kind: .stay, cgroups: Array(scopes.prefix(16383)))]))
        let image = try PolicyCompiler.compile(fits, gen: 0, generation: 1, resolver: TableResolver())
        #expect(image.rules.count == 16383 && image.unresolved.isEmpty && image.patternNodes.count == 16384)
    }

    @Test func subjects() throws {
        func policy(_ n: Int) -> Policy {
            Policy(rules: numbered((0..<n).map {
                // stay without a scope: one unanchored slot, in no hook list
                Rule(id: "r\($0)", kind: .stay, subjects: [Subject(matcher: .exe("/bin/t\($0)"))])
            }))
        }
        let errors = compileExpectingErrors(policy(66), resolver: TableResolver())
        #expect(errors.map(\.fieldPath) == ["rules[64].subjects[0]"])
        #expect(errors.first?.message.contains("needs 66, more than CORRAL_MAX_SUBJECTS = 64") == true)
        #expect(compileExpectingErrors(policy(64), resolver: TableResolver()).isEmpty)
    }

    @Test func hookListEntries() throws {
        func policy(_ n: Int) -> Policy {
            Policy(rules: numbered((0..<n).map { Rule(id: "m\($0)", kind: .managers) }))
        }
        let errors = compileExpectingErrors(policy(65), resolver: TableResolver())
        #expect(errors.map(\.fieldPath) == ["rules[64]"])
        #expect(errors.first?.message == "hook list CGROUP (managers, delegated) needs 65, more than CORRAL_MAX_HOOK_RULES = 64")
        #expect(compileExpectingErrors(policy(64), resolver: TableResolver()).isEmpty)

        // Lists are counted separately: 64 track rules and 64 deny-enter rules fit together.
        let both = Policy(rules: numbered((0..<64).map { Rule(id: "t\($0)", kind: .track, namespaceTypes: [.uts]) }
            + (0..<65).map { Rule(id: "d\($0)", kind: .denyEnter, namespaceTypes: [.uts]) }))
        let listErrors = compileExpectingErrors(both, resolver: TableResolver())
        #expect(listErrors.map(\.fieldPath) == ["rules[128]"])
        #expect(listErrors.first?.message.hasPrefix("hook list NS_INSTALL") == true)
    }

    @Test func rulesPerAnchor() throws {
        let tree = try TempTree()
        let id = try tree.mkdir("cg/hot")
        func policy(_ n: Int) -> Policy {
            Policy(cgroupRoot: tree.path("cg"), rules: numbered((0..<n).map {
                Rule(id: "d\($0)", kind: .denyInto, cgroups: [cg("/hot")])
            }))
        }
        let resolver = FileSystemResolver(cgroupRoot: tree.path("cg"))
        let errors = compileExpectingErrors(policy(18), resolver: resolver)
        #expect(errors.map(\.fieldPath) == ["rules[16].cgroups[0]"])
        #expect(errors.first?.message == "rule slots scoped to cgroup /hot needs 18, more than CORRAL_MAX_ANCHOR_RULES = 16")
        let image = try PolicyCompiler.compile(policy(16), gen: 0, generation: 1, resolver: resolver)
        #expect(image.anchor("/hot") == Array(0..<16))
        _ = id
    }

    @Test func globsPerNode() throws {
        // Nine different '*' components under /svc: more than one trie node's CORRAL_MAX_NODE_GLOBS.
        func policy(_ n: Int) -> Policy {
            Policy(rules: numbered((0..<n).map { Rule(id: "d\($0)", kind: .denyInto, cgroups: [cg("/svc/x\($0)-*")]) }))
        }
        let errors = compileExpectingErrors(policy(9), resolver: TableResolver())
        #expect(errors.map(\.fieldPath) == ["rules[8].cgroups[0]"])
        #expect(errors.first?.message == "different '*' components under one path prefix needs 9, more than CORRAL_MAX_NODE_GLOBS = 8")
        let image = try PolicyCompiler.compile(policy(8), gen: 0, generation: 1, resolver: TableResolver())
        #expect(image.patternGlobs.count == 8 && image.anchor("/svc/x3-a") == [3] && image.anchor("/svc/x3") == [])
    }

    @Test func subjectExecutables() throws {
        // One xattr subject marking 2049 files: more exe entries than one generation may use.
        func resolver(_ n: Int) -> TableResolver {
            TableResolver(marked: ["user.corral.m": (0..<n).map {
                MarkedExecutable(path: "/usr/bin/t\($0)", id: ExecutableID(dev: 0x0080_0001, ino: UInt64(100 + $0)))
            }])
        }
        let subject = Subject(name: "marked", matcher: .xattr("user.corral.m"), location: loc(2))
        let policy = Policy(rules: numbered([Rule(id: "m", kind: .managers, subjects: [subject])]))
        let errors = compileExpectingErrors(policy, resolver: resolver(2049))
        #expect(errors.map(\.fieldPath) == ["rules[0].subjects[0]"])
        #expect(errors.first?.location == loc(2))
        #expect(errors.first?.message == "executable subject entries needs 2049, more than CORRAL_MAX_SUBJECT_EXES / 2 (per generation) = 2048")
        let image = try PolicyCompiler.compile(policy, gen: 0, generation: 1, resolver: resolver(2048))
        #expect(image.subjectExes.count == 2048 && image.subjectExes.allSatisfy { $0.value == 1 })
    }

    @Test func labelsPerRule() throws {
        let eight = (0..<8).map { "l\($0)" }
        let ok = Policy(rules: numbered([Rule(id: "d", kind: .denyEnter, labels: eight)]))
        let image = try PolicyCompiler.compile(ok, gen: 0, generation: 1, resolver: TableResolver())
        #expect(labels(image.slot(0)) == eight.map(StableID.of))  // full: no terminator
        let nine = Policy(rules: numbered([Rule(id: "d", kind: .denyEnter, labels: eight + ["l8"])]))
        let errors = compileExpectingErrors(nine, resolver: TableResolver())
        #expect(errors.map(\.fieldPath) == ["rules[0].labels"])
        #expect(errors.first?.message == "rule d's labels needs 9, more than CORRAL_MAX_LABELS = 8")
    }

    @Test func tenThousandDenyIntoRulesCompileQuickly() throws {
        let tree = try TempTree()
        var ids: [UInt64] = []
        for i in 0..<10_000 { ids.append(try tree.mkdir("cg/d\(i)")) }
        let policy = Policy(cgroupRoot: tree.path("cg"), rules: numbered((0..<10_000).map {
            Rule(id: "deny-\($0)", kind: .denyInto, cgroups: [cg("/d\($0)")])
        }))
        let resolver = FileSystemResolver(cgroupRoot: policy.cgroupRoot)
        // Thread CPU time, not wall time: the build machine's cores are shared.
        let wallStart = ContinuousClock.now
        let cpuStart = threadCPUSeconds()
        let image = try PolicyCompiler.compile(policy, gen: 1, generation: 2, resolver: resolver)
        let cpu = threadCPUSeconds() - cpuStart
        let wall = ContinuousClock.now - wallStart
        let rawStart = threadCPUSeconds()
        let rawBytes = PolicyMap.allCases.reduce(0) { $0 + image.entries(map: $1).count }
        let rawCPU = threadCPUSeconds() - rawStart
        print("10,000 deny-into rules: compile \(cpu) s CPU (\(wall) wall), \(rawBytes) raw entries in \(rawCPU) s CPU")
        #expect(cpu < 1.0)
        let compiled = image
        #expect(compiled.rules.count == 10_000 && compiled.patternNodes.count > 10_000)
        #expect(compiled.unresolved.isEmpty)
        #expect(compiled.slot(9_999).cgroup_id == ids[9_999])
        #expect(compiled.ruleUIDs.count == 10_000)
    }
}
