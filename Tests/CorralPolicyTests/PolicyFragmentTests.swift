import CorralPolicy
import Foundation
import Testing

/// A temporary tree: `usr/`, `run/`, `etc/` fragment directories and a main file.
final class FragmentTree {
    let root: String
    var etc: String { root + "/etc" }
    var run: String { root + "/run" }
    var usr: String { root + "/usr" }
    var main: String { root + "/policy.yaml" }
    var set: FragmentSet { FragmentSet(directories: [etc, run, usr]) }

    init() throws {
        root = NSTemporaryDirectory() + "corral-fragments-" + UUID().uuidString
        for dir in [etc, run, usr] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    @discardableResult
    func write(_ path: String, _ text: String) throws -> String {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    func mask(_ path: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/null")
    }

    func load() -> (policy: Policy?, errors: [String]) {
        do { return (try PolicyLoader.load(path: main, fragments: set), []) } catch {
            return (nil, error.diagnostics.map(\.description))
        }
    }
}

@Suite struct PolicyFragmentTests {
    static let header = "version: 1\n"

    @Test func mergeOrderIsMainThenFragmentsByName() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header + "subjects:\n  svc: {cgroup: /system.slice}\nrules:\n  - {id: main-stay, kind: stay, cgroups: [/system.slice]}\n")
        try t.write(t.usr + "/20-pkg.yaml", Self.header + "rules:\n  - {id: pkg, kind: deny-create, subject: svc, types: [user]}\n")
        try t.write(t.etc + "/10-admin.yaml", Self.header + "rules:\n  - {id: admin, kind: deny-into, cgroups: [/frozen]}\n")
        try t.write(t.run + "/30-run.yaml", Self.header + "mode: audit\nrules:\n  - {id: runtime, kind: locked, cgroups: [/machine.slice]}\n")
        try t.write(t.etc + "/notes.txt", "not a fragment")
        try t.write(t.etc + "/.hidden.yaml", "not: valid")
        let (policy, errors) = t.load()
        #expect(errors == [])
        let p = try #require(policy)
        #expect(p.rules.map(\.id) == ["main-stay", "admin", "pkg", "runtime"])
        #expect(p.rules.map(\.index) == [0, 1, 2, 3])
        #expect(p.rules.map { $0.location?.file } == [t.main, t.etc + "/10-admin.yaml", t.usr + "/20-pkg.yaml", t.run + "/30-run.yaml"])
        #expect(p.fragments == [t.etc + "/10-admin.yaml", t.usr + "/20-pkg.yaml", t.run + "/30-run.yaml"])
        // A fragment's mode: is the default of its own rules; the main file's for the others.
        #expect(p.rules.map(\.mode) == [.enforce, .enforce, .enforce, .audit])
        #expect(p.defaultMode == .enforce)
        // Subjects of the main file are visible in the fragments.
        #expect(p.rule(id: "pkg")?.subjects.first?.name == "svc")
    }

