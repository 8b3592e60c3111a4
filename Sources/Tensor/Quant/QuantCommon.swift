/// Shared pieces of the ggml block formats: little-endian field loads and ggml's integer
/// rounding, written so that they never trap (corrupt or extreme inputs give garbage, not a crash).
enum QBits {
    /// The f16 field at `offset` bytes from `p`, as f32.
    @inline(always) static func f16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    @inline(always) static func storeF16(_ x: Float, _ p: UnsafeMutableRawPointer, _ offset: Int) {
        p.storeBytes(of: Float16(x).bitPattern.littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// f32 -> f16 -> f32, as ggml's `GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(x))`.
    @inline(always) static func roundTripF16(_ x: Float) -> Float { Float(Float16(x)) }

    @inline(always) static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(always) static func u32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// ggml's `nearest_int`: round to nearest (ties to even) through the float 1.5 * 2^23, exact
    /// for |x| < 2^22; larger values give the same wrapped result as ggml's bit trick.
    @inline(always) static func nearestInt(_ x: Float) -> Int32 {
        let bits = (x + 12_582_912).bitPattern
        return Int32(bitPattern: bits & 0x007F_FFFF) &- 0x0040_0000
    }

    /// C's float-to-int conversion (truncation toward zero) for values in Int32's range; NaN
    /// gives 0 and out-of-range values saturate (undefined in C, a trap in Swift).
    @inline(always) static func truncInt(_ x: Float) -> Int32 {
        if x.isNaN { return 0 }
        if x >= 2_147_483_520 { return Int32.max }
        if x <= -2_147_483_648 { return Int32.min }
        return Int32(x)
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) in the 12 packed bytes of Q4_K / Q5_K.
    @inline(always) static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (byte(q, j) & 63, byte(q, j + 4) & 63)
        }
        let s = (byte(q, j + 4) & 0xF) | ((byte(q, j - 4) >> 6) << 4)
        let m = (byte(q, j + 4) >> 4) | ((byte(q, j) >> 6) << 4)
        return (s, m)
    }
}
