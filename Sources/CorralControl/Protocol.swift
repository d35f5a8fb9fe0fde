// Control socket protocol (docs/operations.md §4). Filled in by the control-socket work.
