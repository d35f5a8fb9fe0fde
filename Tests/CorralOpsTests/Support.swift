import CorralEvaluator
import CorralPolicy
import CorralTestSupport
import Foundation
@testable import CorralOps

enum Fixtures {
    static func example(_ name: String) throws -> Policy {
        try PolicyLoader.load(path: RepoPaths.examples + "/\(name)/policy.yaml")
    }

    static func policy(_ yaml: String, source: String = "inline.yaml") throws -> Policy {
        try PolicyLoader.parse(yaml: yaml, source: source)
    }

    /// A recorded cgroup_attach event with complete actor state.
    static func attach(id: String, generation: UInt64 = 1, pid: UInt32 = 311, tgid: UInt32? = nil, comm: String = "sh",
                       target: UInt32 = 312, src: String, dst: String, actorCgroup: String? = nil,
                       verdict: String, rule: String? = nil, mode: String = "enforce", exe: String? = "/usr/bin/sh") -> Event {
        Event(id: id, bootID: "3f1b5a0e", hook: "cgroup_attach", generation: generation, seq: UInt64(id),
                      timestampNs: 1000, verdict: verdict, mode: mode, rule: rule, ruleUID: rule.map(StableID.of) ?? 0,
                      pid: pid, tgid: tgid ?? pid, comm: comm, targetPID: target, srcCgroup: 40, dstCgroup: 42,
                      srcCgroupPath: src, dstCgroupPath: dst, threadgroup: 1, nsInum: 0,
                      errno: verdict == "deny" ? "EPERM" : nil, err: verdict == "deny" ? 1 : 0, compat: false,
                      locked: false, tracked: false, actorCgroup: 40, actorCgroupPath: actorCgroup ?? src,
                      actorExe: exe, actorExeXattrs: exe == nil ? nil : [])
    }

    /// A recorded namespace event with complete actor state.
    static func namespace(id: String, hook: String, generation: UInt64 = 1, pid: UInt32 = 400, comm: String = "unshare",
                          type: String, inum: UInt32, label: String? = nil, verdict: String, rule: String? = nil,
                          lockRule: String? = nil, lockLabel: String? = nil, exe: String? = "/usr/bin/unshare",
                          cgroup: String = "/user.slice", tracked: Bool = false, locked: Bool = false) -> Event {
        Event(id: id, bootID: "3f1b5a0e", hook: hook, generation: generation, seq: UInt64(id), timestampNs: 2000,
                      verdict: verdict, mode: "enforce", rule: rule, ruleUID: rule.map(StableID.of) ?? 0, pid: pid,
                      tgid: pid, comm: comm, targetPID: 0, srcCgroup: 0, dstCgroup: 0, threadgroup: 0, nsType: type,
                      nsInum: inum, nsLabel: label, errno: verdict == "deny" ? "EPERM" : nil,
                      err: verdict == "deny" ? 1 : 0, compat: false, locked: locked, tracked: tracked,
                      actorCgroup: 77, actorCgroupPath: cgroup, actorLockRule: lockRule, actorLockLabel: lockLabel,
                      actorExe: exe, actorExeXattrs: exe == nil ? nil : [])
    }

    /// Resolves nothing: tests must not depend on the host's files.
    static let noResolve: EventInputReconstruction.ExeResolver = { _ in nil }
}
