// The methods the test servers register.
import CorralControl
import CorralSystem

/// test.Increment only counts with this token, so fuzzed requests (which never carry it) can
/// never be valid calls.
let incrementToken = "9f1c2e7a4b6d8035"

final class TestMethods: Sendable {
    /// Mutated only by a valid test.Increment (a `change` method).
    let counter = Counter()
    /// Streams whose client went away before they finished.
    let closedStreams = Counter()

    /// Registers test.Echo (read), test.Increment (change), test.Count (read, streams
    /// synchronously), test.Ticks (read, streams from a reactor timer), test.Hang (read, never
    /// answers), test.Flood (read, streams 16 KiB replies every millisecond until the client
    /// goes away) and test.Anyone (anyone).
    func register(on server: ControlServer, reactor: Reactor) {
        let counter = self.counter
        let closedStreams = self.closedStreams
        server.register(method: "test.Echo", access: .read) { call in
            .reply(call.parameters)
        }
        // Multi-statement handlers that throw spell out `throws(ControlError)`.
        server.register(method: "test.Concat", access: .read) { call throws(ControlError) in
            let a = try call.string("a")
            let b = try call.optionalString("b") ?? ""
            return .reply(["ab": .string(a + b)])
        }
        server.register(method: "test.Anyone", access: .anyone) { call in
            .reply(["uid": JSONValue(Int(call.peer.uid))])
        }
        server.register(method: "test.Increment", access: .change) { call throws(ControlError) in
            try call.rejectUnknownParameters(["by", "token"])
            guard try call.string("token") == incrementToken else {
                throw .invalidParameter("token", reason: "wrong token")
            }
            let by = try call.integer("by", in: 1...10)
            counter.add(by)
            return .reply(["total": JSONValue(counter.current)])
        }
        server.register(method: "test.Count", access: .read) { call throws(ControlError) in
            try call.rejectUnknownParameters(["n"])
            let n = try call.integer("n", in: 0...10_000)
            for i in 0..<n { call.stream.send(["i": JSONValue(i)]) }
            call.stream.finish(["done": true])
            return .streaming
        }
        server.register(method: "test.Ticks", access: .read) { call throws(ControlError) in
            let n = try call.integer("n", in: 1...1000)
            let interval = try call.optionalInteger("interval", in: 1...1000) ?? 2
            let stream = call.stream
            var sent = 0
            var timer: Reactor.TimerID?
            timer = reactor.addTimer(after: UInt64(interval), repeating: UInt64(interval)) {
                sent += 1
                if sent == n {
                    reactor.cancelTimer(timer!)
                    stream.finish(["tick": JSONValue(sent), "last": true])
                } else {
                    stream.send(["tick": JSONValue(sent)])
                }
            }
            stream.onClose = {
                reactor.cancelTimer(timer!)
                closedStreams.add(1)
            }
            return .streaming
        }
        server.register(method: "test.Hang", access: .read) { _ in .streaming }
        server.register(method: "test.Flood", access: .read) { call in
            let stream = call.stream
            let payload = JSONValue.string(String(repeating: "f", count: 16 * 1024))
            var timer: Reactor.TimerID?
            timer = reactor.addTimer(after: 1, repeating: 1) {
                if !stream.send(["data": payload]) { reactor.cancelTimer(timer!) }
            }
            stream.onClose = {
                reactor.cancelTimer(timer!)
                closedStreams.add(1)
            }
            return .streaming
        }
    }
}
