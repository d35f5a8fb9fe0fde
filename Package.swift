// swift-tools-version:6.0
// Corral: namespace and cgroup-migration supervision through BPF LSM.
//
// Targets by concept (see docs/architecture.md):
//   CorralYAML       YAML node tree, composed with libyaml (CYAML: Debian libyaml-dev)
//   CorralPolicy     policy model, YAML parser, validation          (no kernel)
//   CorralEvaluator  reference evaluator: the kernel's semantics   (no kernel)
//   CorralCompiler   policy -> BPF map images                       (no kernel)
//   CorralABI        bpf/abi/include/corral_abi.h, shared with the BPF C code
//   CorralSystem     the one funnel for libc calls: typed wrappers and Errno
//   CCorralSystem    its C shim: the calls Swift's Glibc module lacks, struct layouts from C headers
//   CLibBPF          Debian libbpf-dev, wrapped by a shim header
//   CorralKernel     libbpf/syscall layer: probe, load, maps, ring buffer, links
//   CorralJSON       the one JSON codec: JSONValue, strict text reader/writer, Codable <-> JSONValue
//   CorralControl    control socket: varlink-style JSON protocol, typed methods, server, client, authorization
//   CorralOps        troubleshooting: event log, replay, explain EVENT-ID, why
//   CorralDaemon     long-running services
//   CorralCLI        one command struct per verb; `corral` is its entry point
//   VersionFile      build tool plugin: VERSION -> `corralVersion` in CorralCLI
//   CorralTestSupport  fixtures and helpers shared by tests
//   corral-ktest     in-guest kernel test runner (real syscalls, real kernel)
import PackageDescription

let package = Package(
    name: "Corral",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "corral", targets: ["corral"]),
        .executable(name: "corral-ktest", targets: ["corral-ktest"]),
        // The readers Fuzz/Package.swift (a separate package) fuzzes; a package can use another's
        // targets only through products. Declaring them changes nothing in this package's build.
        .library(name: "CorralPolicy", targets: ["CorralPolicy"]),
        .library(name: "CorralEvaluator", targets: ["CorralEvaluator"]),
        .library(name: "CorralControl", targets: ["CorralControl"]),
        .library(name: "CorralOps", targets: ["CorralOps"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CYAML", path: "Sources/CYAML"),
        .target(name: "CorralYAML", dependencies: ["CYAML"]),
        .target(name: "CorralPolicy", dependencies: ["CorralSystem", "CorralYAML"]),
        .target(name: "CorralEvaluator", dependencies: ["CorralEvents", "CorralJSON", "CorralPolicy", "CorralYAML"]),
        .target(name: "CorralABI", path: "bpf/abi"),
        .target(name: "CCorralSystem", linkerSettings: [.linkedLibrary("z")]),
        .target(name: "CorralSystem", dependencies: ["CCorralSystem"]),
        .target(name: "CorralCompiler", dependencies: ["CorralPolicy", "CorralABI", "CorralSystem"]),
        .systemLibrary(name: "CLibBPF", path: "Sources/CLibBPF"),
        .target(
            name: "CorralKernel",
            dependencies: [
                "CLibBPF", "CorralABI", "CorralCompiler", "CorralEvents", "CorralPolicy", "CorralSystem",
            ]
        ),
        .target(name: "CorralJSON"),
        .target(name: "CorralEvents", dependencies: ["CorralABI", "CorralJSON"]),
        .target(name: "CorralControl", dependencies: ["CorralJSON", "CorralSystem"]),
        .target(name: "CorralOps", dependencies: ["CorralEvents", "CorralJSON", "CorralKernel", "CorralEvaluator", "CorralPolicy", "CorralSystem"]),
        .target(
            name: "CorralDaemon",
            dependencies: [
                "CorralABI", "CorralKernel", "CorralEvaluator", "CorralControl", "CorralOps",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "CorralCLI",
            dependencies: [
                "CorralPolicy", "CorralEvaluator", "CorralCompiler", "CorralKernel", "CorralDaemon",
                "CorralControl", "CorralJSON", "CorralOps",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            plugins: ["VersionFile"]
        ),
        // VERSION (the repository root) compiled into CorralCLI as `corralVersion`.
        .plugin(name: "VersionFile", capability: .buildTool()),
        .executableTarget(name: "corral", dependencies: ["CorralCLI"]),
        .target(name: "CorralTestSupport", dependencies: ["CorralPolicy", "CorralEvaluator"]),
        .executableTarget(
            name: "corral-ktest",
            dependencies: ["CorralKernel", "CorralEvaluator", "CorralCLI", "CorralControl", "CorralTestSupport"]
        ),
        // Yams only in tests: the differential tests of the YAML scalar reader (YAMLScalarTests)
        // and of the composer (YAMLComposerTests); Corral itself composes with libyaml directly.
        .testTarget(name: "CorralPolicyTests", dependencies: ["CorralPolicy", "CorralYAML", "CorralTestSupport", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "CorralEvaluatorTests", dependencies: ["CorralEvaluator", "CorralTestSupport"]),
        .testTarget(name: "CorralCompilerTests", dependencies: ["CorralCompiler", "CorralSystem", "CorralTestSupport"]),
        .testTarget(name: "CorralControlTests", dependencies: ["CorralControl", "CorralSystem", "CorralTestSupport"]),
        .testTarget(name: "CorralOpsTests", dependencies: ["CorralOps", "CorralTestSupport"]),
        .testTarget(name: "CorralCLITests", dependencies: ["CorralCLI", "CorralTestSupport", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "CorralDaemonTests", dependencies: ["CorralDaemon", "CorralSystem", .product(name: "Logging", package: "swift-log")]),
    ],
    swiftLanguageModes: [.v6]
)
