// Troubleshooting building blocks (docs/operations.md §3). Filled in by the ops work.
