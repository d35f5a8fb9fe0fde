// PolicyFileWatcher: each way a policy file gets replaced is seen as exactly one change with the
// new content: a Kubernetes ConfigMap swap of `..data`, an editor's rename over the file, an
// in-place write, a symlink to a file elsewhere, the directory removed and created again. A
// burst is one read; identical content is no change.
@testable import CorralDaemon
import CorralSystem
import Foundation
import Glibc
import Logging
import Testing

/// A private directory for one test, removed at the end.
private final class Scratch {
    let dir: String

    init(_ name: String) throws {
        dir = "/tmp/corral-watch-\(name)-\(getpid())"
        _ = try? Sys.runCapturing(["/bin/rm", "-rf", dir])
        try Sys.mkdirs(dir)
    }

    func path(_ name: String) -> String { dir + "/" + name }

    func write(_ name: String, _ text: String) throws { try Sys.writeFileSynced(path(name), Array(text.utf8)) }

    /// Write to a temporary name, rename over `name` (editors, `install`, config management).
    func replace(_ name: String, _ text: String) throws {
        try write(name + ".tmp", text)
        try Sys.rename(path(name + ".tmp"), path(name))
    }

    deinit { _ = try? Sys.runCapturing(["/bin/rm", "-rf", dir]) }
}

/// A volume laid out as kubelet's atomic writer does it: DIR/..data -> ..<timestamp>,
/// DIR/policy.yaml -> ..data/policy.yaml.
private final class ConfigMapVolume {
    let scratch: Scratch
    private(set) var current: String?
    private var serial = 0

    init(_ scratch: Scratch, policy: String) throws {
        self.scratch = scratch
        try publish(policy)
        try Sys.symlink("..data/policy.yaml", at: scratch.path("policy.yaml"))
    }

    var file: String { scratch.path("policy.yaml") }

    /// kubelet's update: a new timestamped directory, `..data_tmp` pointing at it renamed over
    /// `..data`, the old directory removed.
    func publish(_ policy: String) throws {
        serial += 1
        let next = "..2026_12_06_10_00_0\(serial).\(100 + serial)"
        try Sys.mkdir(scratch.path(next))
        try scratch.write(next + "/policy.yaml", policy)
        try Sys.symlink(next, at: scratch.path("..data_tmp"))
        try Sys.rename(scratch.path("..data_tmp"), scratch.path("..data"))
        if let old = current { _ = try Sys.runCapturing(["/bin/rm", "-rf", scratch.path(old)]) }
        current = next
    }
}

/// A watcher on a reactor that the test turns by hand (everything on the test's thread).
private final class Harness {
    let reactor: Reactor
    let watcher: PolicyFileWatcher

    init(path: String, baseline: String, fragmentDirectories: [String] = [],
         timing: PolicyFileWatcher.Timing = .init(quietMillis: 100, maxDelayMillis: 1000, rewatchMillis: 100)) throws {
        reactor = try Reactor()
        let box = Box()
        watcher = PolicyFileWatcher(path: path, baseline: baseline, fragmentDirectories: fragmentDirectories,
                                    timing: timing, logger: Logger(label: "test")) { text, fileChanged in
            box.changes.append(text)
            box.fileChanged.append(fileChanged)
        }
        self.box = box
        try watcher.start(reactor)
        // Past the start-up read, so that what a test changes next is seen through the watch.
        try run(millis: timing.quietMillis + 200)
    }

    private let box: Box
    private final class Box {
        var changes: [String] = []
        var fileChanged: [Bool] = []
    }
    var seen: [String] { box.changes }
    /// Per change: whether the main file's bytes changed (false: only a fragment directory).
    var fileChanged: [Bool] { box.fileChanged }

    /// Turns the reactor for `millis`.
    func run(millis: UInt64) throws {
        let end = Sys.monotonicMillis() + millis
        while Sys.monotonicMillis() < end {
            try reactor.runOnce(timeoutMillis: Int(end - Sys.monotonicMillis()))
        }
    }

    /// Turns the reactor until `count` changes were seen (at most `millis`), then a further
    /// 400 ms so that a duplicate change would show up.
    func waitFor(changes count: Int, millis: UInt64 = 5000) throws {
        let end = Sys.monotonicMillis() + millis
        while box.changes.count < count, Sys.monotonicMillis() < end {
            try reactor.runOnce(timeoutMillis: 50)
        }
        try run(millis: 400)
    }

    deinit { watcher.stop() }
}

