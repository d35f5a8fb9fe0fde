// The only file that calls libbpf. Everything above it works with these small handle types.
import CLibBPF
import CorralSystem
import Glibc

/// libbpf 1.x returns -errno (and sets errno); NULL-returning calls set errno.
@inline(__always) private func errnoOf(_ rc: Int32) -> Errno { Errno(rawValue: rc < 0 ? -rc : errno) }

// MARK: BTF

/// The running kernel's BTF (/sys/kernel/btf/vmlinux).
public final class KernelBTF {
    private let btf: OpaquePointer

    /// nil when the kernel has no BTF (CONFIG_DEBUG_INFO_BTF=n) or it cannot be read.
    public init?() {
        guard let b = btf__load_vmlinux_btf() else { return nil }
        btf = b
    }

    deinit { btf__free(btf) }

    /// The BTF type id of function `name`, or nil.
    public func functionID(_ name: String) -> UInt32? {
        let id = btf__find_by_name_kind(btf, name, 12 /* BTF_KIND_FUNC */)
        return id > 0 ? UInt32(id) : nil
    }

    /// Whether struct/union `type` has member `member`, or enum `type` has enumerator `member`
    /// (e.g. `bpf_func_id`, `BPF_FUNC_get_func_arg_cnt`).
    public func has(_ type: String, member: String) -> Bool {
        corral_btf_has_member(btf, type, member) != 0
    }
}

public enum LibBPF {
    /// Loads (and immediately closes) a minimal BPF_LSM_MAC program for the hook with this BTF id.
    /// Returns nil on success, else the errno and the verifier log.
    public static func trialLoadLSM(attachBTFID: UInt32) -> (errno: Errno, log: String)? {
        var log = [CChar](repeating: 0, count: 4096)
        let fd = corral_trial_load_lsm(attachBTFID, &log, log.count)
        if fd >= 0 { Glibc.close(fd); return nil }
        return (Errno(rawValue: -fd), String(cString: log))
    }

    /// Silences libbpf's own stderr messages (errors are reported through KernelError instead).
    public static func quiet() { libbpf_set_print(nil) }

    // MARK: raw map calls by fd

    public static func mapUpdate(fd: Int32, key: [UInt8], value: [UInt8], flags: UInt64 = 0) -> Errno? {
        let rc = key.withUnsafeBytes { k in value.withUnsafeBytes { v in bpf_map_update_elem(fd, k.baseAddress, v.baseAddress, flags) } }
        return rc == 0 ? nil : errnoOf(rc)
    }

    public static func mapLookup(fd: Int32, key: [UInt8], valueSize: Int) -> Result<[UInt8], Errno> {
        var value = [UInt8](repeating: 0, count: valueSize)
        let rc = key.withUnsafeBytes { k in value.withUnsafeMutableBytes { v in bpf_map_lookup_elem(fd, k.baseAddress, v.baseAddress) } }
        return rc == 0 ? .success(value) : .failure(errnoOf(rc))
    }

    public static func mapDelete(fd: Int32, key: [UInt8]) -> Errno? {
        let rc = key.withUnsafeBytes { k in bpf_map_delete_elem(fd, k.baseAddress) }
        return rc == 0 ? nil : errnoOf(rc)
    }

    // MARK: maps created at run time (the inner maps of per-slot maps)

    /// Creates a map without BTF; the caller owns the fd.
    public static func mapCreate(type: UInt32, name: String, keySize: Int, valueSize: Int, maxEntries: Int,
                                 flags: UInt32) -> Result<Int32, Errno> {
        var opts = bpf_map_create_opts()
        opts.sz = MemoryLayout<bpf_map_create_opts>.size
        opts.map_flags = flags
        let fd = bpf_map_create(bpf_map_type(type), name, UInt32(keySize), UInt32(valueSize), UInt32(maxEntries), &opts)
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }

    /// An fd for the map with kernel id `id`; the caller owns it.
    public static func mapFD(id: UInt32) -> Result<Int32, Errno> {
        let fd = bpf_map_get_fd_by_id(id)
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }

    /// The BPF_MAP_TYPE_* of the map behind `fd`.
    public static func mapType(fd: Int32) -> Result<UInt32, Errno> {
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let rc = bpf_obj_get_info_by_fd(fd, &info, &len)
        return rc == 0 ? .success(info.type) : .failure(errnoOf(rc))
    }

