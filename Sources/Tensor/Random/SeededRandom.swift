import Foundation

/// A small, fast, seeded generator (xoshiro256**, seeded through SplitMix64), so that parameter
/// initialisation and synthetic data are reproducible from one integer on any machine.
public struct SeededRandom: RandomNumberGenerator, Sendable, Codable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = SeededRandom.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = SeededRandom.rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box-Muller in Double: the same values on every machine with IEEE libm).
    public mutating func nextNormal() -> Double {
        let u1 = Swift.max(nextDouble(), 0x1.0p-60), u2 = nextDouble()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// A uniform integer in 0..<n.
    public mutating func nextInt(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

extension Tensor {
    /// f32 values drawn from N(mean, std^2).
    public static func randomNormal(_ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout SeededRandom) -> Tensor {
        let t = Tensor.uninitialized(shape)
        let p = t.floatPointer
        for i in 0..<t.count { p[i] = mean + std * Float(rng.nextNormal()) }
        return t
    }

    /// f32 values drawn uniformly from [low, high).
    public static func randomUniform(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout SeededRandom) -> Tensor {
        let t = Tensor.uninitialized(shape)
        let p = t.floatPointer
        for i in 0..<t.count { p[i] = low + (high - low) * Float(rng.nextDouble()) }
        return t
    }
}
