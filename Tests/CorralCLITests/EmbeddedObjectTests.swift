// The BPF object and the revision that scripts/build-static embeds as ELF sections: the section
// reader, the object lookup order (CorralObject.choose) and opening an object from memory.
import CorralKernel
import CorralSystem
import CorralTestSupport
import Foundation
import Testing

/// A minimal ELF64 little-endian file: a null section, .shstrtab, then `sections` as PROGBITS.
func makeELF(sections: [(name: String, bytes: [UInt8])]) -> [UInt8] {
    func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    var names: [UInt8] = [0]
    var nameOffsets: [Int] = []
    for name in [".shstrtab"] + sections.map(\.name) {
        nameOffsets.append(names.count)
        names += Array(name.utf8) + [0]
    }
    var data: [UInt8] = []
    var extents: [(offset: Int, size: Int)] = []
    for bytes in [names] + sections.map(\.bytes) {
        extents.append((64 + data.count, bytes.count))
        data += bytes
    }
    let tableOffset = 64 + data.count
    var header = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1] + [UInt8](repeating: 0, count: 9)
    header += le(UInt16(1)) + le(UInt16(0x3E)) + le(UInt32(1)) + le(UInt64(0)) + le(UInt64(0)) + le(UInt64(tableOffset))
    header += le(UInt32(0)) + le(UInt16(64)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(64))
    header += le(UInt16(2 + sections.count)) + le(UInt16(1))
    var table = [UInt8](repeating: 0, count: 64) // section 0
    for (i, extent) in extents.enumerated() {
        table += le(UInt32(nameOffsets[i])) + le(UInt32(i == 0 ? 3 : 1)) + le(UInt64(0)) + le(UInt64(0))
        table += le(UInt64(extent.offset)) + le(UInt64(extent.size)) + le(UInt32(0)) + le(UInt32(0)) + le(UInt64(1)) + le(UInt64(0))
    }
    return header + data + table
}

/// Writes `bytes` to a fresh temporary file and returns its path.
func temporaryFile(_ bytes: [UInt8], name: String = "file") -> String {
    let path = RepoPaths.temporaryDirectory("corral-elf") + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

@Suite struct ELFSectionTests {
    @Test func findsSectionsByExactName() throws {
        let object: [UInt8] = Array("an object".utf8)
        let path = temporaryFile(makeELF(sections: [(".corral_bpf_old", [1]), (".corral_bpf", object), (".corral", [2, 3])]))
        #expect(try ELFSection.contents(".corral_bpf", inFile: path) == object)
        #expect(try ELFSection.contents(".corral", inFile: path) == [2, 3])
        #expect(try ELFSection.contents(".corral_revision", inFile: path) == nil)
        let extent = try #require(try ELFSection.find(".corral_bpf", inFile: path))
        #expect(extent.size == UInt64(object.count))
    }

    @Test func malformedFilesNameTheProblem() {
        let notELF = temporaryFile(Array(repeating: 0x41, count: 100))
        #expect(throws: ELFSectionError(path: notELF, reason: "not an ELF file")) {
            try ELFSection.find(".corral_bpf", inFile: notELF)
        }
        let short = temporaryFile([0x7F, 0x45, 0x4C, 0x46])
        #expect(throws: ELFSectionError(path: short, reason: "truncated: the ELF header at offset 0 needs 64 bytes, the file has 4")) {
            try ELFSection.find(".corral_bpf", inFile: short)
        }
        let full = makeELF(sections: [(".corral_bpf", [1, 2, 3])])
        let cut = temporaryFile(Array(full.dropLast(10)))
        #expect(throws: ELFSectionError(path: cut, reason: "truncated: the section headers at offset \(full.count - 192) needs 192 bytes, the file has 182")) {
            try ELFSection.find(".corral_bpf", inFile: cut)
        }
        #expect(throws: ELFSectionError(path: "/nonexistent/corral", reason: "cannot open: ENOENT: No such file or directory")) {
            try ELFSection.find(".corral_bpf", inFile: "/nonexistent/corral")
        }
        let big = temporaryFile(makeELF(sections: [(".corral_bpf", [UInt8](repeating: 7, count: 100))]))
        #expect(throws: ELFSectionError(path: big, reason: "section .corral_bpf holds 100 bytes, more than the 10 allowed")) {
            try ELFSection.contents(".corral_bpf", inFile: big, maxSize: 10)
        }
    }

    /// The test runner is an ELF file with code and no embedded object.
    @Test func readsTheRunningExecutable() throws {
        #expect(try ELFSection.find(".text", inFile: "/proc/self/exe") != nil)
        #expect(try ELFSection.find(CorralObject.embeddedSection, inFile: "/proc/self/exe") == nil)
        #expect(CorralObject.embeddedObject() == .absent(executable: Sys.executablePath() ?? ""))
    }
}

