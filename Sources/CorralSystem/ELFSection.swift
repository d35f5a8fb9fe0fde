// Named sections of an ELF64 little-endian file. scripts/build-static stores the BPF object
// (`.corral_bpf`) and the git revision (`.corral_revision`) in the corral binary as sections
// (`objcopy --add-section`); CorralObject and `corral --version` read them back from
// /proc/self/exe with this.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file whose section table could not be read, with the reason.
public struct ELFSectionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

public enum ELFSection {
    /// Where a section's bytes lie in the file.
    public struct Extent: Equatable, Sendable {
        public var offset: UInt64
        public var size: UInt64

        public init(offset: UInt64, size: UInt64) {
            self.offset = offset
            self.size = size
        }
    }

    /// Section `name` of the ELF file at `path`; nil when the file has no such section.
    public static func find(_ name: String, inFile path: String) throws(ELFSectionError) -> Extent? {
        let fd = try open(path)
        defer { Sys.close(fd) }
        return try find(name, path: path) { (offset, count) throws(Errno) in try Sys.read(fd, offset: offset, count: count) }
    }

    /// The bytes of section `name` of the ELF file at `path`; nil when the file has no such
    /// section. A section larger than `maxSize` is an error.
    public static func contents(_ name: String, inFile path: String, maxSize: UInt64 = 64 << 20) throws(ELFSectionError) -> [UInt8]? {
        let fd = try open(path)
        defer { Sys.close(fd) }
        let read = { (offset: UInt64, count: Int) throws(Errno) -> [UInt8] in try Sys.read(fd, offset: offset, count: count) }
        guard let extent = try find(name, path: path, read: read) else { return nil }
        guard extent.size <= maxSize else {
            throw ELFSectionError(path: path, reason: "section \(name) holds \(extent.size) bytes, more than the \(maxSize) allowed")
        }
        return try readExactly(read, path: path, at: extent.offset, count: Int(extent.size), what: "section \(name)")
    }

    /// The section-table walk over any reader: `read(offset, count)` returns the bytes at
    /// `offset`, fewer only at end of file. `path` names the file in errors.
    public static func find(_ name: String, path: String,
                            read: (_ offset: UInt64, _ count: Int) throws(Errno) -> [UInt8]) throws(ELFSectionError) -> Extent? {
        func malformed(_ reason: String) -> ELFSectionError { ELFSectionError(path: path, reason: reason) }
        let header = try readExactly(read, path: path, at: 0, count: 64, what: "the ELF header")
        guard header.prefix(4).elementsEqual([0x7F, 0x45, 0x4C, 0x46]) else { throw malformed("not an ELF file") }
        guard header[4] == 2 else { throw malformed("not a 64-bit ELF file (class \(header[4]))") }
        guard header[5] == 1 else { throw malformed("not a little-endian ELF file (data encoding \(header[5]))") }
        let tableOffset = header.littleEndian(UInt64.self, at: 0x28)
        let entrySize = Int(header.littleEndian(UInt16.self, at: 0x3A))
        var count = UInt64(header.littleEndian(UInt16.self, at: 0x3C))
        var namesIndex = UInt64(header.littleEndian(UInt16.self, at: 0x3E))
        if tableOffset == 0 { return nil } // no section table
        guard entrySize == 64 else { throw malformed("section header entries of \(entrySize) bytes (ELF64 has 64)") }
        if count == 0 || namesIndex == 0xFFFF { // more than 0xff00 sections: the real values are in section 0
            let first = try readExactly(read, path: path, at: tableOffset, count: entrySize, what: "section header 0")
            if count == 0 { count = first.littleEndian(UInt64.self, at: 32) }
            if namesIndex == 0xFFFF { namesIndex = UInt64(first.littleEndian(UInt32.self, at: 40)) }
        }
        guard count <= 1 << 16 else { throw malformed("\(count) sections (at most 65536 are read)") }
        guard namesIndex < count else { throw malformed("section name table index \(namesIndex) out of \(count) sections") }
        let table = try readExactly(read, path: path, at: tableOffset, count: Int(count) * entrySize, what: "the section headers")
        func entry(_ i: Int) -> (name: Int, type: UInt32, offset: UInt64, size: UInt64) {
            let base = i * entrySize
            return (Int(table.littleEndian(UInt32.self, at: base)), table.littleEndian(UInt32.self, at: base + 4),
                    table.littleEndian(UInt64.self, at: base + 24), table.littleEndian(UInt64.self, at: base + 32))
        }
        let namesSection = entry(Int(namesIndex))
        guard namesSection.size <= 16 << 20 else { throw malformed("section name table of \(namesSection.size) bytes") }
        let names = try readExactly(read, path: path, at: namesSection.offset, count: Int(namesSection.size),
                                    what: "the section name table")
        let wanted = Array(name.utf8)
        for i in 0..<Int(count) {
            let e = entry(i)
            guard e.name + wanted.count < names.count, names[e.name + wanted.count] == 0,
                  names[e.name..<(e.name + wanted.count)].elementsEqual(wanted) else { continue }
            guard e.type != 8 else { throw malformed("section \(name) has no bytes in the file (SHT_NOBITS)") }
            return Extent(offset: e.offset, size: e.size)
        }
        return nil
    }

    private static func open(_ path: String) throws(ELFSectionError) -> Int32 {
        do { return try Sys.open(path, O_RDONLY) } catch {
            throw ELFSectionError(path: path, reason: "cannot open: \(error)")
        }
    }

    private static func readExactly(_ read: (UInt64, Int) throws(Errno) -> [UInt8], path: String,
                                    at offset: UInt64, count: Int, what: String) throws(ELFSectionError) -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try read(offset, count) } catch {
            throw ELFSectionError(path: path, reason: "reading \(what) at offset \(offset): \(error)")
        }
        guard bytes.count == count else {
            throw ELFSectionError(path: path, reason: "truncated: \(what) at offset \(offset) needs \(count) bytes, the file has \(bytes.count)")
        }
        return bytes
    }
}

extension Array where Element == UInt8 {
    /// The little-endian integer at byte `offset` (the caller checked the bounds).
    fileprivate func littleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }
}
