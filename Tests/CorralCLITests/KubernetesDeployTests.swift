// deploy/kubernetes/: every manifest passes `kubernetes-validate --strict`; the ConfigMap's
// policy loads and decides container moves as its comments say; the DaemonSet runs the daemon
// with flags this CLI accepts, on the ConfigMap it mounts; corral-entrypoint keeps the node's
// binary (the self-protection identity) across restarts and hands over on upgrades.
import CorralEvaluator
import CorralPolicy
import CorralTestSupport
import Foundation
import Testing
import Yams

@testable import CorralCLI

enum KubernetesDeploy {
    static let directory = RepoPaths.root + "/deploy/kubernetes"

    /// The manifests: every *.yaml in deploy/kubernetes.
    static var manifests: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted().map { directory + "/" + $0 }
    }

    /// The one manifest of `kind`, parsed.
    static func resource(_ kind: String) throws -> [String: Any] {
        for path in manifests {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for document in try Yams.load_all(yaml: text) {
                if let object = document as? [String: Any], object["kind"] as? String == kind { return object }
            }
        }
        throw DeployTestError("no \(kind) in \(directory)")
    }

    /// `kubernetes-validate` from CORRAL_KUBERNETES_VALIDATE or PATH.
    static let validator: String? = {
        if let path = ProcessInfo.processInfo.environment["CORRAL_KUBERNETES_VALIDATE"] { return path }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/kubernetes-validate"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// CI installs the validator (.ci/run), so there a missing one fails instead of skipping.
    static var validatorRuns: Bool { validator != nil || ProcessInfo.processInfo.environment["CI"] != nil }

    static func run(_ argv: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

struct DeployTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

private func dig(_ object: Any?, _ path: String...) -> Any? {
    var current = object
    for key in path {
        if let index = Int(key), let array = current as? [Any] { current = index < array.count ? array[index] : nil }
        else { current = (current as? [String: Any])?[key] }
    }
    return current
}

@Suite struct KubernetesManifestTests {
    @Test(.enabled(if: KubernetesDeploy.validatorRuns,
                   "kubernetes-validate (PyPI) is not installed: pip install kubernetes-validate (.ci/run installs it)"))
    func manifestsPassKubernetesValidate() throws {
        let validator = try #require(KubernetesDeploy.validator, "CI is set but kubernetes-validate is not on PATH: .ci/run should have installed it")
        let files = KubernetesDeploy.manifests
        #expect(files.count == 4, "\(files)")
        let (status, output) = try KubernetesDeploy.run([validator, "--strict"] + files)
        #expect(status == 0, "\(output)")
        for file in files {
            #expect(output.contains("INFO \(file) passed"), "\(file) not reported as passed:\n\(output)")
        }
    }

    /// The embedded policy, as the daemon will read it from /etc/corral/policy.yaml.
    static func configMapPolicy() throws -> Policy {
        let configMap = try KubernetesDeploy.resource("ConfigMap")
        let text = try #require(dig(configMap, "data", "policy.yaml") as? String, "ConfigMap has no data.policy.yaml")
        return try PolicyLoader.parse(yaml: text, source: KubernetesDeploy.directory + "/20-configmap.yaml (data.policy.yaml)")
    }

    @Test func configMapPolicyLoadsInAuditMode() throws {
        let policy = try Self.configMapPolicy()
        #expect(policy.defaultMode == .audit)
        #expect(policy.rules.map(\.id) == ["node-managers", "containers-stay", "pods-stay-out-of-system"])
        for rule in policy.rules {
            #expect(rule.mode == .audit, "rule \(rule.id) is \(rule.mode.rawValue)")
            #expect(!(rule.description ?? "").isEmpty, "rule \(rule.id) has no description")
        }
    }

    /// The policy's decisions on a node with the systemd cgroup driver (docs/fleet.md).
    @Test func configMapPolicyKeepsContainersInTheirCgroups() throws {
        let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b6c9e1a_5f3d_4c1e_9a7b_2d8f6e4c3b1a.slice"
        let other = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod7e2d4f9c_1a3b_4d5e_8f6a_9b0c1d2e3f4a.slice"
        let scenario = try ScenarioLoader.parse(yaml: """
            tasks:
              - {name: init, pid: 1, exe: /usr/lib/systemd/systemd, cgroup: /init.scope}
              - {name: runc, pid: 300, exe: /usr/bin/runc, cgroup: /system.slice/containerd.service}
              - {name: app, pid: 400, exe: /app/server, cgroup: \(pod)/cri-containerd-1111.scope}
            steps:
              - migrate: {task: app, to: \(other)/cri-containerd-2222.scope}
                expect: {verdict: audit, rule: containers-stay}
              - migrate: {task: app, to: /system.slice/kubelet.service}
                expect: {verdict: audit}
              - migrate: {task: app, to: \(pod)/cri-containerd-1111.scope/worker}
                expect: {verdict: allow}
              - fork: {parent: runc, child: exec, pid: 301}
              - migrate: {task: runc, target: exec, to: \(other)/cri-containerd-2222.scope}
                expect: {verdict: allow, rule: node-managers}
              - migrate: {task: init, target: app, to: \(other)/cri-containerd-2222.scope}
                expect: {verdict: allow, rule: node-managers}
            """, source: "kubernetes-node.scenario")
        let run = try ScenarioRunner.run(scenario, initialPolicy: try Self.configMapPolicy())
        for outcome in run.outcomes where !outcome.passed {
            Issue.record("step \(outcome.step) \(outcome.description): \(outcome.failures)")
        }
        #expect(run.expectationCount == 5)
        // The step that leaves /kubepods.slice for /system.slice would be refused by both rules.
        let intoSystem = try #require(run.outcomes.first { $0.step == 2 }?.primary)
        #expect(["containers-stay", "pods-stay-out-of-system"].contains(intoSystem.rule ?? ""), "\(intoSystem.rule ?? "no rule")")
    }

    @Test func daemonSetRunsTheWatchedConfigMap() throws {
        let daemonSet = try KubernetesDeploy.resource("DaemonSet")
        let configMap = try KubernetesDeploy.resource("ConfigMap")
        let serviceAccount = try KubernetesDeploy.resource("ServiceAccount")
        let namespace = try #require(dig(try KubernetesDeploy.resource("Namespace"), "metadata", "name") as? String)
        for object in [daemonSet, configMap, serviceAccount] {
            #expect(dig(object, "metadata", "namespace") as? String == namespace)
        }
        let pod = try #require(dig(daemonSet, "spec", "template", "spec") as? [String: Any])
        #expect(pod["hostPID"] as? Bool == true)
        #expect(pod["serviceAccountName"] as? String == dig(serviceAccount, "metadata", "name") as? String)
        let container = try #require(dig(pod, "containers", "0") as? [String: Any])
        #expect(dig(container, "securityContext", "privileged") as? Bool == true)

        // The arguments are ones `corral daemon` accepts, and they watch the mounted ConfigMap.
        let args = try #require(container["args"] as? [String])
        let daemon = try #require(try CorralCommand.parseAsRoot(["daemon"] + args) as? DaemonCommand)
        #expect(daemon.watchPolicy)
        let policyPath = try #require(daemon.enforcement.policy)
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let policyVolume = try #require(volumes.first { dig($0, "configMap", "name") as? String == dig(configMap, "metadata", "name") as? String },
                                        "no volume of ConfigMap \(dig(configMap, "metadata", "name") ?? "?")")
        let policyMount = try #require(mounts.first { $0["name"] as? String == policyVolume["name"] as? String })
        let key = try #require((configMap["data"] as? [String: Any])?.keys.first)
        #expect(policyPath == "\(policyMount["mountPath"] as? String ?? "?")/\(key)")

        // The node paths of docs/fleet.md, each a hostPath mounted at the same place.
        var hostPaths: [String: String] = [:]
        for v in volumes { if let name = v["name"] as? String, let path = dig(v, "hostPath", "path") as? String { hostPaths[name] = path } }
        let mounted = Set(mounts.compactMap { m -> String? in
            guard let name = m["name"] as? String, let host = hostPaths[name], host == m["mountPath"] as? String else { return nil }
            return host
        })
        #expect(mounted == ["/sys/fs/bpf", "/sys/kernel/security", "/sys/fs/cgroup", "/run/corral", "/var/log/corral", "/var/lib/corral"])
    }

    @Test func containerfileCopiesWhatTheBuildMakes() throws {
        let text = try String(contentsOfFile: KubernetesDeploy.directory + "/Containerfile", encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        #expect(lines.first == "FROM debian:bookworm-slim")
        // scripts/build-static's output directory, and the entrypoint from this directory.
        #expect(lines.contains("COPY .build-static/embedded/corral /usr/bin/corral"))
        #expect(lines.contains("COPY deploy/kubernetes/corral-entrypoint /usr/lib/corral/corral-entrypoint"))
        #expect(lines.contains(#"ENTRYPOINT ["/usr/lib/corral/corral-entrypoint"]"#))
        let buildStatic = try String(contentsOfFile: RepoPaths.root + "/scripts/build-static", encoding: .utf8)
        #expect(buildStatic.contains("embedded"), "scripts/build-static no longer writes .build-static/embedded")
        // The default arguments (CMD) parse as well.
        let cmd = try #require(lines.first { $0.hasPrefix("CMD ") })
        let args = try #require(try JSONSerialization.jsonObject(with: Data(cmd.dropFirst(4).utf8)) as? [String])
        let daemon = try #require(try CorralCommand.parseAsRoot(["daemon"] + args) as? DaemonCommand)
        #expect(daemon.watchPolicy && daemon.enforcement.policy == "/etc/corral/policy.yaml")
        let ignore = try String(contentsOfFile: KubernetesDeploy.directory + "/Containerfile.dockerignore", encoding: .utf8)
        #expect(ignore.contains("!.build-static/embedded/corral") && ignore.contains("!deploy/kubernetes/corral-entrypoint"))
    }
}

/// corral-entrypoint with stub `corral` binaries that log what they were asked to do.
@Suite(.serialized) struct KubernetesEntrypointTests {
    final class Node {
        let root = RepoPaths.temporaryDirectory("corral-entrypoint")
        var image: String { root + "/image/corral" }
        var nodeDirectory: String { root + "/node/bin" }
        var nodeBinary: String { nodeDirectory + "/corral" }
        var pins: String { root + "/pins" }
        var log: String { root + "/calls.log" }

        init() throws {
            try FileManager.default.createDirectory(atPath: root + "/image", withIntermediateDirectories: true)
            try install(stub("new"), at: image)
        }

        /// A stub corral tagged `tag`: logs `TAG PATH ARGS`; the hand-over daemon (on
        /// handover.sock) runs until SIGTERM, unless `failing`; status answers once it runs.
        func stub(_ tag: String, failing: Bool = false) -> String {
            """
            #!/bin/sh
            echo "\(tag) $0 $*" >> "\(log)"
            case "$1" in
                --version) echo "corral \(tag)" ;;
                daemon)
                    case "$*" in *handover.sock*)
                        \(failing ? "echo 'cannot adopt' >&2; exit 4" : "")
                        touch "\(root)/running"
                        trap 'echo "\(tag) stopped" >> "\(log)"; rm -f "\(root)/running"; exit 0' TERM
                        while :; do sleep 0.1; done ;;
                    esac ;;
                status) [ -e "\(root)/running" ] ;;
                handover) echo "\(tag) trusts inode $(stat -c %i "$3")" >> "\(log)" ;;
            esac
            """
        }

        func install(_ script: String, at path: String) throws {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }

        func pin() throws {
            try FileManager.default.createDirectory(atPath: pins + "/maps", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: pins + "/maps/corral_control", contents: Data())
        }

        func run() throws -> (status: Int32, output: String, calls: [String]) {
            try? FileManager.default.removeItem(atPath: log)
            let (status, output) = try KubernetesDeploy.run(
                [KubernetesDeploy.directory + "/corral-entrypoint", "--policy", "/etc/corral/policy.yaml", "--watch-policy"],
                environment: ["CORRAL_IMAGE_BINARY": image, "CORRAL_NODE_DIRECTORY": nodeDirectory, "CORRAL_PIN_DIRECTORY": pins,
                              "CORRAL_STATE_DIRECTORY": root + "/state", "CORRAL_LOG_DIRECTORY": root + "/log"])
            let calls = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            return (status, output, calls)
        }

        func inode(_ path: String) -> UInt64? {
            (try? FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)?.uint64Value
        }

        func content(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    @Test func firstStartInstallsTheImageBinaryAndARestartKeepsItsInode() throws {
        let node = try Node()
        var r = try node.run()
        #expect(r.status == 0, "\(r.output)")
        #expect(node.content(node.nodeBinary) == node.content(node.image))
        #expect(r.calls.last == "new \(node.nodeBinary) daemon --policy /etc/corral/policy.yaml --watch-policy", "\(r.calls)")
        #expect(r.output.contains("installed \(node.nodeBinary) from the image"))
        let inode = try #require(node.inode(node.nodeBinary))

        try node.pin()
        r = try node.run()
        #expect(r.status == 0, "\(r.output)")
        #expect(node.inode(node.nodeBinary) == inode, "a restart with the same image must keep the identity's inode")
        #expect(r.calls == ["new \(node.nodeBinary) daemon --policy /etc/corral/policy.yaml --watch-policy"])
    }

    @Test func upgradeWithPinsHandsOverToTheNewBinary() throws {
        let node = try Node()
        try node.install(node.stub("old"), at: node.nodeBinary)
        try node.pin()
        let r = try node.run()
        #expect(r.status == 0, "\(r.output)")
        let staged = node.nodeBinary + ".new"
        let inode = try #require(node.inode(node.nodeBinary))
        #expect(r.calls.filter { !$0.hasSuffix(" --version") && !$0.contains(" status ") } == [
            "old \(node.nodeBinary) daemon --pin-directory \(node.pins) --state-directory \(node.root)/state --log-directory \(node.root)/log --control-socket \(node.root)/state/handover.sock --quiet",
            "new \(staged) handover --executable \(staged) --socket \(node.root)/state/handover.sock",
            "new trusts inode \(inode)",
            "old stopped",
            "new \(node.nodeBinary) daemon --policy /etc/corral/policy.yaml --watch-policy",
        ], "\(r.calls)")
        #expect(node.content(node.nodeBinary) == node.content(node.image))
        #expect(!FileManager.default.fileExists(atPath: staged))
    }

    @Test func upgradeWithoutPinsReplacesTheBinary() throws {
        let node = try Node()
        try node.install(node.stub("old"), at: node.nodeBinary)
        let r = try node.run()
        #expect(r.status == 0, "\(r.output)")
        #expect(node.content(node.nodeBinary) == node.content(node.image))
        #expect(!r.calls.contains { $0.hasPrefix("old ") }, "the old binary ran: \(r.calls)")
    }

    @Test func pinsWithoutTheirBinaryStopWithAReason() throws {
        let node = try Node()
        try node.pin()
        let r = try node.run()
        #expect(r.status == 1)
        #expect(r.output.contains("the binary that pinned them, is gone"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: node.nodeBinary))
        #expect(!r.calls.contains { $0.contains(" daemon ") }, "\(r.calls)")
    }

    @Test func aNodeBinaryThatCannotAdoptKeepsThePins() throws {
        let node = try Node()
        try node.install(node.stub("old", failing: true), at: node.nodeBinary)
        let before = node.content(node.nodeBinary)
        try node.pin()
        let r = try node.run()
        #expect(r.status == 1)
        #expect(r.output.contains("could not adopt the pins to hand them over"), "\(r.output)")
        #expect(node.content(node.nodeBinary) == before, "the node's binary was replaced")
        #expect(!r.calls.contains { $0.contains(" handover ") || $0.contains("--watch-policy") }, "\(r.calls)")
    }
}
