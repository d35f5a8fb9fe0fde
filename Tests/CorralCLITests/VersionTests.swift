// `corral --version`: VERSION compiled in (Plugins/VersionFile), the git revision from section
// .corral_revision (scripts/build-static), "git unknown" without it.
import ArgumentParser
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCLI

@Suite struct VersionTests {
    /// The VERSION file, as the build scripts read it.
    static let versionFile = (try? String(contentsOfFile: RepoPaths.root + "/VERSION", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "(no VERSION file)"

    static func output(_ arguments: [String]) -> String {
        do {
            _ = try CorralCommand.parseAsRoot(arguments)
            return "(parsed without printing)"
        } catch {
            return CorralCommand.message(for: error)
        }
    }

    /// The test runner has no .corral_revision section, like a plain `swift build`.
    @Test func versionFlagPrintsVersionAndRevision() {
        #expect(Self.output(["--version"]) == "corral \(Self.versionFile) (git unknown)")
        #expect(Self.output(["check", "--version"]) == "corral \(Self.versionFile) (git unknown)")
        #expect(corralVersion == Self.versionFile)
    }

    @Test func lineFormat() {
        #expect(BuildInfo.line(version: "0.9.0", revision: "8d5b815") == "corral 0.9.0 (git 8d5b815)")
        #expect(BuildInfo.line(version: "0.9.0", revision: "8d5b815-dirty") == "corral 0.9.0 (git 8d5b815-dirty)")
        #expect(BuildInfo.line(version: "0.9.0", revision: nil) == "corral 0.9.0 (git unknown)")
    }

    @Test func revisionSection() {
        let built = temporaryFile(makeELF(sections: [(BuildInfo.revisionSection, Array("8d5b815-dirty\n".utf8))]))
        #expect(BuildInfo.revision(executable: built) == "8d5b815-dirty")
        let none = temporaryFile(makeELF(sections: [(".corral_bpf", [1])]))
        #expect(BuildInfo.revision(executable: none) == nil)
        let garbage = temporaryFile(makeELF(sections: [(BuildInfo.revisionSection, Array("8d5b815\nrm -rf /".utf8))]))
        #expect(BuildInfo.revision(executable: garbage) == nil)
        let empty = temporaryFile(makeELF(sections: [(BuildInfo.revisionSection, [0x0A])]))
        #expect(BuildInfo.revision(executable: empty) == nil)
        #expect(BuildInfo.revision(executable: "/nonexistent") == nil)
    }
}