    // MARK: batch map calls (BPF_MAP_*_BATCH, Linux 5.6+): one syscall for many elements

    /// Writes `count` elements: `keys` and `values` hold them back to back. Returns the number
    /// written and, when short, the errno that stopped the kernel.
    public static func mapUpdateBatch(fd: Int32, keys: [UInt8], values: [UInt8], count: Int, flags: UInt64 = 0) -> (done: Int, errno: Errno?) {
        var n = UInt32(count)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        opts.elem_flags = flags
        let rc = keys.withUnsafeBytes { k in values.withUnsafeBytes { v in bpf_map_update_batch(fd, k.baseAddress, v.baseAddress, &n, &opts) } }
        return (Int(n), rc == 0 ? nil : errnoOf(rc))
    }

    /// Deletes `count` keys held back to back in `keys`. Returns the number deleted and, when
    /// short, the errno that stopped the kernel (ENOENT: a key was missing).
    public static func mapDeleteBatch(fd: Int32, keys: [UInt8], count: Int) -> (done: Int, errno: Errno?) {
        var n = UInt32(count)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        let rc = keys.withUnsafeBytes { k in bpf_map_delete_batch(fd, k.baseAddress, &n, &opts) }
        return (Int(n), rc == 0 ? nil : errnoOf(rc))
    }

    /// One step of BPF_MAP_LOOKUP_BATCH: up to `capacity` elements after the position in `token`
    /// (nil: from the start). `token` is an opaque 8-byte position (hash maps use a bucket index,
    /// arrays a key: both fit). Returns the keys, the values, their count, and whether the map is
    /// exhausted. ENOSPC: one hash bucket holds more than `capacity` elements.
    public static func mapLookupBatch(fd: Int32, token: inout [UInt8]?, keySize: Int, valueSize: Int,
                                      capacity: Int) -> Result<(keys: [UInt8], values: [UInt8], count: Int, done: Bool), Errno> {
        var keys = [UInt8](repeating: 0, count: keySize * capacity)
        var values = [UInt8](repeating: 0, count: valueSize * capacity)
        var out = [UInt8](repeating: 0, count: max(8, keySize))
        var n = UInt32(capacity)
        var opts = bpf_map_batch_opts()
        opts.sz = MemoryLayout<bpf_map_batch_opts>.size
        let rc: Int32 = keys.withUnsafeMutableBytes { k in
            values.withUnsafeMutableBytes { v in
                out.withUnsafeMutableBytes { o in
                    if var t = token {
                        return t.withUnsafeMutableBytes { i in
                            bpf_map_lookup_batch(fd, i.baseAddress, o.baseAddress, k.baseAddress, v.baseAddress, &n, &opts)
                        }
                    }
                    return bpf_map_lookup_batch(fd, nil, o.baseAddress, k.baseAddress, v.baseAddress, &n, &opts)
                }
            }
        }
        if rc != 0 {
            let e = errnoOf(rc)
            // ENOENT: no elements after this position (the count read is still valid).
            guard e.rawValue == ENOENT else { return .failure(e) }
            return .success((keys, values, Int(n), true))
        }
        token = out
        return .success((keys, values, Int(n), false))
    }

    /// Opens a pinned BPF object (map, program or link) by its bpffs path; the caller owns the fd.
    public static func objGet(_ path: String) -> Result<Int32, Errno> {
        let fd = bpf_obj_get(path)
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }

    /// The key after `key` (nil: the first key); nil at the end.
    public static func mapNextKey(fd: Int32, key: [UInt8]?, keySize: Int) -> Result<[UInt8]?, Errno> {
        var next = [UInt8](repeating: 0, count: keySize)
        let rc: Int32
        if let key {
            rc = key.withUnsafeBytes { k in next.withUnsafeMutableBytes { n in bpf_map_get_next_key(fd, k.baseAddress, n.baseAddress) } }
        } else {
            rc = next.withUnsafeMutableBytes { n in bpf_map_get_next_key(fd, nil, n.baseAddress) }
        }
        if rc == 0 { return .success(next) }
        let e = errnoOf(rc)
        return e.rawValue == ENOENT ? .success(nil) : .failure(e)
    }
}

// MARK: object, programs, maps, links

