// Decides which hook set this kernel can run: native (the four seed hooks), compat (stock BPF LSM
// plus fentry/fexit context), or unsupported, naming every missing piece.
import CorralSystem
import Glibc

public enum KernelMode: String, Sendable, Codable, CaseIterable {
    case native, compat, unsupported
}

public struct ProbeReport: Sendable, Codable {
    public var mode: KernelMode
    public var kernelRelease: String
    /// Active LSMs from /sys/kernel/security/lsm (nil when unreadable).
    public var activeLSMs: [String]?
    public var btf: Bool
    /// The four seed hooks found as FUNCs in vmlinux BTF.
    public var nativeHooksFound: [String]
    /// What native mode lacks (empty when native).
    public var nativeMissing: [UnsupportedFeature]
    /// What compat mode lacks (empty when compat works).
    public var compatMissing: [UnsupportedFeature]

    /// snake_case keys (`probe --json`), spelled out: Foundation's convertToSnakeCase makes
    /// `activeLSMs` "active_ls_ms".
    enum CodingKeys: String, CodingKey {
        case mode, btf
        case kernelRelease = "kernel_release", activeLSMs = "active_lsms", nativeHooksFound = "native_hooks_found"
        case nativeMissing = "native_missing", compatMissing = "compat_missing"
    }

    /// Missing pieces for a mode (unsupported: the union, compat first).
    public func missing(for mode: KernelMode) -> [UnsupportedFeature] {
        switch mode {
        case .native: nativeMissing
        case .compat: compatMissing
        case .unsupported: compatMissing + nativeMissing.filter { n in !compatMissing.contains(n) }
        }
    }

    public func available(_ mode: KernelMode) -> Bool {
        switch mode {
        case .native: nativeMissing.isEmpty
        case .compat: compatMissing.isEmpty
        case .unsupported: true
        }
    }
}

public enum KernelProbe {
    public static let nativeHooks = [
        "bpf_lsm_namespace_alloc", "bpf_lsm_namespace_install", "bpf_lsm_namespace_free", "bpf_lsm_cgroup_attach",
    ]
    /// A kernel feature the BPF object relies on in both modes, recognised by a member of a type
    /// in vmlinux BTF (an enumerator of a uapi enum, or a struct field), with the first Linux
    /// release that has it. docs/kernel-support.md derives the minimum kernel from this table
    /// plus the compat attach points (`lsm/userns_create`: 6.1).
    public struct Feature: Sendable {
        public var name: String
        public var btfType: String
        public var member: String
        public var since: String
        public var usedFor: String
    }

    public static let requiredFeatures: [Feature] = [
        Feature(name: "fentry/fexit programs", btfType: "bpf_attach_type", member: "BPF_TRACE_FEXIT", since: "5.5",
                usedFor: "compat context: unshare, setns, copy_*, cgroup migration"),
        Feature(name: "BPF LSM programs", btfType: "bpf_attach_type", member: "BPF_LSM_MAC", since: "5.7",
                usedFor: "every deciding hook"),
        Feature(name: "BPF ring buffer", btfType: "bpf_map_type", member: "BPF_MAP_TYPE_RINGBUF", since: "5.8",
                usedFor: "the event stream, corral_events"),
        Feature(name: "task storage", btfType: "bpf_map_type", member: "BPF_MAP_TYPE_TASK_STORAGE", since: "5.11",
                usedFor: "task locks, compat context, the decision's working set"),
        Feature(name: "helper bpf_get_current_task_btf", btfType: "bpf_func_id", member: "BPF_FUNC_get_current_task_btf", since: "5.11",
                usedFor: "task storage of the current task"),
        Feature(name: "helper bpf_ktime_get_boot_ns", btfType: "bpf_func_id", member: "BPF_FUNC_ktime_get_boot_ns", since: "5.8",
                usedFor: "loosening deadlines (corral_rule.audit_until_ns)"),
        Feature(name: "helper bpf_task_pt_regs", btfType: "bpf_func_id", member: "BPF_FUNC_task_pt_regs", since: "5.15",
                usedFor: "idmap_write reads the write(2) buffer of a uid_map/gid_map write"),
        Feature(name: "helper bpf_get_func_arg_cnt", btfType: "bpf_func_id", member: "BPF_FUNC_get_func_arg_cnt", since: "5.17",
                usedFor: "compat_cg_enter reads cgroup_attach_permissions' arguments by count"),
        Feature(name: "helper bpf_loop", btfType: "bpf_func_id", member: "BPF_FUNC_loop", since: "5.17",
                usedFor: "idmap_write parses the extents of a uid_map/gid_map write"),
        Feature(name: "struct cgroup field ancestors[]", btfType: "cgroup", member: "ancestors", since: "6.0",
                usedFor: "cgroup ancestor ids: subjects, anchors, membership"),
    ]

    /// First release with a compat attach point, where it is newer than the object's other needs
    /// or commonly configured out; other targets are in every kernel since 5.7 with BTF.
    public static func attachRequires(_ fn: String) -> String {
        switch fn {
        case "bpf_lsm_userns_create": "Linux >= 6.1 (LSM hook userns_create)"
        case "copy_time_ns", "timens_install": "Linux >= 5.6 with CONFIG_TIME_NS=y"
        case "cgroup_attach_permissions", "cgroup_can_fork": "Linux >= 5.7"
        default: "Linux >= 6.1 (present in Debian 6.1's BTF; absent when configured out or inlined)"
        }
    }

