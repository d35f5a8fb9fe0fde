// swift-tools-version:6.0
// libFuzzer targets for Corral's readers of untrusted input (docs/testing.md, "Fuzzing").
//
// A separate package, so the main package's `swift build` / `swift test` never see these
// targets or their flags. Build one with (scripts/fuzz does this):
//   swift build --package-path Fuzz --scratch-path .build-fuzz -c debug \
//     -Xswiftc -sanitize=fuzzer,address --product PolicyFuzz
// Each main.swift declares `LLVMFuzzerTestOneInput` and its top-level code hands control to
// libFuzzer (`LLVMFuzzerRunDriver`). The usual recipe, `-parse-as-library` and libFuzzer's own
// `main`, does not link with SwiftPM 6.3: it links executables with `--defsym
// main=<Module>_main`, a symbol that only top-level code defines.
import Foundation
import PackageDescription

// The main package is `..`; its identity is the name of its directory (a checkout may be
// called anything), and products of a path dependency are named through that identity.
let corral = Context.packageDirectory.split(separator: "/").dropLast().last.map(String.init) ?? "Corral"

let package = Package(
    name: "CorralFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(path: "..")],
    targets: [
        .systemLibrary(name: "CFuzzDriver"),
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "CorralPolicy", package: corral)]
        ),
        .executableTarget(
            name: "PolicyFuzz",
            dependencies: ["CFuzzDriver", "FuzzSupport", .product(name: "CorralPolicy", package: corral)]
        ),
        .executableTarget(
            name: "ControlFuzz",
            dependencies: ["CFuzzDriver", .product(name: "CorralControl", package: corral)]
        ),
        .executableTarget(
            name: "ReplayFuzz",
            dependencies: ["CFuzzDriver", "FuzzSupport", .product(name: "CorralOps", package: corral),
                           .product(name: "CorralPolicy", package: corral)]
        ),
        .executableTarget(
            name: "ScenarioFuzz",
            dependencies: ["CFuzzDriver", "FuzzSupport", .product(name: "CorralEvaluator", package: corral),
                           .product(name: "CorralPolicy", package: corral)]
        ),
    ],
    swiftLanguageModes: [.v6]
)
