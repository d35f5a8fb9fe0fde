// Checks shared by the fuzz targets. A violated check is a crash (libFuzzer saves the input).
import CorralPolicy

/// The input as text, or nil when it is not UTF-8 (the file readers refuse such files before
/// parsing: PolicyLoader.load, ScenarioLoader.load).
public func utf8Text(_ data: UnsafePointer<UInt8>?, _ size: Int) -> String? {
    guard let data, size > 0 else { return size == 0 ? "" : nil }
    return String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
}

/// The contract of a rejected file (Tests/CorralPolicyTests/PolicyFuzzTests.swift): at least
/// one diagnostic, each positioned (1-based, within the text), naming the source, non-empty,
/// and printable on one line.
public func checkDiagnostics(_ errors: PolicyErrors, text: String, source: String) {
    precondition(!errors.diagnostics.isEmpty, "rejected without a diagnostic")
    let lineCount = PolicyLoader.yamlLineCount(text)
    for d in errors.diagnostics {
        precondition(d.location.line >= 1 && d.location.column >= 1, "unpositioned diagnostic: \(d)")
        // libyaml puts the end of the stream on a line of its own, hence + 1.
        precondition(d.location.line <= lineCount + 1, "diagnostic past the last line (\(lineCount)): \(d)")
        precondition(d.location.file == source, "diagnostic names another file: \(d)")
        precondition(!d.message.isEmpty, "empty diagnostic message")
    }
}


/// A policy with every kind of rule the replay and scenario targets can hit.
public let fuzzPolicyText = """
    version: 1
    subjects:
      sandboxer: {exe: /usr/bin/sandboxer}
      init: {pid1: true}
      marked: {xattr: security.corral}
    rules:
      - {id: track-sandbox, kind: track, subject: sandboxer, types: [net, uts], label: sandbox}
      - {id: lock-sandbox, kind: lock-on-entry, labels: [sandbox], deny-unshare: true}
      - {id: services-stay, kind: stay, cgroups: [/system.slice]}
      - {id: init-manages, kind: managers, subject: init}
      - {id: deny-denied, kind: deny-into, cgroups: [/denied]}
      - {id: locked-box, kind: locked, cgroups: [/box]}
      - {id: delegated-user, kind: delegated, cgroup: /user.slice/u, manager: marked}
    """

/// `fuzzPolicyText`, loaded once (a failure to load is a bug in the target, not a finding).
public let fuzzPolicy: Policy = {
    do { return try PolicyLoader.parse(yaml: fuzzPolicyText, source: "fuzz-policy.yaml") } catch {
        fatalError("the fuzz policy does not load: \(error)")
    }
}()
