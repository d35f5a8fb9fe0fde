// Typed POSIX wrappers: files, fds, inotify, processes, signals, mounts. Linux-only calls that libc does
// not export to Swift (setns, unshare, pidfd_open, clone3) live in CorralKernel/System/LinuxCalls.swift,
// which reaches them through the CLibBPF shim.
internal import CCorralSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Retries `body` while it fails with EINTR; throws the errno of any other failure.
@discardableResult
@inline(__always)
func retrying<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = Errno.current
        if e.rawValue != EINTR { throw e }
    }
}

/// The last signal caught by `Sys.catchSignals` (0: none). Written only by the handler.
nonisolated(unsafe) private var caughtSignal: Int32 = 0

public enum Sys {
    /// Installs a process-wide handler that records `signals` instead of terminating, so a
    /// loop can clean up (unpin, unload) and exit. Works whatever thread the signal lands on.
    public static func catchSignals(_ signals: [Int32]) {
        for s in signals {
            var sa = sigaction()
            sa.__sigaction_handler = .init(sa_handler: { sig in caughtSignal = sig })
            sigemptyset(&sa.sa_mask)
            sigaction(s, &sa, nil)
        }
    }

    /// The signal caught since the last call, if any.
    public static func takeCaughtSignal() -> Int32? {
        let s = caughtSignal
        if s == 0 { return nil }
        caughtSignal = 0
        return s
    }

