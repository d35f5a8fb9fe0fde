// Writes a compiled policy into the inactive generation, classifies the cgroups that exist into
// its epoch, publishes it with one write of corral_control.active_gen, then deletes the previous
// generation's entries. Order and guarantees: docs/compiler.md ("Installing a generation").
import CorralABI
import CorralCompiler
import CorralPolicy
import CorralSystem

/// What one classification walk found (installer and consistency check).
public struct ClassificationReport: Sendable, Equatable {
    /// cgroups that got (install) or were compared (check) an entry.
    public var cgroups = 0
    /// Entries that differ from what the walk computes (check), or could not be written (install).
    public var differences: [String] = []
    /// Entries of this epoch for cgroups that no longer exist (check).
    public var stale = 0
    /// Cgroups whose class overflowed the kernel entry (unclassified: moves into them are denied).
    public var overflowed: [String] = []

    /// Where `install` spent its time (monotonic nanoseconds). `write`: everything before the
    /// switch (the inactive slot's old entries go, the image is written, the cgroups that exist
    /// are classified) — it grows with the policy, and the running policy enforces throughout.
    /// `switch`: the one corral_control write that makes the new slot active. `retire`: the old
    /// slot is cleared after it became unreachable.
    public var writeNanos: UInt64 = 0
    public var switchNanos: UInt64 = 0
    public var retireNanos: UInt64 = 0

    public init() {}
}

public struct PolicyInstaller {
    public let control: BPFMap
    public let maps: [PolicyMap: BPFMap]
    /// corral_cgroups: classification entries, keyed by epoch (not by slot).
    public let cgroups: BPFMap
    /// corral_protect (self-protection), when the object has it.
    let protect: BPFMap?

    public init(object: CorralObject) throws(KernelError) {
        control = try object.map("corral_control")
        protect = try? object.map(SelfProtection.mapName)
        cgroups = try object.map("corral_cgroups")
        var m: [PolicyMap: BPFMap] = [:]
        for p in PolicyMap.allCases {
            let map = try object.map(p.rawValue)
            // The kernel copies value_size bytes whatever the buffer holds: a map of another
            // ABI version would take truncated or padded values silently.
            if p.isPerSlot {
                try Self.checkType(map, expected: 12 /* BPF_MAP_TYPE_ARRAY_OF_MAPS */, object: object)
            } else {
                try Self.checkValueSize(map, expected: p.valueSize, object: object)
            }
            m[p] = map
        }
        try Self.checkValueSize(cgroups, expected: MemoryLayout<corral_cgroup_class>.size, object: object)
        maps = m
    }

    private static func checkValueSize(_ map: BPFMap, expected: Int, object: CorralObject) throws(KernelError) {
        switch LibBPF.mapValueSize(fd: map.fd) {
        case .success(let size) where size != expected:
            throw abiMismatch(map, "holds \(size)-byte values, this build writes \(expected)", object: object)
        case .success: break
        case .failure(let e): throw .map(name: map.name, operation: "read info", errno: e)
        }
    }

    private static func checkType(_ map: BPFMap, expected: UInt32, object: CorralObject) throws(KernelError) {
        switch LibBPF.mapType(fd: map.fd) {
        case .success(let type) where type != expected:
            throw abiMismatch(map, "has type \(type), this build expects \(expected)", object: object)
        case .success: break
        case .failure(let e): throw .map(name: map.name, operation: "read info", errno: e)
        }
    }

    /// A map that does not match this build's ABI: what differs, and what to do.
    private static func abiMismatch(_ map: BPFMap, _ difference: String, object: CorralObject) -> KernelError {
        .object(path: object.path, reason: "map \(map.name) \(difference) "
                + "(CORRAL_ABI_VERSION \(CORRAL_ABI_VERSION)): the BPF object or the pinned maps come from another "
                + "Corral version; rebuild the object, or stop the old daemon and run `corral daemon --unload`")
    }

