// The pattern trie's classification (the Swift twin of bpf/classify/) against the direct
// pattern semantics (CgroupPath.matches): for random policies and paths, a cgroup's anchored
// slots are exactly the scopes it matches, and its subject bits exactly the cgroup subjects.
import CorralABI
import CorralCompiler
import CorralPolicy
import Testing

@Suite struct ClassifierTests {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let names = ["a", "b", "ab", "a.service", "b.service", "user-1.slice", "user-2.slice", "x"]
    static let components = ["a", "b", "*", "*.service", "user-*.slice", "a*", "**", "x", "*b"]

    func randomPattern(_ rng: inout RNG) -> CgroupPath {
        var parts: [String] = []
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            var c = Self.components.randomElement(using: &rng)!
            if c == "**" && parts.last == "**" { c = "a" }
            parts.append(c)
        }
        return CgroupPath(components: parts)
    }

    func randomPath(_ rng: inout RNG) -> CgroupPath {
        CgroupPath(components: (0..<Int.random(in: 0...5, using: &rng)).map { _ in Self.names.randomElement(using: &rng)! })
    }

    @Test func trieAgreesWithPatternMatching() throws {
        var rng = RNG(state: 42)
        for round in 0..<300 {
            let scopes = (0..<Int.random(in: 1...6, using: &rng)).map { _ in randomPattern(&rng) }
            let subjects = (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomPattern(&rng) }
            var rules = scopes.enumerated().map { i, s in Rule(id: "r\(i)", kind: .denyInto, cgroups: [s]) }
            rules += subjects.enumerated().map { i, s in Rule(id: "m\(i)", kind: .managers, subjects: [Subject(matcher: .cgroup(s))]) }
            let image = try PolicyCompiler.compile(Policy(rules: numbered(rules)), gen: 0, generation: 1, resolver: TableResolver())
            let bitOf = Dictionary(image.subjects.map { ($0.matcher, UInt64(1) << UInt64($0.bit)) }, uniquingKeysWith: { a, _ in a })
            for _ in 0..<40 {
                let path = randomPath(&rng)
                let expectedSlots = Set(scopes.indices.filter { scopes[$0].matches(path) }.map(UInt16.init))
                let expectedBits = subjects.filter { $0.matches(path) }.reduce(UInt64(0)) { $0 | bitOf[.cgroup($1)]! }
                // Walk from the root: every ancestor must be classified (live parents) when the path matters.
                let cls = image.classify(path)
                if let cls, !cls.overflow {
                    #expect(Set(cls.anchors) == expectedSlots, "round \(round): \(path) under \(scopes)")
                    #expect(cls.subjectBits == expectedBits, "round \(round): \(path) subjects \(subjects)")
                } else if cls == nil {
                    #expect(expectedSlots.isEmpty && expectedBits == 0, "round \(round): \(path) unclassified but matches")
                }
            }
        }
    }

    @Test func rootAnyDepthAndNodeOrder() throws {
        let rules = [
            Rule(id: "all", kind: .locked, cgroups: [CgroupPath("/**")!]),
            Rule(id: "svc", kind: .stay, cgroups: [CgroupPath("/system.slice/*.service")!]),
        ]
        let image = try PolicyCompiler.compile(Policy(rules: numbered(rules)), gen: 1, generation: 3, resolver: TableResolver())
        #expect(image.classify(.root)?.anchors == [0])
        // In the kernel's order: the parent's states in order, each one's own `**`, name, globs.
        #expect(image.classify(CgroupPath("/system.slice/ssh.service")!)?.anchors == [1, 0])
        #expect(image.classify(CgroupPath("/system.slice/ssh.service")!)?.live == true)  // under `**`
        let nodes = image.patternNodes.map(\.value)
        #expect(nodes[0].eps != 0 && nodes[Int(nodes[0].eps)].flags & UInt32(CORRAL_NODE_F_ANY_DEPTH) != 0)
        #expect(image.patternGlobs.count == 1 && image.patternGlobs[0].value.suffix_len == 8)
        #expect(image.patternNames.first?.key.hash == CgroupClassifier.nameHash("system.slice"))
    }

    @Test func overflowOfStatesIsMarked() throws {
        // Nine patterns that all match /a/b: more states than the kernel entry holds.
        let comps = ["*", "b", "b*", "*b", "**"]
        var scopes: [CgroupPath] = []
        for c in comps { scopes.append(CgroupPath(components: ["a", c])) }
        for c in ["*", "b*", "*b", "**"] { scopes.append(CgroupPath(components: ["a", "**", c])) }
        let rules = scopes.enumerated().map { i, s in Rule(id: "r\(i)", kind: .denyInto, cgroups: [s]) }
        let image = try PolicyCompiler.compile(Policy(rules: numbered(rules)), gen: 0, generation: 1, resolver: TableResolver())
        let cls = image.classify(CgroupPath("/a/b")!)
        #expect(cls?.overflow == true)
    }
}
