// The errno name table lives with `Errno` in CorralSystem (one table); policy code, the evaluator and
// scenario files use it as `ErrnoNames`.
@_exported import enum CorralSystem.ErrnoNames
