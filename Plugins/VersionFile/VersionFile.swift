// Build tool plugin: compiles VERSION (the repository root, one line such as 0.9.0) into the
// target as `let corralVersion = "0.9.0"`. The version then lives in one file, which the build
// scripts (scripts/build-deb) read too. The command runs again whenever VERSION changes.
import Foundation
import PackagePlugin

@main
struct VersionFile: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "VERSION")
        let output = context.pluginWorkDirectoryURL.appending(path: "Version.generated.swift")
        return [.buildCommand(
            displayName: "Compiling VERSION into \(target.name)",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", writeVersion, "version-file", input.path, output.path],
            inputFiles: [input], outputFiles: [output])]
    }
}

/// `sh -c` script, arguments VERSION and the output file: checks the version's form (a Debian
/// upstream version, so it also cannot break the Swift string) and writes the Swift file.
private let writeVersion = #"""
v=$(cat "$1") || exit 1
case $v in
    [0-9]*) ;;
    *) echo "$1: error: expected a version such as 0.9.0 on one line, found '$v'" >&2; exit 1 ;;
esac
case $v in
    *[!0-9A-Za-z.+~-]*) echo "$1: error: expected a version such as 0.9.0 on one line, found '$v'" >&2; exit 1 ;;
esac
printf '// Generated from %s by Plugins/VersionFile.\nlet corralVersion = "%s"\n' "$1" "$v" > "$2"
"""#