    // MARK: files and fds

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(Errno) -> Int32 {
        try retrying { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    public static func read(_ fd: Int32, count: Int = 65536) throws(Errno) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        let n = try retrying { buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) } }
        return Array(buf.prefix(n))
    }

    /// read(2) into `buffer`: the bytes read, 0 at end of file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Reads exactly `count` bytes at `offset` (pread(2), repeated on short reads); fewer only
    /// at end of file.
    public static func read(_ fd: Int32, offset: UInt64, count: Int) throws(Errno) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try retrying {
                buf.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            }
            if n == 0 { break }
            done += n
        }
        return Array(buf.prefix(done))
    }

    /// Writes all of `bytes` with one write(2) call (cgroup files need a single write).
    @discardableResult
    public static func write(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) -> Int {
        try retrying { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }

    /// Writes all of `bytes`, in as many write(2) calls as it takes (stdout, stderr, pipes, an
    /// append-only log). A call that writes nothing is EIO.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        var done = 0
        while done < bytes.count {
            let n = try retrying { bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
            if n <= 0 { throw Errno(rawValue: EIO) }
            done += n
        }
    }

    /// open(O_WRONLY) + one write + close: how cgroup.procs, cgroup.threads and /proc files are written.
    public static func writeFile(_ path: String, _ text: String) throws(Errno) {
        let fd = try open(path, O_WRONLY)
        defer { close(fd) }
        try write(fd, Array(text.utf8))
    }

    /// readlink(2): the target of a symbolic link (or of a /proc magic link such as `exe`).
    public static func readlink(_ path: String) throws(Errno) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = try retrying { buffer.withUnsafeMutableBytes { Glibc.readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    public static func readFile(_ path: String) throws(Errno) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    public static func readBytes(_ path: String) throws(Errno) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        return try readAll(fd)
    }

    /// Everything `fd` yields until end of file (a pipe: until the writer closes it), or the
    /// first `limit` bytes.
    public static func readAll(_ fd: Int32, limit: Int = .max) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < limit {
            let chunk = try read(fd, count: min(65536, limit - out.count))
            if chunk.isEmpty { break }
            out += chunk
        }
        return out
    }

    /// CPUs online now (sysconf(_SC_NPROCESSORS_ONLN)), at least 1.
    public static func onlineCPUs() -> Int { max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1) }

    /// The process's peak resident set size in KiB (getrusage(2) `ru_maxrss`).
    public static func maxResidentKiB() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    /// printf-style formatting of numbers (`%.1f`, `%08x`), by vsnprintf(3).
    public static func format(_ format: String, _ arguments: CVarArg...) -> String {
        withVaList(arguments) { list in
            var buffer = [CChar](repeating: 0, count: 128)
            let n = Int(vsnprintf(&buffer, buffer.count, format, list))
            if n < buffer.count { return String(cString: buffer) }
            buffer = [CChar](repeating: 0, count: n + 1)
            return withVaList(arguments) { again in
                _ = vsnprintf(&buffer, buffer.count, format, again)
                return String(cString: buffer)
            }
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Creates or truncates `path`, writes all of `bytes`, fsyncs and closes (for atomic replace
    /// with `rename`).
    public static func writeFileSynced(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(Errno) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: mode)
        defer { close(fd) }
        var off = 0
        while off < bytes.count {
            let n = try retrying { bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
            off += n
        }
        try retrying { Glibc.fsync(fd) }
    }

    /// link(2): a second name for the same inode.
    public static func link(_ existing: String, _ new: String) throws(Errno) {
        guard Glibc.link(existing, new) == 0 else { throw Errno.current }
    }

    public static func rename(_ from: String, _ to: String) throws(Errno) {
        try retrying { Glibc.rename(from, to) }
    }

    /// symlink(2): `path` becomes a symbolic link whose content is `target`.
    public static func symlink(_ target: String, at path: String) throws(Errno) {
        guard Glibc.symlink(target, path) == 0 else { throw Errno.current }
    }

    /// realpath(3): the absolute path with every symlink, `.` and `..` resolved.
    public static func resolvedPath(_ path: String) throws(Errno) -> String {
        guard let p = realpath(path, nil) else { throw Errno.current }
        defer { free(p) }
        return String(cString: p)
    }

    /// Reads at most `limit` bytes of the regular file at `path` (following symlinks). Anything
    /// else (a FIFO that would block, a directory, a device) is EINVAL, found without reading.
    public static func readRegularFile(_ path: String, limit: Int) throws(Errno) -> [UInt8] {
        let fd = try open(path, O_RDONLY | O_NONBLOCK)
        defer { close(fd) }
        guard try fileStatus(fd: fd).st_mode & S_IFMT == S_IFREG else { throw Errno(rawValue: EINVAL) }
        var out: [UInt8] = []
        while out.count < limit {
            let chunk = try read(fd, count: min(65536, limit - out.count))
            if chunk.isEmpty { break }
            out += chunk
        }
        return out
    }

    public static func pipe() throws(Errno) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        try retrying { Glibc.pipe(&fds) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    public static func fileStatus(_ path: String) throws(Errno) -> stat {
        var st = stat()
        try retrying { stat(path, &st) }
        return st
    }

    public static func fileStatus(fd: Int32) throws(Errno) -> stat {
        var st = stat()
        try retrying { fstat(fd, &st) }
        return st
    }

    /// Inode number of a path (for cgroup2 directories this is the cgroup id; for /proc/PID/ns/* the ns inum).
    public static func inode(_ path: String) throws(Errno) -> UInt64 { UInt64(try fileStatus(path).st_ino) }

    public static func mkdir(_ path: String, mode: mode_t = 0o755) throws(Errno) {
        if Glibc.mkdir(path, mode) != 0 {
            let e = Errno.current
            if e.rawValue != EEXIST { throw e }
        }
    }

    /// mkdir -p.
    public static func mkdirs(_ path: String) throws(Errno) {
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/" + part
            try mkdir(prefix)
        }
    }

    public static func rmdir(_ path: String) throws(Errno) {
        try retrying { Glibc.rmdir(path) }
    }

    public static func unlink(_ path: String) throws(Errno) {
        try retrying { Glibc.unlink(path) }
    }

    /// Names in a directory, without "." and "..".
    public static func listDirectory(_ path: String) throws(Errno) -> [(name: String, isDirectory: Bool)] {
        guard let dir = opendir(path) else { throw Errno.current }
        defer { closedir(dir) }
        var out: [(String, Bool)] = []
        while let ent = readdir(dir) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            out.append((name, ent.pointee.d_type == UInt8(DT_DIR)))
        }
        return out
    }

    public static func mount(source: String, target: String, type: String, flags: UInt = 0, data: String? = nil) throws(Errno) {
        try retrying { Glibc.mount(source, target, type, flags, data) }
    }

    // MARK: inotify

    /// One inotify event: the watch it came from, its mask (IN_*) and the name inside the
    /// watched directory ("" for events on the directory itself).
    public struct InotifyEvent: Sendable {
        public var wd: Int32
        public var mask: UInt32
        public var name: String
    }

    public static let inotifyCreate = UInt32(IN_CREATE)
    public static let inotifyMovedTo = UInt32(IN_MOVED_TO)
    public static let inotifyMovedFrom = UInt32(IN_MOVED_FROM)
    public static let inotifyModify = UInt32(IN_MODIFY)
    public static let inotifyCloseWrite = UInt32(IN_CLOSE_WRITE)
    public static let inotifyAttrib = UInt32(IN_ATTRIB)
    public static let inotifyDelete = UInt32(IN_DELETE)
    public static let inotifyDeleteSelf = UInt32(IN_DELETE_SELF)
    public static let inotifyMoveSelf = UInt32(IN_MOVE_SELF)
    public static let inotifyOnlyDirectory = UInt32(IN_ONLYDIR)
    /// The watch is gone (its directory was removed or unmounted, or inotify_rm_watch).
    public static let inotifyIgnored = UInt32(IN_IGNORED)
    public static let inotifyOverflow = UInt32(IN_Q_OVERFLOW)

    /// inotify_init1(IN_NONBLOCK | IN_CLOEXEC).
    public static func inotifyInit() throws(Errno) -> Int32 {
        try retrying { inotify_init1(Int32(IN_NONBLOCK) | Int32(IN_CLOEXEC)) }
    }

    /// inotify_add_watch(2); returns the watch descriptor.
    public static func inotifyAddWatch(_ fd: Int32, _ path: String, mask: UInt32) throws(Errno) -> Int32 {
        try retrying { inotify_add_watch(fd, path, mask) }
    }

    public static func inotifyRemoveWatch(_ fd: Int32, _ wd: Int32) {
        _ = inotify_rm_watch(fd, wd)
    }

    /// Reads the events queued on a non-blocking inotify fd; [] when none are pending.
    public static func readInotifyEvents(_ fd: Int32) throws(Errno) -> [InotifyEvent] {
        var out: [InotifyEvent] = []
        while true {
            let bytes: [UInt8]
            do { bytes = try read(fd, count: 16 * 1024) } catch {
                if error.rawValue == EAGAIN || error.rawValue == EWOULDBLOCK { return out }
                throw error
            }
            if bytes.isEmpty { return out }
            // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
            var off = 0
            while off + 16 <= bytes.count {
                func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
                let len = Int(u32(off + 12))
                let nameBytes = bytes[(off + 16)..<min(bytes.count, off + 16 + len)].prefix { $0 != 0 }
                out.append(InotifyEvent(wd: Int32(bitPattern: u32(off)), mask: u32(off + 4),
                                        name: String(decoding: nameBytes, as: UTF8.self)))
                off += 16 + len
            }
        }
    }

    /// poll(2) for readability of one fd; true when readable within `timeoutMillis`.
    public static func waitReadable(_ fd: Int32, timeoutMillis: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&p, 1, timeoutMillis) > 0 && p.revents & Int16(POLLIN) != 0
    }

    // MARK: processes

    public static var pid: Int32 { getpid() }

    /// setresgid(2) then setresuid(2): real, effective and saved ids (gid first, while allowed).
    public static func setIDs(uid: (real: uid_t, effective: uid_t, saved: uid_t),
                              gid: (real: gid_t, effective: gid_t, saved: gid_t)) throws(Errno) {
        _ = try retrying { corral_setresids(uid.real, uid.effective, uid.saved, gid.real, gid.effective, gid.saved) }
    }

    /// fork(2). Only call from a process with no other threads, or follow with exec/_exit.
    public static func fork() throws(Errno) -> Int32 {
        let pid = Glibc.fork()
        if pid < 0 { throw Errno.current }
        return pid
    }

    public static func exit(_ code: Int32) -> Never { _exit(code) }

    /// The wait status of a child, decoded.
    public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public init(raw: Int32) {
            if raw & 0x7f == 0 { self = .exited((raw >> 8) & 0xff) } else { self = .signaled(raw & 0x7f) }
        }

        /// The shell convention: the exit code, or 128 + signal.
        public var shellCode: Int32 {
            switch self {
            case .exited(let c): c
            case .signaled(let s): 128 + s
            }
        }

        public var description: String {
            switch self {
            case .exited(let c): "exited \(c)"
            case .signaled(let s): "killed by signal \(s)"
            }
        }
    }

    public static func waitpid(_ pid: Int32) throws(Errno) -> ExitStatus {
        var status: Int32 = 0
        try retrying { Glibc.waitpid(pid, &status, 0) }
        return ExitStatus(raw: status)
    }

    /// waitpid(WNOHANG): nil while the child runs.
    public static func tryWait(_ pid: Int32) throws(Errno) -> ExitStatus? {
        var status: Int32 = 0
        let r = try retrying { Glibc.waitpid(pid, &status, WNOHANG) }
        return r == 0 ? nil : ExitStatus(raw: status)
    }

    /// Runs `argv` (argv[0] a path) and returns its status and stdout+stderr.
    public static func runCapturing(_ argv: [String]) throws(Errno) -> (status: ExitStatus, output: String) {
        let p = try pipe()
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for c in cargs { free(c) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, p.write, 1)
        posix_spawn_file_actions_adddup2(&actions, p.write, 2)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, cargs[0]!, &actions, nil, &cargs, environ)
        close(p.write)
        defer { close(p.read) }
        if rc != 0 { throw Errno(rawValue: rc) }
        var out: [UInt8] = []
        while true {
            let chunk = try read(p.read)
            if chunk.isEmpty { break }
            out += chunk
        }
        return (try waitpid(pid), String(decoding: out, as: UTF8.self))
    }

    /// Starts `argv` (argv[0] a path) in the background with stdout and stderr appended to
    /// files (created if missing); returns its pid. Reap it with `waitpid`/`tryWait`.
    public static func spawn(_ argv: [String], stdout: String, stderr: String) throws(Errno) -> Int32 {
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for c in cargs { free(c) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, cargs[0]!, &actions, nil, &cargs, environ)
        if rc != 0 { throw Errno(rawValue: rc) }
        return pid
    }

    public static func kill(_ pid: Int32, _ signal: Int32) throws(Errno) {
        try retrying { Glibc.kill(pid, signal) }
    }

    /// Blocks `signals` in the calling thread (and threads it creates later), e.g. before sigwait.
    public static func blockSignals(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    public static func unblockSignals(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Signals that are pending for this process or thread, polled without blocking.
    public static func pendingSignal(_ signals: [Int32], timeoutMillis: Int) -> Int32? {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        var ts = timespec(tv_sec: timeoutMillis / 1000, tv_nsec: (timeoutMillis % 1000) * 1_000_000)
        let r = sigtimedwait(&set, nil, &ts)
        return r > 0 ? r : nil
    }

    /// Ignores a signal in this process (e.g. SIGINT in `corral run` while the child handles it).
    public static func ignore(_ signal: Int32) { Glibc.signal(signal, SIG_IGN) }
    public static func restoreDefault(_ signal: Int32) { Glibc.signal(signal, SIG_DFL) }

    /// Runs `body` on a new pthread and waits for it (used to test that threads inherit state).
    public static func onNewThread(_ body: @escaping @Sendable () -> Void) throws(Errno) {
        final class Box: @unchecked Sendable { let f: @Sendable () -> Void; init(_ f: @escaping @Sendable () -> Void) { self.f = f } }
        let box = Unmanaged.passRetained(Box(body))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.f()
            return nil
        }, box.toOpaque())
        if rc != 0 { box.release(); throw Errno(rawValue: rc) }
        pthread_join(tid, nil)
    }

    /// Environment variable.
    public static func env(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }

    /// The running executable's path (/proc/self/exe).
    public static func executablePath() -> String? {
        guard let path = try? readlink("/proc/self/exe"), !path.isEmpty else { return nil }
        return path
    }

    /// Writes to stderr, unbuffered.
    public static func printError(_ line: String) {
        var s = line
        if !s.hasSuffix("\n") { s += "\n" }
        _ = try? write(2, Array(s.utf8))
    }

    public static func realTimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// CLOCK_BOOTTIME in nanoseconds: the clock of bpf_ktime_get_boot_ns(), which keeps counting
    /// across suspend (loosening deadlines in corral_rule.audit_until_ns).
    public static func boottimeNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// CLOCK_MONOTONIC in nanoseconds (for intervals).
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// CLOCK_MONOTONIC in milliseconds (for intervals).
    public static func monotonicMillis() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    public static func sleep(millis: Int) {
        var ts = timespec(tv_sec: millis / 1000, tv_nsec: (millis % 1000) * 1_000_000)
        var rem = timespec()
        while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
    }
}
