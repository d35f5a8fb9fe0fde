// Registrations (docs/policy.md, "Registrations"; io.corral.Register): a delegated manager
// registers rules for a cgroup strictly inside its delegated subtree. The manager is a forked
// child that joins BASE/mgr (the `delegated` rule's manager cgroup) and calls the daemon from
// there; the daemon matches its peer pid against the policy.
import CorralControl
import CorralPolicy
import CorralSystem
import Glibc

enum RegistrationTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "daemon/registration_refused", body: refused),
        KTest(name: "daemon/registration", body: registration),
    ]

    /// The main policy: BASE/dlg is delegated to the tasks in BASE/mgr; init manages everything.
    static func mainPolicy(_ b: String) -> String {
        "version: 1\nrules:\n  - {id: dlg, kind: delegated, manager: {cgroup: \(b)/mgr}, cgroup: \(b)/dlg}\n"
            + "  - {id: init-manages, kind: managers, subject: pid1}\n"
    }

    /// A lock of c1/locked and a nested delegation of c1/inner to the tasks in c1/init.
    static func registered(_ c1: String) -> String {
        """
        version: 1
        rules:
          - {id: c1-lock, kind: locked, cgroups: [\(c1)/locked], overrides: [dlg]}
          - {id: c1-inner, kind: delegated, manager: {cgroup: \(c1)/init}, cgroup: \(c1)/inner}

        """
    }

    /// Register (`rules` for `subtree`) from a child that first joins `mgr` (nil: stays where it
    /// is, not a manager). The child exits 0 when the outcome is `expected` (an error name, or
    /// "ok"), else 1, printing what it got.
    static func registerFrom(_ d: DaemonHarness, mgr: String?, subtree: String, rules: String, expected: String) throws -> Bool {
        let (_, st) = try inChild {
            if let mgr, errnoOf({ () throws(Errno) in try moveTo(mgr, pid: Sys.pid) }) != 0 { return 2 }
            guard let r = try? d.call(ControlMethod.register, ["subtree": .string(subtree), "rules": .string(rules)]) else { return 3 }
            let got: String
            switch r {
            case .success: got = "ok"
            case .failure(let e): got = e.name
            }
            if got != expected { print("# register \(subtree): expected \(expected), got \(r)".replacingNewlines) }
            return got == expected ? 0 : 1
        }
        return st == .exited(0)
    }

    /// Escape attempts, written before the feature: a manager registering for a subtree outside
    /// its delegation or for the delegated root itself, rules whose scopes (exact, glob, `..`)
    /// reach outside the registered subtree, a nested delegation to managers outside it; and a
    /// caller that is no manager (uid 0 but not named by the policy). Each gets its named error and
    /// nothing changes: same generation, no registration, the outside cgroup still open.
    static func refused() throws {
        let fx = try CgroupFixture("registration_refused")
        let b = fx.base
        let mgr = try fx.make("mgr")
        _ = try fx.make("dlg")
        let c1 = try fx.make("dlg/c1"), outside = try fx.make("outside")
        for n in ["locked", "init", "inner"] { _ = try fx.make("dlg/c1/" + n) }
        let d = try DaemonHarness("registration_refused")
        defer { d.teardown() }
        try d.writePolicy(mainPolicy(b))
        try d.start()
        let generation = try d.generation()
        let outsideName = ControlError.Name.registrationOutsideSubtree
        let lockOutside = "version: 1\nrules:\n  - {id: x, kind: locked, cgroups: [\(outside)]}\n"
        let attempts: [(what: String, subtree: String, rules: String, expected: String)] = [
            ("a subtree outside the delegation", outside.description, lockOutside, outsideName),
            ("the delegated root itself", b + "/dlg", "version: 1\nrules:\n  - {id: x, kind: locked, cgroups: [\(b)/dlg], overrides: [dlg]}\n", outsideName),
            ("a lock outside the registered subtree", c1.description, lockOutside, outsideName),
            ("a sibling of the registered subtree", c1.description,
             "version: 1\nrules:\n  - {id: x, kind: locked, cgroups: [\(b)/dlg/c2], overrides: [dlg]}\n", outsideName),
            ("a glob reaching outside", c1.description,
             "version: 1\nrules:\n  - {id: x, kind: deny-into, cgroups: [\(b)/*/c1]}\n", outsideName),
            ("a nested delegation of a wider scope", c1.description,
             "version: 1\nrules:\n  - {id: x, kind: delegated, manager: {cgroup: \(c1)/init}, cgroup: \(b)/**}\n", outsideName),
            ("a nested delegation to the manager itself (outside the subtree)", c1.description,
             "version: 1\nrules:\n  - {id: x, kind: delegated, manager: {cgroup: \(mgr)}, cgroup: \(c1)/inner}\n", outsideName),
            ("a nested delegation to any task", c1.description,
             "version: 1\nrules:\n  - {id: x, kind: delegated, manager: any, cgroup: \(c1)/inner}\n", outsideName),
            ("a managers rule (allows everywhere)", c1.description,
             "version: 1\nrules:\n  - {id: x, kind: managers, subject: {cgroup: \(c1)/init}}\n", outsideName),
            ("a named subject 'pid1' (it would make init-manages match tasks in c1)", c1.description,
             "version: 1\nsubjects:\n  pid1: {cgroup: \(c1)/init}\nrules:\n  - {id: x, kind: locked, cgroups: [\(c1)/locked], overrides: [dlg]}\n",
             outsideName),
            ("'..' in a rule's cgroup", c1.description,
             "version: 1\nrules:\n  - {id: x, kind: deny-into, cgroups: [\(c1)/../../outside]}\n", ControlError.Name.policyInvalid),
            ("'..' in the subtree", c1.description + "/../../outside", lockOutside, ControlError.Name.invalidParameter),
        ]
        for a in attempts {
            try check(try registerFrom(d, mgr: fx.host(mgr), subtree: a.subtree, rules: a.rules, expected: a.expected),
                      "\(a.what): not refused with \(a.expected)")
        }
        // Not a manager: this process (uid 0, outside BASE/mgr), with a request a manager could make.
        try check(try registerFrom(d, mgr: nil, subtree: c1.description, rules: registered(c1.description),
                                   expected: ControlError.Name.permissionDenied), "a non-manager was not refused with PermissionDenied")
        try check(try d.generation() == generation, "a refused registration changed the generation")
        let status = try d.status()
        try check(status["registrations"]?.arrayValue?.isEmpty == true, "registrations after refusals: \(String(describing: status["registrations"]))")
        let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(outside), pid: Sys.pid) } }
        try check(st == .exited(0), "move into \(outside) after the refused registrations: \(st)")
    }

    /// A manager registers a lock and a nested delegation for BASE/dlg/c1: both are enforced at
    /// once; the registration is in `corral status`; it survives `kill -9` of the daemon and a
    /// restart (adoption from the generation record); `corral register` / `corral unregister` add
    /// and remove another; removing c1 removes it.
    static func registration() throws {
        let fx = try CgroupFixture("registration")
        let b = fx.base
        let mgr = try fx.make("mgr")
        _ = try fx.make("dlg")
        let c1 = try fx.make("dlg/c1")
        let locked = try fx.make("dlg/c1/locked"), initCg = try fx.make("dlg/c1/init"), other = try fx.make("dlg/c1/other")
        _ = try fx.make("dlg/c1/inner")
        let x = try fx.make("dlg/c1/inner/x"), y = try fx.make("dlg/c1/inner/y")
        let d = try DaemonHarness("registration")
        defer { d.teardown() }
        try d.writePolicy(mainPolicy(b))
        try d.start()

        // The victim: a sleeping task in inner/x.
        let victim = try sys("fork") { () throws(Errno) in try Sys.fork() }
        if victim == 0 { while true { sleep(1) } }
        var victimAlive = true
        defer { if victimAlive { kill(victim, SIGKILL); _ = try? Sys.waitpid(victim) } }
        try sys("victim into x") { () throws(Errno) in try moveTo(fx.host(x), pid: victim) }

        /// errno of a child joining `locked`.
        func joinLocked() throws -> Int32 {
            let (_, st) = try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(locked), pid: Sys.pid) } }
            guard case .exited(let code) = st else { throw TestFailure(reason: "join \(locked): \(st)") }
            return code
        }
        /// A task in c1/init moves the victim to `within` (inside inner) then to `out` (c1/other):
        /// exit 10 + errno of the first move, or the errno of the second.
        func initMoves(within: CgroupPath, out: CgroupPath) throws -> Int32 {
            let (_, st) = try inChild {
                if errnoOf({ () throws(Errno) in try moveTo(fx.host(initCg), pid: Sys.pid) }) != 0 { return 9 }
                let e = errnoOf { () throws(Errno) in try moveTo(fx.host(within), pid: victim) }
                if e != 0 { return 10 + e }
                return errnoOf { () throws(Errno) in try moveTo(fx.host(out), pid: victim) }
            }
            guard case .exited(let code) = st else { throw TestFailure(reason: "moves from \(initCg): \(st)") }
            return code
        }

        // Before: nothing governs c1's insides.
        try check(try joinLocked() == 0, "join \(locked) refused before any registration")
        try check(try initMoves(within: y, out: other) == 0, "moves from \(initCg) refused before any registration")
        try sys("victim back to x") { () throws(Errno) in try moveTo(fx.host(x), pid: victim) }

        let generation = try d.generation()
        try check(try registerFrom(d, mgr: fx.host(mgr), subtree: c1.description, rules: registered(c1.description), expected: "ok"),
                  "the manager's registration failed")
        try check(try d.generation() == generation + 1, "the registration is not the next generation")
        // Both enforced at once: the lock, and the nested delegation (its manager moves inside
        // inner, and is denied a move out of it).
        func enforced(_ when: String) throws {
            let lock = try joinLocked()
            try check(lock == EPERM, "\(when): join \(locked): errno \(lock), expected EPERM (c1-lock)")
            let moves = try initMoves(within: y, out: other)
            try check(moves == EPERM, "\(when): moves from \(initCg): \(moves) (0: the move out of inner was allowed; "
                + "10+e: the move inside inner failed with e), expected EPERM (c1-inner)")
            try sys("victim back to x") { () throws(Errno) in try moveTo(fx.host(x), pid: victim) }
        }
        try enforced("after the registration")
        func listed() throws -> [[String: JSONValue]] {
            (try d.status()["registrations"]?.arrayValue ?? []).compactMap(\.objectValue)
        }
        var regs = try listed()
        try check(regs.count == 1 && regs[0]["id"]?.stringValue == "reg-1" && regs[0]["subtree"]?.stringValue == c1.description
                  && regs[0]["manager_rule"]?.stringValue == "dlg"
                  && regs[0]["rules"]?.arrayValue?.compactMap(\.stringValue) == ["c1-lock", "c1-inner"],
                  "status registrations: \(regs)")
        let (st, out) = try d.cli(["status"])
        try check(st == .exited(0) && out.contains("\"registrations\"") && out.contains("c1-lock"), "corral status: \(st) \(out)")
        // Each rule's origin: the policy file's line, or the registration and its manager.
        let origins = try d.status()["rule_origins"]?.objectValue ?? [:]
        func fromReg1(_ origin: String?) -> Bool { origin?.hasPrefix("registration reg-1 (manager pid ") == true && origin!.hasSuffix(")") }
        try check(fromReg1(origins["c1-lock"]?.stringValue) && fromReg1(origins["c1-inner"]?.stringValue)
                  && origins["dlg"]?.stringValue?.hasPrefix(d.policyFile + ":") == true, "status rule_origins: \(origins)")
        try d.waitFor("the denied join's event naming the registration", seconds: 30) {
            ((try? d.events(rule: "c1-lock", verdict: "deny")) ?? []).contains { fromReg1($0["rule_origin"]?.stringValue) }
        }

        // kill -9, restart: the new daemon adopts from the record, the registration with it.
        try d.kill9()
        try d.start(adopt: true)
        try check(try d.generation() > generation + 1, "the restarted daemon installed no generation")
        regs = try listed()
        try check(regs.map { $0["id"]?.stringValue } == ["reg-1"], "registrations after kill -9 and restart: \(regs)")
        try enforced("after kill -9 and a restart")

        // Through the CLI: the manager runs `corral register` (its child is the peer, in BASE/mgr
        // too); uid 0 runs `corral unregister`. The id counter outlived the restart: reg-2.
        let corral = d.corral, socket = d.socket, file = d.dir + "/deny-other.yaml"
        try d.writePolicy("version: 1\nrules:\n  - {id: c1-deny-other, kind: deny-into, cgroups: [\(other)]}\n", to: file)
        let (_, cliStatus) = try inChild {
            if errnoOf({ () throws(Errno) in try moveTo(fx.host(mgr), pid: Sys.pid) }) != 0 { return 2 }
            guard let r = try? Sys.runCapturing([corral, "register", file, "--subtree", c1.description, "--socket", socket]) else { return 3 }
            if r.status != .exited(0) || !r.output.contains("reg-2: c1-deny-other") {
                print("# corral register: \(r.status) \(r.output)".replacingNewlines)
                return 1
            }
            return 0
        }
        try check(cliStatus == .exited(0), "corral register by the manager: \(cliStatus)")
        regs = try listed()
        try check(regs.map { $0["id"]?.stringValue } == ["reg-1", "reg-2"], "registrations after corral register: \(regs)")
        func joinOther() throws -> Sys.ExitStatus {
            try inChild { errnoOf { () throws(Errno) in try moveTo(fx.host(other), pid: Sys.pid) } }.status
        }
        try check(try joinOther() == .exited(EPERM), "join \(other) allowed after reg-2 (c1-deny-other)")
        let (ust, uout) = try d.cli(["unregister", "reg-2"])
        try check(ust == .exited(0), "corral unregister reg-2: \(ust) \(uout)")
        regs = try listed()
        try check(regs.map { $0["id"]?.stringValue } == ["reg-1"], "registrations after corral unregister: \(regs)")
        try check(try joinOther() == .exited(0), "join \(other) still denied after corral unregister reg-2")
        let (nst, nout) = try d.cli(["unregister", "reg-2"])
        try check(nst == .exited(2) && nout.contains(ControlError.Name.noSuchRegistration), "unregister twice: \(nst) \(nout)")

        // Removing c1 removes the registration: a recreated c1/locked is open again.
        kill(victim, SIGKILL)
        _ = try? Sys.waitpid(victim)
        victimAlive = false
        let afterRestart = try d.generation()
        for p in [x, y, CgroupPath(c1.description + "/inner")!, locked, initCg, other, c1] {
            try sys("rmdir \(p)") { () throws(Errno) in try Sys.rmdir(fx.host(p)) }
        }
        try d.waitFor("registration removed with its cgroup", seconds: 10) { ((try? listed())?.isEmpty) == true }
        try check(try d.generation() > afterRestart, "removing the registration installed no generation")
        try sys("mkdir \(c1)") { () throws(Errno) in try Sys.mkdir(fx.host(c1)) }
        try sys("mkdir \(locked)") { () throws(Errno) in try Sys.mkdir(fx.host(locked)) }
        try check(try joinLocked() == 0, "join a recreated \(locked) refused: the registration outlived its cgroup")
    }
}
