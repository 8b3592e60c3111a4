import Foundation

/// A hash that is the same on every run and machine (Swift's `Hasher` is seeded per process):
/// FNV-1a over UTF-8 bytes, finished with SplitMix64's mixer. Used to derive per-item seeds and to
/// assign synthetic items to splits.
public struct StableHash: Sendable {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func combine(_ text: String) {
        for b in text.utf8 {
            value ^= UInt64(b)
            value &*= 0x0000_0100_0000_01B3
        }
        // A separator so that ("ab", "c") and ("a", "bc") differ.
        value ^= 0xFF
        value &*= 0x0000_0100_0000_01B3
    }

    public mutating func combine(_ n: UInt64) {
        value = StableHash.mix(value ^ StableHash.mix(n &+ 0x9E37_79B9_7F4A_7C15))
    }

    public var finalized: UInt64 { StableHash.mix(value) }

    public static func of(_ parts: String...) -> UInt64 {
        var h = StableHash()
        for p in parts { h.combine(p) }
        return h.finalized
    }

    /// SplitMix64's finaliser: a bijection that spreads every input bit over the output.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed derived from a base seed and a list of numbers.
    public static func seed(_ base: UInt64, _ parts: UInt64...) -> UInt64 {
        var h = StableHash()
        h.combine(base)
        for p in parts { h.combine(p) }
        return h.finalized
    }
}

extension RewardItem {
    /// A stable hash of the item's content (prompt, responses and id), independent of its label.
    public var contentHash: UInt64 {
        var h = StableHash()
        h.combine(id ?? "")
        for m in prompt {
            h.combine(m.role)
            h.combine(m.content)
        }
        h.combine(UInt64(responses.count))
        for r in responses { h.combine(r) }
        return h.finalized
    }
}
