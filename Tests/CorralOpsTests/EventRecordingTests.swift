import CorralABI
import CorralJSON
import CorralKernel
import CorralPolicy
import CorralTestSupport
import Foundation
import Testing
@testable import CorralOps

@Suite struct EventLineTests {
    /// A line as the kernel event encodes it, plus the daemon's keys and one key from the future.
    static let line = #"{"actor_cgroup":40,"actor_cgroup_path":"/system.slice/a.service","actor_exe":"/usr/bin/sh","#
        + #""actor_lock_label":"sandbox","actor_lock_rule":"lock-sandbox","boot_id":"3f1b5a0e","comm":"sh","compat":false,"#
        + #""dst_cgroup":42,"dst_cgroup_path":"/user.slice","err":1,"errno":"EPERM","future_key":{"a":[1,2.5,"x",null]},"#
        + #""generation":7,"hook":"cgroup_attach","id":"12","locked":false,"mode":"enforce","ns_inum":0,"pid":311,"#
        + #""rule":"services-stay","rule_uid":1234,"seq":12,"src_cgroup":40,"src_cgroup_path":"/system.slice/a.service","#
        + #""target_pid":312,"tgid":311,"threadgroup":1,"timestamp_ns":91234,"tracked":false,"verdict":"deny"}"#

    @Test func decisionEventRoundTripsAndKeepsUnknownKeys() throws {
        let event = try Event.parse(line: Self.line)
        #expect(event.id == "12" && event.seq == 12 && event.generation == 7)
        #expect(event.hook == "cgroup_attach" && event.verdict == "deny" && event.rule == "services-stay")
        #expect(event.actorLockRule == "lock-sandbox" && event.actorLockLabel == "sandbox")
        #expect(event.actorCgroupPath == "/system.slice/a.service" && event.actorExe == "/usr/bin/sh")
        #expect(event.fields["future_key"] == .object(["a": .array([.integer(1), .number(2.5), .string("x"), .null])]))
        #expect(event.fields["verdict"] == nil)
        let again = try Event.parse(line: event.jsonLine)
        #expect(again == event)
        #expect(event.jsonLine == Self.line)
    }

    /// The event log goes through the one JSON codec: 64-bit counters past 2^53 stay exact.
    @Test func sixtyFourBitFieldsStayExact() throws {
        var event = try Event.parse(line: Self.line)
        event.timestampNs = 9_007_199_254_740_993
        event.seq = 9_223_372_036_854_775_807
        event.dstCgroup = 123_456_789_012_345_678
        #expect(event.jsonLine.contains(#""timestamp_ns":9007199254740993"#))
        let again = try Event.parse(line: event.jsonLine)
        #expect(again.timestampNs == 9_007_199_254_740_993 && again.seq == 9_223_372_036_854_775_807)
        #expect(again.dstCgroup == 123_456_789_012_345_678)
        #expect(throws: (any Error).self) { try Event.parse(line: #"{"id":"1","hook":"admin","id":"2"}"#) }
    }

    /// `jsonObject` (the schema written directly, what the daemon records) is what the Codable
    /// encoder gives, for decisions, a gone actor, a UInt64 past Int64.max, admin and evaluator events.
    @Test func directWriterMatchesTheCodableEncoder() throws {
        var decision = try Event.parse(line: Self.line)
        decision.actorExeXattrs = ["trusted.corral", "user.x"]
        decision.actorUID = 4242
        decision.ruleOrigin = "/etc/corral/policy.yaml:3"
        var gone = decision
        gone.actorExe = nil
        var huge = decision
        huge.dstCgroup = UInt64.max
        let admin = Event.admin(id: "admin-5", bootID: "3f1b5a0e", action: "apply", generation: 8, timestampNs: 99,
                                fields: ["source": .string("/etc/corral/policy.yaml"), "rule": .string("x")])
        let evaluator = Event(id: "", hook: "namespace_install", verdict: "deny", rule: "lock", hookCount: 3)
        var extras = decision
        extras.fields = ["a_first": .integer(1), "zz_last": .array([.null]), "hook_z": .string("é\""), "id0": .bool(true)]
        for event in [decision, gone, huge, admin, evaluator, extras] {
            #expect(event.jsonObject == (try JSONValue(encoding: event)), "\(event)")
            #expect(event.jsonLine == String(decoding: (try JSONValue(encoding: event)).serialized(), as: UTF8.self))
        }
    }

