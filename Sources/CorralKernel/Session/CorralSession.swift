// One loaded Corral: probe -> open object with one hook set -> load -> attach -> install policy.
// `corral run`, `corral daemon` and corral-ktest all go through this type.
import CorralABI
import CorralCompiler
import CorralEvents
import CorralPolicy
import CorralSystem

public struct SessionOptions: Sendable {
    /// Force a hook set; nil picks the probed mode.
    public var mode: KernelMode?
    /// Treat every rule as audit (CORRAL_F_AUDIT_ALL).
    public var auditAll: Bool
    /// Emit an event for every decision (CORRAL_F_TRACE_ALL).
    public var traceAll: Bool
    /// Pin links here so they outlive the process (daemon).
    public var pinDirectory: String?
    /// A corral.bpf.o file to load; nil: `CorralObject.locate()`.
    public var objectPath: String?
    /// Load and attach the self-protection programs (`protect_*`, for `protect()`). Off, they
    /// are not loaded: a session without a daemon has nothing to protect, and each of them is
    /// one more program on hot hooks such as inode_permission.
    public var selfProtection: Bool

    public init(mode: KernelMode? = nil, auditAll: Bool = false, traceAll: Bool = false,
                pinDirectory: String? = nil, objectPath: String? = nil, selfProtection: Bool = false) {
        self.mode = mode
        self.auditAll = auditAll
        self.traceAll = traceAll
        self.pinDirectory = pinDirectory
        self.objectPath = objectPath
        self.selfProtection = selfProtection
    }
}

public final class CorralSession {
    public let probe: ProbeReport
    public let mode: KernelMode
    public let object: CorralObject
    public let installer: PolicyInstaller
    public private(set) var policy: Policy
    public private(set) var image: MapImage
    public private(set) var decoder: EventDecoder
    public let options: SessionOptions
    /// Policy-wide audit (CORRAL_F_AUDIT_ALL in the generation); starts as `options.auditAll`.
    public private(set) var auditAll: Bool

    /// Probes, refusing cleanly when the kernel (or the forced mode) is unsupported.
    public static func probeAndChoose(_ options: SessionOptions, object: BPFObjectSource?) throws(KernelError) -> (ProbeReport, KernelMode) {
        let targets = object.flatMap { CorralObject.attachTargets(source: $0, prefix: "compat_") }
        let report = KernelProbe.run(compatTargets: targets?.isEmpty == false ? targets : nil)
        if let forced = options.mode {
            guard forced != .unsupported, report.available(forced) else {
                throw .modeUnavailable(requested: forced.rawValue, probed: report.mode.rawValue, missing: report.missing(for: forced))
            }
            return (report, forced)
        }
        guard report.mode != .unsupported else { throw .unsupported(report.missing(for: .unsupported)) }
        return (report, report.mode)
    }

    /// Loads and attaches a fresh object. `firstGeneration` numbers the first policy generation
    /// (a daemon replacing unadoptable pins continues the old numbering).
    public init(policy: Policy, options: SessionOptions = SessionOptions(), firstGeneration: UInt64 = 1,
                beforeSwitch: (MapImage) throws(KernelError) -> Void = { _ throws(KernelError) in }) throws(KernelError) {
        let source: BPFObjectSource
        if let p = options.objectPath { source = .file(p) } else { source = try CorralObject.locate() }
        (probe, mode) = try Self.probeAndChoose(options, object: source)
        self.options = options
        self.policy = policy
        auditAll = options.auditAll
        object = try CorralObject(source: source, mode: mode, selfProtection: options.selfProtection)
        try object.load()
        installer = try PolicyInstaller(object: object)
        // Install before attaching so the first decision already sees the policy.
        let gen = try installer.inactiveGeneration()
        image = try Self.compile(policy, gen: gen, generation: firstGeneration, auditAll: options.auditAll)
        try beforeSwitch(image)
        lastInstall = try installer.install(image, flags: controlFlags(options), cgroupRoot: policy.cgroupRoot)
        decoder = EventDecoder(policy: policy, cgroupPaths: image.cgroupPathByID)
        try object.attach(pinDirectory: options.pinDirectory)
        // cgroup_mkdir classifies from the attach on; cgroups created between the walk and the
        // attach are classified by a second walk (entries are idempotent).
        try installer.classifyExisting(trie: image.trie, epoch: epoch, cgroupRoot: policy.cgroupRoot, write: true)
    }

    /// Adopts `object` (`CorralObject(adopting:)`: what a previous daemon pinned) and installs
    /// `policy` as the next generation. The pinned links stay attached throughout: there is no
    /// moment without enforcement. `beforeSwitch` runs after compiling, before the flip.
    public init(adopting object: CorralObject, policy: Policy, options: SessionOptions,
                beforeSwitch: (MapImage) throws(KernelError) -> Void = { _ throws(KernelError) in }) throws(KernelError) {
        self.object = object
        mode = object.mode
        probe = KernelProbe.run(compatTargets: nil)
        self.options = options
        self.policy = policy
        auditAll = options.auditAll
        installer = try PolicyInstaller(object: object)
        let gen = try installer.inactiveGeneration()
        image = try Self.compile(policy, gen: gen, generation: try installer.activeGenerationNumber() + 1, auditAll: options.auditAll)
        try beforeSwitch(image)
        lastInstall = try installer.install(image, flags: controlFlags(options), cgroupRoot: policy.cgroupRoot)
        decoder = EventDecoder(policy: policy, cgroupPaths: image.cgroupPathByID)
    }

