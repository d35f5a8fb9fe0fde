// `corral --version`: the version from VERSION (compiled in by Plugins/VersionFile) and the git
// revision scripts/build-static stores in section .corral_revision of the binary. A build
// without the script has no such section and says "git unknown".
import CorralSystem

enum BuildInfo {
    /// The section scripts/build-static adds: `git rev-parse --short HEAD`, "-dirty" appended
    /// when tracked files had changes.
    static let revisionSection = ".corral_revision"

    /// What `corral --version` prints for this binary.
    static let current = line(version: corralVersion, revision: revision())

    /// `corral 0.9.0 (git 8d5b815)`, or `(git unknown)` without a revision.
    static func line(version: String, revision: String?) -> String {
        "corral \(version) (git \(revision ?? "unknown"))"
    }

    /// The revision recorded in `executable`; nil when it has none or the section does not hold
    /// one line of letters, digits, '.', '+', '-' or '_' (at most 64).
    static func revision(executable: String = "/proc/self/exe") -> String? {
        guard let bytes = try? ELFSection.contents(revisionSection, inFile: executable, maxSize: 256) else { return nil }
        let trimmed = bytes.drop(while: isSpace).reversed().drop(while: isSpace).reversed()
        let allowed = (UInt8(ascii: "0")...UInt8(ascii: "9")).map { $0 } + (UInt8(ascii: "a")...UInt8(ascii: "z")).map { $0 }
            + (UInt8(ascii: "A")...UInt8(ascii: "Z")).map { $0 } + Array("._+-".utf8)
        guard !trimmed.isEmpty, trimmed.count <= 64, trimmed.allSatisfy(allowed.contains) else { return nil }
        return String(decoding: trimmed, as: UTF8.self)
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D || byte == 0 }
}
