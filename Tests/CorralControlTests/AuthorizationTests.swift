// Authorization: /proc status parsing, the decision function, and real peers over the socket
// (this process as root, and forked children that drop to uid 65534 with chosen groups).
import CorralControl
import CorralSystem
import Foundation
import Testing

private let statusText = """
    Name:\tcat
    Umask:\t0022
    State:\tR (running)
    Tgid:\t4242
    Pid:\t4242
    PPid:\t1
    Uid:\t1000\t1000\t1000\t1000
    Gid:\t1000\t1000\t1000\t1000
    FDSize:\t256
    Groups:\t4 24 27 100 
    NStgid:\t4242
    """

@Suite struct ProcessIdentityTests {
    @Test func parsesTheStatusLines() {
        let id = ProcessIdentity.parse(status: statusText)
        #expect(id == ProcessIdentity(uids: [1000, 1000, 1000, 1000], gids: [1000, 1000, 1000, 1000], groups: [4, 24, 27, 100]))
        // No supplementary groups; spaces instead of tabs; CRLF; a missing Groups line.
        #expect(ProcessIdentity.parse(status: "Uid:\t5 6 7 8\nGid:\t9\t10\t11\t12\nGroups:\t\n")?.groups == [])
        #expect(ProcessIdentity.parse(status: "Uid:  5  6 7 8\r\nGid: 9 10 11 12\r\nGroups: 3 4\r\n")
            == ProcessIdentity(uids: [5, 6, 7, 8], gids: [9, 10, 11, 12], groups: [3, 4]))
        #expect(ProcessIdentity.parse(status: "Gid:\t1\t1\t1\t1\nUid:\t2\t2\t2\t2")
            == ProcessIdentity(uids: [2, 2, 2, 2], gids: [1, 1, 1, 1], groups: []))
        // Lines that only start like ours are ignored.
        #expect(ProcessIdentity.parse(status: "Uid:\t1\nGid:\t2\nGroupsX:\tjunk\nUidMap: x\n")?.groups == [])
    }

    @Test func rejectsMalformedText() {
        let bad = [
            "",                                                   // nothing
            "Gid:\t1\t1\t1\t1\nGroups:\t1\n",                     // no Uid
            "Uid:\t1\t1\t1\t1\nGroups:\t1\n",                     // no Gid
            "Uid:\t1\nGid:\t1\nGroups:\t1 x\n",                   // not a number
            "Uid:\t1\nGid:\t-1\n",                                // negative
            "Uid:\t1\nGid:\t+1\n",                                // sign
            "Uid:\t1\nGid:\t4294967296\n",                        // > UInt32.max
            "Uid:\t1\nGid:\t1 2 3 4 5\n",                         // five ids
            "Uid:\t\nGid:\t1\n",                                  // no ids
            "Uid:\t1\nGid:\t1\nGid:\t100\n",                      // Gid twice
            "Uid:\t1\nGid:\t1\nGroups:\t1\nGroups:\t100\n",       // Groups twice
            "Uid:\t1\nGid:\t1\nGroups:\t１\n",                    // non-ASCII digit
        ]
        for text in bad { #expect(ProcessIdentity.parse(status: text) == nil, "\(text.debugDescription)") }
    }

    @Test func readsProc() throws {
        let mine = Authorization.identity(of: getpid())
        #expect(mine?.uids.contains(geteuid()) == true)
        #expect(mine?.gids.first == getgid())
        #expect(Authorization.identity(of: 0) == nil)
        #expect(Authorization.identity(of: -5) == nil)

        let dir = makeTempDirectory()
        defer { removeDirectory(dir) }
        try Sys.mkdirs(dir + "/77")
        #expect(FileManager.default.createFile(atPath: dir + "/77/status", contents: Data(statusText.utf8)))
        #expect(Authorization.identity(of: 77, procRoot: dir)?.groups == [4, 24, 27, 100])
        #expect(Authorization.identity(of: 78, procRoot: dir) == nil)
    }
}

@Suite struct AuthorizationDecisionTests {
    let config = AuthorizationConfig(adminGroup: 100, readerGroup: 200)

    private func identity(uid: UInt32 = 1000, gids: [UInt32] = [1000, 1000, 1000, 1000], groups: [UInt32]) -> ProcessIdentity {
        ProcessIdentity(uids: [uid, uid, uid, uid], gids: gids, groups: groups)
    }

    private func allowed(_ peer: PeerCredentials, _ id: ProcessIdentity?, config: AuthorizationConfig? = nil) -> [AccessLevel] {
        AccessLevel.allCases.filter { Authorization.isAllowed($0, peer: peer, identity: id, config: config ?? self.config) }
    }

