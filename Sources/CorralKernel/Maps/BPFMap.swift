// Typed access to one BPF map by fd. Keys and values are fixed-layout C structs from corral_abi.h
// (or raw bytes from a compiled MapImage).
import CorralSystem
import Glibc

/// The bytes of a trivial value, and back.
public enum RawBytes {
    public static func of<T>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    public static func load<T>(_ type: T.Type, from bytes: [UInt8], zero: T) -> T {
        var v = zero
        withUnsafeMutableBytes(of: &v) { dst in
            bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src.prefix(dst.count))) }
        }
        return v
    }
}

public struct BPFMap: Sendable {
    public let name: String
    public let fd: Int32

    public init(name: String, fd: Int32) {
        self.name = name
        self.fd = fd
    }

    public func updateRaw(key: [UInt8], value: [UInt8], flags: UInt64 = 0) throws(KernelError) {
        if let e = LibBPF.mapUpdate(fd: fd, key: key, value: value, flags: flags) {
            throw .map(name: name, operation: "update", errno: e)
        }
    }

    public func lookupRaw(key: [UInt8], valueSize: Int) throws(KernelError) -> [UInt8]? {
        switch LibBPF.mapLookup(fd: fd, key: key, valueSize: valueSize) {
        case .success(let v): return v
        case .failure(let e) where e == .noSuchFile: return nil
        case .failure(let e): throw .map(name: name, operation: "lookup", errno: e)
        }
    }

    /// Deletes a key; a missing key is not an error.
    public func deleteRaw(key: [UInt8]) throws(KernelError) {
        if let e = LibBPF.mapDelete(fd: fd, key: key), e != .noSuchFile {
            throw .map(name: name, operation: "delete", errno: e)
        }
    }

    public func keysRaw(keySize: Int) throws(KernelError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var cur: [UInt8]? = nil
        while true {
            switch LibBPF.mapNextKey(fd: fd, key: cur, keySize: keySize) {
            case .success(let next?):
                out.append(next)
                cur = next
            case .success(nil): return out
            case .failure(let e): throw .map(name: name, operation: "iterate", errno: e)
            }
        }
    }

    // Batch forms: one bpf() call per chunk of elements instead of one per element. A kernel or
    // map type without the batch command (EINVAL, ENOTSUPP) gets the one-at-a-time calls.

    private static func unsupported(_ e: Errno) -> Bool {
        e.rawValue == EINVAL || e.rawValue == 524 /* ENOTSUPP */ || e.rawValue == EOPNOTSUPP
    }

    /// Writes `entries` (keys of `keySize` bytes, values of `valueSize` bytes).
    public func updateBatchRaw(_ entries: [(key: [UInt8], value: [UInt8])], keySize: Int, valueSize: Int,
                               chunk: Int = 4096) throws(KernelError) {
        var start = 0
        while start < entries.count {
            let end = min(entries.count, start + chunk)
            var keys: [UInt8] = [], values: [UInt8] = []
            keys.reserveCapacity((end - start) * keySize)
            values.reserveCapacity((end - start) * valueSize)
            for e in entries[start..<end] {
                precondition(e.key.count == keySize && e.value.count == valueSize, "map \(name): entry size mismatch")
                keys += e.key
                values += e.value
            }
            let (done, err) = LibBPF.mapUpdateBatch(fd: fd, keys: keys, values: values, count: end - start)
            if let err {
                if done == 0, Self.unsupported(err) {
                    for e in entries[start...] { try updateRaw(key: e.key, value: e.value) }
                    return
                }
                throw .map(name: name, operation: "update (batch, after \(start + done) of \(entries.count))", errno: err)
            }
            start = end
        }
    }

    /// Deletes `keys`; missing keys are not an error.
    public func deleteBatchRaw(_ keys: [[UInt8]], keySize: Int, chunk: Int = 4096) throws(KernelError) {
        var start = 0
        while start < keys.count {
            let end = min(keys.count, start + chunk)
            var buf: [UInt8] = []
            buf.reserveCapacity((end - start) * keySize)
            for k in keys[start..<end] { buf += k }
            let (done, err) = LibBPF.mapDeleteBatch(fd: fd, keys: buf, count: end - start)
            if let err {
                if done == 0, Self.unsupported(err) {
                    for k in keys[start...] { try deleteRaw(key: k) }
                    return
                }
                // The kernel stops at the first failure: a missing key is skipped.
                guard err == .noSuchFile else {
                    throw .map(name: name, operation: "delete (batch, after \(start + done) of \(keys.count))", errno: err)
                }
                start += done + 1
                continue
            }
            start = end
        }
    }

    /// Every key, read with BPF_MAP_LOOKUP_BATCH (values are read and dropped).
    public func keysBatchRaw(keySize: Int, valueSize: Int) throws(KernelError) -> [[UInt8]] {
        try entriesBatchRaw(keySize: keySize, valueSize: valueSize, values: false).map(\.key)
    }

    /// Every entry, read with BPF_MAP_LOOKUP_BATCH (`values` false: empty values).
    public func entriesBatchRaw(keySize: Int, valueSize: Int, values: Bool = true) throws(KernelError) -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        var token: [UInt8]? = nil
        var capacity = 1024
        while true {
            switch LibBPF.mapLookupBatch(fd: fd, token: &token, keySize: keySize, valueSize: valueSize, capacity: capacity) {
            case .success(let r):
                out.reserveCapacity(out.count + r.count)
                for i in 0..<r.count {
                    out.append((Array(r.keys[i * keySize..<(i + 1) * keySize]),
                                values ? Array(r.values[i * valueSize..<(i + 1) * valueSize]) : []))
                }
                if r.done { return out }
            case .failure(let e) where e.rawValue == ENOSPC && capacity < 1 << 20:
                capacity *= 4 // one hash bucket holds more elements than fit: retry larger
            case .failure(let e) where token == nil && out.isEmpty && Self.unsupported(e):
                var all: [(key: [UInt8], value: [UInt8])] = []
                for k in try keysRaw(keySize: keySize) {
                    guard let v = try lookupRaw(key: k, valueSize: valueSize) else { continue }
                    all.append((k, values ? v : []))
                }
                return all
            case .failure(let e):
                throw .map(name: name, operation: "iterate (batch)", errno: e)
            }
        }
    }

    // Typed forms.
    public func update<K, V>(_ key: K, _ value: V, flags: UInt64 = 0) throws(KernelError) {
        try updateRaw(key: RawBytes.of(key), value: RawBytes.of(value), flags: flags)
    }

    public func lookup<K, V>(_ key: K, as zero: V) throws(KernelError) -> V? {
        guard let raw = try lookupRaw(key: RawBytes.of(key), valueSize: MemoryLayout<V>.size) else { return nil }
        return RawBytes.load(V.self, from: raw, zero: zero)
    }

    public func delete<K>(_ key: K) throws(KernelError) { try deleteRaw(key: RawBytes.of(key)) }

    public func keys<K>(as zero: K) throws(KernelError) -> [K] {
        try keysRaw(keySize: MemoryLayout<K>.size).map { RawBytes.load(K.self, from: $0, zero: zero) }
    }
}
