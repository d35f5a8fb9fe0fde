// Typed access to one BPF map by fd. Keys and values are fixed-layout C structs from corral_abi.h
// (or raw bytes from a compiled MapImage).
import CorralSystem

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
