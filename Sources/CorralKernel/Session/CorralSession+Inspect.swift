// Read-only views of kernel state for troubleshooting (`corral why`, io.corral.Why): the
// per-task lock (corral_task_state) and the tracked namespaces (corral_tracked_ns).
import CorralABI

extension CorralSession {
    /// The tracked state of namespace `inum` (`corral_tracked_ns`); nil when it is untracked.
    public func trackedNamespace(inum: UInt32) throws(KernelError) -> corral_tracked_ns? {
        try object.map("corral_tracked_ns").lookup(inum, as: corral_tracked_ns())
    }

    /// Every tracked namespace, by inum.
    public func trackedNamespaces() throws(KernelError) -> [UInt32: corral_tracked_ns] {
        let map = try object.map("corral_tracked_ns")
        var out: [UInt32: corral_tracked_ns] = [:]
        for inum in try map.keys(as: UInt32(0)) {
            if let value = try map.lookup(inum, as: corral_tracked_ns()) { out[inum] = value }
        }
        return out
    }
}