    /// Fills a fresh inner map with `entries` and stores it in slot `gen` of per-slot map `p`;
    /// the kernel frees the inner map it replaces once no program uses it.
    func replaceSlot(_ p: PolicyMap, gen: UInt32, entries: [(key: [UInt8], value: [UInt8])]) throws(KernelError) {
        let outer = maps[p]!
        let fd: Int32
        switch LibBPF.mapCreate(type: 1 /* BPF_MAP_TYPE_HASH */, name: String(p.rawValue.dropFirst("corral_".count).prefix(12)) + "_\(gen)",
                                keySize: p.keySize, valueSize: p.valueSize, maxEntries: p.innerMaxEntries,
                                flags: 1 /* BPF_F_NO_PREALLOC */) {
        case .success(let f): fd = f
        case .failure(let e): throw .map(name: p.rawValue, operation: "create inner map", errno: e)
        }
        defer { Sys.close(fd) }
        // Self-protection (when on): the new map's id is protected before it is filled, so
        // only the daemon gets a writable fd for it; frozen once filled, no fd can write it.
        let id: UInt32
        switch LibBPF.mapID(fd: fd) {
        case .success(let i): id = i
        case .failure(let e): throw .map(name: p.rawValue, operation: "read inner map info", errno: e)
        }
        let protected = try protectionIsOn()
        if let protect, protected {
            try protect.update(SelfProtection.Entry(kind: .map, id: UInt64(id)).key, UInt32(1))
        }
        let inner = BPFMap(name: "\(p.rawValue)[\(gen)]", fd: fd)
        try inner.updateBatchRaw(entries, keySize: p.keySize, valueSize: p.valueSize)
        if let e = LibBPF.mapFreeze(fd: fd) { throw .map(name: inner.name, operation: "freeze", errno: e) }
        // Frozen, it can no longer change: what it holds now is what decisions will read. A
        // process that opened it between the create and the protection entry could have written
        // it; the read-back catches that (docs/security.md, "The protected set").
        if protected {
            let have = try inner.entriesBatchRaw(keySize: p.keySize, valueSize: p.valueSize)
            let want = Set(entries.map { $0.key + $0.value })
            guard have.count == entries.count, Set(have.map { $0.key + $0.value }) == want else {
                throw .map(name: inner.name, operation: "verify (\(have.count) entries read back, \(entries.count) written; "
                           + "another process wrote the new map before it was protected?)", errno: Errno(rawValue: 74 /* EBADMSG */))
            }
        }
        try outer.update(gen, UInt32(bitPattern: fd))
    }

    /// Whether corral_protect holds entries (an empty map protects nothing; see self_protect.bpf.h).
    private func protectionIsOn() throws(KernelError) -> Bool {
        guard let protect else { return false }
        switch LibBPF.mapNextKey(fd: protect.fd, key: nil, keySize: MemoryLayout<corral_protect_key>.size) {
        case .success(let k): return k != nil
        case .failure(let e): throw .map(name: protect.name, operation: "iterate", errno: e)
        }
    }

    /// Empties slot `gen` of per-slot map `p` (one delete; the kernel frees the inner map) and
    /// drops the inner map's self-protection entry.
    func dropSlot(_ p: PolicyMap, gen: UInt32) throws(KernelError) {
        let old = try maps[p]!.lookup(gen, as: UInt32(0))
        try maps[p]!.delete(gen)
        if let old, let protect { try protect.delete(SelfProtection.Entry(kind: .map, id: UInt64(old)).key) }
    }

    /// The entries of slot `gen` of per-slot map `p` (none when the slot is empty).
    public func slotEntries(_ p: PolicyMap, gen: UInt32) throws(KernelError) -> [[UInt8]] {
        guard let id = try maps[p]!.lookup(gen, as: UInt32(0)) else { return [] }
        let fd: Int32
        switch LibBPF.mapFD(id: id) {
        case .success(let f): fd = f
        case .failure(let e): throw .map(name: p.rawValue, operation: "open inner map \(id)", errno: e)
        }
        defer { Sys.close(fd) }
        return try BPFMap(name: "\(p.rawValue)[\(gen)]", fd: fd).keysBatchRaw(keySize: p.keySize, valueSize: p.valueSize)
    }

    public func readControl() throws(KernelError) -> corral_control {
        try control.lookup(UInt32(0), as: corral_control()) ?? corral_control()
    }

    /// The policy generation number of the active slot (0: none installed yet).
    public func activeGenerationNumber() throws(KernelError) -> UInt64 {
        let c = try readControl()
        return try maps[.generations]!.lookup(c.active_gen, as: corral_generation())?.generation ?? 0
    }

    /// The slot the next policy should be compiled for.
    public func inactiveGeneration() throws(KernelError) -> UInt32 {
        try readControl().active_gen == 0 ? 1 : 0
    }

