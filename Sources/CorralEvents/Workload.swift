// Who a cgroup belongs to, from its path alone: the systemd unit, the container id and the
// Kubernetes pod uid that container managers and systemd spell into cgroup names.
public struct Workload: Sendable, Hashable {
    /// The innermost systemd unit (`nginx.service`, `session-3.scope`; a user's units too).
    public var unit: String?
    /// A container's 64-hex-digit id: podman/libpod (`libpod-ID.scope`, `libpod-ID`), docker
    /// (`docker-ID.scope`, `/docker/ID`), CRI-O (`crio-ID.scope`), containerd (`cri-containerd-ID.scope`).
    public var container: String?
    /// A Kubernetes pod uid: `kubepods-…-pod<uid with _>.slice` (systemd driver) or `pod<uid>`
    /// (cgroupfs driver), with dashes.
    public var pod: String?

    public init(unit: String? = nil, container: String? = nil, pod: String? = nil) {
        self.unit = unit
        self.container = container
        self.pod = pod
    }

    static let unitSuffixes = [".service", ".scope", ".socket", ".mount", ".swap", ".slice"]
    static let containerPrefixes = ["libpod-", "docker-", "crio-", "cri-containerd-"]

    /// Reads `path` (relative to the cgroup root, e.g. `/machine.slice/libpod-…scope/container`).
    public static func identify(cgroupPath path: String) -> Workload {
        var w = Workload()
        let parts = path.split(separator: "/").map(String.init)
        for (i, name) in parts.enumerated() {
            if let id = containerID(name, parent: i > 0 ? parts[i - 1] : nil) { w.container = id }
            if let uid = podUID(name) { w.pod = uid }
            // A unit other than a slice wins over slices; the innermost of each kind wins.
            if unitSuffixes.contains(where: name.hasSuffix), name.count > 6 {
                if !name.hasSuffix(".slice") || (w.unit?.hasSuffix(".slice") ?? true) { w.unit = name }
            }
        }
        return w
    }

    static func isContainerID(_ s: Substring) -> Bool {
        s.count == 64 && s.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    static func containerID(_ name: String, parent: String?) -> String? {
        var body = Substring(name)
        if body.hasSuffix(".scope") { body = body.dropLast(".scope".count) }
        for prefix in containerPrefixes where body.hasPrefix(prefix) {
            let id = body.dropFirst(prefix.count)
            if isContainerID(id) { return String(id) }
        }
        // cgroupfs drivers: /docker/ID, /kubepods/burstable/podUID/ID
        if isContainerID(body), parent == "docker" || parent?.hasPrefix("pod") == true { return String(body) }
        return nil
    }

    static func podUID(_ name: String) -> String? {
        var body = Substring(name)
        if body.hasSuffix(".slice") { body = body.dropLast(".slice".count) }
        let candidate: Substring
        if body.hasPrefix("pod") {
            candidate = body.dropFirst(3)
        } else if let start = body.indices.last(where: { body[$0...].hasPrefix("-pod") }) {
            candidate = body[body.index(start, offsetBy: 4)...]
        } else {
            return nil
        }
        let uid = String(candidate.map { $0 == "_" ? "-" : $0 })
        let groups = uid.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12], uid.allSatisfy({ $0 == "-" || $0.isHexDigit }) else { return nil }
        return uid
    }
}
