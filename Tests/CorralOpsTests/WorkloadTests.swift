// Workload identity from cgroup paths, and event times as RFC 3339 text.
import CorralEvents
import Foundation
import Testing

@Suite struct WorkloadTests {
    let id = "3f1b5a0e77aa4c1e9d2b0123456789ab3f1b5a0e77aa4c1e9d2b0123456789ab"

    @Test func systemdUnits() {
        #expect(Workload.identify(cgroupPath: "/system.slice/nginx.service") == Workload(unit: "nginx.service"))
        #expect(Workload.identify(cgroupPath: "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service").unit == "foo.service")
        #expect(Workload.identify(cgroupPath: "/user.slice/user-1000.slice/session-3.scope").unit == "session-3.scope")
        #expect(Workload.identify(cgroupPath: "/user.slice/user-1000.slice").unit == "user-1000.slice")
        #expect(Workload.identify(cgroupPath: "/") == Workload())
    }

    @Test func containers() {
        let podman = Workload.identify(cgroupPath: "/machine.slice/libpod-\(id).scope/container")
        #expect(podman.container == id && podman.unit == "libpod-\(id).scope")
        #expect(Workload.identify(cgroupPath: "/system.slice/docker-\(id).scope").container == id)
        #expect(Workload.identify(cgroupPath: "/docker/\(id)").container == id)
        #expect(Workload.identify(cgroupPath: "/machine.slice/libpod-conmon-\(id).scope").container == nil)
        #expect(Workload.identify(cgroupPath: "/system.slice/libpod-abc.scope").container == nil, "not 64 hex digits")
    }

    @Test func kubernetesPods() {
        let uid = "0c8e4d3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
        let systemd = Workload.identify(cgroupPath:
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(id).scope")
        #expect(systemd.pod == uid && systemd.container == id)
        let cgroupfs = Workload.identify(cgroupPath: "/kubepods/besteffort/pod\(uid)/\(id)")
        #expect(cgroupfs.pod == uid && cgroupfs.container == id)
        #expect(Workload.identify(cgroupPath: "/kubepods.slice/kubepods-podnotauid.slice").pod == nil)
    }

    @Test func rfc3339() {
        #expect(WallClock.rfc3339(unixNanos: 0) == "1970-01-01T00:00:00.000000Z")
        #expect(WallClock.rfc3339(unixNanos: 1_796_560_496_123_456_789) == "2026-12-06T12:34:56.123456Z")
        #expect(WallClock.rfc3339(unixNanos: 951_782_400_000_000_000) == "2000-02-29T00:00:00.000000Z")
        #expect(WallClock.rfc3339(monotonicNanos: 5_000, nowMonotonic: 2_000_005_000, nowRealtime: 1_796_560_498_123_456_789)
            == "2026-12-06T12:34:56.123456Z")
    }
}
