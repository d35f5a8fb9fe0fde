// Which files make up the policy a command reads: the main file, and the drop-in fragments when
// asked (docs/policy.md, "Fragments").
import ArgumentParser
import CorralPolicy
import Glibc

/// `--fragments` / `--policy-dir DIR`, shared by the commands that read a policy from disk.
struct FragmentOptions: ParsableArguments {
    @Flag(help: "Also merge the drop-in fragments of /etc/corral/policy.d, /run/corral/policy.d and /usr/lib/corral/policy.d (docs/policy.md).")
    var fragments = false

    @Option(name: .customLong("policy-dir"), help: ArgumentHelp(
        "A fragment directory, instead of the default ones (repeat it; the first one masks the later ones).",
        valueName: "dir"), completion: .directory)
    var policyDirectories: [String] = []
}

enum PolicySelection {
    /// The main file and the fragment set for `path`. A directory DIR means DIR/policy.yaml with
    /// the fragments of DIR/policy.d (unless directories are given). Without `--fragments`,
    /// `--policy-dir` or a directory, no fragments: the file alone, as before fragments existed.
    static func resolve(_ path: String, _ options: FragmentOptions) -> (main: String, fragments: FragmentSet?) {
        let staged = FragmentSet.staged(path)
        let main = staged?.main ?? path
        if !options.policyDirectories.isEmpty { return (main, FragmentSet(directories: options.policyDirectories)) }
        if let staged { return (main, staged.fragments) }
        if options.fragments { return (main, FragmentSet()) }
        return (main, nil)
    }
}