    @Test func goneActorIsWrittenAsNull() throws {
        var event = try Event.parse(line: Self.line)
        event.actorExe = nil
        #expect(event.jsonLine.contains(#""actor_exe":null"#))
        #expect(try Event.parse(line: event.jsonLine).actorExe == nil)
    }

    @Test func adminEventsKeepTheirFields() throws {
        let admin = Event.admin(id: "admin-5", bootID: "3f1b5a0e", action: "loosen", generation: 8,
                                        timestampNs: 99, fields: ["rule": .string("services-stay"), "seconds": .integer(600),
                                                                  "until": .number(1795430000.5), "pid": .integer(7)])
        #expect(admin.isAdmin && admin.rule == "services-stay")
        #expect(admin.fields == ["seconds": .integer(600), "until": .number(1795430000.5), "request_pid": .integer(7)])
        let line = admin.jsonLine
        #expect(!line.contains("actor_exe"))
        let again = try Event.parse(line: line)
        #expect(again == admin)
        #expect(EventFilter(rule: "services-stay").matches(again))
    }

    @Test func tolerantOfMissingKeysButNotOfMissingIdentity() throws {
        let minimal = try Event.parse(line: #"{"id":"1","hook":"namespace_alloc"}"#)
        #expect(minimal.verdict == nil && minimal.actorCgroup == nil && minimal.fields.isEmpty)
        #expect(throws: (any Error).self) { try Event.parse(line: #"{"hook":"namespace_alloc"}"#) }
        #expect(throws: (any Error).self) { try Event.parse(line: #"{"id":12,"hook":"namespace_alloc"}"#) }
    }
}

@Suite struct EnricherTests {
    /// An event as the kernel layer produces it: a raw `struct corral_event` through EventDecoder.
    static func decisionEvent(tgid: Int32) throws -> Event {
        var raw = corral_event()
        raw.seq = 77
        raw.timestamp_ns = 5
        raw.generation = 3
        raw.hook = CORRAL_HOOK_NS_INSTALL.rawValue
        raw.verdict = CORRAL_VERDICT_DENY.rawValue
        raw.mode = CORRAL_MODE_ENFORCE.rawValue
        raw.rule_uid = StableID.of("lock-sandbox")
        raw.pid = UInt32(tgid)
        raw.tgid = UInt32(tgid)
        withUnsafeMutableBytes(of: &raw.comm) { $0.copyBytes(from: Array("sh".utf8)) }
        raw.ns_type = NamespaceType.net.cloneFlag
        raw.ns_inum = 4026532001
        raw.err = 1
        raw.actor_cgroup = 40
        raw.actor_lock_rule = StableID.of("lock-sandbox")
        raw.actor_lock_label = StableID.of("sandbox")
        raw.actor_uid = 1000
        raw.actor_gid = 100
        let decoder = EventDecoder(policy: try Fixtures.example("lock_in"), cgroupPaths: [40: CgroupPath("/user.slice")!])
        return decoder.decode(raw)
    }

    @Test func theDecoderNamesEveryField() throws {
        let e = try Self.decisionEvent(tgid: 9)
        #expect(e.id == "77" && e.seq == 77 && e.timestampNs == 5 && e.generation == 3)
        #expect(e.hook == "namespace_install" && e.verdict == "deny" && e.mode == "enforce")
        #expect(e.rule == "lock-sandbox" && e.errno == "EPERM" && e.err == 1 && e.comm == "sh")
        #expect(e.nsType == "net" && e.nsInum == 4026532001 && e.nsLabel == nil)
        #expect(e.actorCgroupPath == "/user.slice" && e.actorLockRule == "lock-sandbox" && e.actorLockLabel == "sandbox")
        #expect(e.compat == false && e.locked == false && e.tracked == false && e.unclassified == nil)
        #expect(e.bootID == nil && e.actorExe == nil)
        #expect(e.actorUID == 1000 && e.actorGID == 100)
    }