/// One program of an opened object.
public struct BPFProgramRef {
    fileprivate let raw: OpaquePointer
    public var name: String { String(cString: bpf_program__name(raw)) }
    public var sectionName: String { String(cString: bpf_program__section_name(raw)) }
    public var autoload: Bool { bpf_program__autoload(raw) }
    public func setAutoload(_ on: Bool) { _ = bpf_program__set_autoload(raw, on) }
}

/// A bpf_object from open to close.
public final class BPFObjectHandle {
    private let obj: OpaquePointer
    /// Names the object in errors: its file, or where its bytes came from.
    public let path: String
    /// The ELF image of an object opened from memory: libbpf reads it until the object closes.
    private let image: UnsafeMutableRawBufferPointer?
    /// Per-program verifier log buffers (kept alive until load returns).
    private var logBuffers: [String: UnsafeMutablePointer<CChar>] = [:]
    private static let logSize = 1 << 20

    public init(path: String) throws(KernelError) {
        guard let o = bpf_object__open_file(path, nil) else {
            throw .object(path: path, reason: "open failed: \(Errno.current)")
        }
        obj = o
        self.path = path
        image = nil
    }

    /// Opens an object from its ELF bytes (bpf_object__open_mem). libbpf names it `objectName`,
    /// as it would name a file `objectName.bpf.o`; `path` names it in errors.
    public init(bytes: [UInt8], objectName: String, path: String) throws(KernelError) {
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        image.copyBytes(from: bytes)
        let opened = withZeroedOptions(bpf_object_open_opts.self) { opts in
            opts.pointee.sz = MemoryLayout<bpf_object_open_opts>.size
            return objectName.withCString { name in // libbpf copies the name
                opts.pointee.object_name = name
                return bpf_object__open_mem(image.baseAddress, bytes.count, opts)
            }
        }
        guard let o = opened else {
            let e = Errno.current
            image.deallocate()
            throw .object(path: path, reason: "open failed: \(e)")
        }
        obj = o
        self.path = path
        self.image = image
    }

    deinit {
        bpf_object__close(obj)
        image?.deallocate()
        for (_, b) in logBuffers { b.deallocate() }
    }

    public var programs: [BPFProgramRef] {
        var out: [BPFProgramRef] = []
        var p = bpf_object__next_program(obj, nil)
        while let prog = p {
            out.append(BPFProgramRef(raw: prog))
            p = bpf_object__next_program(obj, prog)
        }
        return out
    }

    /// Loads every program with autoload on. On failure names the first program whose verifier
    /// log is non-empty and keeps the log.
    public func load() throws(KernelError) {
        for prog in programs where prog.autoload {
            let buf = UnsafeMutablePointer<CChar>.allocate(capacity: Self.logSize)
            buf[0] = 0
            logBuffers[prog.name] = buf
            _ = bpf_program__set_log_buf(prog.raw, buf, Self.logSize)
        }
        let rc = bpf_object__load(obj)
        if rc == 0 { return }
        let err = errnoOf(rc)
        for prog in programs where prog.autoload {
            if let buf = logBuffers[prog.name], buf[0] != 0 {
                throw .load(program: prog.name, errno: err, verifierLog: String(cString: buf))
            }
        }
        throw .load(program: "(object \(path))", errno: err, verifierLog: "")
    }

    /// Names of the object's own maps (libbpf's internal .bss/.rodata/... maps excluded).
    public var mapNames: [String] {
        var out: [String] = []
        var m = bpf_object__next_map(obj, nil)
        while let map = m {
            let name = String(cString: bpf_map__name(map))
            if !name.contains(".") { out.append(name) }
            m = bpf_object__next_map(obj, map)
        }
        return out
    }

    /// Pins a loaded map at `path` (a bpffs file).
    public func pinMap(_ name: String, at path: String) throws(KernelError) {
        guard let m = bpf_object__find_map_by_name(obj, name) else {
            throw .map(name: name, operation: "find in object", errno: Errno(rawValue: ENOENT))
        }
        let rc = bpf_map__pin(m, path)
        if rc != 0 { throw .pin(path: path, errno: errnoOf(rc)) }
    }

    public func mapFD(_ name: String) throws(KernelError) -> Int32 {
        guard let m = bpf_object__find_map_by_name(obj, name) else {
            throw .map(name: name, operation: "find in object", errno: Errno(rawValue: ENOENT))
        }
        let fd = bpf_map__fd(m)
        if fd < 0 { throw .map(name: name, operation: "fd", errno: errnoOf(fd)) }
        return fd
    }

