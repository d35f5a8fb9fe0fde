import CorralPolicy
import Testing

/// Cgroup path patterns: syntax errors at file:line:col, matching, instances, specificity.
@Suite struct CgroupPatternTests {
    func p(_ s: String) -> CgroupPath { CgroupPath(s)! }

    @Test func syntaxErrorsNameFileLineAndColumn() {
        #expect(errors(policy("  - {id: a, kind: stay, cgroups: ['/a/**x']}\n"))
            == ["p.yaml:3:35: error: cgroup pattern '/a/**x': '**' must be a whole component (in '**x') (rules[0].cgroups[0])"])
        #expect(errors(policy("  - {id: a, kind: deny-into, cgroups: ['/a/*b*']}\n"))
            == ["p.yaml:3:40: error: cgroup pattern '/a/*b*': at most one '*' per component (in '*b*') (rules[0].cgroups[0])"])
        #expect(errors(policy("  - {id: a, kind: locked, cgroups: ['/a/**/**']}\n"))
            == ["p.yaml:3:37: error: cgroup pattern '/a/**/**': '**/**' is the same as one '**'; write one (rules[0].cgroups[0])"])
        let long = String(repeating: "x", count: 65)
        #expect(errors(policy("  - {id: a, kind: stay, cgroups: ['/\(long)*']}\n")).first?
            .contains("the text before and after '*' may be at most 64 bytes each") == true)
        #expect(errors(policy("  - {id: a, kind: delegated, manager: {pid1: true}, cgroup: '/**'}\n"))
            == ["p.yaml:3:61: error: a delegated subtree cannot be the whole cgroup tree ('/') (rules[0].cgroup)"])
        // Valid everywhere a cgroup path is.
        #expect(errors(policy("""
              - {id: s, kind: stay, cgroups: ['/system.slice/*.service']}
              - {id: l, kind: locked, cgroups: ['/locked/**']}
              - {id: d, kind: deny-into, cgroups: ['/machine.slice/libpod-*.scope']}
              - {id: g, kind: delegated, manager: {cgroup: '/user.slice/user-*.slice/user@*.service'}, cgroup: '/user.slice/user-*.slice/user@*.service'}
              - {id: m, kind: managers, subject: {cgroup: '/kubepods.slice/**'}}

            """)) == [])
    }

    @Test func matchingComponentsAndAnyDepth() {
        #expect(p("/system.slice/*.service").matches(p("/system.slice/ssh.service")))
        #expect(!p("/system.slice/*.service").matches(p("/system.slice/ssh.socket")))
        #expect(!p("/system.slice/*.service").matches(p("/system.slice/a/ssh.service")))
        #expect(p("/a/*").matches(p("/a/x")) && !p("/a/*").matches(p("/a")))
        // prefix and suffix may not overlap: "ab*ba" needs at least four bytes
        #expect(!p("/ab*ba").matches(p("/aba")) && p("/ab*ba").matches(p("/abba")))
        #expect(p("/k/**").matches(p("/k")) && p("/k/**").matches(p("/k/a/b")))
        #expect(p("/a/**/x").matches(p("/a/x")) && p("/a/**/x").matches(p("/a/b/c/x")) && !p("/a/**/x").matches(p("/a/b")))
        #expect(p("/**").matches(.root))
        #expect(p("/exact").matches(p("/exact")) && !p("/exact").matches(p("/exact/child")))
    }

    @Test func instancesAreTheMatchingAncestors() {
        #expect(p("/system.slice/*.service").instances(containing: p("/system.slice/a.service/x"))
            == [p("/system.slice/a.service")])
        #expect(p("/k/**").instances(containing: p("/k/a/b")) == [p("/k"), p("/k/a"), p("/k/a/b")])
        #expect(p("/a").instances(containing: p("/a/b")) == [p("/a")])
        #expect(p("/a").instances(containing: p("/b")) == [])
        // The kernel walks 32 levels: an instance at level 32 is not seen.
        let deep = CgroupPath(components: (0..<33).map { "l\($0)" })
        #expect(p("/**").instances(containing: deep).count == 32)
    }

    @Test func specificityPrefersLongerLiteralPrefixThenExact() {
        func spec(_ s: String) -> Int { SubjectMatcher.cgroupSpecificity(p(s)) }
        #expect(spec("/a/b") > spec("/a/b/*"))          // equal literal prefix: exact wins
        #expect(spec("/a/b/*") > spec("/a"))            // longer literal prefix wins
        #expect(spec("/a/b/c") > spec("/a/b/*"))
        #expect(spec("/a/*/c") < spec("/a/b"))          // literal prefix 1 vs 2
        #expect(spec("/") == 1 && spec("/**") == 0)
    }

    @Test func overlapIsConservative() {
        #expect(p("/a/*").mayOverlap(p("/a/b")) && p("/a/b/c").mayOverlap(p("/a/*")))
        #expect(!p("/x/*").mayOverlap(p("/y/**")))
        #expect(!p("/a/*.service").mayOverlap(p("/a/b.socket")))
        #expect(p("/a/**").mayOverlap(p("/a/z/y")))
    }
}
