// One decision from the kernel (`struct corral_event`), decoded with names resolved.
import CorralABI
import CorralPolicy
import CorralSystem
import Foundation

public struct DecisionEvent: Codable, Sendable, Hashable {
    public var seq: UInt64
    public var timestampNs: UInt64
    public var generation: UInt64
    /// namespace_alloc, namespace_install, namespace_free, cgroup_attach, self_protect.
    public var hook: String
    /// allow, deny, audit.
    public var verdict: String
    /// enforce or audit: the reported rule's mode.
    public var mode: String
    /// Reported rule id (nil: no rule, default allow).
    public var rule: String?
    public var ruleUID: UInt32
    public var pid: UInt32
    public var tgid: UInt32
    public var comm: String
    public var targetPID: UInt32
    public var srcCgroup: UInt64
    public var dstCgroup: UInt64
    public var srcCgroupPath: String?
    public var dstCgroupPath: String?
    public var threadgroup: UInt8
    /// uts, mnt, … (nil for cgroup_attach); for self_protect the refused operation
    /// (`SelfProtection.Operation.name`, e.g. "link-detach").
    public var nsType: String?
    public var nsInum: UInt32
    public var nsLabel: String?
    /// errno returned when denied, e.g. "EPERM"; nil otherwise.
    public var errno: String?
    public var err: Int32
    public var compat: Bool
    public var locked: Bool
    public var tracked: Bool
    /// cgroup_attach denied because the destination had no classification (CORRAL_EVENT_F_
    /// UNCLASSIFIED: it could not be recorded at creation); nil otherwise.
    public var unclassified: Bool?
    /// namespace_install into a namespace the actor is already in (CORRAL_EVENT_F_ALREADY_IN):
    /// not an entry, allowed without a rule (reported for traced tasks only); nil otherwise.
    public var alreadyIn: Bool?
    /// The actor's executable identity was carried across the exec of an anonymous file
    /// (CORRAL_EVENT_F_EXE_CARRIED: crun's memfd copy matches `exe: /usr/bin/crun`); nil otherwise.
    public var exeCarried: Bool?
    /// The actor's cgroup id and path at decision time.
    public var actorCgroup: UInt64
    public var actorCgroupPath: String?
    /// The actor's task lock before this decision (nil: not locked).
    public var actorLockRule: String?
    public var actorLockLabel: String?

    enum CodingKeys: String, CodingKey {
        case seq, generation, hook, verdict, mode, rule, pid, tgid, comm, threadgroup, errno, err, compat, locked, tracked
        case unclassified
        case alreadyIn = "already_in"
        case exeCarried = "exe_carried"
        case timestampNs = "timestamp_ns"
        case ruleUID = "rule_uid"
        case targetPID = "target_pid"
        case srcCgroup = "src_cgroup"
        case dstCgroup = "dst_cgroup"
        case srcCgroupPath = "src_cgroup_path"
        case dstCgroupPath = "dst_cgroup_path"
        case nsType = "ns_type"
        case nsInum = "ns_inum"
        case nsLabel = "ns_label"
        case actorCgroup = "actor_cgroup"
        case actorCgroupPath = "actor_cgroup_path"
        case actorLockRule = "actor_lock_rule"
        case actorLockLabel = "actor_lock_label"
    }

    /// One JSON object on one line.
    public var jsonLine: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? enc.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

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

    public func decode(_ raw: UnsafeRawBufferPointer) -> DecisionEvent? {
        guard raw.count >= MemoryLayout<corral_event>.size else { return nil }
        let e = raw.loadUnaligned(as: corral_event.self)
        return decode(e)
    }

    public func decode(_ e: corral_event) -> DecisionEvent {
        let hook: String = switch e.hook {
        case 1: "namespace_alloc"
        case 2: "namespace_install"
        case 3: "namespace_free"
        case 4: "cgroup_attach"
        case 5: "self_protect" // CORRAL_HOOK_SELF_PROTECT: ns_type = corral_protect_op, ns_inum = id/inode
        case 6: "ptrace"       // CORRAL_HOOK_PTRACE: domain scope; target_pid is the other task
        case 7: "id_map"       // CORRAL_HOOK_ID_MAP: ns_* is the user namespace; flags name the file
        default: "hook\(e.hook)"
        }
        let verdict: String = switch e.verdict {
        case 0: "allow"
        case 1: "deny"
        case 2: "audit"
        default: "verdict\(e.verdict)"
        }
        let comm = withUnsafeBytes(of: e.comm) { b in
            String(decoding: b.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let isCgroup = e.hook == 4
        return DecisionEvent(
            seq: e.seq, timestampNs: e.timestamp_ns, generation: e.generation, hook: hook, verdict: verdict,
            mode: e.mode == 1 ? "audit" : "enforce",
            rule: e.rule_uid == 0 ? nil : (ruleIDByUID[e.rule_uid] ?? String(format: "uid:%08x", e.rule_uid)),
            ruleUID: e.rule_uid, pid: e.pid, tgid: e.tgid, comm: comm, targetPID: e.target_pid,
            srcCgroup: e.src_cgroup, dstCgroup: e.dst_cgroup,
            srcCgroupPath: isCgroup ? cgroupPath(e.src_cgroup) : nil,
            dstCgroupPath: isCgroup ? cgroupPath(e.dst_cgroup) : nil,
            threadgroup: e.threadgroup, nsType: isCgroup ? nil : e.hook == UInt32(CORRAL_HOOK_SELF_PROTECT)
                ? (SelfProtection.Operation(rawValue: e.ns_type)?.name ?? "op\(e.ns_type)") : Self.nsTypeName(e.ns_type), nsInum: e.ns_inum,
            nsLabel: e.ns_label == 0 ? nil : (labelByID[e.ns_label] ?? String(format: "id:%08x", e.ns_label)),
            errno: e.err == 0 ? nil : Errno(rawValue: e.err).name, err: e.err,
            compat: e.flags & UInt16(CORRAL_EVENT_F_COMPAT) != 0,
            locked: e.flags & UInt16(CORRAL_EVENT_F_LOCKED) != 0,
            tracked: e.flags & UInt16(CORRAL_EVENT_F_TRACKED) != 0,
            unclassified: e.flags & UInt16(CORRAL_EVENT_F_UNCLASSIFIED) != 0 ? true : nil,
            alreadyIn: e.flags & UInt16(CORRAL_EVENT_F_ALREADY_IN) != 0 ? true : nil,
            exeCarried: e.flags & UInt16(CORRAL_EVENT_F_EXE_CARRIED) != 0 ? true : nil,
            actorCgroup: e.actor_cgroup, actorCgroupPath: cgroupPath(e.actor_cgroup),
            actorLockRule: e.actor_lock_rule == 0 ? nil : (ruleIDByUID[e.actor_lock_rule] ?? String(format: "uid:%08x", e.actor_lock_rule)),
            actorLockLabel: e.actor_lock_label == 0 ? nil : (labelByID[e.actor_lock_label] ?? String(format: "id:%08x", e.actor_lock_label)))
    }
}

/// Reads `corral_events` and hands decoded events to `sink`. Poll it from one thread.
public final class EventReader {
    private var ring: RingBufferHandle?
    public private(set) var received = 0

    /// `decoder` is asked for each record, so a session that installs a new generation (new
    /// rule and label names) decodes later events with the new names.
    public init(map: BPFMap, decoder: @escaping () -> EventDecoder, sink: @escaping (DecisionEvent) -> Void) throws(KernelError) {
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
