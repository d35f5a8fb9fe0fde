// `corral`. Top-level code rather than `@main`: `corral daemon` runs on the main thread with its
// stop signals blocked before any other thread exists (CorralCommand.runProcess).
import CorralCLI

CorralCommand.runProcess()
