// Mode forcing and refusal, through the real `corral` binary (/corral/bin/corral in the guest):
// `corral run --mode native` without the hooks fails naming them; `--mode compat` works wherever
// compat is available (also on the seed-hooks kernel); with bpf missing from the active LSMs,
// `corral probe` says unsupported and why, and `corral run` refuses without running the command.
import CorralKernel
import CorralPolicy
import CorralSystem
import Foundation
import Glibc

enum ModeTests {
    nonisolated(unsafe) static let all: [KTest] = [
        KTest(name: "mode/force_native_unavailable", body: forceNativeUnavailable),
        KTest(name: "mode/force_compat", body: forceCompat),
        KTest(name: "mode/no_bpf_lsm_refusal", body: noBPFLSMRefusal),
    ]

    /// Tests that need no BPF program of their own (they pass or skip on an unsupported kernel).
    static let withoutBPF: Set<String> = ["probe", "mode/force_native_unavailable", "mode/no_bpf_lsm_refusal"]

    static func corralBinary() throws -> String {
        var candidates = ["/corral/bin/corral"]
        if let exe = Sys.executablePath(), let slash = exe.lastIndex(of: "/") { candidates.append(String(exe[..<slash]) + "/corral") }
        guard let found = candidates.first(where: Sys.exists) else {
            throw TestSkip(reason: "no corral binary at \(candidates.joined(separator: " or "))")
        }
        return found
    }

    static func runCorral(_ args: [String]) throws -> (status: Sys.ExitStatus, output: String) {
        let corral = try corralBinary()
        return try sys("run corral \(args.joined(separator: " "))") { () throws(Errno) in try Sys.runCapturing([corral] + args) }
    }