    @Test func decisions() {
        let user = PeerCredentials(pid: 4242, uid: 1000, gid: 1000)
        // Root: everything, whatever the config.
        #expect(allowed(PeerCredentials(pid: 1, uid: 0, gid: 0), nil) == [.anyone, .read, .change])
        #expect(allowed(PeerCredentials(pid: 1, uid: 0, gid: 5), nil, config: AuthorizationConfig()) == [.anyone, .read, .change])
        // No groups: anyone only; also when the status is unavailable.
        #expect(allowed(user, identity(groups: [4, 24])) == [.anyone])
        #expect(allowed(user, nil) == [.anyone])
        // Supplementary membership.
        #expect(allowed(user, identity(groups: [4, 100])) == [.anyone, .read, .change])
        #expect(allowed(user, identity(groups: [200])) == [.anyone, .read])
        #expect(allowed(user, identity(groups: [200, 100])) == [.anyone, .read, .change])
        // Primary group: the SO_PEERCRED gid, or the real/effective gid of the status.
        #expect(allowed(PeerCredentials(pid: 4242, uid: 1000, gid: 100), nil) == [.anyone, .read, .change])
        #expect(allowed(PeerCredentials(pid: 4242, uid: 1000, gid: 200), nil) == [.anyone, .read])
        #expect(allowed(user, identity(gids: [100, 1000, 1000, 1000], groups: [])) == [.anyone, .read, .change])
        #expect(allowed(user, identity(gids: [1000, 200, 1000, 1000], groups: [])) == [.anyone, .read])
        // The saved and filesystem gids do not count.
        #expect(allowed(user, identity(gids: [1000, 1000, 100, 100], groups: [])) == [.anyone])
        // A status of another uid (pid reused, or the caller changed identity) is ignored.
        #expect(allowed(user, identity(uid: 1001, groups: [100])) == [.anyone])
        #expect(allowed(PeerCredentials(pid: 4242, uid: 1000, gid: 100), identity(uid: 1001, groups: [])) == [.anyone, .read, .change])
        // Without configured groups nobody but root gets read or change.
        #expect(allowed(user, identity(groups: [100, 200]), config: AuthorizationConfig()) == [.anyone])
        // Reader group only.
        let readersOnly = AuthorizationConfig(adminGroup: nil, readerGroup: 200)
        #expect(allowed(user, identity(groups: [200]), config: readersOnly) == [.anyone, .read])
        #expect(allowed(user, identity(groups: [100]), config: readersOnly) == [.anyone])
        // Decision from synthetic status text end to end.
        #expect(allowed(PeerCredentials(pid: 4242, uid: 1000, gid: 1000), ProcessIdentity.parse(status: statusText))
            == [.anyone, .read, .change])
    }
}

// MARK: real peers

/// What a forked child sends and with which identity.
struct ChildPeer {
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]
}

/// Runs in the forked child: only async-signal-safe libc calls on memory the parent prepared
/// (the parent has other threads, so the child must not allocate or take locks).
private func childMain(address: UnsafePointer<sockaddr>, addressLength: socklen_t,
                       uid: uid_t, gid: gid_t, groups: UnsafePointer<gid_t>, groupCount: Int,
                       request: UnsafePointer<UInt8>, requestLength: Int,
                       reply: UnsafeMutablePointer<UInt8>, replyCapacity: Int, expectReplies: Int,
                       resultFD: Int32) -> Never {
    _ = alarm(10)
    if setgroups(groupCount, groups) != 0 { _exit(10) }
    if setgid(gid) != 0 { _exit(11) }
    if setuid(uid) != 0 { _exit(12) }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    if fd < 0 { _exit(13) }
    if connect(fd, address, addressLength) != 0 { _exit(14) }
    var off = 0
    while off < requestLength {
        let n = write(fd, request + off, requestLength - off)
        if n <= 0 { _exit(15) }
        off += n
    }
    var got = 0
    var nuls = 0
    while nuls < expectReplies && got < replyCapacity {
        let n = read(fd, reply + got, replyCapacity - got)
        if n <= 0 { break }
        var i = got
        while i < got + n {
            if reply[i] == 0 { nuls += 1 }
            i += 1
        }
        got += n
    }
    var w = 0
    while w < got {
        let n = write(resultFD, reply + w, got - w)
        if n <= 0 { _exit(16) }
        w += n
    }
    _exit(0)
}