    public func attach(_ program: BPFProgramRef) throws(KernelError) -> BPFLinkHandle {
        guard let link = bpf_program__attach(program.raw) else {
            throw .attach(program: program.name, errno: Errno.current)
        }
        return BPFLinkHandle(raw: link, program: program.name)
    }
}

/// An attached program. Destroying the handle detaches unless the link is pinned.
public final class BPFLinkHandle {
    private var raw: OpaquePointer?
    public let program: String
    public private(set) var pinPath: String?

    fileprivate init(raw: OpaquePointer, program: String) {
        self.raw = raw
        self.program = program
    }

    public func pin(at path: String) throws(KernelError) {
        guard let raw else { return }
        let rc = bpf_link__pin(raw, path)
        if rc != 0 { throw .pin(path: path, errno: errnoOf(rc)) }
        pinPath = path
    }

    public func unpin() throws(KernelError) {
        guard let raw, let p = pinPath else { return }
        let rc = bpf_link__unpin(raw)
        if rc != 0 { throw .pin(path: p, errno: errnoOf(rc)) }
        pinPath = nil
    }

    /// Closes the link fd: the program detaches once no pin or fd holds it.
    public func destroy() {
        if let raw { bpf_link__destroy(raw) }
        raw = nil
    }

    deinit { destroy() }
}

// MARK: ring buffer

/// A libbpf ring_buffer on one BPF_MAP_TYPE_RINGBUF map, delivering raw records to `onRecord`.
public final class RingBufferHandle {
    private var rb: OpaquePointer?
    private let sink: Sink

    private final class Sink {
        let onRecord: (UnsafeRawBufferPointer) -> Void
        /// Records still allowed in this consume call; at 0 the callback stops libbpf.
        var remaining = Int.max
        var exhausted = false
        init(_ f: @escaping (UnsafeRawBufferPointer) -> Void) { onRecord = f }
    }

    public init(mapFD: Int32, onRecord: @escaping (UnsafeRawBufferPointer) -> Void) throws(KernelError) {
        sink = Sink(onRecord)
        let ctx = Unmanaged.passUnretained(sink).toOpaque()
        let cb: corral_ringbuf_cb = { ctx, data, size in
            let s = Unmanaged<Sink>.fromOpaque(ctx!).takeUnretainedValue()
            s.onRecord(UnsafeRawBufferPointer(start: data, count: size))
            s.remaining -= 1
            if s.remaining <= 0 {
                // libbpf has already advanced past this record; a negative return stops it here.
                s.exhausted = true
                return -EAGAIN
            }
            return 0
        }
        guard let r = ring_buffer__new(mapFD, cb, ctx, nil) else {
            throw .ringBuffer(reason: "ring_buffer__new", errno: Errno.current)
        }
        rb = r
    }

    /// Waits up to `timeoutMillis` and delivers available records; returns how many.
    @discardableResult
    public func poll(timeoutMillis: Int32) throws(KernelError) -> Int {
        guard let rb else { return 0 }
        let n = ring_buffer__poll(rb, timeoutMillis)
        if n < 0 {
            if -n == EINTR { return 0 }
            throw .ringBuffer(reason: "poll", errno: Errno(rawValue: -n))
        }
        return Int(n)
    }

    /// An epoll fd that becomes readable when records are available (for a reactor).
    public var epollFD: Int32 {
        guard let rb else { return -1 }
        return ring_buffer__epoll_fd(rb)
    }

    /// Delivers the records available now without waiting: all of them, or at most `max` so a
    /// producer faster than the consumer cannot keep the caller here forever.
    @discardableResult
    public func drain(max: Int = Int.max) throws(KernelError) -> Int {
        guard let rb else { return 0 }
        sink.remaining = max
        sink.exhausted = false
        defer { sink.remaining = Int.max }
        let n = ring_buffer__consume(rb)
        if sink.exhausted { return max }
        if n < 0 { throw .ringBuffer(reason: "consume", errno: Errno(rawValue: -n)) }
        return Int(n)
    }

    public func close() {
        if let rb { ring_buffer__free(rb) }
        rb = nil
    }

    deinit { close() }
}

// MARK: program run statistics (metrics)

