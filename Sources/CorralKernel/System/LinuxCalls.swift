// Linux syscalls libc does not export to Swift, reached through the CLibBPF shim:
// setns, unshare, pidfd_open, gettid, clone3, and the gated fork+exec used by `corral run`.
import CLibBPF
import CorralSystem
import Glibc

public enum Linux {
    public static let cloneNewUTS: Int32 = 0x0400_0000
    public static let cloneNewUser: Int32 = 0x1000_0000
    public static let clonePIDFD: UInt64 = 0x0000_1000
    public static let cloneIntoCgroup: UInt64 = 0x2_0000_0000

    /// setns(2) by nsfs fd or pidfd; `nstype` 0 accepts any type for an nsfs fd.
    public static func setns(_ fd: Int32, _ nstype: Int32) throws(Errno) {
        if corral_sys_setns(fd, nstype) != 0 { throw Errno.current }
    }

    public static func unshare(_ flags: Int32) throws(Errno) {
        if corral_sys_unshare(flags) != 0 { throw Errno.current }
    }

    public static func pidfdOpen(_ pid: Int32) throws(Errno) -> Int32 {
        let fd = corral_sys_pidfd_open(pid, 0)
        if fd < 0 { throw Errno.current }
        return fd
    }

    public static var tid: Int32 { corral_sys_gettid() }

    /// memfd_create(2): an anonymous file (no name in any directory, nlink 0).
    public static func memfdCreate(_ name: String, flags: UInt32 = 0) throws(Errno) -> Int32 {
        let fd = corral_sys_memfd_create(name, flags)
        if fd < 0 { throw Errno.current }
        return fd
    }

    /// execveat(fd, "", argv, environ, AT_EMPTY_PATH): executes the open file `fd`. Returns only
    /// on failure.
    public static func execFD(_ fd: Int32, _ argv: [String]) -> Errno {
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        _ = corral_sys_execveat_fd(fd, &cargs, environ)
        let e = Errno.current
        for p in cargs { free(p) }
        return e
    }

    public static let ptraceTraceme = 0, ptraceAttach = 16, ptraceDetach = 17, ptraceSeize = 0x4206

    /// ptrace(2) with an integer result (attach, seize, detach, traceme).
    public static func ptrace(_ request: Int, pid: Int32, data: UInt = 0) throws(Errno) {
        if corral_sys_ptrace(request, pid, 0, data) < 0 { throw Errno.current }
    }

    /// pidfd_getfd(2): a duplicate of `fd` of the process behind `pidfd`.
    public static func pidfdGetfd(_ pidfd: Int32, _ fd: Int32) throws(Errno) -> Int32 {
        let r = corral_sys_pidfd_getfd(pidfd, fd, 0)
        if r < 0 { throw Errno.current }
        return r
    }

    /// process_vm_writev (or readv) of `count` bytes between `local` and `remote` in `pid`.
    public static func processVM(write: Bool, pid: Int32, local: UnsafeMutableRawPointer, remote: UInt, count: Int) throws(Errno) {
        if corral_sys_process_vm(write ? 1 : 0, pid, local, remote, UInt(count)) < 0 { throw Errno.current }
    }

    /// clone3 with fork semantics (0 in the child); with CLONE_INTO_CGROUP when `cgroupFD` >= 0.
    public static func clone3(flags: UInt64, cgroupFD: Int32 = -1) throws(Errno) -> (pid: Int32, pidfd: Int32?) {
        var pidfd: Int32 = -1
        let f = flags | (cgroupFD >= 0 ? cloneIntoCgroup : 0)
        let pid = corral_clone3(f, cgroupFD, &pidfd)
        if pid < 0 { throw Errno.current }
        return (pid, f & clonePIDFD != 0 && pid > 0 ? pidfd : nil)
    }

    /// Forks a child that blocks until `release` is called, then execvp's `argv`.
    /// The parent can mark the child (task storage via its pidfd) before it runs the command.
    public final class GatedChild {
        public let pid: Int32
        private var gateWrite: Int32

        public init(argv: [String]) throws(Errno) {
            let gate = try Sys.pipe()
            // Build the C argv before fork: the child only makes async-signal-safe calls.
            var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
            cargs.append(nil)
            defer { for p in cargs { free(p) } }
            let pid = corral_fork_gated_exec(gate.read, gate.write, cargs[0], &cargs)
            Sys.close(gate.read)
            if pid < 0 {
                let e = Errno.current
                Sys.close(gate.write)
                throw e
            }
            self.pid = pid
            gateWrite = gate.write
        }

        /// Lets the child exec. Closing without releasing makes it exit 126.
        public func release() throws(Errno) {
            defer { abort() }
            try Sys.write(gateWrite, [1])
        }

        public func abort() {
            if gateWrite >= 0 { Sys.close(gateWrite) }
            gateWrite = -1
        }

        deinit { abort() }
    }
}
