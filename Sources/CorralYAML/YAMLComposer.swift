// Composes one YAML document into a YAMLNode tree with libyaml's event parser. The one file
// that calls libyaml.
import CYAML

public enum YAMLComposer {
    /// Nodes one document may have with its aliases expanded: a few aliases of aliases
    /// ("billion laughs") would otherwise make every reader of the tree walk billions of nodes.
    public static let maxNodes = 1_000_000

    /// The tree of the one document in `text`; nil when the text holds no document (empty, or
    /// only comments). A second document, an undefined alias or a duplicate key is an error.
    public static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        // A NUL after the text keeps the pointer non-nil for an empty text (libyaml asserts it).
        var bytes = Array(text.utf8) + [0]
        let length = bytes.count - 1
        // libyaml reads through a pointer it keeps between calls: the bytes must not move.
        return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(YAMLError) -> YAMLNode? in
            var composer = EventComposer(input: buffer.baseAddress!, count: length)
            defer { composer.close() }
            return try composer.singleDocument()
        }
    }
}

/// One libyaml parser over `input` and the anchors seen so far.
private struct EventComposer {
    private var parser = yaml_parser_t()
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    private var nodes = 0

    init(input: UnsafeMutablePointer<UInt8>, count: Int) {
        yaml_parser_initialize(&parser)
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, input, count)
    }

    mutating func close() { yaml_parser_delete(&parser) }

    /// One parsed event; the caller deletes it (`yaml_event_delete`).
    private mutating func next() throws(YAMLError) -> yaml_event_t {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else { throw error() }
        return event
    }

    /// Parses the next event, checks its type and drops it.
    private mutating func skip() throws(YAMLError) -> (yaml_event_type_t, YAMLMark) {
        var event = try next()
        defer { yaml_event_delete(&event) }
        return (event.type, Self.mark(event.start_mark))
    }

    mutating func singleDocument() throws(YAMLError) -> YAMLNode? {
        _ = try skip()  // STREAM-START
        guard try skip().0 != YAML_STREAM_END_EVENT else { return nil }  // DOCUMENT-START
        let root = try node(try next())
        _ = try skip()  // DOCUMENT-END
        let (type, mark) = try skip()
        if type != YAML_STREAM_END_EVENT {
            throw .syntax(problem: "but found another document", mark: mark,
                          context: "expected a single document in the stream", contextMark: YAMLMark(line: 1, column: 1))
        }
        return root
    }

    /// The node that starts with `event` (deleted here), and its size with aliases expanded.
    private mutating func node(_ first: yaml_event_t) throws(YAMLError) -> YAMLNode {
        try sizedNode(first).node
    }

    private mutating func sizedNode(_ first: yaml_event_t) throws(YAMLError) -> (node: YAMLNode, size: Int) {
        var event = first
        defer { yaml_event_delete(&event) }
        let mark = Self.mark(event.start_mark)
        let result: (node: YAMLNode, size: Int)
        let anchor: UnsafeMutablePointer<yaml_char_t>?
        switch event.type {
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw .syntax(problem: "found undefined alias", mark: mark, context: nil, contextMark: nil)
            }
            try count(target.size, mark)
            return target
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let tag = s.quoted_implicit == 1 ? YAMLNode.strTag : (Self.string(s.tag) ?? "")
            let text = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
            let style = YAMLNode.Scalar.Style(rawValue: Int(s.style.rawValue)) ?? .any
            try count(1, mark)
            result = (.scalar(.init(string: text, tag: tag, style: style, mark: mark)), 1)
            anchor = s.anchor
        case YAML_SEQUENCE_START_EVENT:
            anchor = event.data.sequence_start.anchor
            var items: [YAMLNode] = [], size = 1
            try count(1, mark)
            while true {
                let e = try next()
                if e.type == YAML_SEQUENCE_END_EVENT { var end = e; yaml_event_delete(&end); break }
                let item = try sizedNode(e)
                items.append(item.node)
                size += item.size
            }
            result = (.sequence(.init(items: items, mark: mark)), size)
        case YAML_MAPPING_START_EVENT:
            anchor = event.data.mapping_start.anchor
            var entries: [(key: YAMLNode, value: YAMLNode)] = [], size = 1
            try count(1, mark)
            while true {
                let e = try next()
                if e.type == YAML_MAPPING_END_EVENT { var end = e; yaml_event_delete(&end); break }
                let key = try sizedNode(e)
                let value = try sizedNode(try next())
                entries.append((key.node, value.node))
                size += key.size + value.size
            }
            try Self.checkDuplicates(entries)
            result = (.mapping(.init(entries: entries, mark: mark)), size)
        default:
            throw .syntax(problem: "unexpected event \(event.type.rawValue)", mark: mark, context: nil, contextMark: nil)
        }
        if let name = Self.string(anchor) { anchors[name] = result }
        return result
    }

    private mutating func count(_ n: Int, _ mark: YAMLMark) throws(YAMLError) {
        nodes += n
        if nodes > YAMLComposer.maxNodes { throw .tooManyNodes(limit: YAMLComposer.maxNodes, mark: mark) }
    }

    /// Scalar keys with the same text and tag (untagged keys count as strings: keys compare as
    /// text, as Yams' composer compared them for policies).
    private static func checkDuplicates(_ entries: [(key: YAMLNode, value: YAMLNode)]) throws(YAMLError) {
        guard entries.count > 1 else { return }
        var first: [String: YAMLMark] = [:], duplicates: [String: YAMLMark] = [:]
        for (key, _) in entries {
            guard case .scalar(let s) = key else { continue }
            let id = (s.tag.isEmpty || s.tag == "!" ? YAMLNode.strTag : s.tag) + "\u{0}" + s.string
            if let mark = first[id] { if duplicates[s.string] == nil { duplicates[s.string] = mark } } else { first[id] = s.mark }
        }
        guard !duplicates.isEmpty else { return }
        let names = duplicates.keys.sorted()
        throw .duplicateKeys(names, mark: duplicates[names[0]]!)
    }

    private func error() -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown error"
        switch parser.error {
        case YAML_MEMORY_ERROR: return .memory
        case YAML_READER_ERROR: return .reader(problem: problem, byteOffset: Int(parser.problem_offset), value: parser.problem_value)
        default:
            return .syntax(problem: problem, mark: Self.mark(parser.problem_mark),
                           context: parser.context.map { String(cString: $0) },
                           contextMark: parser.context == nil ? nil : Self.mark(parser.context_mark))
        }
    }

    private static func mark(_ m: yaml_mark_t) -> YAMLMark { YAMLMark(line: Int(m.line) + 1, column: Int(m.column) + 1) }

    private static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        p.map { String(cString: $0) }
    }
}