/// Forks a child that becomes `peer`, sends `requests` on the socket and reports the replies.
func callAsChild(_ peer: ChildPeer, socketPath: String, requests: [ControlRequest]) throws -> [ControlReply] {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let pathBytes = Array(socketPath.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: pathBytes)
        raw[pathBytes.count] = 0
    }
    let addressLength = socklen_t(MemoryLayout<sockaddr_un>.size)
    var requestBytes: [UInt8] = []
    for r in requests { requestBytes += r.encoded() + [0] }
    let groups: [gid_t] = peer.groups
    let replyCapacity = 1 << 20
    let reply = UnsafeMutablePointer<UInt8>.allocate(capacity: replyCapacity)
    defer { reply.deallocate() }
    let pipe = try Sys.pipe()

    let pid: Int32 = withUnsafePointer(to: &address) { addr in
        addr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            requestBytes.withUnsafeBufferPointer { req in
                groups.withUnsafeBufferPointer { grp in
                    let pid = fork()
                    if pid == 0 {
                        childMain(address: sa, addressLength: addressLength, uid: peer.uid, gid: peer.gid,
                                  groups: grp.baseAddress!, groupCount: grp.count,
                                  request: req.baseAddress!, requestLength: req.count,
                                  reply: reply, replyCapacity: replyCapacity, expectReplies: requests.count,
                                  resultFD: pipe.write)
                    }
                    return pid
                }
            }
        }
    }
    Sys.close(pipe.write)
    defer { Sys.close(pipe.read) }
    #expect(pid > 0)
    var output: [UInt8] = []
    while true {
        let chunk = try Sys.read(pipe.read)
        if chunk.isEmpty { break }
        output += chunk
    }
    let status = try Sys.waitpid(pid)
    #expect(status == .exited(0), "child \(peer): \(status)")
    return try output.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
        try ControlReply.decode($0).get()
    }
}

@Suite struct RealPeerAuthorizationTests {
    @Test func rootPeerIsAllowedAndIdentified() throws {
        let methods = TestMethods()
        let server = try TestServer(configure: {
            $0.authorization = AuthorizationConfig(adminGroup: 4242, readerGroup: 4343)
        }) { server, reactor in
            methods.register(on: server, reactor: reactor)
            server.register(method: "test.WhoAmI", access: .anyone) { call in
                .reply(["pid": JSONValue(Int(call.peer.pid)), "uid": JSONValue(Int(call.peer.uid)),
                        "gid": JSONValue(Int(call.peer.gid))])
            }
        }
        defer { server.stop() }
        let client = try ControlClient(socketPath: server.socketPath)
        #expect(try client.call("test.WhoAmI").get()
            == ["pid": JSONValue(Int(getpid())), "uid": JSONValue(Int(geteuid())), "gid": JSONValue(Int(getegid()))])
        #expect(try client.call("test.Increment", ["token": .string(incrementToken), "by": 3]).get() == ["total": 3])
        #expect(methods.counter.current == 3)
        #expect(server.onLoop { s, _ in s.accessTable } == [
            "org.varlink.service.GetInfo": .anyone, "org.varlink.service.GetInterfaceDescription": .anyone, "test.Anyone": .anyone, "test.WhoAmI": .anyone,
            "test.Echo": .read, "test.Concat": .read, "test.Count": .read, "test.Ticks": .read, "test.Hang": .read, "test.Flood": .read,
            "test.Increment": .change,
        ])
    }

    @Test(.enabled(if: geteuid() == 0, "dropping to another uid needs root"))
    func nonRootPeersGetWhatTheirGroupsAllow() throws {
        let methods = TestMethods()
        let server = try TestServer(configure: {
            $0.authorization = AuthorizationConfig(adminGroup: 4242, readerGroup: 4343)
        }) { server, reactor in methods.register(on: server, reactor: reactor) }
        defer { server.stop() }
        let requests = [
            ControlRequest(method: "test.Anyone"),
            ControlRequest(method: "test.Echo", parameters: ["x": 1]),
            ControlRequest(method: "test.Increment", parameters: ["token": .string(incrementToken), "by": 1]),
        ]
        let denied = { (m: String) in ControlReply(error: .permissionDenied(method: m)) }
        let anyoneOK = ControlReply(parameters: ["uid": 65534])
        let echoOK = ControlReply(parameters: ["x": 1])

        // No relevant group.
        var replies = try callAsChild(ChildPeer(uid: 65534, gid: 65534, groups: [5]), socketPath: server.socketPath, requests: requests)
        #expect(replies == [anyoneOK, denied("test.Echo"), denied("test.Increment")])
        // Reader group (supplementary, read from /proc/<pid>/status).
        replies = try callAsChild(ChildPeer(uid: 65534, gid: 65534, groups: [4343]), socketPath: server.socketPath, requests: requests)
        #expect(replies == [anyoneOK, echoOK, denied("test.Increment")])
        #expect(methods.counter.current == 0)
        // Admin group (supplementary).
        replies = try callAsChild(ChildPeer(uid: 65534, gid: 65534, groups: [7, 4242]), socketPath: server.socketPath, requests: requests)
        #expect(replies == [anyoneOK, echoOK, ControlReply(parameters: ["total": 1])])
        // Admin group as the primary gid (SO_PEERCRED), no supplementary groups.
        replies = try callAsChild(ChildPeer(uid: 65534, gid: 4242, groups: []), socketPath: server.socketPath, requests: requests)
        #expect(replies == [anyoneOK, echoOK, ControlReply(parameters: ["total": 2])])
        #expect(methods.counter.current == 2)
        #expect(server.statistics.errors == 3)
    }
}
