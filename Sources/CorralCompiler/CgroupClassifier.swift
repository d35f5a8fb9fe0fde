// The pattern trie of one generation and the classification step over it: the Swift twin of
// bpf/classify/classify.bpf.h. Layout: corral_abi.h ("Cgroup classification"); the design and
// its guarantees: docs/compiler.md ("Cgroup paths and patterns").
import CorralABI
import CorralPolicy

/// Every cgroup path and pattern of a policy as a trie of components.
public struct PatternTrie: Sendable, Equatable {
    public struct Glob: Sendable, Equatable {
        public var prefix: String
        public var suffix: String
        public var child: UInt32
    }

    public struct Node: Sendable, Equatable {
        public var subjectBits: UInt64 = 0
        /// The `**` node reached without a component (0: none).
        public var eps: UInt32 = 0
        public var anyDepth = false
        public var names: [String: UInt32] = [:]
        /// Literal edges in insertion order (map image order).
        public var nameOrder: [String] = []
        public var globs: [Glob] = []
        public var anchors: [UInt16] = []
        /// The policy paths ending here (explain, capacity messages).
        public var paths: [CgroupPath] = []

        public var live: Bool { anyDepth || !names.isEmpty || !globs.isEmpty || eps != 0 }
    }

    /// Node 0 is the root "/".
    public private(set) var nodes: [Node] = [Node()]

    public init() {}

    /// The node where `path` ends, created as needed.
    public mutating func insert(_ path: CgroupPath) -> UInt32 {
        var cur = 0
        for component in path.patternComponents {
            switch component {
            case .literal(let name):
                if let next = nodes[cur].names[name] {
                    cur = Int(next)
                } else {
                    let next = newNode()
                    nodes[cur].names[name] = next
                    nodes[cur].nameOrder.append(name)
                    nameCount += 1
                    cur = Int(next)
                }
            case .glob(let prefix, let suffix):
                if let g = nodes[cur].globs.first(where: { $0.prefix == prefix && $0.suffix == suffix }) {
                    cur = Int(g.child)
                } else {
                    let next = newNode()
                    nodes[cur].globs.append(Glob(prefix: prefix, suffix: suffix, child: next))
                    globCount += 1
                    cur = Int(next)
                }
            case .anyDepth:
                if nodes[cur].eps != 0 {
                    cur = Int(nodes[cur].eps)
                } else {
                    let next = newNode()
                    nodes[Int(next)].anyDepth = true
                    nodes[cur].eps = next
                    cur = Int(next)
                }
            }
        }
        if !nodes[cur].paths.contains(path) { nodes[cur].paths.append(path) }
        return UInt32(cur)
    }

    /// The nodes a path passes through, root first (the path must have been inserted).
    public func nodesAlong(_ path: CgroupPath) -> [UInt32] {
        var out: [UInt32] = [0]
        var cur = 0
        for component in path.patternComponents {
            let n = nodes[cur]
            switch component {
            case .literal(let name): cur = Int(n.names[name] ?? 0)
            case .glob(let p, let s): cur = Int(n.globs.first { $0.prefix == p && $0.suffix == s }?.child ?? 0)
            case .anyDepth: cur = Int(n.eps)
            }
            out.append(UInt32(cur))
        }
        return out
    }

    public mutating func addSubjectBits(_ bits: UInt64, at node: UInt32) { nodes[Int(node)].subjectBits |= bits }
    public mutating func addAnchor(_ slot: Int, at node: UInt32) { nodes[Int(node)].anchors.append(UInt16(slot)) }

    private mutating func newNode() -> UInt32 {
        nodes.append(Node())
        return UInt32(nodes.count - 1)
    }

    /// Literal and one-'*' edges in the trie.
    public private(set) var nameCount = 0
    public private(set) var globCount = 0
}

/// What the policy says about one cgroup (struct corral_cgroup_class).
public struct CgroupClass: Sendable, Equatable, CustomStringConvertible {
    public var states: [UInt32] = []
    public var subjectBits: UInt64 = 0
    public var anchors: [UInt16] = []
    public var live = false
    /// More states or anchors than the kernel entry holds: the cgroup is unclassified.
    public var overflow = false

    public init() {}

    public var description: String {
        "states \(states), subject bits 0x\(String(subjectBits, radix: 16)), anchors \(anchors)"
            + (live ? ", live" : "") + (overflow ? ", overflow" : "")
    }

    /// The kernel's value (capacities applied exactly as the BPF step applies them).
    public var value: corral_cgroup_class {
        var v = corral_cgroup_class()
        v.subject_bits = subjectBits
        v.flags = (live ? UInt32(CORRAL_CLASS_F_LIVE) : 0) | (overflow ? UInt32(CORRAL_CLASS_F_OVERFLOW) : 0)
        v.n_state = UInt16(states.count)
        v.n_anchor = UInt16(anchors.count)
        withUnsafeMutableBytes(of: &v.states) { raw in
            for (i, s) in states.enumerated() { raw.storeBytes(of: s, toByteOffset: i * 4, as: UInt32.self) }
        }
        withUnsafeMutableBytes(of: &v.anchor_slots) { raw in
            for (i, s) in anchors.enumerated() { raw.storeBytes(of: s, toByteOffset: i * 2, as: UInt16.self) }
        }
        return v
    }

