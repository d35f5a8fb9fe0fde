// The resident service behind `corral daemon`: load with pinned links, stream events, resolve
// cgroups the policy names once they appear (CgroupResolutionService), and on SIGTERM/SIGINT
// unpin and return.
import CorralKernel
import CorralPolicy
import CorralSystem
import Glibc

public final class EventDaemon {
    public let policy: Policy
    public let options: SessionOptions

    public init(policy: Policy, options: SessionOptions) {
        self.policy = policy
        self.options = options
    }

    /// Runs until SIGTERM or SIGINT. `output` gets one JSON line per event.
    public func run(output: (String) -> Void, log: @escaping (String) -> Void) throws(KernelError) {
        Sys.catchSignals([SIGTERM, SIGINT])  // the caller should install this before parsing too
        let session = try CorralSession(policy: policy, options: options)
        defer { session.stop() }
        for w in session.unresolvedWarnings { log(w) }
        log("\(session.mode.rawValue) mode, policy \(policy.source), links pinned under \(options.pinDirectory ?? "(none)")")
        var lines: [String] = []
        let reader = try session.events { lines.append($0.jsonLine) }
        defer { reader.close() }
        let resolution = CgroupResolutionService(session: session, log: log)
        resolution.tick()
        while true {
            try reader.poll(timeoutMillis: 200)
            for l in lines { output(l) }
            lines.removeAll()
            resolution.tick()
            if let sig = Sys.takeCaughtSignal() {
                log("signal \(sig): unloading")
                return
            }
        }
    }
}