    /// Deletes every entry of generation slot `gen`: a per-slot map's inner map is dropped with
    /// one delete (the kernel frees it); in the other hash maps (small: subjects, id ranges) the
    /// keys are read and the slot's deleted in batches (BPF_MAP_LOOKUP_BATCH / _DELETE_BATCH).
    public func clear(gen: UInt32) throws(KernelError) {
        for p in PolicyMap.allCases where p.isPerSlot {
            try dropSlot(p, gen: gen) // the slot's inner map goes with its entries: one call
        }
        for p in PolicyMap.allCases where p.isHash && !p.isPerSlot {
            let m = maps[p]!
            let keys = try m.keysBatchRaw(keySize: p.keySize, valueSize: p.valueSize).filter { p.generation(ofKey: $0) == gen }
            try m.deleteBatchRaw(keys, keySize: p.keySize)
        }
    }

    /// Deletes the classification entries of every epoch but `keep`.
    public func clearCgroupEntries(keeping keep: UInt32?) throws(KernelError) {
        let size = MemoryLayout<corral_cgroup_key>.size
        let keys = try cgroups.keysBatchRaw(keySize: size, valueSize: MemoryLayout<corral_cgroup_class>.size).filter {
            RawBytes.load(corral_cgroup_key.self, from: $0, zero: corral_cgroup_key()).epoch != keep
        }
        try cgroups.deleteBatchRaw(keys, keySize: size)
    }

    /// Installs `image` (compiled for `inactiveGeneration()`) and switches to it. `flags` are
    /// CORRAL_F_* for corral_control (e.g. audit-all, trace-all). The cgroups under `cgroupRoot`
    /// are classified into the new epoch before the switch.
    @discardableResult
    public func install(_ image: MapImage, flags: UInt32 = 0, cgroupRoot: String,
                        previousSubjects: [SubjectBit]? = nil) throws(KernelError) -> ClassificationReport {
        let t0 = Sys.monotonicNanos()
        let current = try readControl()
        guard image.gen != current.active_gen || isEmpty(current) else {
            throw .compile("image targets the active generation \(image.gen); compile for \(try inactiveGeneration())")
        }
        let fresh = isEmpty(current)
        let activeEpoch = fresh ? nil : try maps[.generations]!.lookup(current.active_gen, as: corral_generation()).map { UInt32(truncatingIfNeeded: $0.generation) }
        var header = image.generation.value
        let epoch = UInt32(truncatingIfNeeded: header.generation)
        // 1. The slot's record without CORRAL_F_CLASSIFY: cgroup_mkdir stops classifying into it.
        header.flags &= ~UInt32(CORRAL_F_CLASSIFY)
        try maps[.generations]!.update(image.gen, header)
        // 2. Its old entries go (also entries of this epoch left by a failed attempt).
        try clear(gen: image.gen)
        try clearCgroupEntries(keeping: activeEpoch)
        // 3. The policy, the pattern trie included.
        for p in PolicyMap.allCases where p != .generations {
            if p.isPerSlot {
                try replaceSlot(p, gen: image.gen, entries: image.entries(map: p))
            } else {
                try maps[p]!.updateBatchRaw(image.entries(map: p), keySize: p.keySize, valueSize: p.valueSize)
            }
        }
        // 3b. What the kernel learned in the running generation (a file renamed over a subject
        // executable, a file that gained a subject xattr; bpf/executables/) carries over.
        if let previousSubjects, !fresh {
            try carryLearnedExecutables(from: current.active_gen, previous: previousSubjects, into: image)
        }
        // 4. From now on cgroup_mkdir classifies new cgroups into this epoch; 5. the walk
        // classifies the ones that exist (a parent before its children).
        header.flags |= UInt32(CORRAL_F_CLASSIFY)
        try maps[.generations]!.update(image.gen, header)
        var report = try classifyExisting(trie: image.trie, epoch: epoch, cgroupRoot: cgroupRoot, write: true)
        // 6. The switch.
        var next = corral_control()
        next.active_gen = image.gen
        next.flags = flags
        let t1 = Sys.monotonicNanos()
        try control.update(UInt32(0), next)
        let t2 = Sys.monotonicNanos()
        // 7. The previous generation: no more classification into it, then its entries go.
        if image.gen != current.active_gen {
            if var old = try maps[.generations]!.lookup(current.active_gen, as: corral_generation()) {
                old.flags &= ~UInt32(CORRAL_F_CLASSIFY)
                try maps[.generations]!.update(current.active_gen, old)
            }
            try clear(gen: current.active_gen)
        }
        try clearCgroupEntries(keeping: epoch)
        report.writeNanos = t1 - t0
        report.switchNanos = t2 - t1
        report.retireNanos = Sys.monotonicNanos() - t2
        return report
    }

