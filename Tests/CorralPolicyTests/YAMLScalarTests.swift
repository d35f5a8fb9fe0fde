// ScalarKind (CorralPolicy's one YAML scalar reader) against Yams' own resolver, the rules the
// YAML 1.1 reading of policies and scenarios is meant to follow; and the one errno table against libc.
import CorralPolicy
import CorralYAML
import CorralSystem
import Glibc
import Testing
import Yams

@Suite struct YAMLScalarTests {
    /// What Yams' default resolver (and its Bool constructor) makes of a plain scalar, in
    /// ScalarKind's terms: timestamps, `<<` and `=` are strings to Corral.
    static func yams(_ text: String) -> ScalarKind {
        let node = Node(text)
        switch Resolver.default.resolveTag(of: node) {
        case .null: return .null
        case .bool: return .bool(node.bool!)
        case .int: return .int
        case .float: return .float
        default: return .string
        }
    }

    static let samples = [
        "", "~", "null", "Null", "NULL", "nULL", "none",
        "true", "True", "TRUE", "tRUE", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON",
        "false", "False", "FALSE", "no", "No", "NO", "n", "off", "Off", "OFF",
        "0", "-0", "+0", "00", "007", "08", "09", "0777", "0o17", "0O17", "-0o17", "0o", "0o8", "0_", "0__1",
        "0b1010", "0b", "-0b1", "+0b_", "0b2", "0x1F", "0X1F", "0x", "0x_", "-0xfF", "0xG",
        "1", "12", "1_000", "1__", "-17", "+17", "1:30", "1:60", "1:5", "1:05", "1:5:3", "190:20:30", "01:30",
        "1:30.5", "190:20:30.15", "1:30.", "1:", "1::30", "0:30", "0:30.5",
        "1.", "1.5", "-1.5", "+1.5", "1.5e3", "1.5E+3", "1.5e-3", "1e5", "1E5", "1e", "1.5e", "1e+", "1_0.0_1",
        ".5", "-.5", "+.5", ".5e+5", ".5e5", ".5E-5", "._", ".", "..", "1..2", "1.2.3",
        ".inf", ".Inf", ".INF", "-.inf", "+.INF", ".iNF", "inf", ".nan", ".NaN", ".NAN", "-.nan", "+.nan", "nan",
        "2001-12-14", "2001-12-14t21:59:43.10-05:00", "<<", "=", "1-2", "12abc", "abc", "e5", "+", "-", "_1",
        "１２",
    ]

    @Test func agreesWithYamsOnSamples() {
        for text in Self.samples {
            #expect(ScalarKind.implicit(text, plain: true) == Self.yams(text), "\(text.debugDescription)")
        }
    }

    /// Every string of up to four characters over the characters the int and float rules turn on.
    @Test func agreesWithYamsOnEveryShortString() {
        let alphabet: [Character] = ["0", "1", "5", "7", "8", "_", ".", ":", "e", "+", "-", "x", "o", "b"]
        var texts: [String] = [""]
        var disagreements: [String] = []
        for _ in 1...4 {
            texts = texts.flatMap { t in alphabet.map { t + String($0) } }
            for text in texts where ScalarKind.implicit(text, plain: true) != Self.yams(text) {
                disagreements.append(text)
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(20))")
    }

    /// Quoted scalars are strings; explicit tags win over the text.
    @Test func quotedAndTaggedScalars() throws {
        let node = try #require(try YAMLComposer.compose("[a, 'true', \"17\", !!str 17, !!int '17', 17, ~, yes]"))
        guard case .sequence(let list) = node else { Issue.record("not a list"); return }
        let kinds = try list.map { try #require(ScalarKind($0)) }
        #expect(kinds == [.string, .string, .string, .string, .int, .int, .null, .bool(true)])
    }
}

@Suite struct ErrnoTableTests {
    /// Errno's name table (CorralSystem) is Linux's numbering, which the host's libc agrees with.
    @Test func errnoTableMatchesLibc() {
        let libc: [String: Int32] = [
            "EPERM": EPERM, "ENOENT": ENOENT, "ESRCH": ESRCH, "EINTR": EINTR, "EIO": EIO, "EBADF": EBADF,
            "EAGAIN": EAGAIN, "ENOMEM": ENOMEM, "EACCES": EACCES, "EBUSY": EBUSY, "EEXIST": EEXIST,
            "ENOTDIR": ENOTDIR, "EISDIR": EISDIR, "EINVAL": EINVAL, "ENOSPC": ENOSPC, "ENOSYS": ENOSYS,
            "ENODATA": ENODATA, "EOPNOTSUPP": EOPNOTSUPP, "E2BIG": E2BIG, "ECANCELED": ECANCELED, "EPIPE": EPIPE,
            "ENAMETOOLONG": ENAMETOOLONG, "ENOTSOCK": ENOTSOCK, "EADDRINUSE": EADDRINUSE, "ECONNRESET": ECONNRESET,
            "ETIMEDOUT": ETIMEDOUT, "ECONNREFUSED": ECONNREFUSED, "EINPROGRESS": EINPROGRESS, "ELOOP": ELOOP,
            "ECONNABORTED": ECONNABORTED,
        ]
        for (name, value) in libc {
            #expect(ErrnoNames.known.first { $0.name == name }?.value == value, "\(name)")
            #expect(Errno(rawValue: value).name == name)
        }
        for entry in ErrnoNames.all { #expect(ErrnoNames.known.contains { $0 == entry }) }
        #expect(Errno(rawValue: 4000).name == "errno 4000")
    }
}