@Suite(.serialized) struct PolicyFileWatcherTests {
    @Test func configMapSwapIsOneChange() throws {
        let s = try Scratch("configmap")
        let volume = try ConfigMapVolume(s, policy: "A\n")
        let h = try Harness(path: volume.file, baseline: "A\n")
        #expect(h.seen.isEmpty, "nothing changed yet")
        #expect(h.watcher.reads == 1, "the start-up read (a change between the daemon's read and the watch)")

        try volume.publish("B\n")
        try h.waitFor(changes: 1)
        #expect(h.seen == ["B\n"])

        try volume.publish("C\n")
        try h.waitFor(changes: 2)
        #expect(h.seen == ["B\n", "C\n"])

        // kubelet re-publishing the same content is no change.
        try volume.publish("C\n")
        try h.run(millis: 500)
        #expect(h.seen == ["B\n", "C\n"])
        #expect(h.watcher.reads >= 4, "the identical publish was read (\(h.watcher.reads) reads)")
    }

    @Test func editorRenameAndInPlaceWrite() throws {
        let s = try Scratch("editor")
        try s.write("policy.yaml", "A\n")
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n")
        try s.replace("policy.yaml", "B\n")
        try h.waitFor(changes: 1)
        #expect(h.seen == ["B\n"])

        // In place: open(O_TRUNC), write, close.
        try Sys.writeFile(s.path("policy.yaml"), "C\n")
        try h.waitFor(changes: 2)
        #expect(h.seen == ["B\n", "C\n"])

        // Another file in the directory changing is read as a possible change, and is none.
        let before = h.watcher.reads
        try s.write("other.yaml", "x\n")
        try h.run(millis: 400)
        #expect(h.seen == ["B\n", "C\n"])
        #expect(h.watcher.reads > before)
    }