    @Test func bootIDIsTheFirstEightHexDigits() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-boot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "3F1B5A0E-77aa-4c1e-9d2b-0123456789ab\n".write(toFile: dir + "/boot_id", atomically: true, encoding: .utf8)
        #expect(EventEnricher.readBootID(path: dir + "/boot_id") == "3f1b5a0e")
        #expect(EventEnricher.readBootID(path: dir + "/missing") == nil)
        let real = EventEnricher.readBootID()
        #expect(real?.count == 8 && real!.allSatisfy(\.isHexDigit))
    }

    @Test func enrichCarriesEveryFieldAndTheLiveExecutable() throws {
        let me = getpid()
        let enricher = EventEnricher(bootID: "0badc0de")
        let recorded = enricher.enrich(try Self.decisionEvent(tgid: me))
        #expect(recorded.id == "77" && recorded.seq == 77 && recorded.bootID == "0badc0de")
        #expect(recorded.hook == "namespace_install" && recorded.nsType == "net" && recorded.nsInum == 4026532001)
        #expect(recorded.actorLockRule == "lock-sandbox" && recorded.actorCgroup == 40 && recorded.err == 1)
        let selfExe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #expect(recorded.actorExe == selfExe)
        #expect(recorded.actorExeXattrs != nil)
        #expect(recorded.fields.isEmpty)
        // The enriched line parses back to the same event.
        #expect(try Event.parse(line: recorded.jsonLine) == recorded)
    }

    /// enrich adds the boot id and the executable and keeps every field the decoder set.
    @Test func enrichKeepsEveryDecodedField() throws {
        let event = try Self.decisionEvent(tgid: getpid())
        let recorded = EventEnricher(bootID: "0badc0de").enrich(event)
        var expected = event
        expected.bootID = "0badc0de"
        expected.actorExe = recorded.actorExe
        expected.actorExeXattrs = recorded.actorExeXattrs
        expected.actorUnit = "user.slice" // the decoded actor_cgroup_path
        expected.time = recorded.time
        #expect(recorded == expected && recorded.actorExe != nil, "\(recorded)")
        #expect(recorded.time?.hasSuffix("Z") == true && recorded.time?.count == 27)
    }

    /// The daemon names where the event's rule comes from (the active generation's rule table).
    @Test func enrichAddsTheRuleOrigin() throws {
        var enricher = EventEnricher(procRoot: "/nonexistent", bootID: "0badc0de", readXattrs: false)
        enricher.ruleOrigins = ["lock-sandbox": "/etc/corral/policy.d/20-sandbox.yaml:7"]
        var event = try Self.decisionEvent(tgid: 500)
        event.actorCgroupPath = nil
        event.timestampNs = nil
        let recorded = enricher.enrich(event)
        #expect(recorded.ruleOrigin == "/etc/corral/policy.d/20-sandbox.yaml:7")
        #expect(recorded.jsonLine.contains(#""rule":"lock-sandbox","rule_origin":"/etc/corral/policy.d/20-sandbox.yaml:7","rule_uid":"#))
        #expect(try Event.parse(line: recorded.jsonLine) == recorded)
        event.rule = "not-in-this-generation"
        #expect(enricher.enrich(event).ruleOrigin == nil && !enricher.enrich(event).jsonLine.contains("rule_origin"))
    }

    @Test func enrichWithAGoneTaskRecordsNull() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-proc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/500", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/500/exe", withDestinationPath: "/usr/bin/sandboxer")
        let enricher = EventEnricher(procRoot: dir, bootID: "00000001", readXattrs: false)
        let alive = enricher.enrich(try Self.decisionEvent(tgid: 500))
        #expect(alive.actorExe == "/usr/bin/sandboxer" && alive.actorExeXattrs == nil)
        let gone = enricher.enrich(try Self.decisionEvent(tgid: 501))
        #expect(gone.actorExe == nil)
        #expect(gone.jsonLine.contains(#""actor_exe":null"#))
    }
}

