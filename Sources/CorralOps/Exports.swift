// Users of CorralOps (the daemon, the CLI) handle events and filters: the one Event type.
@_exported import CorralEvents
