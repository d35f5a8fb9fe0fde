// Unix datagram sockets: what a service manager's $NOTIFY_SOCKET is (tests play that role).
import Glibc

extension Sys {
    /// A bound AF_UNIX SOCK_DGRAM socket at `unixPath` (an existing file is replaced).
    public static func bindDatagram(unixPath: String) throws(Errno) -> Int32 {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Errno.current }
        _ = Glibc.unlink(unixPath)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(unixPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { Glibc.close(fd); throw Errno(rawValue: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { dst in for (i, b) in bytes.enumerated() { dst[i] = b } }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { let e = Errno.current; Glibc.close(fd); throw e }
        return fd
    }

    /// One datagram as text, waiting up to `timeoutMillis` (ETIMEDOUT when none arrives).
    public static func receiveDatagram(_ fd: Int32, timeoutMillis: Int32) throws(Errno) -> String {
        guard waitReadable(fd, timeoutMillis: timeoutMillis) else { throw Errno(rawValue: ETIMEDOUT) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = try retrying { buf.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) } }
        return String(decoding: buf[..<n], as: UTF8.self)
    }
}
