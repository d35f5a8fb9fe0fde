// Generation records: `<state>/generations/<N>.json`, one per installed policy generation
// (docs/operations.md §1). Written before the generation flip, so the active generation always
// has a record; a restarted daemon reads it to adopt the pinned state.
import CorralOps
import CorralSystem
import Glibc

public struct GenerationStore: Sendable {
    public let directory: String
    public let keep: Int

    public init(stateDirectory: String, keep: Int = 8) {
        directory = stateDirectory + "/generations"
        self.keep = keep
    }

    public func path(_ generation: UInt64) -> String { "\(directory)/\(generation).json" }

    /// Writes the record atomically (temporary file, fsync, rename) and prunes old records.
    public func write(_ record: GenerationRecord) throws(Errno) {
        try Sys.mkdirs(directory)
        guard let text = record.jsonText else { throw Errno(rawValue: EINVAL) }
        let final = path(record.generation), tmp = final + ".tmp"
        try Sys.writeFileSynced(tmp, Array(text.utf8))
        try Sys.rename(tmp, final)
        prune(below: record.generation)
    }

    public func read(_ generation: UInt64) -> GenerationRecord? {
        guard let text = try? Sys.readFile(path(generation)) else { return nil }
        return GenerationRecord.parse(text: text)
    }

    private func prune(below current: UInt64) {
        guard let entries = try? Sys.listDirectory(directory) else { return }
        let gens = entries.compactMap { e -> UInt64? in
            guard e.name.hasSuffix(".json") else { return nil }
            return UInt64(e.name.dropLast(5))
        }.sorted()
        for g in gens.dropLast(keep) where g < current { try? Sys.unlink(path(g)) }
    }
}