@Suite struct BPFObjectLookupTests {
    static let paths = ["/opt/x/bin/corral.bpf.o", "/opt/x/lib/corral/corral.bpf.o", "/usr/lib/corral/corral.bpf.o"]

    static func choose(override: String?, embedded: CorralObject.EmbeddedObject, existing: Set<String>) -> Result<BPFObjectSource, KernelError> {
        CorralObject.choose(override: override, embedded: { embedded }, searchPaths: paths, exists: existing.contains)
    }

    static func message(_ result: Result<BPFObjectSource, KernelError>) -> String? {
        if case .failure(let e) = result { return e.description }
        return nil
    }

    @Test func overrideFirstThenEmbeddedThenSearchPath() throws {
        let everything = Set(Self.paths + ["/tmp/dev.bpf.o"])
        #expect(try Self.choose(override: "/tmp/dev.bpf.o", embedded: .present(executable: "/usr/bin/corral"), existing: everything).get()
                == .file("/tmp/dev.bpf.o"))
        #expect(try Self.choose(override: nil, embedded: .present(executable: "/usr/bin/corral"), existing: everything).get()
                == .embedded(executable: "/usr/bin/corral"))
        #expect(try Self.choose(override: "", embedded: .present(executable: "/usr/bin/corral"), existing: everything).get()
                == .embedded(executable: "/usr/bin/corral"))
        #expect(try Self.choose(override: nil, embedded: .absent(executable: "/opt/x/bin/corral"), existing: [Self.paths[1], Self.paths[2]]).get()
                == .file(Self.paths[1]))
        #expect(try Self.choose(override: nil, embedded: .unreadable("/opt/x/bin/corral: not an ELF file"), existing: [Self.paths[2]]).get()
                == .file(Self.paths[2]))
    }

    /// A missing override is an error even when something else could be loaded.
    @Test func missingOverrideIsAnError() {
        #expect(Self.message(Self.choose(override: "/tmp/gone.bpf.o", embedded: .present(executable: "/usr/bin/corral"), existing: Set(Self.paths)))
                == "BPF object /tmp/gone.bpf.o: not found (named by CORRAL_BPF_OBJECT; unset it to use the object embedded in the binary or the search path)")
    }

    @Test func notFoundSaysWhereItLooked() {
        #expect(Self.message(Self.choose(override: nil, embedded: .absent(executable: "/opt/x/bin/corral"), existing: []))
                == "BPF object corral.bpf.o: not found; looked in: CORRAL_BPF_OBJECT (not set), section .corral_bpf of /opt/x/bin/corral (absent), "
                + "/opt/x/bin/corral.bpf.o, /opt/x/lib/corral/corral.bpf.o, /usr/lib/corral/corral.bpf.o (none exists). "
                + "Build with scripts/build-static (it embeds the object), or run scripts/build-bpf and set CORRAL_BPF_OBJECT")
        #expect(Self.message(Self.choose(override: nil, embedded: .unreadable("/opt/x/bin/corral: not an ELF file"), existing: []))
                == "BPF object corral.bpf.o: not found; looked in: CORRAL_BPF_OBJECT (not set), section .corral_bpf (unreadable: /opt/x/bin/corral: not an ELF file), "
                + "/opt/x/bin/corral.bpf.o, /opt/x/lib/corral/corral.bpf.o, /usr/lib/corral/corral.bpf.o (none exists). "
                + "Build with scripts/build-static (it embeds the object), or run scripts/build-bpf and set CORRAL_BPF_OBJECT")
    }

    @Test func sourcesDescribeThemselves() {
        #expect(BPFObjectSource.embedded(executable: "/usr/bin/corral").description == "(embedded in /usr/bin/corral)")
        #expect(BPFObjectSource.file("/usr/lib/corral/corral.bpf.o").description == "/usr/lib/corral/corral.bpf.o")
    }

    static let builtObject = RepoPaths.root + "/build/bpf/corral.bpf.o"

    /// libbpf opens the same object from memory as from its file (needs scripts/build-bpf's output;
    /// opening touches no kernel).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: builtObject), "no build/bpf/corral.bpf.o (scripts/build-bpf)"))
    func memoryImageOpensLikeTheFile() throws {
        let bytes = try #require(FileManager.default.contents(atPath: Self.builtObject))
        let fromFile = try BPFObjectHandle(path: Self.builtObject)
        let fromMemory = try BPFObjectHandle(bytes: Array(bytes), objectName: "corral", path: "(embedded in test)")
        #expect(fromMemory.programs.map(\.name) == fromFile.programs.map(\.name))
        #expect(fromMemory.mapNames == fromFile.mapNames)
        #expect(!fromMemory.programs.isEmpty)
        #expect(throws: KernelError.self) { try BPFObjectHandle(bytes: [1, 2, 3], objectName: "corral", path: "(embedded in test)") }
    }
}
