// The worker side of differential/random: a process (or thread) that performs one syscall per
// command it reads from its slot's FIFO and replies with the result. Workers are forked by the
// runner or by other workers, started as threads, or exec'd (`corral-ktest --rand-worker SLOT
// DIR`, so exe: and xattr: subjects see another executable). Messages are fixed-size text
// records (atomic on a FIFO).
import CorralKernel
import CorralSystem
import Glibc

enum RandomWorker {
    static let messageSize = 128

    static func encode(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8.prefix(messageSize - 1))
        bytes += [UInt8](repeating: 0, count: messageSize - bytes.count)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self).split(separator: " ").map(String.init)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { p in _ = Glibc.write(fd, p.baseAddress, p.count) }
    }

    /// Entry point of an exec'd worker.
    static func main(_ args: [String]) -> Int32 {
        guard args.count == 2, let slot = Int(args[0]) else { return 2 }
        serve(slot: slot, dir: args[1])
    }

    final class ThreadArgs { let slot: Int; let dir: String; init(_ s: Int, _ d: String) { slot = s; dir = d } }

    /// Serves commands for `slot` until told to exit. Never returns for a process; a thread ends.
    static func serve(slot: Int, dir: String, isThread: Bool = false) -> Never {
        let cmd = open("\(dir)/\(slot).cmd", O_RDONLY | O_CLOEXEC)
        let rep = open("\(dir)/\(slot).rep", O_WRONLY | O_CLOEXEC)
        if cmd < 0 || rep < 0 { _exit(3) }
        writeAll(rep, encode("H \(getpid()) \(Linux.tid)"))
        var buffer = [UInt8](repeating: 0, count: messageSize)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(cmd, $0.baseAddress, messageSize) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; _exit(4) }
            let words = decode(Array(buffer.prefix(n)))
            guard let op = words.first else { continue }
            func reply(_ e: Int32, _ extra: String = "") { writeAll(rep, encode("R \(e)\(extra.isEmpty ? "" : " " + extra)")) }
            func errnoNow() -> Int32 { errno }
            switch op {
            case "U":  // unshare FLAGS
                reply(errnoOf { () throws(Errno) in try Linux.unshare(Int32(words[1])!) })
            case "S":  // setns by nsfs fd opened from PATH
                let fd = open(words[1], O_RDONLY | O_CLOEXEC)
                if fd < 0 { writeAll(rep, encode("O \(errnoNow())")); continue }
                let e = errnoOf { () throws(Errno) in try Linux.setns(fd, 0) }
                close(fd)
                reply(e)
            case "P":  // setns by pidfd of PID, FLAGS
                guard let pidfd = try? Linux.pidfdOpen(Int32(words[1])!) else { writeAll(rep, encode("O \(errnoNow())")); continue }
                let e = errnoOf { () throws(Errno) in try Linux.setns(pidfd, Int32(words[2])!) }
                close(pidfd)
                reply(e)
            case "W":  // write ID into PATH
                let fd = open(words[1], O_WRONLY | O_CLOEXEC)
                if fd < 0 { writeAll(rep, encode("O \(errnoNow())")); continue }
                let text = Array(words[2].utf8)
                let r = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                let e = r < 0 ? errnoNow() : 0
                close(fd)
                reply(e)
            case "F":  // fork; the child serves SLOT
                let child = Int(words[1])!
                let pid = fork()
                if pid == 0 { close(cmd); close(rep); serve(slot: child, dir: dir) }
                reply(pid < 0 ? errnoNow() : 0, "\(pid)")
            case "C":  // clone3 FLAGS CGROUP-DIR|-; the child serves SLOT
                let child = Int(words[1])!
                let flags = UInt64(words[2])!
                var cgfd: Int32 = -1
                if words[3] != "-" {
                    cgfd = open(words[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    if cgfd < 0 { writeAll(rep, encode("O \(errnoNow())")); continue }
                }
                do {
                    let (pid, _) = try Linux.clone3(flags: flags, cgroupFD: cgfd)
                    if pid == 0 { close(cmd); close(rep); serve(slot: child, dir: dir) }
                    if cgfd >= 0 { close(cgfd) }
                    reply(0, "\(pid)")
                } catch {
                    if cgfd >= 0 { close(cgfd) }
                    reply(error.rawValue)
                }
            case "T":  // a thread that serves SLOT
                let args = Unmanaged.passRetained(ThreadArgs(Int(words[1])!, dir))
                var tid = pthread_t()
                let rc = pthread_create(&tid, nil, { raw in
                    let a = Unmanaged<ThreadArgs>.fromOpaque(raw!).takeRetainedValue()
                    RandomWorker.serve(slot: a.slot, dir: a.dir, isThread: true)
                }, args.toOpaque())
                if rc == 0 { pthread_detach(tid) } else { args.release() }
                reply(rc)
            case "E":  // exec EXE as a worker for the same slot
                var argv: [UnsafeMutablePointer<CChar>?] = [strdup(words[1]), strdup("--rand-worker"), strdup("\(slot)"), strdup(dir), nil]
                execv(words[1], &argv)
                reply(errnoNow())
            case "X":
                if isThread { close(cmd); close(rep); pthread_exit(nil) }
                _exit(0)
            default:
                reply(EINVAL)
            }
        }
    }
}
