// Event times as RFC 3339 text (UTC, microseconds): `2026-12-06T12:34:56.123456Z`.
public enum WallClock {
    /// `unixNanos`: nanoseconds since 1970-01-01T00:00:00Z (CLOCK_REALTIME).
    public static func rfc3339(unixNanos: UInt64) -> String {
        let seconds = Int64(unixNanos / 1_000_000_000)
        let micros = Int(unixNanos % 1_000_000_000 / 1000)
        let days = seconds / 86_400, secondOfDay = Int(seconds % 86_400)
        // Civil date from days since the epoch (Howard Hinnant's days_from_civil, inverted).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: some BinaryInteger, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2))"
            + ":\(pad(secondOfDay % 60, 2)).\(pad(micros, 6))Z"
    }

    /// The wall-clock time of a CLOCK_MONOTONIC `monotonicNanos`, given both clocks read now.
    public static func rfc3339(monotonicNanos: UInt64, nowMonotonic: UInt64, nowRealtime: UInt64) -> String {
        let age = nowMonotonic >= monotonicNanos ? nowMonotonic - monotonicNanos : 0
        return rfc3339(unixNanos: nowRealtime >= age ? nowRealtime - age : 0)
    }
}
