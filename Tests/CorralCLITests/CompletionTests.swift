// Shell completion: the bash, zsh and fish scripts complete file names for policy, scenario and
// event-log arguments and the values of enum-like options. `completionScript(for:)` is the
// generator behind `corral --generate-completion-script`, which scripts/build-deb runs to write
// the packaged scripts: one source for both.
import ArgumentParser
import CorralControl
import CorralDaemon
import CorralEvents
import Testing
@testable import CorralCLI

@Suite struct CompletionTests {
    enum Kind {
        case yaml, anyFile, directory
        case values([String])
    }

    /// Where a completion is declared: a verb's option (`--policy`) or its positional argument.
    enum Place {
        case option(String)
        /// The positional's value name (zsh names it), its number (bash: "1", or "*" for a list).
        case positional(name: String, bashCase: String, repeating: Bool)
    }

    static let expected: [(verb: String, place: Place, kind: Kind)] = [
        ("check", .positional(name: "policy", bashCase: "1", repeating: false), .yaml),
        ("apply", .positional(name: "policy", bashCase: "1", repeating: false), .yaml),
        ("register", .positional(name: "file", bashCase: "1", repeating: false), .yaml),
        ("simulate", .option("policy"), .yaml),
        ("simulate", .option("scenario"), .yaml),
        ("explain", .option("policy"), .yaml),
        ("explain", .option("scenario"), .yaml),
        ("replay", .option("policy"), .yaml),
        ("replay", .positional(name: "events.jsonl", bashCase: "*", repeating: true), .anyFile),
        ("replay", .option("generations"), .directory),
        ("run", .option("policy"), .yaml),
        ("run", .option("events"), .anyFile),
        ("run", .option("mode"), .values(["native", "compat"])),
        ("daemon", .option("policy"), .yaml),
        ("daemon", .option("mode"), .values(["native", "compat"])),
        ("daemon", .option("log-level"), .values(JournalLogHandler.levelNames)),
        ("daemon", .option("pin-directory"), .directory),
        ("daemon", .option("policy-dir"), .directory),
        ("check", .option("policy-dir"), .directory),
        ("events", .option("verdict"), .values(ControlInterface.GetEvents.verdicts)),
        ("events", .option("hook"), .values(Hook.allCases.map(\.rawValue) + [Event.adminHook])),
        ("mode", .positional(name: "words", bashCase: "*", repeating: true), .values(["audit", "enforce", "policy"])),
    ]

    /// The text of `_corral_VERB() { … }` in a bash or zsh script.
    static func function(_ script: String, _ verb: String) -> String {
        guard let start = script.range(of: "\n_corral_\(verb)() {\n") else { return "" }
        let rest = script[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n}\n")?.lowerBound ?? rest.endIndex)])
    }

    @Test func bash() {
        let script = CorralCommand.completionScript(for: .bash)
        for e in Self.expected {
            let body = Self.function(script, e.verb)
            let label: String
            switch e.place {
            case .option(let name): label = "    '--\(name)')\n"
            case .positional(_, let bashCase, _): label = "    \(bashCase))\n"
            }
            let want: String
            switch e.kind {
            case .yaml: want = "__corral_add_completions -o plusdirs -fX '!*.@(yaml|yml)'"
            case .anyFile: want = "__corral_add_completions -f"
            case .directory: want = "__corral_add_completions -d"
            case .values(let v): want = "__corral_add_completions -W " + v.map { "'\($0)'" }.joined(separator: "$'\\n'")
            }
            #expect(body.contains(label + "        " + want + "\n"), "bash: corral \(e.verb) \(e.place): no \(want)")
        }
    }

    @Test func zsh() {
        let script = CorralCommand.completionScript(for: .zsh)
        for e in Self.expected {
            let body = Self.function(script, e.verb)
            let lines = body.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let line: String?
            switch e.place {
            case .option(let name): line = lines.first { $0.hasPrefix("'--\(name)[") || $0.hasPrefix("'*--\(name)[") }
            case .positional(let name, _, let repeating): line = lines.first { $0.hasPrefix("'\(repeating ? "*" : ""):\(name):") }
            }
            guard let line else {
                Issue.record("zsh: corral \(e.verb) \(e.place): not declared")
                continue
            }
            switch e.kind {
            case .yaml: #expect(line.hasSuffix(":_files -g '\\''*.yaml *.yml'\\'''"), "zsh: corral \(e.verb) \(e.place): \(line)")
            case .anyFile: #expect(line.hasSuffix(":_files'"), "zsh: corral \(e.verb) \(e.place): \(line)")
            case .directory: #expect(line.hasSuffix(":_files -/'"), "zsh: corral \(e.verb) \(e.place): \(line)")
            case .values(let v):
                #expect(line.contains("{__corral_complete \"${"), "zsh: corral \(e.verb) \(e.place): \(line)")
                #expect(body.contains("=(" + v.map { "'\($0)'" }.joined(separator: " ") + ")\n"), "zsh: corral \(e.verb): no values \(v)")
            }
        }
    }

    @Test func fish() {
        let script = CorralCommand.completionScript(for: .fish)
        let lines = script.split(separator: "\n").map(String.init)
        for e in Self.expected {
            let line: String?
            switch e.place {
            case .option(let name):
                line = lines.first { // a repeatable option's condition does not name it
                    $0.contains("\"corral \(e.verb)\" \(name)' -l '\(name)'") || $0.contains("\"corral \(e.verb)\"' -l '\(name)'")
                }
            case .positional(_, _, let repeating):
                line = lines.first { $0.contains("_for_positional \"corral \(e.verb)\" \(repeating ? "-ge" : "-eq") 1'") }
            }
            guard let line else {
                Issue.record("fish: corral \(e.verb) \(e.place): not declared")
                continue
            }
            switch e.kind {
            case .yaml: #expect(line.contains("fa '(set -l exts \\'yaml\\' \\'yml\\';"), "fish: corral \(e.verb) \(e.place): \(line)")
            case .anyFile: #expect(line.hasSuffix(" -F") || line.hasSuffix(" -rF"), "fish: corral \(e.verb) \(e.place): \(line)")
            case .directory: #expect(line.hasSuffix("fa '(__corral_complete_directories)'"), "fish: corral \(e.verb) \(e.place): \(line)")
            case .values(let v): #expect(line.hasSuffix("ka '" + v.joined(separator: " ") + "'"), "fish: corral \(e.verb) \(e.place): \(line)")
            }
        }
    }
}