    static func compile(_ policy: Policy, gen: UInt32, generation: UInt64, auditAll: Bool) throws(KernelError) -> MapImage {
        do {
            return try PolicyCompiler.compile(policy, gen: gen, generation: generation,
                                              resolver: FileSystemResolver(cgroupRoot: policy.cgroupRoot),
                                              options: CompileOptions(auditAll: auditAll))
        } catch {
            throw .compile(error.description)
        }
    }

    /// Compiles and atomically switches to a new policy (the old generation stays active until the flip).
    /// `auditAll` (nil: unchanged) sets policy-wide audit for the new generation; `beforeSwitch`
    /// runs after compiling, before the flip (the daemon writes its generation record there).
    @discardableResult
    public func replacePolicy(_ newPolicy: Policy, auditAll: Bool? = nil,
                              beforeSwitch: (MapImage) throws(KernelError) -> Void = { _ throws(KernelError) in }) throws(KernelError) -> MapImage {
        let gen = try installer.inactiveGeneration()
        let audit = auditAll ?? self.auditAll
        let next = try Self.compile(newPolicy, gen: gen, generation: image.generation.value.generation + 1,
                                    auditAll: audit)
        try beforeSwitch(next)
        lastInstall = try installer.install(next, flags: controlFlags(options), cgroupRoot: newPolicy.cgroupRoot,
                              previousSubjects: image.subjects)
        self.auditAll = audit
        policy = newPolicy
        image = next
        decoder = EventDecoder(policy: newPolicy, cgroupPaths: next.cgroupPathByID)
        return next
    }

    /// What the last install reported: its classification walk and its phases' times.
    public private(set) var lastInstall = ClassificationReport()

    /// The running generation's epoch: the key of its corral_cgroups entries.
    public var epoch: UInt32 { UInt32(truncatingIfNeeded: image.generation.value.generation) }

    /// The consistency check: classifies the cgroup tree in userspace and compares the kernel's
    /// entries of the running epoch with it (nothing is written).
    public func checkClassification() throws(KernelError) -> ClassificationReport {
        try installer.classifyExisting(trie: image.trie, epoch: epoch, cgroupRoot: policy.cgroupRoot, write: false)
    }

    /// Unresolved policy references, one warning line each.
    public var unresolvedWarnings: [String] { image.unresolved.map(\.description) }

    public func events(sink: @escaping (Event) -> Void) throws(KernelError) -> EventReader {
        try EventReader(map: object.map("corral_events"), decoder: { [unowned self] in self.decoder }, sink: sink)
    }

    // MARK: task state (keyed by pidfd)

    public func taskState(pid: Int32) throws(KernelError) -> corral_task_state? {
        let fd: Int32
        do { fd = try Linux.pidfdOpen(pid) } catch { throw .system(call: "pidfd_open(\(pid))", errno: error) }
        defer { Sys.close(fd) }
        return try object.map("corral_task_state").lookup(fd, as: corral_task_state())
    }

    /// Sets flag bits in a task's corral_task_state (e.g. CORRAL_TASK_TRACED before the child execs).
    public func markTask(pid: Int32, flags: UInt32) throws(KernelError) {
        let fd: Int32
        do { fd = try Linux.pidfdOpen(pid) } catch { throw .system(call: "pidfd_open(\(pid))", errno: error) }
        defer { Sys.close(fd) }
        let map = try object.map("corral_task_state")
        var st = try map.lookup(fd, as: corral_task_state()) ?? corral_task_state()
        st.flags |= flags
        try map.update(fd, st)
    }

    /// Events the BPF side could not emit because the ring buffer was full.
    public var ringbufDrops: UInt64 { stat(UInt32(CORRAL_STAT_RINGBUF_DROPS.rawValue)) }

    /// Decision events not sent because their rule was over the policy's `events.rate-limit`.
    public var eventsSuppressed: UInt64 { stat(UInt32(CORRAL_STAT_EVENTS_SUPPRESSED.rawValue)) }

    /// Reads corral_stats summed over CPUs.
    public func stat(_ index: UInt32) -> UInt64 {
        guard let m = try? object.map("corral_stats") else { return 0 }
        let cpus = max(1, Int(sysconfNumCPUs()))
        guard let raw = try? m.lookupRaw(key: RawBytes.of(index), valueSize: 8 * cpus) else { return 0 }
        return stride(from: 0, to: raw.count, by: 8).reduce(0) { acc, off in
            acc &+ raw[off..<off + 8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        }
    }

    /// Detaches every program (and unpins). Map fds close with the object.
    public func stop() { object.unload() }

    /// Keeps the pins (enforcement continues for the next daemon to adopt) and lets go.
    public func release() { object.release() }

    /// The generation number decisions use now (from the maps, not from this process).
    public func activeGenerationNumber() throws(KernelError) -> UInt64 { try installer.activeGenerationNumber() }
}

private func controlFlags(_ o: SessionOptions) -> UInt32 {
    (o.auditAll ? UInt32(CORRAL_F_AUDIT_ALL) : 0) | (o.traceAll ? UInt32(CORRAL_F_TRACE_ALL) : 0)
}

import Glibc
/// Possible CPUs, as per-CPU maps size their values (libbpf_num_possible_cpus).
private func sysconfNumCPUs() -> Int {
    if let text = try? Sys.readFile("/sys/devices/system/cpu/possible") {
        // e.g. "0-3" or "0"
        let last = text.split(whereSeparator: { $0 == "-" || $0 == "," || $0 == "\n" }).last.flatMap { Int($0) }
        if let last { return last + 1 }
    }
    return sysconf(Int32(_SC_NPROCESSORS_CONF))
}
