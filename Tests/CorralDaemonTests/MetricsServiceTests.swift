// MetricsService connection bounds: more than `maxConnections` at once are closed at once, a
// connection that sends no request is closed after the request timeout, and the endpoint then
// still serves new clients.
@testable import CorralDaemon
import CorralSystem
import Foundation
import Glibc
import Logging
import Synchronization
import Testing

private final class Slot<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    func set(_ v: T) { value.withLock { $0 = v } }
    func get() -> T? { value.withLock { $0 } }
}

/// A blocking loopback TCP client with a receive timeout.
private struct Client {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Errno.current }
        var tv = timeval(tv_sec: 8, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { let e = Errno.current; Glibc.close(fd); throw e }
    }

    func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// Everything until end-of-stream; nil if the receive timed out (the server kept it open).
    func readToEnd() -> String? {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out += buf[..<n]; continue }
            if n == 0 || errno == ECONNRESET { return String(decoding: out, as: UTF8.self) }
            return nil // EAGAIN: timed out
        }
    }

    func close() { Glibc.close(fd) }
}

@Suite struct MetricsServiceTests {
    @Test func defaultLimits() {
        let l = MetricsService.Limits()
        #expect(l.maxConnections == 16)
        #expect(l.requestTimeoutMillis == 5000)
    }

    @Test func connectionCapAndRequestTimeout() throws {
        let limits = MetricsService.Limits(maxConnections: 16, requestTimeoutMillis: 3000, sweepMillis: 100)
        let ready = Slot<(port: UInt16, remote: Reactor.Remote)>()
        let failed = Slot<String>()
        let done = Slot<Bool>()
        let thread = Thread {
            defer { done.set(true) }
            do {
                let reactor = try Reactor()
                var service: MetricsService?
                for attempt in 0..<50 {
                    let port = UInt16(30000 + (Int(getpid()) * 7 + attempt * 131) % 30000)
                    let s = MetricsService(address: "127.0.0.1:\(port)", logger: Logger(label: "test"), limits: limits) { "corral_test 1\n" }
                    if (try? s.start(reactor)) != nil { service = s; ready.set((port, reactor.remote)); break }
                }
                guard let service else { failed.set("no free port"); return }
                try reactor.run()
                service.stop()
            } catch { failed.set("\(error)") }
        }
        thread.start()
        while ready.get() == nil && failed.get() == nil { usleep(10_000) }
        if let f = failed.get() { Issue.record(Comment(rawValue: f)); return }
        let (port, remote) = ready.get()!
        defer {
            remote.stop()
            while done.get() == nil { usleep(10_000) }
        }

        // 16 idle connections fill the endpoint; the 17th and 18th are closed at once.
        let held = try (0..<16).map { _ in try Client(port: port) }
        usleep(200_000) // let the reactor accept them all, in order
        let t0 = Sys.monotonicMillis()
        for _ in 0..<2 {
            let extra = try Client(port: port)
            extra.send("GET /metrics HTTP/1.0\r\n\r\n")
            let got = extra.readToEnd()
            #expect(got == "", "a connection over the cap got \(got.map { "\($0.prefix(40))" } ?? "no end-of-stream")")
            extra.close()
        }
        #expect(Sys.monotonicMillis() - t0 < 2000, "the extra connections were not closed before the request timeout")

        // A held one is still served (and its slot is then free).
        held[0].send("GET /metrics HTTP/1.0\r\n\r\n")
        let served = held[0].readToEnd() ?? ""
        #expect(served.hasPrefix("HTTP/1.0 200 OK") && served.hasSuffix("corral_test 1\n"), "held connection: \(served.prefix(80))")
        held[0].close()

        // The other 15 sent nothing: closed after the request timeout (3 s here; 5 s by default).
        for c in held.dropFirst() {
            let got = c.readToEnd()
            #expect(got == "", "an idle connection was not closed: \(got ?? "receive timed out")")
        }
        let waited = Sys.monotonicMillis() - t0
        #expect(waited >= 2800 && waited < 6000, "idle connections closed after \(waited) ms")
        for c in held.dropFirst() { c.close() }

        // A new connection then works.
        let fresh = try Client(port: port)
        fresh.send("GET /metrics HTTP/1.0\r\n\r\n")
        let again = fresh.readToEnd() ?? ""
        #expect(again.hasPrefix("HTTP/1.0 200 OK"), "new connection after the timeout: \(again.prefix(80))")
        fresh.close()
    }
}