public enum BPFStats {
    /// Turns on the kernel's run-count/run-time accounting while the returned fd stays open
    /// (BPF_ENABLE_STATS, BPF_STATS_RUN_TIME).
    public static func enableRunTime() -> Result<Int32, Errno> {
        let fd = bpf_enable_stats(BPF_STATS_RUN_TIME)
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }

    /// The program behind a link fd: (name, run count, run time in ns).
    public static func programOfLink(fd linkFD: Int32) -> (name: String, runCount: UInt64, runTimeNs: UInt64)? {
        var link = bpf_link_info()
        var len = UInt32(MemoryLayout<bpf_link_info>.size)
        guard bpf_obj_get_info_by_fd(linkFD, &link, &len) == 0 else { return nil }
        let progFD = bpf_prog_get_fd_by_id(link.prog_id)
        guard progFD >= 0 else { return nil }
        defer { close(progFD) }
        var prog = bpf_prog_info()
        var plen = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(progFD, &prog, &plen) == 0 else { return nil }
        let name = withUnsafeBytes(of: prog.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return (name, prog.run_cnt, prog.run_time_ns)
    }
}

extension BPFLinkHandle {
    /// The link's fd (valid while the handle lives).
    public var fd: Int32 { raw.map { bpf_link__fd($0) } ?? -1 }
}

// MARK: object ids (self-protection, Sources/CorralKernel/Protect)

/// What a BPF object fd refers to.
public enum BPFObjectKind: String, Sendable { case map, program, link }

extension LibBPF {
    /// An fd for map/program/link `id` (BPF_*_GET_FD_BY_ID); the caller owns it.
    public static func fd(byID id: UInt32, kind: BPFObjectKind) -> Result<Int32, Errno> {
        let fd: Int32 = switch kind {
        case .map: bpf_map_get_fd_by_id(id)
        case .program: bpf_prog_get_fd_by_id(id)
        case .link: bpf_link_get_fd_by_id(id)
        }
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }

    /// Pins the map, program or link behind `fd` at `path` (a new bpffs file).
    public static func objPin(fd: Int32, path: String) -> Errno? {
        let rc = bpf_obj_pin(fd, path)
        return rc == 0 ? nil : errnoOf(rc)
    }

    /// Whether `fd` is a BPF map, program or link (nil: something else), from the first line
    /// of /proc/self/fdinfo/FD that names a type: map_type, prog_type or link_type.
    public static func objectKind(fd: Int32) -> BPFObjectKind? {
        guard let text = try? Sys.readFile("/proc/self/fdinfo/\(fd)") else { return nil }
        for line in text.split(separator: "\n") {
            if line.hasPrefix("map_type:") { return .map }
            if line.hasPrefix("prog_type:") { return .program }
            if line.hasPrefix("link_type:") { return .link }
        }
        return nil
    }

    /// The kernel id of the map behind `fd` (BPF_OBJ_GET_INFO_BY_FD).
    public static func mapID(fd: Int32) -> Result<UInt32, Errno> {
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let rc = bpf_obj_get_info_by_fd(fd, &info, &len)
        return rc == 0 ? .success(info.id) : .failure(errnoOf(rc))
    }

    /// The value size of the map behind `fd`, in bytes.
    public static func mapValueSize(fd: Int32) -> Result<Int, Errno> {
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let rc = bpf_obj_get_info_by_fd(fd, &info, &len)
        return rc == 0 ? .success(Int(info.value_size)) : .failure(errnoOf(rc))
    }

    /// The kernel id of the link behind `fd` and of the program it runs.
    public static func linkIDs(fd: Int32) -> Result<(link: UInt32, program: UInt32), Errno> {
        var info = bpf_link_info()
        var len = UInt32(MemoryLayout<bpf_link_info>.size)
        let rc = bpf_obj_get_info_by_fd(fd, &info, &len)
        return rc == 0 ? .success((info.id, info.prog_id)) : .failure(errnoOf(rc))
    }

