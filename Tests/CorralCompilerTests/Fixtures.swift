// Shared test fixtures: real temporary file trees, a table resolver for capacity tests,
// and readers for the C fixed-size arrays.
import CorralABI
import CorralCompiler
import CorralPolicy
import CorralSystem
import Foundation

/// A temporary directory tree, removed when the fixture is released.
final class TempTree {
    let root: String

    init(_ label: String = "corral-compiler") throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        root = url.path
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func path(_ relative: String) -> String { root + "/" + relative }

    /// Creates the directory (and parents); returns its inode number.
    @discardableResult
    func mkdir(_ relative: String) throws -> UInt64 {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
        return try FileSystem.status(path(relative)).inode
    }

    /// Creates an executable shell script; returns its path.
    @discardableResult
    func executable(_ relative: String) throws -> String {
        let p = path(relative)
        let parent = (p as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: p, contents: Data("#!/bin/sh\nexit 0\n".utf8),
                                             attributes: [.posixPermissions: 0o755]) else {
            throw Errno(rawValue: 5)
        }
        return p
    }

    func symlink(_ relative: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path(relative), withDestinationPath: destination)
    }
}

/// A resolver answering from tables: only for capacity tests that need thousands of ids.
struct TableResolver: HostResolver {
    var cgroups: [CgroupPath: UInt64] = [:]
    var exes: [String: ExecutableID] = [:]
    var marked: [String: [MarkedExecutable]] = [:]

    func hostPath(of cgroup: CgroupPath) -> String { "/table" + cgroup.description }

    func cgroupID(of cgroup: CgroupPath) throws(Errno) -> UInt64 {
        guard let id = cgroups[cgroup] else { throw Errno.noSuchFile }
        return id
    }

    func executable(at path: String) throws(Errno) -> ExecutableID {
        guard let id = exes[path] else { throw Errno.noSuchFile }
        return id
    }

    func executables(withAttributes names: Set<String>, in directories: [String]) -> [String: [MarkedExecutable]] {
        marked.filter { names.contains($0.key) }
    }
}

func cg(_ path: String) -> CgroupPath { CgroupPath(path)! }

func labels(_ rule: corral_rule) -> [UInt32] {
    withUnsafeBytes(of: rule.labels) { Array($0.bindMemory(to: UInt32.self)) }
}

func listSlots(_ list: corral_slot_list) -> [Int] {
    withUnsafeBytes(of: list.slots) { raw in raw.bindMemory(to: UInt16.self).prefix(Int(list.count)).map(Int.init) }
}

extension MapImage {
    func list(_ list: corral_hook_list) -> [Int] {
        listSlots(hookRules.first { $0.key == gen * CORRAL_LIST_COUNT.rawValue + list.rawValue }!.value)
    }

    /// The rule slots anchored at a cgroup at `path` (nil: the cgroup gets no entry).
    func anchor(_ path: String) -> [Int]? {
        classify(CgroupPath(path)!).map { $0.anchors.map(Int.init) }
    }

    /// The subject bits a cgroup at `path` itself contributes (its ancestors' are ORed at decisions).
    func subjectBits(_ path: String) -> UInt64? { classify(CgroupPath(path)!)?.subjectBits }

    func slot(_ slot: Int) -> corral_rule {
        rules.first { $0.key == gen * UInt32(CORRAL_MAX_RULE_SLOTS) + UInt32(slot) }!.value
    }

    func slots(ofRule id: String) -> [Int] { slotOrigins.filter { $0.ruleID == id }.map(\.slot) }

    func bit(_ matcher: SubjectMatcher) -> UInt64? {
        subjects.first { $0.matcher == matcher }.map { 1 << UInt64($0.bit) }
    }
}

func loc(_ line: Int) -> SourceLocation { SourceLocation(file: "test.yaml", line: line, column: 3) }

/// Rules with index and location set from their position.
func numbered(_ rules: [Rule]) -> [Rule] {
    rules.enumerated().map { i, rule in
        var r = rule
        r.index = i
        r.location = loc(10 + i)
        return r
    }
}

func compileExpectingErrors(_ policy: Policy, resolver: some HostResolver) -> [PolicyDiagnostic] {
    do {
        _ = try PolicyCompiler.compile(policy, gen: 0, generation: 1, resolver: resolver)
        return []
    } catch {
        return error.diagnostics
    }
}
