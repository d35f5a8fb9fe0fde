import ArgumentParser
import CorralKernel

/// Options of the verbs that load a policy into the kernel (`run`, `daemon`).
struct EnforcementOptions: ParsableArguments {
    @Option(name: .long, help: "Policy file (YAML). The daemon may omit it when it adopts pinned state.", completion: .yaml)
    var policy: String?
    @Flag(name: .long, help: "Treat every rule as audit: allow, but report would-deny events.") var audit = false
    @Option(name: .long, help: "Force the hook set: native or compat.", completion: .list(Self.modes)) var mode: String?
    static let modes = [KernelMode.native.rawValue, KernelMode.compat.rawValue]

    func validate() throws {
        if let mode, !Self.modes.contains(mode) { throw ValidationError("--mode must be native or compat") }
    }

    func sessionOptions(traceAll: Bool, pinDirectory: String? = nil, selfProtection: Bool = false) -> SessionOptions {
        SessionOptions(mode: mode.flatMap(KernelMode.init(rawValue:)), auditAll: audit, traceAll: traceAll,
                       pinDirectory: pinDirectory, selfProtection: selfProtection)
    }
}
