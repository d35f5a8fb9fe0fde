// The YAML node tree Corral's readers walk: scalars with their text, tag, style and position;
// mappings in file order; lists. Aliases are resolved by the composer (YAMLComposer).

/// 1-based line and column (columns count Unicode scalars, as libyaml does).
public struct YAMLMark: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

public enum YAMLNode: Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(List)

    public struct Scalar: Sendable {
        /// How the scalar was written (libyaml's `yaml_scalar_style_t`).
        public enum Style: Int, Sendable { case any = 0, plain, singleQuoted, doubleQuoted, literal, folded }
        public var string: String
        /// The tag as written and expanded (`!!int` is `tag:yaml.org,2002:int`); quoted and block
        /// scalars without one are `YAMLNode.strTag`; "" for a plain scalar without one.
        public var tag: String
        public var style: Style
        public var mark: YAMLMark
    }

    /// A mapping's entries in file order.
    public struct Mapping: RandomAccessCollection, Sendable {
        public var entries: [(key: YAMLNode, value: YAMLNode)]
        public var mark: YAMLMark
        public var startIndex: Int { entries.startIndex }
        public var endIndex: Int { entries.endIndex }
        public subscript(i: Int) -> (key: YAMLNode, value: YAMLNode) { entries[i] }
    }

    public struct List: RandomAccessCollection, Sendable {
        public var items: [YAMLNode]
        public var mark: YAMLMark
        public var startIndex: Int { items.startIndex }
        public var endIndex: Int { items.endIndex }
        public subscript(i: Int) -> YAMLNode { items[i] }
    }

    public static let strTag = "tag:yaml.org,2002:str"

    /// Where the node starts.
    public var mark: YAMLMark {
        switch self {
        case .scalar(let s): s.mark
        case .mapping(let m): m.mark
        case .sequence(let l): l.mark
        }
    }

    public var mapping: Mapping? { if case .mapping(let m) = self { m } else { nil } }
}

/// Why a text is not one YAML document. Messages follow libyaml's.
public enum YAMLError: Error, Sendable, Equatable {
    /// A scanner, parser or composer error: libyaml's problem and context, 1-based marks.
    case syntax(problem: String, mark: YAMLMark, context: String?, contextMark: YAMLMark?)
    /// A character libyaml refuses (e.g. a control character): its byte offset and value.
    case reader(problem: String, byteOffset: Int, value: Int32)
    /// Keys that occur more than once in one mapping (sorted); `mark`: the first occurrence of the first.
    case duplicateKeys([String], mark: YAMLMark)
    /// The document, with its aliases expanded, has more nodes than the composer's limit.
    case tooManyNodes(limit: Int, mark: YAMLMark)
    case memory
}
