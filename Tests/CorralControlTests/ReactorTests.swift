// The Reactor and the CorralSystem socket/event-fd wrappers it and the control socket use.
import CorralSystem
import Foundation
import Synchronization
import Testing

/// Runs `body` on a fresh thread (its own signal mask) and returns its result.
private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
    let slot = Slot<Result<T, any Error>>()
    try Sys.onNewThread {
        do { slot.set(.success(try body())) } catch { slot.set(.failure(error)) }
    }
    return try slot.get()!.get()
}

private struct Failure: Error, CustomStringConvertible { var description: String }

@Suite struct ReactorTests {
    @Test func timers() throws {
        let log = try onThread { () throws -> [String] in
            let reactor = try Reactor()
            var log: [String] = []
            var repeats = 0
            let start = Sys.monotonicMillis()
            let cancelled = reactor.addTimer(after: 15) { log.append("cancelled timer ran") }
            reactor.addTimer(after: 150) { log.append("one-shot 150") }
            reactor.addTimer(after: 10) { log.append("one-shot 10") }
            var repeating: Reactor.TimerID?
            repeating = reactor.addTimer(after: 5, repeating: 5) {
                repeats += 1
                if repeats == 4 {
                    reactor.cancelTimer(repeating!)
                    log.append("repeating x4")
                }
            }
            reactor.cancelTimer(cancelled)
            reactor.addTimer(after: 200) {
                log.append("stop")
                reactor.stop()
            }
            reactor.addTimer(after: 1_000) { log.append("after stop") }
            try reactor.run()
            let elapsed = Sys.monotonicMillis() - start
            if elapsed < 200 || elapsed > 5_000 { log.append("elapsed \(elapsed)") }
            if reactor.timerCount != 1 { log.append("timers left \(reactor.timerCount)") }
            return log
        }
        #expect(log == ["one-shot 10", "repeating x4", "one-shot 150", "stop"])
    }

    @Test func fileDescriptors() throws {
        let log = try onThread { () throws -> [String] in
            let reactor = try Reactor()
            var log: [String] = []
            let a = try Sys.pipe()
            let b = try Sys.pipe()
            var bWriteOpen = true
            defer {
                for fd in [a.read, a.write, b.read] { Sys.close(fd) }
                if bWriteOpen { Sys.close(b.write) }
            }
            // Both become readable in the same turn; a's callback removes b, so b's is skipped.
            try reactor.register(a.read, interest: .read) { ready in
                log.append("a \(ready.contains(.readable))")
                _ = try? Sys.read(a.read)
                reactor.remove(b.read)
                reactor.remove(a.read)
            }
            try reactor.register(b.read, interest: .read) { _ in log.append("b ran") }
            try Sys.write(a.write, [1])
            try Sys.write(b.write, [1])
            try reactor.runOnce(timeoutMillis: 1_000)
            if reactor.registrationCount != 0 { log.append("left \(reactor.registrationCount)") }

            // An empty interest is silent; switching to write reports writability.
            try reactor.register(a.write, interest: []) { ready in
                log.append("writable \(ready.contains(.writable))")
                reactor.remove(a.write)
            }
            try reactor.runOnce(timeoutMillis: 20)
            log.append("quiet")
            try reactor.setInterest(a.write, .write)
            if reactor.interest(of: a.write) != .write { log.append("interest not recorded") }
            try reactor.runOnce(timeoutMillis: 1_000)
            // Hangup arrives whatever the interest.
            try reactor.register(b.read, interest: []) { ready in
                log.append("hangup \(ready.contains(.hangup))")
                reactor.remove(b.read)
            }
            Sys.close(b.write)
            bWriteOpen = false
            try reactor.runOnce(timeoutMillis: 1_000)
            return log
        }
        #expect(log == ["a true", "quiet", "writable true", "hangup true"])
    }

