/// Block quantisers for the 32-value formats, following ggml's reference `quantize_row_*_ref`
/// operation for operation, so that the bytes they write are ggml's (and gguf-py's).
enum Quantize {
    /// The first value of largest magnitude (ggml keeps the first on ties) and that magnitude.
    @inline(always) static func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var amax: Float = 0, max: Float = 0
        for j in 0..<n where amax < abs(x[j]) {
            amax = abs(x[j])
            max = x[j]
        }
        return max
    }

    @inline(always) static func minMax(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0..<n {
            if x[j] < lo { lo = x[j] }
            if x[j] > hi { hi = x[j] }
        }
        return (lo, hi)
    }

    static func q4_0(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let d = signedAbsMax(x, 32) / -8
        let id: Float = d != 0 ? 1 / d : 0
        QBits.storeF16(d, b, 0)
        for j in 0..<16 {
            let q0 = min(15, QBits.truncInt(x[j] * id + 8.5))
            let q1 = min(15, QBits.truncInt(x[j + 16] * id + 8.5))
            b.storeBytes(
                of: UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4,
                toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    static func q4_1(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let (lo, hi) = minMax(x, 32)
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        QBits.storeF16(d, b, 0)
        QBits.storeF16(lo, b, 2)
        for j in 0..<16 {
            let q0 = min(15, QBits.truncInt((x[j] - lo) * id + 0.5))
            let q1 = min(15, QBits.truncInt((x[j + 16] - lo) * id + 0.5))
            b.storeBytes(
                of: UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4,
                toByteOffset: 4 + j, as: UInt8.self)
        }
    }

    static func q5_0(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let d = signedAbsMax(x, 32) / -16
        let id: Float = d != 0 ? 1 / d : 0
        QBits.storeF16(d, b, 0)
        var qh: UInt32 = 0
        for j in 0..<16 {
            let q0 = UInt32(truncatingIfNeeded: min(31, QBits.truncInt(x[j] * id + 16.5)))
            let q1 = UInt32(truncatingIfNeeded: min(31, QBits.truncInt(x[j + 16] * id + 16.5)))
            b.storeBytes(
                of: UInt8(truncatingIfNeeded: (q0 & 0xF) | ((q1 & 0xF) << 4)),
                toByteOffset: 6 + j, as: UInt8.self)
            qh |= ((q0 & 0x10) >> 4) << UInt32(j)
            qh |= ((q1 & 0x10) >> 4) << UInt32(j + 16)
        }
        b.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
    }

    static func q5_1(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let (lo, hi) = minMax(x, 32)
        let d = (hi - lo) / 31
        let id: Float = d != 0 ? 1 / d : 0
        QBits.storeF16(d, b, 0)
        QBits.storeF16(lo, b, 2)
        var qh: UInt32 = 0
        for j in 0..<16 {
            // ggml converts straight to uint8 here (no clamp); values stay below 32 for finite input.
            let q0 = UInt32(truncatingIfNeeded: QBits.truncInt((x[j] - lo) * id + 0.5)) & 0xFF
            let q1 = UInt32(truncatingIfNeeded: QBits.truncInt((x[j + 16] - lo) * id + 0.5)) & 0xFF
            b.storeBytes(
                of: UInt8(truncatingIfNeeded: (q0 & 0xF) | ((q1 & 0xF) << 4)),
                toByteOffset: 8 + j, as: UInt8.self)
            qh |= ((q0 & 0x10) >> 4) << UInt32(j)
            qh |= ((q1 & 0x10) >> 4) << UInt32(j + 16)
        }
        b.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    static func q8_0(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        QBits.storeF16(d, b, 0)
        for j in 0..<32 {
            // roundf: to nearest, ties away from zero.
            let q = QBits.truncInt((x[j] * id).rounded(.toNearestOrAwayFromZero))
            b.storeBytes(of: UInt8(truncatingIfNeeded: q), toByteOffset: 2 + j, as: UInt8.self)
        }
    }
}
