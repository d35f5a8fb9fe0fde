// `run` and `daemon` share their policy options, including the --mode check.
import ArgumentParser
@testable import CorralCLI
import Testing

@Suite struct EnforcementOptionsTests {
    @Test(arguments: [["run", "--policy", "p.yaml", "--mode", "bogus", "--", "true"],
                      ["daemon", "--policy", "p.yaml", "--mode", "bogus"]])
    func invalidModeIsRejected(arguments: [String]) {
        do {
            _ = try CorralCommand.parseAsRoot(arguments)
            Issue.record("\(arguments[0]) accepted --mode bogus")
        } catch {
            #expect(CorralCommand.message(for: error) == "--mode must be native or compat")
        }
    }

    @Test(arguments: ["native", "compat"])
    func validModesParse(mode: String) throws {
        let command = try CorralCommand.parseAsRoot(["daemon", "--policy", "p.yaml", "--mode", mode])
        let daemon = try #require(command as? DaemonCommand)
        #expect(daemon.enforcement.mode == mode)
        #expect(daemon.enforcement.policy == "p.yaml")
    }

    @Test func watchPolicyNeedsAPolicyFile() throws {
        do {
            _ = try CorralCommand.parseAsRoot(["daemon", "--watch-policy"])
            Issue.record("daemon accepted --watch-policy without --policy")
        } catch {
            #expect(CorralCommand.message(for: error) == "--watch-policy watches the --policy file: give --policy FILE")
        }
        let daemon = try #require(try CorralCommand.parseAsRoot(["daemon", "--policy", "p.yaml", "--watch-policy"]) as? DaemonCommand)
        #expect(daemon.watchPolicy)
        let plain = try #require(try CorralCommand.parseAsRoot(["daemon", "--policy", "p.yaml"]) as? DaemonCommand)
        #expect(!plain.watchPolicy, "off by default")
    }
}
