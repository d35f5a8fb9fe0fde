// libFuzzer target: bytes from a control-socket peer → the server's framing (NUL-terminated
// messages, RequestTooLarge above maxRequestBytes) → ControlRequest.decode (the strict
// JSONValue reader: depth, duplicate keys, UTF-8, surrogates, number range) → the parameter
// accessors untyped handlers use and every ControlInterface method's typed parameter decoding
// (what the daemon's handlers get). Also the client's ControlReply.decode.
//
// Checked: a message is a request or io.corral.MalformedRequest, a decoded request re-encodes to
// itself, no encoded form holds a NUL, and accessors answer a value or InvalidParameter.
import CorralControl

/// ControlServerConfiguration.maxRequestBytes's default.
let maxRequestBytes = 16 << 20

import CFuzzDriver
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func controlFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    // As ControlServer.nextMessage: complete messages end in NUL; a trailing rest is incomplete.
    var start = 0
    while let nul = input[start...].firstIndex(of: controlMessageTerminator) {
        let frame = input[start..<nul]
        start = nul + 1
        if frame.count > maxRequestBytes { continue }
        request(frame)
        _ = ControlReply.decode(frame)
    }
    if start == 0 {
        // No terminator at all: still one message's worth of reader input.
        request(input[...])
    }
    return 0
}

func request(_ frame: Slice<UnsafeBufferPointer<UInt8>>) {
    switch ControlRequest.decode(frame) {
    case .failure(let error):
        precondition(error.name == ControlError.Name.malformedRequest, "unexpected error \(error.name)")
        let reply = ControlReply(error: error).encoded()
        precondition(!reply.contains(0), "a reply holds a NUL")
    case .success(let r):
        precondition(!r.method.isEmpty, "empty method accepted")
        let wire = r.encoded()
        precondition(!wire.contains(0), "an encoded request holds a NUL")
        guard case .success(let again) = ControlRequest.decode(wire) else {
            preconditionFailure("re-encoded request does not decode: \(String(decoding: wire, as: UTF8.self))")
        }
        precondition(again == r, "request does not round-trip: \(String(decoding: wire, as: UTF8.self))")
        for name in r.parameters.keys {
            expectValueOrInvalid { () throws(ControlError) in _ = try r.optionalString(name) }
            expectValueOrInvalid { () throws(ControlError) in _ = try r.optionalInteger(name) }
            expectValueOrInvalid { () throws(ControlError) in _ = try r.optionalInteger(name, in: 0...10) }
            expectValueOrInvalid { () throws(ControlError) in _ = try r.optionalBool(name) }
            expectValueOrInvalid { () throws(ControlError) in _ = try r.optionalChoice(name, ["audit", "enforce"]) }
        }
        expectValueOrInvalid { () throws(ControlError) in try r.rejectUnknownParameters(["rule", "mode", "n"]) }
        // Every method's typed parameters, as the daemon decodes them before its handler runs.
        for method in ControlInterface.methods {
            expectValueOrInvalid { () throws(ControlError) in try decodeParameters(method, r.parameters) }
        }
        let echo = ControlReply(parameters: r.parameters, continues: r.more).encoded()
        precondition(!echo.contains(0), "a reply holds a NUL")
        guard case .success(let reply) = ControlReply.decode(echo), case .success(let p) = reply.result, p == r.parameters else {
            preconditionFailure("reply does not round-trip: \(String(decoding: echo, as: UTF8.self))")
        }
    }
}

func decodeParameters<M: ControlMethodSpec>(_ method: M.Type, _ parameters: [String: JSONValue]) throws(ControlError) {
    let decoded = try M.decode(parameters: parameters)
    // What decodes re-encodes to parameters that decode again.
    _ = try M.decode(parameters: M.encode(parameters: decoded))
}

func expectValueOrInvalid(_ body: () throws(ControlError) -> Void) {
    do throws(ControlError) { try body() } catch {
        precondition(error.name == ControlError.Name.invalidParameter, "accessor threw \(error.name)")
        _ = error.description
    }
}

// libFuzzer parses the command line (-runs=, -max_total_time=, corpus directories) and calls
// controlFuzz for every input.
var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv, controlFuzz))
