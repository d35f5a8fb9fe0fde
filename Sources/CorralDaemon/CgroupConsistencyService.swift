// The consistency check of cgroup classification. The kernel classifies every cgroup when it is
// created (tp_btf/cgroup_mkdir, bpf/classify/); this service only checks that it did: every
// `intervalMillis` it classifies the cgroup tree in userspace (CgroupClassifier, the Swift twin
// of the BPF step) and compares the running epoch's corral_cgroups entries with the result.
// Differences and stale entries are logged and counted (metrics), never repaired: a difference
// is a bug in one of the two implementations, and repairing would hide it.
import CorralKernel
import CorralSystem

public final class CgroupConsistencyService {
    public let session: CorralSession
    public let intervalMillis: UInt64
    private let log: (String) -> Void
    private var lastCheck: UInt64?

    /// Checks run, differences and stale entries found (metrics).
    public private(set) var checks: UInt64 = 0
    public private(set) var differences: UInt64 = 0
    public private(set) var stale: UInt64 = 0
    public private(set) var failures: UInt64 = 0

    public init(session: CorralSession, intervalMillis: UInt64 = 30_000, log: @escaping (String) -> Void) {
        self.session = session
        self.intervalMillis = intervalMillis
        self.log = log
    }

    /// Non-blocking step for the daemon loop: checks when the interval has passed.
    public func tick() {
        let now = Sys.monotonicMillis()
        if let last = lastCheck, now &- last < intervalMillis { return }
        lastCheck = now
        check()
    }

    @discardableResult
    public func check() -> ClassificationReport? {
        do {
            let r = try session.checkClassification()
            checks += 1
            differences += UInt64(r.differences.count)
            stale += UInt64(r.stale)
            for d in r.differences.prefix(20) { log("cgroup classification differs: \(d)") }
            if r.differences.count > 20 { log("cgroup classification: \(r.differences.count - 20) more differences") }
            if r.stale > 0 { log("cgroup classification: \(r.stale) entries of epoch \(session.epoch) name cgroups that no longer exist") }
            for o in r.overflowed.prefix(5) { log("cgroup classification: \(o) overflows the kernel entry; moves into it are denied") }
            return r
        } catch {
            failures += 1
            log("cgroup classification check failed: \(error)")
            return nil
        }
    }
}