@Suite struct EventLogTests {
    static func event(_ n: Int) -> Event {
        Fixtures.attach(id: String(n), src: "/system.slice/a.service", dst: n % 3 == 0 ? "/user.slice" : "/system.slice/b",
                        verdict: n % 3 == 0 ? "deny" : "allow", rule: n % 3 == 0 ? "services-stay" : nil)
    }

    @Test func rotatesBySizeAndReadsBackOldestFirst() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lineBytes = Self.event(10).jsonLine.utf8.count + 1
        let log = try EventLog(directory: dir, maxBytes: lineBytes * 3, keep: 2)
        for n in 10..<30 { try log.append(Self.event(n)) }
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: dir + "/events.jsonl"))
        #expect(fm.fileExists(atPath: dir + "/events.jsonl.1"))
        #expect(fm.fileExists(atPath: dir + "/events.jsonl.2"))
        #expect(!fm.fileExists(atPath: dir + "/events.jsonl.3"))
        for file in log.files {
            let size = try #require(try fm.attributesOfItem(atPath: file)[.size] as? Int)
            #expect(size <= lineBytes * 3)
        }
        // 3 files of at most 3 lines: the newest 8 or 9 events survive, in order.
        let ids = log.readAll().map(\.id)
        #expect(ids.last == "29")
        #expect(ids == (30 - ids.count..<30).map(String.init))
        #expect(ids.count >= 5 && ids.count <= 9)
        #expect(log.event(id: "29")?.dstCgroupPath == "/system.slice/b")
        #expect(log.event(id: "10") == nil)
        #expect(log.event(id: "27", bootID: "3f1b5a0e")?.verdict == "deny")
        #expect(log.event(id: "27", bootID: "ffffffff") == nil)
    }

    @Test func keepZeroKeepsOnlyTheCurrentFile() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try EventLog(directory: dir, maxBytes: 10, keep: 0)
        for n in 1...3 { try log.append(Self.event(n)) }
        #expect(log.files == [dir + "/events.jsonl"])
        #expect(!FileManager.default.fileExists(atPath: dir + "/events.jsonl.1"))
        #expect(log.readAll().map(\.id) == ["3"])
    }

    @Test func filtersAndLimit() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try EventLog(directory: dir)
        for n in 1...10 { try log.append(Self.event(n)) }
        try log.append(Event.admin(id: "a1", bootID: nil, action: "apply", generation: 2, timestampNs: 1))
        #expect(log.events(matching: EventFilter(verdict: "deny")).map(\.id) == ["3", "6", "9"])
        #expect(log.events(matching: EventFilter(rule: "services-stay", limit: 2)).map(\.id) == ["6", "9"])
        #expect(log.events(matching: EventFilter(hook: "admin")).map(\.id) == ["a1"])
        #expect(log.events(matching: EventFilter(limit: 3)).map(\.id) == ["9", "10", "a1"])
        #expect(log.events(matching: EventFilter(limit: 0)).isEmpty)
    }

    @Test func reopeningAppendsAndMalformedLinesAreReported() throws {
        let dir = RepoPaths.temporaryDirectory("corral-ops-log")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try EventLog(directory: dir)
            try log.append(Self.event(1))
            try log.append(line: "{not json")
            log.close()
        }
        let log = try EventLog(directory: dir)
        try log.append(Self.event(2))
        let (events, errors) = log.readWithErrors()
        #expect(events.map(\.id) == ["1", "2"])
        #expect(errors.map(\.description) == ["\(dir)/events.jsonl:2: error: invalid JSON"])
    }

    @Test func parseNamesFileAndLine() {
        let text = Self.event(1).jsonLine + "\n\n" + #"{"hook":"cgroup_attach"}"# + "\n[1]\n" + Self.event(2).jsonLine
        let (events, errors) = EventLog.parse(text: text, file: "e.jsonl")
        #expect(events.map(\.id) == ["1", "2"])
        #expect(errors.map(\.line) == [3, 4])
        #expect(errors[0].description == "e.jsonl:3: error: not a recorded event: missing key 'id'")
    }
}

