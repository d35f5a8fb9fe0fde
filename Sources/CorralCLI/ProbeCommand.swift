import ArgumentParser
import CorralJSON
import CorralKernel

/// `corral probe`: which hook set this kernel supports, and what is missing.
/// Exit codes: 0 native or compat (Corral can enforce), 4 unsupported (docs/cli.md).
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Report whether this kernel runs Corral natively, in compat mode, or not at all.",
        discussion: "Exit status: 0 when the mode is native or compat, 4 when unsupported (docs/cli.md).")

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let object = try? CorralObject.locate()
        let targets = object.flatMap { CorralObject.attachTargets(source: $0, prefix: "compat_") }
        let report = KernelProbe.run(compatTargets: targets?.isEmpty == false ? targets : nil)
        if json {
            print(try Self.json(report))
        } else {
            print(Self.render(report))
        }
        if report.mode == .unsupported { throw CorralExit.unsupportedKernel.exit }
    }

    /// The report as JSON, snake_case keys like every other JSON Corral prints.
    static func json(_ r: ProbeReport) throws -> String {
        try JSONOutput.text(r, pretty: true)
    }

    static func render(_ r: ProbeReport) -> String {
        var lines = ["mode: \(r.mode.rawValue)", "kernel: \(r.kernelRelease)"]
        lines.append("lsm: " + (r.activeLSMs?.joined(separator: ",") ?? "(unreadable)"))
        lines.append("btf: \(r.btf ? "yes" : "no")")
        lines.append("native hooks: \(r.nativeHooksFound.count)/4" + (r.nativeHooksFound.isEmpty ? "" : " (" + r.nativeHooksFound.joined(separator: ", ") + ")"))
        switch r.mode {
        case .native: break
        case .compat:
            for m in r.nativeMissing { lines.append("native unavailable: \(m)") }
        case .unsupported:
            for m in r.missing(for: .unsupported) { lines.append("missing: \(m)") }
        }
        return lines.joined(separator: "\n")
    }
}
