// Writes a compiled policy into the inactive generation, publishes it with one write of
// corral_control.active_gen, then deletes the previous generation's hash-map entries.
import CorralABI
import CorralCompiler
import CorralPolicy
import CorralSystem

public struct PolicyInstaller {
    public let control: BPFMap
    public let maps: [PolicyMap: BPFMap]

    public init(object: CorralObject) throws(KernelError) {
        control = try object.map("corral_control")
        var m: [PolicyMap: BPFMap] = [:]
        for p in PolicyMap.allCases {
            let map = try object.map(p.rawValue)
            // The kernel copies value_size bytes whatever the buffer holds: a map of another
            // ABI version would take truncated or padded values silently.
            switch LibBPF.mapValueSize(fd: map.fd) {
            case .success(let size) where size != p.valueSize:
                throw .object(path: object.path, reason: "map \(p.rawValue) holds \(size)-byte values, this build writes \(p.valueSize) "
                              + "(CORRAL_ABI_VERSION \(CORRAL_ABI_VERSION)): the BPF object or the pinned maps come from another "
                              + "Corral version; rebuild the object, or stop the old daemon and run `corral daemon --unload`")
            case .success: break
            case .failure(let e): throw .map(name: p.rawValue, operation: "read info", errno: e)
            }
            m[p] = map
        }
        maps = m
    }

    public func readControl() throws(KernelError) -> corral_control {
        try control.lookup(UInt32(0), as: corral_control()) ?? corral_control()
    }

    /// The policy generation number of the active slot (0: none installed yet).
    public func activeGenerationNumber() throws(KernelError) -> UInt64 {
        let c = try readControl()
        return try maps[.generations]!.lookup(c.active_gen, as: corral_generation())?.generation ?? 0
    }

    /// The slot the next policy should be compiled for.
    public func inactiveGeneration() throws(KernelError) -> UInt32 {
        try readControl().active_gen == 0 ? 1 : 0
    }

    /// Deletes every hash-map entry of generation slot `gen`.
    public func clear(gen: UInt32) throws(KernelError) {
        for p in PolicyMap.allCases where p.isHash {
            let m = maps[p]!
            for key in try m.keysRaw(keySize: p.keySize) where p.generation(ofKey: key) == gen {
                try m.deleteRaw(key: key)
            }
        }
    }

    /// Installs `image` (compiled for `inactiveGeneration()`) and switches to it.
    /// `flags` are CORRAL_F_* for corral_control (e.g. audit-all, trace-all).
    public func install(_ image: MapImage, flags: UInt32 = 0) throws(KernelError) {
        let current = try readControl()
        guard image.gen != current.active_gen || isEmpty(current) else {
            throw .compile("image targets the active generation \(image.gen); compile for \(try inactiveGeneration())")
        }
        try clear(gen: image.gen)
        for p in PolicyMap.allCases where p != .generations {
            for e in image.entries(map: p) { try maps[p]!.updateRaw(key: e.key, value: e.value) }
        }
        for e in image.entries(map: .generations) { try maps[.generations]!.updateRaw(key: e.key, value: e.value) }
        var next = corral_control()
        next.active_gen = image.gen
        next.flags = flags
        try control.update(UInt32(0), next)
        if image.gen != current.active_gen { try clear(gen: current.active_gen) }
    }

    /// Sets corral_control.flags without changing the active generation.
    public func setFlags(_ flags: UInt32) throws(KernelError) {
        var c = try readControl()
        c.flags = flags
        try control.update(UInt32(0), c)
    }

    private func isEmpty(_ c: corral_control) -> Bool {
        // A fresh object: generation slot 0 is active but holds no policy yet.
        (try? maps[.generations]!.lookup(c.active_gen, as: corral_generation()))??.generation == 0
    }
}
