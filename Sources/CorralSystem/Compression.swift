// gzip decompression (zlib, through CCorralSystem), for reading rotated, compressed event logs.
internal import CCorralSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum Gzip {
    /// The two bytes every gzip member starts with.
    public static func isCompressed(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.count >= 2 && bytes[bytes.startIndex] == 0x1f && bytes[bytes.index(after: bytes.startIndex)] == 0x8b
    }

    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The decompressed bytes of `bytes` (one or more gzip members).
    public static func decompress(_ bytes: [UInt8]) throws(Failure) -> [UInt8] {
        var out: UnsafeMutableRawPointer?
        var message: UnsafePointer<CChar>?
        let n = bytes.withUnsafeBytes { corral_gunzip($0.baseAddress, $0.count, &out, &message) }
        guard n >= 0, let out else { throw Failure(message: message.map { String(cString: $0) } ?? "not gzip data") }
        defer { free(out) }
        return Array(UnsafeRawBufferPointer(start: out, count: n))
    }
}