    /// Copies corral_subj_exe entries of slot `from` that the new image does not have (the kernel
    /// added them), with their bits renumbered by matcher into the image's subject bits. The
    /// hooks write into both slots, so an event after this copy reaches the new slot directly.
    func carryLearnedExecutables(from: UInt32, previous: [SubjectBit], into image: MapImage) throws(KernelError) {
        let map = maps[.subjectExes]!
        let compiled = Set(image.subjectExes.map { ExecutableID(dev: $0.key.dev, ino: $0.key.ino) })
        var newBit: [SubjectMatcher: UInt64] = [:]
        for s in image.subjects where s.bit < 64 { newBit[s.matcher] = 1 << UInt64(s.bit) }
        for raw in try map.keysRaw(keySize: MemoryLayout<corral_exe_key>.size) {
            let k = RawBytes.load(corral_exe_key.self, from: raw, zero: corral_exe_key())
            guard k.gen == from, !compiled.contains(ExecutableID(dev: k.dev, ino: k.ino)),
                  let old = try map.lookup(k, as: UInt64(0)) else { continue }
            var bits: UInt64 = 0
            for s in previous where s.bit < 64 && old & (1 << UInt64(s.bit)) != 0 {
                switch s.matcher {
                case .exe, .xattr: bits |= newBit[s.matcher] ?? 0
                default: break
                }
            }
            guard bits != 0 else { continue }
            var nk = k
            nk.gen = image.gen
            try map.update(nk, bits)
        }
    }

    /// Walks the cgroup tree under `cgroupRoot` and classifies it with `trie`: writes the entries
    /// of `epoch` (`write`), or compares them with what the map holds (the consistency check).
    public func classifyExisting(trie: PatternTrie, epoch: UInt32, cgroupRoot: String, write: Bool) throws(KernelError) -> ClassificationReport {
        var report = ClassificationReport()
        let root = cgroupRoot.hasSuffix("/") && cgroupRoot.count > 1 ? String(cgroupRoot.dropLast()) : cgroupRoot
        func host(_ p: CgroupPath) -> String { p.components.isEmpty ? root : root + p.description }
        let rootID: UInt64
        do throws(Errno) { rootID = try FileSystem.status(root).inode } catch {
            throw .map(name: cgroups.name, operation: "classify: stat \(root)", errno: error)
        }
        var seen: Set<UInt64> = []
        try CgroupTreeWalk.walk(
            classifier: CgroupClassifier(trie: trie), rootID: rootID,
            children: { (path: CgroupPath) throws(KernelError) -> [CgroupTreeWalk.Child] in
                // A cgroup removed meanwhile lists nothing; its children went with it.
                guard let entries = try? FileSystem.directoryEntries(host(path)) else { return [] }
                let base = host(path)
                return entries.compactMap { e in
                    guard e.kind == .directory || e.kind == .unknown,
                          let st = try? FileSystem.status(base + "/" + e.name), st.isDirectory else { return nil }
                    return CgroupTreeWalk.Child(name: e.name, id: st.inode)
                }
            },
            visit: { (path: CgroupPath, id: UInt64, cls: CgroupClass) throws(KernelError) in
                report.cgroups += 1
                seen.insert(id)
                if cls.overflow { report.overflowed.append(path.description) }
                var key = corral_cgroup_key()
                key.cgroup_id = id
                key.epoch = epoch
                if write {
                    try cgroups.update(key, cls.value)
                } else {
                    // A cgroup created after the listing is classified by the kernel alone.
                    let have = try cgroups.lookup(key, as: corral_cgroup_class())
                    if let have, CgroupClass(have) != cls {
                        report.differences.append("\(path) (id \(id)): kernel \(CgroupClass(have)), expected \(cls)")
                    } else if have == nil, Sys.exists(host(path)) {
                        report.differences.append("\(path) (id \(id)): no entry, expected \(cls)")
                    }
                }
            })
        if !write {
            for raw in try cgroups.keysRaw(keySize: MemoryLayout<corral_cgroup_key>.size) {
                let k = RawBytes.load(corral_cgroup_key.self, from: raw, zero: corral_cgroup_key())
                if k.epoch == epoch && !seen.contains(k.cgroup_id) { report.stale += 1 }
            }
        }
        return report
    }

    /// Sets corral_control.flags without changing the active generation.
    public func setFlags(_ flags: UInt32) throws(KernelError) {
        var c = try readControl()
        c.flags = flags
        try control.update(UInt32(0), c)
    }

    private func isEmpty(_ c: corral_control) -> Bool {
        // A fresh object: generation slot 0 is active but holds no policy yet.
        (try? maps[.generations]!.lookup(c.active_gen, as: corral_generation()))??.generation == 0
    }
}