    @Test func signalsThroughSignalfd() throws {
        let result = try onThread { () throws -> [Sys.SignalInfo] in
            let reactor = try Reactor()
            var got: [Sys.SignalInfo] = []
            try reactor.onSignals([SIGUSR1]) { got.append($0) }
            try reactor.onSignals([SIGUSR2]) { info in
                got.append(info)
                reactor.stop()
            }
            // raise() is thread-directed; the signals are blocked here, so they wait for the signalfd.
            reactor.addTimer(after: 1) {
                raise(SIGUSR1)
                raise(SIGUSR2)
            }
            reactor.addTimer(after: 5_000) { reactor.stop() }
            try reactor.run()
            return got
        }
        #expect(result.map(\.signal) == [SIGUSR1, SIGUSR2])
        #expect(result.allSatisfy { $0.senderPID == getpid() && $0.senderUID == getuid() })
    }

    @Test func remoteStopAndPostFromOtherThreads() throws {
        let posted = Mutex<[Int]>([])
        let remoteSlot = Slot<Reactor.Remote>()
        let ready = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let loopThread = Slot<Bool>()
        let thread = Thread {
            do {
                let reactor = try Reactor()
                remoteSlot.set(reactor.remote)
                ready.signal()
                try reactor.run()
                loopThread.set(true)
            } catch {
                loopThread.set(false)
            }
            finished.signal()
        }
        thread.start()
        ready.wait()
        let remote = remoteSlot.get()!
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<250 { remote.post { posted.withLock { $0.append(t * 1000 + i) } } }
        }
        let done = DispatchSemaphore(value: 0)
        remote.post { done.signal() }
        done.wait()
        remote.stop()
        finished.wait()
        #expect(loopThread.get() == true)
        let values = posted.withLock { $0 }
        #expect(values.count == 1000)
        for t in 0..<4 {   // each poster's closures ran in its order
            #expect(values.filter { $0 / 1000 == t } == (0..<250).map { t * 1000 + $0 })
        }
        // The reactor is gone; its remote stays harmless.
        remote.stop()
        remote.post {}
    }
}

@Suite struct EventFDTests {
    @Test func eventfd() throws {
        let fd = try Sys.eventFD()
        defer { Sys.close(fd) }
        #expect(try Sys.drainEvent(fd) == 0)
        try Sys.signalEvent(fd)
        try Sys.signalEvent(fd, 2)
        #expect(try Sys.drainEvent(fd) == 3)
        #expect(try Sys.drainEvent(fd) == 0)
    }

    @Test func timerfd() throws {
        let fd = try Sys.timerFD()
        defer { Sys.close(fd) }
        #expect(try Sys.readTimer(fd) == 0)
        try Sys.setTimer(fd, initialNanos: 1_000_000, intervalNanos: 1_000_000)
        #expect(try Sys.poll(fd, for: .readable, timeoutMillis: 1_000).contains(.readable))
        Sys.sleep(millis: 10)
        #expect(try Sys.readTimer(fd) >= 5)
        try Sys.setTimer(fd, initialNanos: 0)   // disarm
        _ = try Sys.readTimer(fd)
        Sys.sleep(millis: 5)
        #expect(try Sys.readTimer(fd) == 0)
    }

    @Test func epollDirectly() throws {
        let ep = try Sys.epollCreate()
        defer { Sys.close(ep) }
        let p = try Sys.pipe()
        defer { Sys.close(p.read); Sys.close(p.write) }
        try Sys.epollAdd(ep, fd: p.read, events: .readable, data: 0xDEAD_BEEF_0000_0042)
        let buffer = Sys.EpollEventBuffer(capacity: 4)
        #expect(try Sys.epollWait(ep, into: buffer, timeoutMillis: 0) == 0)
        try Sys.write(p.write, [7])
        #expect(try Sys.epollWait(ep, into: buffer, timeoutMillis: 1_000) == 1)
        #expect(buffer.data(at: 0) == 0xDEAD_BEEF_0000_0042)
        #expect(buffer.events(at: 0) == .readable)
        try Sys.epollModify(ep, fd: p.read, events: [], data: 1)
        #expect(try Sys.epollWait(ep, into: buffer, timeoutMillis: 0) == 0)
        try Sys.epollRemove(ep, fd: p.read)
        #expect(throws: Errno.noSuchFile) { try Sys.epollRemove(ep, fd: p.read) }
    }
}

