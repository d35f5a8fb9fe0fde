// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (a path, or '@' for the
// abstract namespace). A no-op when the variable is unset (not started by systemd).
import Glibc

public enum ServiceNotify {
    /// Sends `state` (e.g. "READY=1\nSTATUS=enforcing generation 3"). Returns false if not
    /// under a notify-aware service manager or the send failed.
    @discardableResult
    public static func send(_ state: String) -> Bool {
        guard let path = Sys.env("NOTIFY_SOCKET"), !path.isEmpty, path.utf8.count < 108 else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { dst in
            for (i, b) in bytes.enumerated() { dst[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, len) }
            }
        }
        return sent == payload.count
    }
}
