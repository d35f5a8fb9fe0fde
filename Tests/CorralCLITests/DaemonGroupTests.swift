// `corral daemon --admin-group/--reader-group`: names are looked up in /etc/group (no NSS); a
// group that is not there stops the daemon with exit 2 and this message.
import CorralTestSupport
import Foundation
import Testing

@testable import CorralCLI

@Suite struct DaemonGroupTests {
    static let groupFile = temporaryFile(Array("root:x:0:\ncorral:x:991:\ncorral-admin:x:990:alice\n".utf8), name: "group")

    @Test func namesAndNumbersResolve() throws {
        #expect(try DaemonCommand.gid("corral-admin", option: "--admin-group", groupFile: Self.groupFile) == 990)
        #expect(try DaemonCommand.gid("corral", option: "--reader-group", groupFile: Self.groupFile) == 991)
        #expect(try DaemonCommand.gid("1234", option: "--reader-group", groupFile: "/nonexistent") == 1234)
    }

    @Test func missingGroupSaysWhereItLooked() {
        do {
            _ = try DaemonCommand.gid("corral-ops", option: "--admin-group", groupFile: Self.groupFile)
            Issue.record("corral-ops resolved")
        } catch {
            #expect(error.description == "--admin-group corral-ops: no such group in \(Self.groupFile) (the corral package "
                    + "creates 'corral' and 'corral-admin' with systemd-sysusers; or: groupadd --system corral-ops)")
        }
        do {
            _ = try DaemonCommand.gid("corral", option: "--reader-group", groupFile: "/nonexistent/group")
            Issue.record("corral resolved without a group file")
        } catch {
            #expect(error.description == "--reader-group corral: cannot read /nonexistent/group: ENOENT: No such file or directory")
        }
    }
}
