// Test harness: a ControlServer on its own Reactor thread and raw client connections.
import CorralControl
import CorralSystem
import Foundation
import Synchronization
import Testing

/// A fresh directory for a test's socket (short, so the path fits sun_path).
func makeTempDirectory() -> String {
    let path = "/tmp/cct-\(getpid())-\(UUID().uuidString.prefix(8))"
    try! Sys.mkdirs(path)
    return path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Objects that live on the server thread, handed to closures that run there. Only ever
/// touched on that thread (closures are posted to it), hence unchecked.
final class LoopObjects: @unchecked Sendable {
    let reactor: Reactor
    let server: ControlServer
    init(reactor: Reactor, server: ControlServer) {
        self.reactor = reactor
        self.server = server
    }
}

/// A value set once by one thread and read by another after a semaphore wait.
final class Slot<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    func set(_ v: T) { value.withLock { $0 = v } }
    func get() -> T? { value.withLock { $0 } }
}

/// A control server running its reactor on a background thread.
final class TestServer: Sendable {
    let directory: String
    let socketPath: String
    private let objects: LoopObjects
    private let done: DispatchSemaphore

    /// Starts a server; `setup` runs on the server thread before `start` (register methods there).
    init(configure: @Sendable (inout ControlServerConfiguration) -> Void = { _ in },
         setup: @escaping @Sendable (ControlServer, Reactor) -> Void = { _, _ in }) throws {
        let directory = makeTempDirectory()
        let socketPath = directory + "/control.sock"
        var config = ControlServerConfiguration(socketPath: socketPath)
        configure(&config)
        let frozen = config
        let ready = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let started = Slot<Result<LoopObjects, Errno>>()
        let thread = Thread {
            let reactor: Reactor
            do throws(Errno) { reactor = try Reactor() } catch {
                started.set(.failure(error))
                ready.signal()
                done.signal()
                return
            }
            let server = ControlServer(configuration: frozen)
            setup(server, reactor)
            do throws(Errno) { try server.start(reactor: reactor) } catch {
                started.set(.failure(error))
                ready.signal()
                done.signal()
                return
            }
            started.set(.success(LoopObjects(reactor: reactor, server: server)))
            ready.signal()
            do { try reactor.run() } catch { Issue.record("reactor.run: \(error)") }
            server.stop()
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        ready.wait()
        self.directory = directory
        self.socketPath = frozen.socketPath
        self.done = done
        switch started.get()! {
        case .success(let o): objects = o
        case .failure(let e):
            removeDirectory(directory)
            throw e
        }
    }

    /// Runs `body` on the server thread and returns its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (ControlServer, Reactor) -> T) -> T {
        let slot = Slot<T>()
        let sem = DispatchSemaphore(value: 0)
        let objects = self.objects
        objects.reactor.remote.post {
            slot.set(body(objects.server, objects.reactor))
            sem.signal()
        }
        sem.wait()
        return slot.get()!
    }

    var statistics: ControlServer.Statistics { onLoop { server, _ in server.statistics } }
    var connectionCount: Int { onLoop { server, _ in server.connectionCount } }

    /// Waits (up to 5 s) until `condition` holds on the server thread.
    func waitUntil(_ condition: @escaping @Sendable (ControlServer) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if onLoop({ server, _ in condition(server) }) { return true }
            Sys.sleep(millis: 5)
        }
        return false
    }

    /// Stops the reactor (the server stops and removes its socket) and waits for the thread.
    func stop() {
        objects.reactor.remote.stop()
        done.wait()
        removeDirectory(directory)
    }
}