    /// Decodes a kernel entry (consistency checks).
    public init(_ v: corral_cgroup_class) {
        var v = v
        let ns = min(Int(v.n_state), Int(CORRAL_MAX_CGROUP_STATES))
        let na = min(Int(v.n_anchor), Int(CORRAL_MAX_ANCHOR_RULES))
        states = withUnsafeBytes(of: &v.states) { raw in (0..<ns).map { raw.load(fromByteOffset: $0 * 4, as: UInt32.self) } }
        anchors = withUnsafeBytes(of: &v.anchor_slots) { raw in (0..<na).map { raw.load(fromByteOffset: $0 * 2, as: UInt16.self) } }
        subjectBits = v.subject_bits
        live = v.flags & UInt32(CORRAL_CLASS_F_LIVE) != 0
        overflow = v.flags & UInt32(CORRAL_CLASS_F_OVERFLOW) != 0
    }
}

/// The classification step, in the order of bpf/classify/classify.bpf.h.
public struct CgroupClassifier: Sendable {
    public let trie: PatternTrie

    public init(trie: PatternTrie) { self.trie = trie }

    /// The root's class: node 0 and the `**` node it reaches.
    public func rootClass() -> CgroupClass {
        var c = CgroupClass()
        add(&c, 0)
        return c
    }

    /// The class of a child named `name` of a cgroup of class `parent`; nil when the parent is
    /// not live (nothing in the policy lies below it, so the child gets no entry).
    public func classify(parent: CgroupClass, name: String) -> CgroupClass? {
        guard parent.live else { return nil }
        var c = CgroupClass()
        for s in parent.states {
            let node = trie.nodes[Int(s)]
            if node.anyDepth { add(&c, s) }
            // Bytes, as the kernel compares (String equality is canonical equivalence).
            if let i = node.names.index(forKey: name), node.names[i].key.utf8.elementsEqual(name.utf8) {
                add(&c, node.names[i].value)
            }
            for g in node.globs where CgroupPathComponent.glob(prefix: g.prefix, suffix: g.suffix).matches(name) {
                add(&c, g.child)
            }
        }
        if parent.overflow {
            c.overflow = true
            c.live = true
        }
        return c
    }

    private func add(_ c: inout CgroupClass, _ start: UInt32) {
        var node = start
        for _ in 0..<2 {
            guard Int(node) < trie.nodes.count else { return }
            let n = trie.nodes[Int(node)]
            if !c.states.contains(node) {
                guard c.states.count < Int(CORRAL_MAX_CGROUP_STATES) else {
                    c.overflow = true
                    c.live = true
                    return
                }
                c.states.append(node)
                c.subjectBits |= n.subjectBits
                if n.live { c.live = true }
                for slot in n.anchors {
                    guard c.anchors.count < Int(CORRAL_MAX_ANCHOR_RULES) else {
                        c.overflow = true
                        break
                    }
                    c.anchors.append(slot)
                }
            }
            guard n.eps != 0 else { return }
            node = n.eps
        }
    }

    /// FNV-1a 64 of a name's bytes: the key of its literal edge.
    public static func nameHash(_ name: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }
}

/// Classifies a cgroup tree top-down: the root, then the children of every live cgroup. The
/// installer writes each entry before listing that cgroup's children, so a child created after
/// the listing is classified by tp_btf/cgroup_mkdir from the written parent, and one created
/// before it is in the listing (docs/compiler.md, "Installing a generation").
public enum CgroupTreeWalk {
    public struct Child: Sendable {
        public var name: String
        public var id: UInt64
        public init(name: String, id: UInt64) {
            self.name = name
            self.id = id
        }
    }

    /// Visits (path, id, class) for every cgroup that gets an entry. `children` lists a cgroup's
    /// subdirectories (a cgroup removed meanwhile lists nothing); `visit` runs before `children`
    /// of the same cgroup.
    public static func walk<E: Error>(
        classifier: CgroupClassifier, rootID: UInt64,
        children: (CgroupPath) throws(E) -> [Child],
        visit: (CgroupPath, UInt64, CgroupClass) throws(E) -> Void
    ) throws(E) {
        var queue: [(CgroupPath, UInt64, CgroupClass)] = [(.root, rootID, classifier.rootClass())]
        var i = 0
        while i < queue.count {
            let (path, id, cls) = queue[i]
            i += 1
            try visit(path, id, cls)
            guard cls.live else { continue }
            for child in try children(path) {
                guard let c = classifier.classify(parent: cls, name: child.name) else { continue }
                queue.append((CgroupPath(components: path.components + [child.name]), child.id, c))
            }
        }
    }
}

extension CgroupClassifier {
    /// The class of a concrete path, stepping from the root; nil when an ancestor is not live
    /// (the cgroup gets no entry: nothing in the policy concerns it).
    public func classify(_ path: CgroupPath) -> CgroupClass? {
        var c = rootClass()
        for name in path.components {
            guard let next = classify(parent: c, name: name) else { return nil }
            c = next
        }
        return c
    }
}

extension MapImage {
    /// What this generation says about a cgroup at `path` (explain, tests).
    public func classify(_ path: CgroupPath) -> CgroupClass? { CgroupClassifier(trie: trie).classify(path) }
}