    @Test func etcMasksRunMasksUsrLib() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header)
        try t.write(t.usr + "/50-x.yaml", Self.header + "rules:\n  - {id: from-usr, kind: deny-into, cgroups: [/a]}\n")
        try t.write(t.run + "/50-x.yaml", Self.header + "rules:\n  - {id: from-run, kind: deny-into, cgroups: [/a]}\n")
        #expect(t.load().policy?.rules.map(\.id) == ["from-run"])
        try t.write(t.etc + "/50-x.yaml", Self.header + "rules:\n  - {id: from-etc, kind: deny-into, cgroups: [/a]}\n")
        #expect(t.load().policy?.rules.map(\.id) == ["from-etc"])
        let entries = try t.set.resolve()
        #expect(entries.map(\.state) == [.active, .masked(by: t.etc + "/50-x.yaml"), .masked(by: t.etc + "/50-x.yaml")])
        #expect(entries.map(\.path) == [t.etc + "/50-x.yaml", t.run + "/50-x.yaml", t.usr + "/50-x.yaml"])
    }

    @Test func devNullSymlinkDisablesAndEmptyFileContributesNothing() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header)
        try t.write(t.usr + "/50-x.yaml", Self.header + "rules:\n  - {id: from-usr, kind: deny-into, cgroups: [/a]}\n")
        try t.write(t.usr + "/60-y.yaml", Self.header + "rules:\n  - {id: y, kind: deny-into, cgroups: [/b]}\n")
        try t.mask(t.etc + "/50-x.yaml")
        try t.write(t.run + "/60-y.yaml", "# emptied by the runtime\n")
        let (policy, errors) = t.load()
        #expect(errors == [])
        #expect(policy?.rules.map(\.id) == [])
        #expect(policy?.fragments == [t.run + "/60-y.yaml"])
        #expect(try t.set.resolve().map(\.state) == [.disabled, .masked(by: t.etc + "/50-x.yaml"), .active,
                                                    .masked(by: t.run + "/60-y.yaml")])
        // A symlink to /dev/null alone (no lower file) is disabled too.
        try t.mask(t.etc + "/70-z.yaml")
        #expect(try t.set.resolve().last?.state == .disabled)
    }

    @Test func duplicateIdAcrossFilesNamesBothLocations() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header + "rules:\n  - {id: shared, kind: deny-into, cgroups: [/a]}\n")
        let frag = try t.write(t.etc + "/10-a.yaml", Self.header + "rules:\n  - id: shared\n    kind: stay\n    cgroups: [/b]\n")
        #expect(t.load().errors == ["\(frag):3:9: error: duplicate rule id 'shared' (first defined at \(t.main):3:10) (rules[0].id)"])
    }

    @Test func conflictAcrossTwoFragmentsNamesBothLocations() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header)
        let a = try t.write(t.usr + "/10-stay.yaml", Self.header + "rules:\n  - {id: svc-stay, kind: stay, cgroups: [/system.slice]}\n")
        let b = try t.write(t.etc + "/20-lock.yaml", Self.header + "rules:\n  - {id: freeze, kind: locked, cgroups: [/system.slice/backup.service]}\n")
        #expect(t.load().errors == [
            "\(b):3:42: error: rule 'freeze' conflicts with rule 'svc-stay' (\(a):3:5): locked '/system.slice/backup.service' "
                + "overlaps stay '/system.slice'; add 'overrides: [svc-stay]' to 'freeze' or 'overrides: [freeze]' to 'svc-stay' "
                + "(rules[0].cgroups[0])",
        ])
        // An override across files resolves it.
        try t.write(b, Self.header + "rules:\n  - {id: freeze, kind: locked, cgroups: [/system.slice/backup.service], overrides: [svc-stay]}\n")
        #expect(t.load().errors == [])
    }

    @Test func duplicateSubjectAcrossFilesAndFragmentOnlyKeys() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header + "subjects:\n  svc: {cgroup: /system.slice}\n")
        let frag = try t.write(t.etc + "/10-a.yaml", "version: 1\ncgroup-root: /mnt\nsubjects:\n  svc: {exe: /bin/x}\nevents: {rate-limit: 5}\n")
        let bad = try t.write(t.etc + "/20-b.yaml", "rules: []\n")
        #expect(t.load().errors == [
            "\(frag):2:1: error: 'cgroup-root' may only be set in the main policy file, not in a fragment (cgroup-root)",
            "\(frag):4:3: error: subject 'svc' is already defined at \(t.main):3:3 (subjects.svc)",
            "\(frag):5:1: error: 'events' may only be set in the main policy file, not in a fragment (events)",
            "\(bad):1:1: error: missing required key 'version' (write 'version: 1') (version)",
        ])
    }

    @Test func diagnosticsNameTheFragmentAndNothingLoads() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header + "rules:\n  - {id: good, kind: deny-into, cgroups: [/a]}\n")
        let frag = try t.write(t.usr + "/10-a.yaml", Self.header + "rules:\n  - {id: bad, kind: stay}\n")
        let syntax = try t.write(t.run + "/20-b.yaml", "version: 1\nrules: [\n")
        let errors = t.load().errors
        #expect(errors.count == 1 && errors[0].hasPrefix("\(syntax):"))
        try t.write(syntax, Self.header)
        #expect(t.load().errors == ["\(frag):3:5: error: missing required key 'cgroups' for a 'stay' rule (rules[0].cgroups)"])
        // A dangling symlink is unreadable: an error, not an empty fragment.
        try FileManager.default.removeItem(atPath: frag)
        try FileManager.default.createSymbolicLink(atPath: frag, withDestinationPath: t.root + "/missing")
        #expect(t.load().errors == ["\(frag):1:1: error: cannot read policy: no such file"])
    }

    @Test func missingDirectoriesAreEmptyAndNoFragmentsIsTheFileAlone() throws {
        let t = try FragmentTree()
        try t.write(t.main, Self.header + "rules:\n  - {id: a, kind: deny-into, cgroups: [/a]}\n")
        let none = FragmentSet(directories: [t.root + "/nope"])
        #expect(try PolicyLoader.load(path: t.main, fragments: none) == PolicyLoader.load(path: t.main))
        #expect(FragmentSet().directories == ["/etc/corral/policy.d", "/run/corral/policy.d", "/usr/lib/corral/policy.d"])
    }
}