    static func writePolicy(_ name: String, _ yaml: String) throws -> String {
        let path = "/tmp/ktest-\(name).yaml"
        try sys("write \(path)") { () throws(Errno) in
            let fd = try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC)
            defer { Sys.close(fd) }
            try Sys.write(fd, Array(yaml.utf8))
        }
        return path
    }

    static func readEvents(_ path: String) -> [Event] {
        guard let text = try? Sys.readFile(path) else { return [] }
        let dec = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? dec.decode(Event.self, from: Data($0.utf8)) }
    }

    static let trivialPolicy = """
        version: 1
        rules:
          - id: deny-uts
            kind: deny-create
            types: [uts]
        """

    // MARK: 7a. --mode native on a kernel without the hooks

    static func forceNativeUnavailable() throws {
        let report = KProbe.report
        guard report.mode != .native else {
            throw TestSkip(reason: "probed mode is native (all four hooks present): nothing to refuse")
        }
        let policy = try writePolicy("force-native", trivialPolicy)
        let marker = "/tmp/ktest-force-native.ran"
        _ = try? Sys.unlink(marker)
        let r = try runCorral(["run", "--mode", "native", "--policy", policy, "--", "/bin/touch", marker])
        try check(r.status == .exited(4), "corral run --mode native: \(r.status), want exit 4 (unsupported-kernel, docs/cli.md): \(r.output)")
        try check(!Sys.exists(marker), "the command ran although the mode was refused")
        try check(r.output.contains("mode native is not available"), "no 'mode native is not available' in: \(r.output)")
        var absent: [String] = []
        for m in report.nativeMissing where !r.output.contains(m.detail) { absent.append(m.detail) }
        let hooksMissing = KernelProbe.nativeHooks.filter { !report.nativeHooksFound.contains($0) }
        for h in hooksMissing where !r.output.contains(h) { absent.append(h) }
        try check(absent.isEmpty, "refusal does not name: \(absent.joined(separator: "; ")) — output: \(r.output)")
        // On a BPF-LSM kernel without the series, the refusal is exactly the four hooks.
        if report.mode == .compat {
            try check(hooksMissing.count == 4, "compat kernel with \(report.nativeHooksFound.count) of the four hooks")
        }
    }

    // MARK: 7b. --mode compat works, also on a kernel that has the hooks

    static func forceCompat() throws {
        let report = KProbe.report
        guard report.available(.compat) else {
            throw TestSkip(reason: "compat unavailable: " + KProbe.reasons(report.compatMissing))
        }
        let fx = try CgroupFixture("force_compat")
        let denied = try fx.make("denied")
        let policy = try writePolicy("force-compat", """
            version: 1
            rules:
              - id: deny-uts
                kind: deny-create
                types: [uts]
                errno: EACCES
              - id: deny-denied
                kind: deny-into
                cgroups: [\(denied)]
            """)
        let events = "/tmp/ktest-force-compat.events"
        // The command: unshare(CLONE_NEWUTS) (compat: EPERM through capable), then a cgroup.procs write into
        // the denied cgroup; it prints what each returned.
        let script = "unshare -u true; echo unshare=$?; echo $$ > \(fx.host(denied))/cgroup.procs; echo procs=$?"
        let r = try runCorral(["run", "--mode", "compat", "--policy", policy, "--events", events, "--", "/bin/sh", "-c", script])
        try check(r.status == .exited(0), "corral run --mode compat: \(r.status): \(r.output)")
        try check(r.output.contains("compat mode"), "corral run did not report compat mode: \(r.output)")
        try check(r.output.contains("unshare=1"), "unshare -u was not refused: \(r.output)")
        try check(r.output.contains("procs=1") || r.output.contains("procs=2"), "cgroup.procs write was not refused: \(r.output)")
        let evs = readEvents(events)
        try check(!evs.isEmpty && evs.allSatisfy { $0.compat == true }, "events not all from the compat set: \(describe(evs))")
        try check(evs.contains { $0.hook == "namespace_alloc" && $0.verdict == "deny" && $0.rule == "deny-uts" && $0.err == EPERM },
                  "no namespace_alloc deny (EPERM, compat's capable path) event: \(describe(evs))")
        let deniedID = try fx.id(denied)
        try check(evs.contains { $0.hook == "cgroup_attach" && $0.verdict == "deny" && $0.rule == "deny-denied" && $0.dstCgroup == deniedID },
                  "no cgroup_attach deny into \(denied) (id \(deniedID)): "
                  + evs.map { "\($0.hook)/\(show($0.verdict))/\($0.rule ?? "-")/dst\(show($0.dstCgroup))/src\(show($0.srcCgroup))" }.joined(separator: ","))
    }

    // MARK: 8. bpf not an active LSM

    static func noBPFLSMRefusal() throws {
        let report = KProbe.report
        guard let lsms = report.activeLSMs, !lsms.contains("bpf") else {
            throw TestSkip(reason: "bpf is active (/sys/kernel/security/lsm: \(report.activeLSMs?.joined(separator: ",") ?? "unreadable"))")
        }
        let p = try runCorral(["probe"])
        try check(p.status == .exited(4), "corral probe: \(p.status), want exit 4 (unsupported-kernel, docs/cli.md): \(p.output)")
        try check(p.output.contains("mode: unsupported"), "corral probe did not say unsupported: \(p.output)")
        try check(p.output.contains("bpf is not in /sys/kernel/security/lsm"), "corral probe does not name the reason: \(p.output)")
        let policy = try writePolicy("no-bpf-lsm", trivialPolicy)
        let marker = "/tmp/ktest-no-bpf-lsm.ran"
        _ = try? Sys.unlink(marker)
        let r = try runCorral(["run", "--policy", policy, "--", "/bin/touch", marker])
        try check(r.status == .exited(4), "corral run: \(r.status), want exit 4 (unsupported-kernel, docs/cli.md): \(r.output)")
        try check(r.output.contains("bpf is not in /sys/kernel/security/lsm"), "corral run refusal does not name the reason: \(r.output)")
        try check(!Sys.exists(marker), "corral run started the command on an unsupported kernel")
    }
}
