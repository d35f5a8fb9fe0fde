// The JSON the CLI prints (check --json, probe --json, replay --json, simulate --json): one
// encoder setting for all of them. Keys sorted; slashes not escaped (Foundation's default writes
// "/sys" as "\/sys", which is valid JSON but unreadable in paths and breaks a plain grep).
import FoundationEssentials

public enum JSONOutput {
    /// `value` as JSON text: keys sorted, `/` as is; `pretty` indents. Keys are the types' own
    /// (snake_case coding keys).
    public static func text<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
            : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