@Suite struct EventRingTests {
    @Test func keepsTheLastCapacityEvents() {
        var ring = EventRing(capacity: 3)
        #expect(ring.isEmpty && ring.events.isEmpty)
        for n in 1...5 { ring.append(EventLogTests.event(n)) }
        #expect(ring.count == 3 && ring.appended == 5)
        #expect(ring.events.map(\.id) == ["3", "4", "5"])
        #expect(ring.event(id: "2") == nil)
        #expect(ring.event(id: "3")?.verdict == "deny")
        #expect(ring.events(matching: EventFilter(verdict: "allow")).map(\.id) == ["4", "5"])
        #expect(ring.events(matching: EventFilter(verdict: "allow", limit: 1)).map(\.id) == ["5"])
        ring.append(EventLogTests.event(6))
        #expect(ring.events.map(\.id) == ["4", "5", "6"])
    }

    @Test func defaultCapacityIs4096() {
        var ring = EventRing()
        for n in 0..<5000 { ring.append(Event(id: String(n), hook: "cgroup_attach")) }
        #expect(ring.count == 4096)
        #expect(ring.events.first?.id == "904" && ring.events.last?.id == "4999")
    }
}

/// SelfProtection's raw values are corral_abi.h's (Swift enums need literal raw values).
@Suite struct SelfProtectionABITests {
    @Test func kindsAreTheHeadersNumbers() {
        let header: [SelfProtection.Kind: UInt32] = [
            .daemonExecutable: CORRAL_PROTECT_DAEMON_EXE.rawValue, .map: CORRAL_PROTECT_MAP_ID.rawValue,
            .program: CORRAL_PROTECT_PROG_ID.rawValue, .link: CORRAL_PROTECT_LINK_ID.rawValue,
            .inode: CORRAL_PROTECT_INODE.rawValue, .superblock: CORRAL_PROTECT_SUPERBLOCK.rawValue,
        ]
        for kind in SelfProtection.Kind.allCases { #expect(kind.rawValue == header[kind], "\(kind)") }
        #expect(SelfProtection.Kind.allCases.count == Int(CORRAL_PROTECT_KIND_END.rawValue) - 1)
    }

    @Test func operationsAreTheHeadersNumbers() {
        typealias Op = SelfProtection.Operation
        let header: [Op: UInt32] = [
            .mapByID: CORRAL_PROTECT_OP_MAP_BY_ID.rawValue, .programByID: CORRAL_PROTECT_OP_PROG_BY_ID.rawValue,
            .linkByID: CORRAL_PROTECT_OP_LINK_BY_ID.rawValue, .open: CORRAL_PROTECT_OP_OPEN.rawValue,
            .directoryWrite: CORRAL_PROTECT_OP_DIR_WRITE.rawValue, .unlink: CORRAL_PROTECT_OP_UNLINK.rawValue,
            .rename: CORRAL_PROTECT_OP_RENAME.rawValue, .rmdir: CORRAL_PROTECT_OP_RMDIR.rawValue,
            .umount: CORRAL_PROTECT_OP_UMOUNT.rawValue, .ptrace: CORRAL_PROTECT_OP_PTRACE.rawValue,
            .mapFD: CORRAL_PROTECT_OP_MAP_FD.rawValue, .programFD: CORRAL_PROTECT_OP_PROG_FD.rawValue,
            .linkUpdate: CORRAL_PROTECT_OP_LINK_UPDATE.rawValue, .linkDetach: CORRAL_PROTECT_OP_LINK_DETACH.rawValue,
            .objPin: CORRAL_PROTECT_OP_OBJ_PIN.rawValue, .programUse: CORRAL_PROTECT_OP_PROG_USE.rawValue,
            .mapWrite: CORRAL_PROTECT_OP_MAP_WRITE.rawValue, .mapUse: CORRAL_PROTECT_OP_MAP_USE.rawValue,
        ]
        for op in Op.allCases { #expect(op.rawValue == header[op], "\(op)") }
        #expect(Op.allCases.count == Int(CORRAL_PROTECT_OP_END.rawValue) - 1)
    }
}
