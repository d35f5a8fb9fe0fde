// `corral`. Top-level code rather than `@main`, so that the process is set up on the main thread
// before any other thread exists (CorralCommand.prepareProcess: the daemon's signal mask).
import CorralCLI

/// AsyncParsableCommand's `main`: inside an async function the async overload is the one chosen
/// (at the top level the synchronous one would be, which refuses an asynchronous root command).
func runCommand() async { await CorralCommand.main() }

CorralCommand.prepareProcess()
await runCommand()
