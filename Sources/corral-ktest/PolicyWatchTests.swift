// `corral daemon --watch-policy` with its policy in a directory laid out like a Kubernetes
// ConfigMap volume: kubelet's atomic swap of `..data` is applied as exactly one new generation,
// a broken policy is refused (the generation and the kernel's verdicts stay, the log names
// FILE:LINE:COL), and a valid one after it is applied again. With fragment directories, a change
// of a fragment alone (added, masked by a /dev/null symlink in a directory created after the
// start, removed) is applied and enforced, and events and status name each rule's file.
import CorralControl
import CorralPolicy
import CorralSystem
import Glibc

enum PolicyWatchTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "daemon/policy_symlink_swap", body: policySymlinkSwap),
        KTest(name: "daemon/policy_watch_fragments", body: policyWatchFragments),
    ]

    /// DIR/..data -> ..<timestamp>, DIR/policy.yaml -> ..data/policy.yaml, updated the way
    /// kubelet's atomic writer does it.
    final class ConfigMapVolume {
        let dir: String
        private(set) var current: String?
        private var serial = 0

        init(_ dir: String, policy: String) throws {
            self.dir = dir
            try sys("mkdir \(dir)") { () throws(Errno) in try Sys.mkdirs(dir) }
            try publish(policy)
            try sys("symlink policy.yaml") { () throws(Errno) in try Sys.symlink("..data/policy.yaml", at: dir + "/policy.yaml") }
        }

        var file: String { dir + "/policy.yaml" }

        /// A new timestamped directory, `..data_tmp` -> it renamed over `..data`, the old one removed.
        func publish(_ policy: String) throws {
            serial += 1
            let next = "..2026_12_06_10_00_0\(serial).00000000\(serial)"
            try sys("publish \(next)") { () throws(Errno) in
                try Sys.mkdir(dir + "/" + next)
                try Sys.writeFileSynced(dir + "/" + next + "/policy.yaml", Array(policy.utf8))
                try Sys.symlink(next, at: dir + "/..data_tmp")
                try Sys.rename(dir + "/..data_tmp", dir + "/..data")
                if let old = current {
                    try Sys.unlink(dir + "/" + old + "/policy.yaml")
                    try Sys.rmdir(dir + "/" + old)
                }
            }
            current = next
        }
    }

    static func policySymlinkSwap() throws {
        let fx = try CgroupFixture("policy_symlink_swap")
        let a = try fx.make("a"), b = try fx.make("b")
        func denyInto(_ target: CgroupPath, id: String) -> String {
            "version: 1\nrules:\n  - {id: \(id), kind: deny-into, cgroups: [\(target)]}\n"
        }
        let d = try DaemonHarness("policy_swap", extraArguments: ["--watch-policy"])
        defer { d.teardown() }
        let volume = try ConfigMapVolume(d.dir + "/volume", policy: denyInto(a, id: "deny-a"))
        d.policyFile = volume.file
        try d.start()
        var generation = try d.generation()
        try check(generation == 1, "generation at start: \(generation)")
        try expectMoves(fx, denied: a, allowed: b, "with the first policy")

        // 1. kubelet's swap: one new generation, B denied and A allowed.
        try volume.publish(denyInto(b, id: "deny-b"))
        try d.waitFor("the move into \(b) denied after the ..data swap", seconds: 60) {
            moveErrno(fx.host(b)) == EPERM
        }
        try expectMoves(fx, denied: b, allowed: a, "after the swap")
        Sys.sleep(millis: 1500) // a second apply of the same swap would land in here
        generation = try d.generation()
        try check(generation == 2, "generation after one swap: \(generation), expected 2")
        try check(Sys.exists(d.stateDir + "/generations/2.json"), "no generation record 2.json")
        let applies = try d.events(hook: "admin").filter { $0["action"]?.stringValue == "apply" }
        try check(applies.count == 1 && applies[0]["origin"]?.stringValue == "watch"
                  && applies[0]["source"]?.stringValue == volume.file && applies[0]["generation"]?.intValue == 2,
                  "admin apply events: \(applies)")

        // 2. A broken policy: refused; generation, verdicts and record stay; the log names it.
        try volume.publish("""
            version: 1
            rules:
              - {id: deny-b, kind: deny-into, cgroups: [\(b)]}
              - {id: deny-a, kind: deny-sideways, cgroups: [\(a)]}

            """)
        let diagnostic = "\(volume.file):4:24: error: unknown rule kind 'deny-sideways'"
        try d.waitFor("the log naming \(diagnostic)", seconds: 60) { d.log().contains(diagnostic) }
        try check(d.log().contains("changed but was not applied; generation 2 stays"), "no refusal line: \(d.log())")
        generation = try d.generation()
        try check(generation == 2, "generation after the broken swap: \(generation), expected 2")
        try check(!Sys.exists(d.stateDir + "/generations/3.json"), "a record for generation 3 was written")
        try expectMoves(fx, denied: b, allowed: a, "after the broken swap")
        let watch = try d.status()["policy_watch"]?.objectValue ?? [:]
        try check(watch["last_change"]?.stringValue == "refused"
                  && (watch["diagnostics"]?.arrayValue ?? []).contains { $0.stringValue?.hasPrefix(diagnostic) == true },
                  "status policy_watch: \(watch)")
        let refusals = try d.events(hook: "admin").filter { $0["action"]?.stringValue == "apply-refused" }
        try check(refusals.count == 1 && refusals[0]["generation"]?.intValue == 2
                  && refusals[0]["diagnostics"]?.stringValue?.contains(diagnostic) == true,
                  "admin apply-refused events: \(refusals)")

        // 3. Valid again: applied as the next generation.
        try volume.publish(denyInto(a, id: "deny-a"))
        try d.waitFor("the move into \(a) denied again", seconds: 60) { moveErrno(fx.host(a)) == EPERM }
        try expectMoves(fx, denied: a, allowed: b, "after swapping back")
        generation = try d.generation()
        try check(generation == 3, "generation after the valid swap: \(generation), expected 3")
        try check(try d.status()["policy_watch"]?.objectValue?["last_change"]?.stringValue == "applied", "status after the valid swap")
    }

    /// `--watch-policy --policy-dir ETC --policy-dir USR`: only fragments change; ETC does not
    /// exist when the daemon starts.
    static func policyWatchFragments() throws {
        let fx = try CgroupFixture("policy_watch_fragments")
        let a = try fx.make("a"), b = try fx.make("b"), c = try fx.make("c")
        func denyInto(_ target: CgroupPath, id: String) -> String {
            "version: 1\nrules:\n  - {id: \(id), kind: deny-into, cgroups: [\(target)]}\n"
        }
        let d = try DaemonHarness("policy_watch_fragments")
        defer { d.teardown() }
        let etc = d.dir + "/etc/policy.d", usr = d.dir + "/usr/policy.d"
        try sys("mkdir \(usr)") { () throws(Errno) in try Sys.mkdirs(usr) }
        try d.writePolicy(denyInto(c, id: "main-c"))
        try d.writePolicy(denyInto(b, id: "frag-b"), to: usr + "/10-b.yaml")
        d.extraArguments = ["--watch-policy", "--policy-dir", etc, "--policy-dir", usr]
        try d.start()
        try expectMoves(fx, denied: b, allowed: a, "at start")
        try check(try d.generation() == 1, "generation at start")

        // 1. A fragment added: applied and enforced; status and the deny event name its file.
        try d.writePolicy(denyInto(a, id: "frag-a"), to: usr + "/20-a.yaml")
        try d.waitFor("the move into \(a) denied after adding 20-a.yaml", seconds: 60) { moveErrno(fx.host(a)) == EPERM }
        Sys.sleep(millis: 1500) // a second apply of the same change would land in here
        let generation2 = try d.generation()
        try check(generation2 == 2, "generation after adding a fragment: \(generation2), expected 2")
        let origins = try d.status()["rule_origins"]?.objectValue ?? [:]
        try check(origins["frag-a"]?.stringValue == usr + "/20-a.yaml:3" && origins["main-c"]?.stringValue == d.policyFile + ":3",
                  "status rule_origins: \(origins)")
        try d.waitFor("an event of frag-a naming \(usr)/20-a.yaml:3", seconds: 30) {
            ((try? d.events(rule: "frag-a", verdict: "deny")) ?? []).contains { $0["rule_origin"]?.stringValue == usr + "/20-a.yaml:3" }
        }
        let applies = try d.events(hook: "admin").filter { $0["action"]?.stringValue == "apply" }
        try check(applies.count == 1 && applies[0]["origin"]?.stringValue == "watch", "admin apply events: \(applies)")

        // 2. Masked: ETC created, 20-a.yaml there a symlink to /dev/null: frag-a dropped.
        try sys("mkdir \(etc)") { () throws(Errno) in try Sys.mkdirs(etc) }
        try sys("mask 20-a.yaml") { () throws(Errno) in try Sys.symlink("/dev/null", at: etc + "/20-a.yaml") }
        try d.waitFor("the move into \(a) allowed after masking 20-a.yaml", seconds: 60) { moveErrno(fx.host(a)) == 0 }
        try expectMoves(fx, denied: b, allowed: a, "after masking")
        Sys.sleep(millis: 1500)
        let generation3 = try d.generation()
        try check(generation3 == 3, "generation after masking: \(generation3), expected 3")
        try check(try d.status()["rule_origins"]?.objectValue?["frag-a"] == nil, "frag-a still in status after masking")

        // 3. A fragment removed: frag-b dropped.
        try sys("unlink 10-b.yaml") { () throws(Errno) in try Sys.unlink(usr + "/10-b.yaml") }
        try d.waitFor("the move into \(b) allowed after removing 10-b.yaml", seconds: 60) { moveErrno(fx.host(b)) == 0 }
        try check(moveErrno(fx.host(c)) == EPERM, "the main file's rule stays")
        Sys.sleep(millis: 1500)
        let generation4 = try d.generation()
        try check(generation4 == 4, "generation after removing a fragment: \(generation4), expected 4")
    }

    /// The errno of moving a forked child into `dir` (0: moved).
    static func moveErrno(_ dir: String) -> Int32 {
        guard let (_, st) = try? inChild({ errnoOf { () throws(Errno) in try moveTo(dir, pid: Sys.pid) } }),
              case .exited(let code) = st else { return -1 }
        return code
    }

    static func expectMoves(_ fx: CgroupFixture, denied: CgroupPath, allowed: CgroupPath, _ when: String) throws {
        let d = moveErrno(fx.host(denied)), a = moveErrno(fx.host(allowed))
        try check(d == EPERM && a == 0, "\(when): move into \(denied) gave errno \(d) (want EPERM), into \(allowed) \(a) (want 0)")
    }
}
