import CorralPolicy
import CorralTestSupport
import Testing

/// Seeded mutations of valid policies: each result is a Policy or PolicyErrors with positioned
/// diagnostics, never a crash.
@Suite struct PolicyFuzzTests {

    static let bases: [String] = [
        PolicyModelTests.full,
        """
        version: 1
        rules:
          - {id: s, kind: stay, cgroups: [/a], overrides: [l]}
          - {id: l, kind: locked, cgroups: [/a/b]}
          - {id: t, kind: track, subject: [pid1, {exe: /x}], types: [net, uts], label: box}
          - {id: e, kind: allow-enter-only, labels: [box], errno: 13}
        """,
        """
        version: 1
        mode: audit
        subjects: {m: {xattr: security.corral}, c: {cgroup: /user.slice}}
        rules:
          - id: d
            kind: delegated
            cgroup: /user.slice/u
            manager: m
          - id: n
            kind: deny-into
            subject: c
            cgroups:
              - /system.slice
        """,
    ]

    static let scalars: [String] = [
        "", "~", "null", "yes", "no", "0", "-1", "1", "2", "99999999999999999999999999", "0x7fffffffffffffff", "1e400",
        ".nan", "日本語", "🐑", "\u{0}", "\u{7}", "\u{FEFF}", "\r", "\t", "'", "\"", "\"unterminated", "[", "]", "{", "}",
        "[a, b]", "{a: b}", "*alias", "&anchor x", "!!binary aGVsbG8=", "!!int x", "!tag v", "|", ">", "- x", "? x", ": x",
        "%YAML 1.1", "---", "...", "/../x", "/a/./b", "/", "trusted.x", "EPERM", "EINVAL", "enforce", "audit", "track",
        "lock-on-entry", "deny-create", "deny-enter", "allow-enter-only", "managers", "delegated", "stay", "locked",
        "deny-into", "net", "pid1", "any", String(repeating: "a", count: 300), String(repeating: "[", count: 200),
        "#", "@", "`", "a: b: c", "<<: *x",
    ]

    static func mutate(_ text: String, using rng: inout SplitMix) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.isEmpty { lines = [""] }
        let steps = Int.random(in: 1...3, using: &rng)
        for _ in 0..<steps {
            let i = Int.random(in: 0..<lines.count, using: &rng)
            switch Int.random(in: 0..<9, using: &rng) {
            case 0:  // delete a line
                if lines.count > 1 { lines.remove(at: i) }
            case 1:  // duplicate a line
                lines.insert(lines[i], at: i)
            case 2:  // swap two lines
                lines.swapAt(i, Int.random(in: 0..<lines.count, using: &rng))
            case 3:  // indentation
                let spaces = String(repeating: " ", count: Int.random(in: 1...4, using: &rng))
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: lines[i] = spaces + lines[i]
                case 1: lines[i] = String(lines[i].drop(while: { $0 == " " }).prefix(Int.max))
                default: lines[i] = "\t" + lines[i]
                }
            case 4, 5:  // replace the value after a colon, or a list item, with a random scalar
                let scalar = scalars.randomElement(using: &rng) ?? ""
                if let colon = lines[i].firstIndex(of: ":") {
                    lines[i] = String(lines[i][...colon]) + " " + scalar
                } else {
                    lines[i] += scalar
                }
            case 6:  // truncate
                let all = lines.joined(separator: "\n")
                let cut = Int.random(in: 0...all.unicodeScalars.count, using: &rng)
                lines = String(String.UnicodeScalarView(all.unicodeScalars.prefix(cut)))
                    .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                if lines.isEmpty { lines = [""] }
            case 7:  // insert a random character
                let pool: [Character] = [":", "-", "[", "]", "{", "}", ",", "'", "\"", "#", "&", "*", "!", "|", "\u{0}", "é", "\n", " "]
                var chars = Array(lines[i])
                chars.insert(pool.randomElement(using: &rng) ?? " ", at: Int.random(in: 0...chars.count, using: &rng))
                lines[i] = String(chars)
            default:  // replace a key
                let scalar = scalars.randomElement(using: &rng) ?? ""
                if let colon = lines[i].firstIndex(of: ":") {
                    let indent = lines[i].prefix(while: { $0 == " " || $0 == "-" })
                    lines[i] = indent + scalar + lines[i][colon...]
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test func mutatedPoliciesNeverCrash() {
        var rng = SplitMix(seed: 0xC0_22A1)
        var loaded = 0, rejected = 0
        for iteration in 0..<5000 {
            let base = Self.bases[iteration % Self.bases.count]
            let text = Self.mutate(base, using: &rng)
            let lineCount = PolicyLoader.yamlLineCount(text)
            do {
                _ = try PolicyLoader.parse(yaml: text, source: "fuzz.yaml")
                loaded += 1
            } catch {
                rejected += 1
                #expect(!error.diagnostics.isEmpty, "iteration \(iteration)")
                for diagnostic in error.diagnostics {
                    #expect(diagnostic.location.line >= 1 && diagnostic.location.column >= 1, "iteration \(iteration): \(diagnostic)")
                    #expect(diagnostic.location.line <= lineCount + 1, "iteration \(iteration): \(diagnostic)")
                    #expect(diagnostic.location.file == "fuzz.yaml")
                    #expect(!diagnostic.message.isEmpty)
                    // One diagnostic, one line: input text is escaped in messages and paths.
                    #expect(!diagnostic.description.unicodeScalars.contains { $0.value < 0x20 }, "iteration \(iteration)")
                }
            }
        }
        // Both outcomes occur, so the mutations exercise the validator, not only the YAML scanner.
        #expect(loaded > 100)
        #expect(rejected > 1000)
    }


    /// libFuzzer (PolicyFuzz, crash-52350eb9): a comment holding 36 CRs. libyaml counts each CR as
    /// a line, so the error at the end of the stream is on line 40; the check's old line count
    /// (`filter(\.isNewline)`) made it 38 and reported a diagnostic past the last line. The
    /// loader was right; the count was not.
    @Test func carriageReturnsCountAsLines() {
        let text = "# Invalid: cgroup paths are r" + String(repeating: "\r", count: 36)
            + "elatcve to cgroup-ro# Invalid: cgroup paot and may not climb above it.\nversion: 5\ncgrtouhs a"
        #expect(PolicyLoader.yamlLineCount(text) == 39)
        do {
            _ = try PolicyLoader.parse(yaml: text, source: "fuzz.yaml")
            Issue.record("loaded a policy without a mapping")
        } catch {
            #expect(error.diagnostics.first?.location.line == 40)
            for d in error.diagnostics { #expect(d.location.line <= PolicyLoader.yamlLineCount(text) + 1, "\(d)") }
        }
    }

    @Test func unmutatedBasesLoad() throws {
        for base in Self.bases { _ = try PolicyLoader.parse(yaml: base, source: "base.yaml") }
    }
}