    /// Compat attach points used when the BPF object is not at hand to list its own.
    public static let compatCoreFunctions = [
        "bpf_lsm_task_alloc", "bpf_lsm_userns_create", "bpf_lsm_capable", "bpf_lsm_inode_permission",
        "cgroup_attach_permissions", "proc_free_inum",
    ]

    /// Probes the running kernel. `compatTargets` are the kernel functions the object's compat
    /// programs attach to (from `CorralObject.attachTargets(prefix: "compat_")`); nil uses the core list.
    public static func run(compatTargets: [String]? = nil) -> ProbeReport {
        var uts = utsname()
        uname(&uts)
        let release = withUnsafePointer(to: uts.release) {
            $0.withMemoryRebound(to: CChar.self, capacity: 65) { String(cString: $0) }
        }

        var common: [UnsupportedFeature] = []
        // 1. bpf in the active LSM list.
        var lsms: [String]? = nil
        if let text = try? Sys.readFile("/sys/kernel/security/lsm") {
            let list = text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }).map(String.init)
            lsms = list
            if !list.contains("bpf") {
                common.append(UnsupportedFeature(
                    feature: "bpf-lsm-active",
                    detail: "bpf is not in /sys/kernel/security/lsm (active: \(list.joined(separator: ",")))",
                    requires: "CONFIG_BPF_LSM=y and boot with lsm=...,bpf"))
            }
        } else {
            common.append(UnsupportedFeature(
                feature: "bpf-lsm-active",
                detail: "cannot read /sys/kernel/security/lsm (securityfs not mounted, or no LSM support)",
                requires: "mount -t securityfs securityfs /sys/kernel/security; CONFIG_BPF_LSM=y, lsm=...,bpf"))
        }

        // 2. BTF.
        let btf = KernelBTF()
        if btf == nil {
            common.append(UnsupportedFeature(
                feature: "btf", detail: "no kernel BTF at /sys/kernel/btf/vmlinux",
                requires: "CONFIG_DEBUG_INFO_BTF=y (Linux >= 5.7 for BPF LSM)"))
        }

        // 2b. Program, map and helper features every program needs (Linux <= 6.0 lacks one).
        if let btf {
            for f in requiredFeatures where !btf.has(f.btfType, member: f.member) {
                common.append(UnsupportedFeature(
                    feature: "kernel:\(f.member)",
                    detail: "\(f.name) (\(f.member) in \(f.btfType)) is not in vmlinux BTF; used for \(f.usedFor)",
                    requires: "Linux >= \(f.since)"))
            }
        }

        // 3. Attach points per mode.
        var nativeMissing = common
        var compatMissing = common
        var found: [String] = []
        if let btf {
            for hook in nativeHooks {
                if btf.functionID(hook) != nil { found.append(hook) } else {
                    nativeMissing.append(UnsupportedFeature(
                        feature: "hook:\(hook)", detail: "\(hook) is not a FUNC in vmlinux BTF",
                        requires: "the 2026 BPF LSM namespace/cgroup_attach hooks series, in no released kernel yet: e.g. seed-hooks, Linux 6.12 + kernel/patches/"))
                }
            }
            for fn in compatTargets ?? compatCoreFunctions where btf.functionID(fn) == nil {
                compatMissing.append(UnsupportedFeature(
                    feature: "attach:\(fn)", detail: "\(fn) is not a FUNC in vmlinux BTF",
                    requires: attachRequires(fn)))
            }
            // 4. A trial load proves the kernel accepts BPF_LSM_MAC programs here (privileges, lockdown).
            if nativeMissing.isEmpty, let id = btf.functionID("bpf_lsm_namespace_alloc"),
               let failure = LibBPF.trialLoadLSM(attachBTFID: id) {
                nativeMissing.append(trialFailure(failure, hook: "namespace_alloc"))
            }
            // Tried even when something else is missing, so the report names every obstacle.
            if let id = btf.functionID("bpf_lsm_task_alloc"), let failure = LibBPF.trialLoadLSM(attachBTFID: id) {
                let f = trialFailure(failure, hook: "task_alloc")
                compatMissing.append(f)
                if !nativeMissing.contains(f) { nativeMissing.append(f) }
            }
        }

        let mode: KernelMode = nativeMissing.isEmpty ? .native : compatMissing.isEmpty ? .compat : .unsupported
        return ProbeReport(mode: mode, kernelRelease: release, activeLSMs: lsms, btf: btf != nil,
                           nativeHooksFound: found, nativeMissing: nativeMissing, compatMissing: compatMissing)
    }

    private static func trialFailure(_ f: (errno: Errno, log: String), hook: String) -> UnsupportedFeature {
        let why = f.errno.rawValue == EPERM
            ? "the kernel refused a BPF_LSM_MAC program (EPERM: needs root/CAP_BPF+CAP_MAC_ADMIN; lockdown or a kernel without BPF LSM program support)"
            : "trial load of a BPF_LSM_MAC program on \(hook) failed: \(f.errno)"
        return UnsupportedFeature(feature: "lsm-prog-load", detail: why + (f.log.isEmpty ? "" : " [\(f.log.prefix(200))]"),
                                  requires: "CONFIG_BPF_LSM=y, CONFIG_BPF_SYSCALL=y, root")
    }
}
