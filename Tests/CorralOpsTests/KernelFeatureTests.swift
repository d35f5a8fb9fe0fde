import CorralKernel
import Testing

/// The probe's feature table against the host's own vmlinux BTF (read-only; no BPF load).
@Suite struct KernelFeatureTests {
    @Test func requiredFeaturesHaveVersionsAndMinimumIs61() {
        #expect(!KernelProbe.requiredFeatures.isEmpty)
        for f in KernelProbe.requiredFeatures {
            #expect(!f.since.isEmpty && !f.usedFor.isEmpty, "\(f.name)")
        }
        #expect(KernelProbe.attachRequires("bpf_lsm_userns_create").contains("6.1"))
    }

    @Test func btfMemberLookup() throws {
        guard let btf = KernelBTF() else { return } // host without /sys/kernel/btf/vmlinux
        #expect(btf.has("bpf_func_id", member: "BPF_FUNC_map_lookup_elem"))
        #expect(btf.has("cgroup", member: "level"))
        #expect(!btf.has("bpf_func_id", member: "BPF_FUNC_no_such_helper"))
        #expect(!btf.has("no_such_type_corral", member: "x"))
    }
}