    /// The kernel id of the program behind `fd` and the ids of the maps it uses.
    public static func programIDs(fd: Int32) -> Result<(program: UInt32, maps: [UInt32]), Errno> {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        var rc = bpf_obj_get_info_by_fd(fd, &info, &len)
        if rc != 0 { return .failure(errnoOf(rc)) }
        let count = Int(info.nr_map_ids)
        if count == 0 { return .success((info.id, [])) }
        var maps = [UInt32](repeating: 0, count: count)
        rc = maps.withUnsafeMutableBufferPointer { buf in
            var again = bpf_prog_info()
            again.nr_map_ids = UInt32(count)
            again.map_ids = UInt64(UInt(bitPattern: buf.baseAddress))
            var l = UInt32(MemoryLayout<bpf_prog_info>.size)
            return bpf_obj_get_info_by_fd(fd, &again, &l)
        }
        if rc != 0 { return .failure(errnoOf(rc)) }
        return .success((info.id, maps))
    }
}

// MARK: fd operations (self-protection tests, inspection)

/// A libbpf options struct with every byte zero, padding included: libbpf refuses options
/// whose bytes past the last field it knows are not zero, and Swift leaves padding undefined.
private func withZeroedOptions<T, R>(_: T.Type, _ body: (UnsafeMutablePointer<T>) -> R) -> R {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
    defer { raw.deallocate() }
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.stride)
    return body(raw.assumingMemoryBound(to: T.self))
}

extension LibBPF {
    /// A read-only fd for map `id` (BPF_MAP_GET_FD_BY_ID with BPF_F_RDONLY): lookups and
    /// iteration work, the kernel refuses writes through it.
    public static func readOnlyMapFD(byID id: UInt32) -> Result<Int32, Errno> {
        let fd = withZeroedOptions(bpf_get_fd_by_id_opts.self) { o in
            o.pointee.sz = MemoryLayout<bpf_get_fd_by_id_opts>.size
            o.pointee.open_flags = UInt32(BPF_F_RDONLY)
            return bpf_map_get_fd_by_id_opts(id, o)
        }
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }

    /// BPF_LINK_DETACH.
    public static func linkDetach(fd: Int32) -> Errno? {
        let rc = bpf_link_detach(fd)
        return rc == 0 ? nil : errnoOf(rc)
    }

    /// BPF_LINK_UPDATE: make link `fd` run program `programFD`.
    public static func linkUpdate(fd: Int32, programFD: Int32) -> Errno? {
        let rc = bpf_link_update(fd, programFD, nil)
        return rc == 0 ? nil : errnoOf(rc)
    }

    /// BPF_MAP_FREEZE.
    public static func mapFreeze(fd: Int32) -> Errno? {
        let rc = bpf_map_freeze(fd)
        return rc == 0 ? nil : errnoOf(rc)
    }

    /// BPF_PROG_TEST_RUN with an empty context.
    public static func programTestRun(fd: Int32) -> Errno? {
        let rc = withZeroedOptions(bpf_test_run_opts.self) { o in
            o.pointee.sz = MemoryLayout<bpf_test_run_opts>.size
            return bpf_prog_test_run_opts(fd, o)
        }
        return rc == 0 ? nil : errnoOf(rc)
    }

    /// BPF_RAW_TRACEPOINT_OPEN with no name: (re)attaches a tracing or LSM program to its
    /// load-time target; returns the new link fd.
    public static func attachAgain(programFD: Int32) -> Result<Int32, Errno> {
        let fd = bpf_raw_tracepoint_open(nil, programFD)
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }

    /// Loads a socket filter `r1 = map; r0 = 0; exit` that references the map behind `mapFD`
    /// (BPF_PSEUDO_MAP_FD), so that the map becomes one of its used maps; returns the program fd.
    public static func loadProgram(referencing mapFD: Int32) -> Result<Int32, Errno> {
        func insn(_ code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, imm: Int32 = 0) -> bpf_insn {
            var i = bpf_insn()
            i.code = code
            i.dst_reg = dst
            i.src_reg = src
            i.imm = imm
            return i
        }
        let insns = [
            insn(UInt8(BPF_LD | BPF_DW | BPF_IMM), dst: 1, src: UInt8(BPF_PSEUDO_MAP_FD), imm: mapFD), insn(0),
            insn(UInt8(BPF_ALU64 | BPF_MOV | BPF_K), dst: 0, imm: 0),
            insn(UInt8(BPF_JMP | BPF_EXIT)),
        ]
        let fd = insns.withUnsafeBufferPointer { buf in
            bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "ktest_usemap", "GPL", buf.baseAddress, buf.count, nil)
        }
        return fd >= 0 ? .success(fd) : .failure(errnoOf(fd))
    }
}
