// Kernel decisions (`struct corral_event`) decoded into the one `Event` type, names resolved.
import CorralABI
@_exported import CorralEvents
import CorralPolicy
import CorralSystem
import Glibc

/// Names for the ids in events: rule uids and labels from the policy, cgroup ids from the
/// compiled image and, on a miss, by scanning the cgroup2 tree (cgroup id = directory inode).
public final class EventDecoder: @unchecked Sendable {
    private var ruleIDByUID: [UInt32: String]
    private var labelByID: [UInt32: String]
    private var cgroupPaths: [UInt64: String] = [:]
    private let cgroupRoot: String
    private var scannedMisses: Set<UInt64> = []

    public init(policy: Policy, cgroupPaths known: [UInt64: CgroupPath] = [:]) {
        var rules: [UInt32: String] = [:]
        var labels: [UInt32: String] = [:]
        for r in policy.rules {
            rules[StableID.of(r.id)] = r.id
            for l in r.labels { labels[StableID.of(l)] = l }
            if let t = r.trackLabel { labels[StableID.of(t)] = t }
        }
        ruleIDByUID = rules
        labelByID = labels
        cgroupRoot = policy.cgroupRoot
        for (id, p) in known { cgroupPaths[id] = p.description }
    }

    public func cgroupPath(_ id: UInt64) -> String? {
        if id == 0 { return nil }
        if let p = cgroupPaths[id] { return p }
        if scannedMisses.contains(id) { return nil }
        scan()
        if cgroupPaths[id] == nil { scannedMisses.insert(id) }
        return cgroupPaths[id]
    }

    private func scan() {
        func walk(_ dir: String, _ rel: String) {
            if let ino = try? Sys.inode(dir) { cgroupPaths[ino] = rel.isEmpty ? "/" : rel }
            guard let entries = try? Sys.listDirectory(dir) else { return }
            for e in entries where e.isDirectory { walk(dir + "/" + e.name, rel + "/" + e.name) }
        }
        walk(cgroupRoot, "")
    }

    public static func nsTypeName(_ flag: UInt32) -> String? { NamespaceType(cloneFlag: flag)?.rawValue }

    public func decode(_ raw: UnsafeRawBufferPointer) -> Event? {
        guard raw.count >= MemoryLayout<corral_event>.size else { return nil }
        let e = raw.loadUnaligned(as: corral_event.self)
        return decode(e)
    }

    /// The event with every `struct corral_event` field set; `id` is the sequence number. The
    /// daemon adds the boot id and the actor's executable (CorralOps.EventEnricher).
    public func decode(_ e: corral_event) -> Event {
        let comm = withUnsafeBytes(of: e.comm) { b in
            String(decoding: b.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let isCgroup = e.hook == CORRAL_HOOK_CGROUP_ATTACH.rawValue
        let nsType: String? = if isCgroup {
            nil
        } else if e.hook == UInt32(CORRAL_HOOK_SELF_PROTECT) {
            // ns_type = corral_protect_op, ns_inum = id/inode
            SelfProtection.Operation(rawValue: e.ns_type)?.name ?? "op\(e.ns_type)"
        } else {
            Self.nsTypeName(e.ns_type)
        }
        func flag(_ f: some BinaryInteger) -> Bool { e.flags & UInt16(f) != 0 }
        var event = Event(
            id: String(e.seq), hook: Event.hookName(abi: e.hook), generation: e.generation,
            seq: e.seq, timestampNs: e.timestamp_ns, verdict: Event.verdictName(abi: e.verdict),
            mode: Event.modeName(abi: e.mode), rule: ruleName(e.rule_uid), ruleUID: e.rule_uid,
            pid: e.pid, tgid: e.tgid, comm: comm, targetPID: e.target_pid,
            srcCgroup: e.src_cgroup, dstCgroup: e.dst_cgroup,
            srcCgroupPath: isCgroup ? cgroupPath(e.src_cgroup) : nil,
            dstCgroupPath: isCgroup ? cgroupPath(e.dst_cgroup) : nil,
            threadgroup: e.threadgroup, nsType: nsType, nsInum: e.ns_inum, nsLabel: labelName(e.ns_label),
            errno: e.err == 0 ? nil : Errno(rawValue: e.err).name, err: e.err,
            compat: flag(CORRAL_EVENT_F_COMPAT), locked: flag(CORRAL_EVENT_F_LOCKED),
            tracked: flag(CORRAL_EVENT_F_TRACKED),
            actorCgroup: e.actor_cgroup, actorCgroupPath: cgroupPath(e.actor_cgroup),
            actorLockRule: ruleName(e.actor_lock_rule), actorLockLabel: labelName(e.actor_lock_label),
            unclassified: flag(CORRAL_EVENT_F_UNCLASSIFIED) ? true : nil,
            alreadyIn: flag(CORRAL_EVENT_F_ALREADY_IN) ? true : nil,
            exeCarried: flag(CORRAL_EVENT_F_EXE_CARRIED) ? true : nil)
        event.actorUID = e.actor_uid
        event.actorGID = e.actor_gid
        return event
    }

    private func ruleName(_ uid: UInt32) -> String? {
        uid == 0 ? nil : (ruleIDByUID[uid] ?? Sys.format("uid:%08x", uid))
    }

    private func labelName(_ id: UInt32) -> String? {
        id == 0 ? nil : (labelByID[id] ?? Sys.format("id:%08x", id))
    }
}

/// Reads `corral_events` and hands decoded events to `sink`. Poll it from one thread.
public final class EventReader {
    private var ring: RingBufferHandle?
    public private(set) var received = 0

    /// `decoder` is asked for each record, so a session that installs a new generation (new
    /// rule and label names) decodes later events with the new names.
    public init(map: BPFMap, decoder: @escaping () -> EventDecoder, sink: @escaping (Event) -> Void) throws(KernelError) {
        ring = try RingBufferHandle(mapFD: map.fd) { raw in
            if let ev = decoder().decode(raw) { sink(ev) }
        }
    }

    /// Readable when records are waiting (register it with a reactor, then `drain()`).
    public var epollFD: Int32 { ring?.epollFD ?? -1 }

    /// Waits up to `timeoutMillis` for events and delivers them; returns how many.
    @discardableResult
    public func poll(timeoutMillis: Int32) throws(KernelError) -> Int {
        let n = try ring?.poll(timeoutMillis: timeoutMillis) ?? 0
        received += n
        return n
    }

    /// Delivers what is in the buffer now (at most `max` records).
    @discardableResult
    public func drain(max: Int = Int.max) throws(KernelError) -> Int {
        let n = try ring?.drain(max: max) ?? 0
        received += n
        return n
    }

    public func close() { ring?.close(); ring = nil }
}
