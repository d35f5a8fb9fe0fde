// Who may call what (docs/operations.md §4, "Authorization").
//
// The socket is mode 0666; each method has an access level. The caller is identified by
// SO_PEERCRED (pid, effective uid and gid at connect time, recorded by the kernel):
//
//   anyone  every caller
//   read    uid 0, members of the admin group, members of the reader group
//   change  uid 0, members of the admin group
//
// Membership counts the SO_PEERCRED gid, and the real and effective gids (`Gid:`) and the
// supplementary groups (`Groups:`) of /proc/<pid>/status. The status file is read after the
// connection is made, so its groups are used only if its `Uid:` line still contains the peer's
// uid (otherwise the pid may have been reused by another user's process, or the caller changed
// identity): then only the SO_PEERCRED gid counts. A status file that is missing or cannot be
// parsed is treated the same way: the decision fails closed.
import CorralSystem

/// A method's required access.
public enum AccessLevel: String, Sendable, Hashable, CaseIterable, Comparable {
    case anyone
    case read
    case change

    private var rank: Int {
        switch self {
        case .anyone: 0
        case .read: 1
        case .change: 2
        }
    }

    public static func < (a: AccessLevel, b: AccessLevel) -> Bool { a.rank < b.rank }
}

/// The connecting process, as SO_PEERCRED reports it.
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// The ids in a /proc/<pid>/status file.
public struct ProcessIdentity: Sendable, Hashable {
    /// `Uid:` real, effective, saved, filesystem.
    public var uids: [UInt32]
    /// `Gid:` real, effective, saved, filesystem.
    public var gids: [UInt32]
    /// `Groups:` supplementary groups (may be empty).
    public var groups: [UInt32]

    public init(uids: [UInt32], gids: [UInt32], groups: [UInt32]) {
        self.uids = uids
        self.gids = gids
        self.groups = groups
    }

    /// Parses the `Uid:`, `Gid:` and `Groups:` lines of a status text. nil unless `Uid:` and
    /// `Gid:` each appear exactly once with 1…4 ids, `Groups:` at most once, and every id is a
    /// decimal uint32 (fields are separated by tabs or spaces; other lines are ignored).
    public static func parse(status text: String) -> ProcessIdentity? {
        var uids: [UInt32]?
        var gids: [UInt32]?
        var groups: [UInt32]?
        // isNewline: "\r\n" is one Character, so splitting at "\n" alone would not split it.
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            guard key == "Uid" || key == "Gid" || key == "Groups" else { continue }
            var ids: [UInt32] = []
            for field in line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                guard field.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      let id = UInt32(field) else { return nil }
                ids.append(id)
            }
            switch key {
            case "Uid":
                guard uids == nil, (1...4).contains(ids.count) else { return nil }
                uids = ids
            case "Gid":
                guard gids == nil, (1...4).contains(ids.count) else { return nil }
                gids = ids
            default:
                guard groups == nil else { return nil }
                groups = ids
            }
        }
        guard let uids, let gids else { return nil }
        return ProcessIdentity(uids: uids, gids: gids, groups: groups ?? [])
    }
}

/// The groups that grant access; nil disables that route (then only uid 0 gets it).
public struct AuthorizationConfig: Sendable, Hashable {
    /// `--admin-group`: read and change.
    public var adminGroup: UInt32?
    /// `--reader-group`: read.
    public var readerGroup: UInt32?
    /// Where `<pid>/status` is read (tests point this elsewhere).
    public var procRoot: String

    public init(adminGroup: UInt32? = nil, readerGroup: UInt32? = nil, procRoot: String = "/proc") {
        self.adminGroup = adminGroup
        self.readerGroup = readerGroup
        self.procRoot = procRoot
    }
}

public enum Authorization {
    /// The groups a peer is a member of for authorization: its SO_PEERCRED gid, plus the real
    /// and effective gids and supplementary groups of `identity` when `identity` belongs to the
    /// same uid (see the file comment).
    public static func groups(of peer: PeerCredentials, identity: ProcessIdentity?) -> Set<UInt32> {
        var groups: Set<UInt32> = [peer.gid]
        if let identity, identity.uids.contains(peer.uid) {
            groups.formUnion(identity.gids.prefix(2))
            groups.formUnion(identity.groups)
        }
        return groups
    }

    /// The decision. `identity` is the parsed /proc/<pid>/status (nil: unavailable); it is
    /// consulted only when uid and SO_PEERCRED gid do not decide already.
    public static func isAllowed(_ level: AccessLevel, peer: PeerCredentials, identity: ProcessIdentity?,
                                 config: AuthorizationConfig) -> Bool {
        if level == .anyone || peer.uid == 0 { return true }
        var granting: Set<UInt32> = []
        if let g = config.adminGroup { granting.insert(g) }
        if level == .read, let g = config.readerGroup { granting.insert(g) }
        if granting.isEmpty { return false }
        return !granting.isDisjoint(with: groups(of: peer, identity: identity))
    }

    /// Reads and parses `<procRoot>/<pid>/status`; nil when it is missing or unparsable.
    public static func identity(of pid: Int32, procRoot: String = "/proc") -> ProcessIdentity? {
        guard pid > 0, let text = try? Sys.readFile("\(procRoot)/\(pid)/status") else { return nil }
        return ProcessIdentity.parse(status: text)
    }
}