@Suite struct SocketWrapperTests {
    @Test func unixSocketsAndPeerCredentials() throws {
        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/s.sock"
        let listener = try Sys.socket(.unix)
        defer { Sys.close(listener) }
        try Sys.bind(listener, unixPath: path)
        try Sys.listen(listener, backlog: 4)
        #expect(try Sys.accept(listener) == nil)
        let client = try Sys.socket(.unix)
        defer { Sys.close(client) }
        try Sys.connect(client, unixPath: path)
        guard let server = try Sys.accept(listener) else { Issue.record("no connection"); return }
        var serverOpen = true
        defer { if serverOpen { Sys.close(server) } }
        #expect(try Sys.peerCredentials(server) == Sys.SocketPeerCredentials(pid: getpid(), uid: geteuid(), gid: getegid()))
        #expect(try Sys.peerCredentials(client).pid == getpid())

        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try buffer.withUnsafeMutableBytes { try Sys.receive(server, into: $0) } == .wouldBlock)
        #expect(try Sys.send(client, Array("hello".utf8)[...]) == .count(5))
        #expect(try buffer.withUnsafeMutableBytes { try Sys.receive(server, into: $0) } == .count(5))
        #expect(Array(buffer.prefix(5)) == Array("hello".utf8))
        try Sys.shutdownWrite(client)
        #expect(try buffer.withUnsafeMutableBytes { try Sys.receive(server, into: $0) } == .endOfStream)
        Sys.close(server)
        serverOpen = false
        // No SIGPIPE: a write to a closed peer is EPIPE.
        #expect(throws: Errno.brokenPipe) { _ = try Sys.send(client, Array("x".utf8)[...]) }

        #expect(throws: Errno.nameTooLong) { try Sys.bind(listener, unixPath: "/" + String(repeating: "a", count: 200)) }
        #expect(throws: Errno.addressInUse) {
            let s = try Sys.socket(.unix)
            defer { Sys.close(s) }
            try Sys.bind(s, unixPath: path)
        }
    }

    @Test func tcpLoopback() throws {
        let listener = try Sys.socket(.ipv4)
        var listenerOpen = true
        defer { if listenerOpen { Sys.close(listener) } }
        try Sys.bind(listener, ipv4: "127.0.0.1", port: 0)
        try Sys.listen(listener, backlog: 4)
        let port = try Sys.localPort(listener)
        #expect(port > 0)
        let client = try Sys.socket(.ipv4)
        defer { Sys.close(client) }
        do { try Sys.connect(client, ipv4: "127.0.0.1", port: port) } catch {
            #expect(error == .inProgress)
        }
        #expect(try Sys.poll(client, for: .writable, timeoutMillis: 1_000).contains(.writable))
        #expect(try Sys.socketError(client) == nil)
        var accepted: Int32?
        for _ in 0..<100 where accepted == nil {
            accepted = try Sys.accept(listener)
            if accepted == nil { Sys.sleep(millis: 5) }
        }
        guard let server = accepted else { Issue.record("no TCP connection"); return }
        defer { Sys.close(server) }
        #expect(try Sys.send(server, Array("metrics".utf8)[...]) == .count(7))
        #expect(try Sys.poll(client, for: .readable, timeoutMillis: 1_000).contains(.readable))
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try buffer.withUnsafeMutableBytes { try Sys.receive(client, into: $0) } == .count(7))

        // A closed port: the non-blocking connect reports ECONNREFUSED through SO_ERROR.
        let probe = try Sys.socket(.ipv4)
        defer { Sys.close(probe) }
        Sys.close(listener)
        listenerOpen = false
        var refused: Errno?
        do { try Sys.connect(probe, ipv4: "127.0.0.1", port: port) } catch {
            if error == .inProgress {
                _ = try Sys.poll(probe, for: .writable, timeoutMillis: 1_000)
                refused = try Sys.socketError(probe)
            } else {
                refused = error
            }
        }
        #expect(refused == .connectionRefused)
        #expect(throws: Errno.invalid) { try Sys.bind(probe, ipv4: "localhost", port: 1) }
    }
}