    @Test func burstIsOneRead() throws {
        let s = try Scratch("burst")
        try s.write("policy.yaml", "A\n")
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n",
                            timing: .init(quietMillis: 200, maxDelayMillis: 5000, rewatchMillis: 100))
        let before = h.watcher.reads
        for i in 1...10 {
            try s.replace("policy.yaml", "v\(i)\n")
            try h.run(millis: 20)
        }
        try h.waitFor(changes: 1)
        #expect(h.seen == ["v10\n"], "the burst ended in one change with the last content")
        #expect(h.watcher.reads == before + 1, "one read for the burst, got \(h.watcher.reads - before)")
    }

    @Test func aDirectoryThatNeverRestsIsReadAfterTheMaximumDelay() throws {
        let s = try Scratch("busy")
        try s.write("policy.yaml", "A\n")
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n",
                            timing: .init(quietMillis: 200, maxDelayMillis: 600, rewatchMillis: 100))
        try s.replace("policy.yaml", "B\n")
        let start = Sys.monotonicMillis()
        // Another file written every 50 ms: the directory is never quiet for 200 ms.
        while h.seen.isEmpty, Sys.monotonicMillis() - start < 3000 {
            try s.write("noise", "\(Sys.monotonicMillis())")
            try h.run(millis: 50)
        }
        #expect(h.seen == ["B\n"])
        #expect(Sys.monotonicMillis() - start < 1500, "read only after \(Sys.monotonicMillis() - start) ms")
    }

    @Test func changeBeforeTheWatchStartedIsSeen() throws {
        let s = try Scratch("baseline")
        try s.write("policy.yaml", "B\n")
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n")
        try h.waitFor(changes: 1)
        #expect(h.seen == ["B\n"])
    }

    @Test func missingFileIsNoChangeUntilItComesBack() throws {
        let s = try Scratch("missing")
        try s.write("policy.yaml", "A\n")
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n")
        try Sys.unlink(s.path("policy.yaml"))
        try h.run(millis: 400)
        #expect(h.seen.isEmpty)
        #expect(h.watcher.unreadable?.hasPrefix("ENOENT") == true, "\(h.watcher.unreadable ?? "readable")")

        try s.write("policy.yaml", "A\n") // back, unchanged
        try h.run(millis: 400)
        #expect(h.seen.isEmpty)
        #expect(h.watcher.unreadable == nil)

        try s.replace("policy.yaml", "B\n")
        try h.waitFor(changes: 1)
        #expect(h.seen == ["B\n"])
    }

    @Test func aFIFOInPlaceOfTheFileIsNotReadAndDoesNotBlock() throws {
        let s = try Scratch("fifo")
        try s.write("policy.yaml", "A\n")
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n")
        try Sys.unlink(s.path("policy.yaml"))
        #expect(mkfifo(s.path("policy.yaml"), 0o644) == 0)
        try h.run(millis: 400) // a blocking open or read would hang here
        #expect(h.seen.isEmpty)
        #expect(h.watcher.unreadable == "not a regular file")
        try s.replace("policy.yaml", "B\n")
        try h.waitFor(changes: 1)
        #expect(h.seen == ["B\n"])
    }

    @Test func symlinkTargetElsewhereIsWatched() throws {
        let s = try Scratch("symlink")
        try Sys.mkdir(s.path("etc"))
        try Sys.mkdir(s.path("srv"))
        try s.write("srv/real.yaml", "A\n")
        try Sys.symlink(s.path("srv/real.yaml"), at: s.path("etc/policy.yaml"))
        let h = try Harness(path: s.path("etc/policy.yaml"), baseline: "A\n")
        // Only srv/ sees this rename.
        try s.replace("srv/real.yaml", "B\n")
        try h.waitFor(changes: 1)
        #expect(h.seen == ["B\n"])
    }

    @Test func directoryRemovedAndCreatedAgain() throws {
        let s = try Scratch("rewatch")
        try Sys.mkdir(s.path("conf"))
        try s.write("conf/policy.yaml", "A\n")
        let h = try Harness(path: s.path("conf/policy.yaml"), baseline: "A\n")
        _ = try Sys.runCapturing(["/bin/rm", "-rf", s.path("conf")])
        try h.run(millis: 400)
        #expect(h.seen.isEmpty)
        try Sys.mkdir(s.path("conf"))
        try h.run(millis: 300) // watched again (rewatch every 100 ms)
        try s.replace("conf/policy.yaml", "B\n")
        try h.waitFor(changes: 1)
        #expect(h.seen == ["B\n"])
    }

    @Test func fileOverTheSizeLimitIsHandedOnAndRefusedByTheLoader() throws {
        let s = try Scratch("large")
        try s.write("policy.yaml", "A\n")
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n")
        try s.replace("policy.yaml", String(repeating: "#\n", count: 3 << 20))
        try h.waitFor(changes: 1)
        #expect(h.seen.count == 1)
        #expect(h.seen.first?.utf8.count == (4 << 20) + 1, "read up to one byte over the limit")
    }

    /// Fragment directories: a fragment added, masked by a /dev/null symlink in a directory that
    /// did not exist at start, unmasked, and the directory removed are each a look with
    /// `fileChanged: false`; other files next to the main file are none.
    @Test func fragmentDirectoriesAreWatchedEvenBeforeTheyExist() throws {
        let s = try Scratch("fragments")
        try s.write("policy.yaml", "A\n")
        try Sys.mkdirs(s.path("usr/policy.d"))
        let h = try Harness(path: s.path("policy.yaml"), baseline: "A\n",
                            fragmentDirectories: [s.path("etc/policy.d"), s.path("usr/policy.d")])
        #expect(h.seen == ["A\n"] && h.fileChanged == [false], "the start-up look reads the fragments again")

        try s.write("usr/policy.d/10-a.yaml", "version: 1\n")
        try h.waitFor(changes: 2)
        #expect(h.fileChanged == [false, false])

        // etc/ and etc/policy.d/ appear (watched through the scratch directory until then).
        try Sys.mkdirs(s.path("etc/policy.d"))
        try Sys.symlink("/dev/null", at: s.path("etc/policy.d/10-a.yaml"))
        try h.waitFor(changes: 3)
        #expect(h.fileChanged == [false, false, false])

        // Now etc/policy.d itself is watched.
        try Sys.unlink(s.path("etc/policy.d/10-a.yaml"))
        try h.waitFor(changes: 4)
        #expect(h.fileChanged.count == 4)

        // A file next to the main file is no change (not a fragment directory's event).
        try s.write("notes.txt", "x\n")
        try h.run(millis: 500)
        #expect(h.seen.count == 4)

        _ = try Sys.runCapturing(["/bin/rm", "-rf", s.path("etc")])
        try h.waitFor(changes: 5)
        #expect(h.seen.count == 5)
        try Sys.mkdirs(s.path("etc/policy.d"))
        try h.waitFor(changes: 6)
        #expect(h.seen.count == 6, "watched through the ancestor again after the removal")

        try s.replace("policy.yaml", "B\n")
        try h.waitFor(changes: 7)
        #expect(h.seen.last == "B\n" && h.fileChanged.last == true)
    }

    @Test func directoryOfPath() {
        #expect(PolicyFileWatcher.directory(of: "/etc/corral/policy.yaml") == "/etc/corral")
        #expect(PolicyFileWatcher.directory(of: "/policy.yaml") == "/")
        #expect(PolicyFileWatcher.directory(of: "policy.yaml") == ".")
        #expect(PolicyFileWatcher.directory(of: "conf/policy.yaml") == "conf")
    }
}