/// A raw, non-blocking client connection for framing and fuzz tests.
final class RawConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var closedByPeer = false

    init(path: String) throws {
        fd = try Sys.socket(.unix)
        do { try Sys.connect(fd, unixPath: path) } catch {
            Sys.close(fd)
            throw error
        }
    }

    deinit { Sys.close(fd) }

    /// Complete messages received so far are removed from the buffer and returned.
    private func takeMessages() -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = 0
        while let nul = buffer[start...].firstIndex(of: 0) {
            out.append(Array(buffer[start..<nul]))
            start = nul + 1
        }
        buffer.removeFirst(start)
        return out
    }

    private var chunk = [UInt8](repeating: 0, count: 256 * 1024)

    private func readAvailable() throws {
        while !closedByPeer {
            let r = try chunk.withUnsafeMutableBytes { raw -> Sys.Transfer in
                do throws(Errno) { return try Sys.receive(fd, into: raw) } catch {
                    if error == .connectionReset { return .endOfStream }
                    throw error
                }
            }
            switch r {
            case .count(let n): buffer.append(contentsOf: chunk[0..<n])
            case .wouldBlock: return
            case .endOfStream: closedByPeer = true
            }
        }
    }

    /// Writes `data` in pieces of `chunkSizes` (cycled; sleeping `pauseMicros` between pieces)
    /// while reading replies, then reads until `expect` messages arrived or the peer closed.
    /// A write failing because the server closed the connection ends the writing.
    func exchange(_ data: [UInt8], chunkSizes: [Int] = [1 << 20], pauseMicros: UInt32 = 0,
                  expect: Int, timeoutMillis: Int = 10_000) throws -> [[UInt8]] {
        let deadline = Sys.monotonicMillis() + UInt64(timeoutMillis)
        var messages: [[UInt8]] = []
        var sent = 0
        var piece = 0
        var writeFailed = false
        while true {
            try readAvailable()
            messages += takeMessages()
            let writing = sent < data.count && !writeFailed && !closedByPeer
            if !writing && (messages.count >= expect || closedByPeer) { return messages }
            if Sys.monotonicMillis() > deadline {
                throw TestTimeout(description: "exchange: \(messages.count)/\(expect) replies, sent \(sent)/\(data.count)")
            }
            if writing {
                let size = min(chunkSizes[piece % chunkSizes.count], data.count - sent)
                do {
                    switch try Sys.send(fd, data[sent..<(sent + size)]) {
                    case .count(let n):
                        sent += n
                        piece += 1
                        if pauseMicros > 0 { usleep(pauseMicros) }
                        continue
                    case .wouldBlock, .endOfStream: break
                    }
                } catch {
                    if error == .brokenPipe || error == .connectionReset { writeFailed = true; continue }
                    throw error
                }
                _ = try Sys.poll(fd, for: [.readable, .writable], timeoutMillis: 50)
            } else {
                _ = try Sys.poll(fd, for: .readable, timeoutMillis: 50)
            }
        }
    }

    /// Sends one request (framed) and returns the reply.
    func request(_ text: String) throws -> ControlReply {
        let replies = try exchange(Array(text.utf8) + [0], expect: 1)
        guard let first = replies.first else { throw TestTimeout(description: "no reply (closed)") }
        return try ControlReply.decode(first).get()
    }

    /// True when the server closes the connection within `timeoutMillis`.
    func waitForClose(timeoutMillis: Int = 5_000) throws -> Bool {
        let deadline = Sys.monotonicMillis() + UInt64(timeoutMillis)
        while !closedByPeer && Sys.monotonicMillis() < deadline {
            _ = try Sys.poll(fd, for: .readable, timeoutMillis: 50)
            try readAvailable()
        }
        return closedByPeer
    }
}

struct TestTimeout: Error, CustomStringConvertible {
    var description: String
}


extension ControlReply {
    var errorName: String? {
        if case .failure(let e) = result { return e.name }
        return nil
    }
    var parametersValue: [String: JSONValue]? {
        if case .success(let p) = result { return p }
        return nil
    }
}

/// A counter shared between the server thread and the test.
final class Counter: Sendable {
    private let value = Mutex(0)
    func add(_ n: Int) { value.withLock { $0 += n } }
    var current: Int { value.withLock { $0 } }
}
