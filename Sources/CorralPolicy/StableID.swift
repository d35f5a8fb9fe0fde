// Stable 32-bit ids for labels and rule ids: FNV-1a over the UTF-8 bytes.
// The kernel stores these (corral_abi.h), so they must not change between releases.
// 0 is reserved for "none"; a name hashing to 0 is mapped to 1.

public enum StableID {
    public static func of(_ name: String) -> UInt32 {
        var hash: UInt32 = 0x811C_9DC5
        for byte in name.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return hash == 0 ? 1 : hash
    }
}
