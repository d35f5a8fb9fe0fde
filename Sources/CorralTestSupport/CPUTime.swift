// CPU time of the calling thread: a complexity guard that host load does not disturb
// (wall-clock timings are for benchmarks, not tests).
#if canImport(Glibc)
import Glibc
#endif

public func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
