// Paths into the checkout, found from this file's location (works from any working directory).
import Foundation

public enum RepoPaths {
    /// The repository root (the directory holding Package.swift).
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() } // Sources/CorralTestSupport/RepoPaths.swift
        return url.path
    }()

    public static var examples: String { root + "/examples" }

    /// Example directories that hold a scenario.yaml, sorted by name (examples/invalid is excluded).
    public static func exampleScenarios() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []
        return names.sorted().compactMap { name in
            let path = "\(examples)/\(name)/scenario.yaml"
            return name != "invalid" && FileManager.default.fileExists(atPath: path) ? path : nil
        }
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ prefix: String = "corral-test") -> String {
        let path = NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
