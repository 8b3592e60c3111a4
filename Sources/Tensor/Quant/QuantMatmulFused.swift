#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel
#endif

/// The fused kernel for a few activation rows (m <= 8) with weights whose values are, per
/// 32-value (sub-)block, `d * q + c` with small integer levels q: Q4_0 (c = -8d), Q4_1 (c = m),
/// Q5_0 (c = -16d), Q5_1, Q8_0 (c = 0), Q4_K and Q5_K (per sub-block d = d * scale,
/// c = -dmin * min) and Q6_K (levels q - 32, c = 0, two scales per 32 values).
///
/// A row's dot product with activations x is `sum over blocks of d * dot(x_b, q_b) + c * sum(x_b)`.
/// Per block the kernel unpacks the levels into four 8-float registers (AVX2: bytes widened
/// straight from memory, nibbles and bits taken apart in 32-bit lanes, converted to f32 exactly),
/// dots them with the f32 activations of each of the m rows, and applies d once per block; the
/// c terms are kept per block and dotted with the activations' block sums (computed once per
/// call) at the end of the row. Activations are never rounded; the result differs from
/// dequantise-then-GEMM only by f32 rounding (the scale is applied to the block's dot product).
///
/// Each W row is unpacked once per call and used for all m activation rows (one accumulator per
/// activation row in registers); with m = 1, four W rows run side by side so that four independent
/// accumulator chains keep the FMA units busy. Every element is computed by the same operations
/// in the same order whatever m, the W rows next to it, the task or the thread count.
///
/// Measurements: see `QuantMatmul`. Per 32-value block and W row, m = 1 with Q4_1 runs about 24
/// instructions on AVX2 (2 byte widenings, 4 masks/shifts, 4 conversions, 6 FMA/mul, the f16
/// scales) and 7 on AVX-512 (QuantMatmulFusedWide.swift); each extra activation row adds 6 (AVX2)
/// or 3 (AVX-512) FMA/mul with their loads folded in.
/// The K-quant formats at m = 1 are no faster than decoding rows (scalar scale unpacking per
/// sub-block); they gain at m >= 2.
struct Levels {
    /// Levels of values 0-7, 8-15, 16-23, 24-31 of the sub-block.
    var q0, q1, q2, q3: SIMD8<Float>
}

protocol FusedFormat {
    /// The block type (its sizes come from `DType.traits`).
    static var dtype: DType { get }
    /// Whether c can be nonzero (else the c terms are skipped).
    static var hasOffset: Bool { get }
    /// Whether values 0-15 and 16-31 of a sub-block have separate scales (Q6_K).
    static var twoScales: Bool { get }
    /// Sub-block `u`'s levels, the scales of its values 0-15 and 16-31 and c.
    static func levels(_ b: UnsafeRawPointer, _ u: Int) -> (Levels, Float, Float, Float)
    #if arch(x86_64) && GRM_AVX512
    /// Sub-block `u`'s levels of values 0-15 and of values 16-31 in two 16-float registers, its
    /// scale and c (single-scale formats; QuantMatmulFusedWide.swift).
    static func levels16(_ b: UnsafeRawPointer, _ u: Int) -> (SIMD16<Float>, SIMD16<Float>, Float, Float)
    #endif
}

#if arch(x86_64) && GRM_AVX2
extension Levels {
    @inline(always) init(_ l: (__m256i, __m256i, __m256i, __m256i)) {
        self.init(q0: AVX2Q.float(l.0), q1: AVX2Q.float(l.1), q2: AVX2Q.float(l.2), q3: AVX2Q.float(l.3))
    }
}
#else
extension Levels {
    /// Portable: level of value e (0..<32) from `level(e)`.
    @inline(always) init(_ level: (Int) -> Int32) {
        var v = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        for l in 0..<8 {
            v.0[l] = Float(level(l))
            v.1[l] = Float(level(8 + l))
            v.2[l] = Float(level(16 + l))
            v.3[l] = Float(level(24 + l))
        }
        self.init(q0: v.0, q1: v.1, q2: v.2, q3: v.3)
    }

    /// Nibble levels of 16 bytes (low nibbles first).
    @inline(always) static func nibbles(_ qs: UnsafeRawPointer) -> Levels {
        Levels { e in Int32(e < 16 ? QBits.byte(qs, e) & 0xF : QBits.byte(qs, e - 16) >> 4) }
    }

    @inline(always) static func q5(_ qh: UInt32, _ qs: UnsafeRawPointer) -> Levels {
        Levels { e in
            let n = e < 16 ? QBits.byte(qs, e) & 0xF : QBits.byte(qs, e - 16) >> 4
            return Int32(n) | Int32(bitPattern: ((qh >> UInt32(e)) & 1) << 4)
        }
    }
}
#endif

extension FusedFormat {
    @inline(__always) static var blockBytes: Int { dtype.blockBytes }
    /// 32-value sub-blocks per storage block.
    @inline(__always) static var subBlocks: Int { dtype.blockElements / 32 }
}

enum Q4_0Format: FusedFormat {
    static var dtype: DType { .q4_0 }
    static var hasOffset: Bool { true }
    static var twoScales: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _: Int) -> (Levels, Float, Float, Float) {
        let d = QBits.f16(b, 0)
        #if arch(x86_64) && GRM_AVX2
        let l = Levels(AVX2Q.nibbles(b + 2))
        #else
        let l = Levels.nibbles(b + 2)
        #endif
        return (l, d, d, -8 * d)
    }
}

enum Q4_1Format: FusedFormat {
    static var dtype: DType { .q4_1 }
    static var hasOffset: Bool { true }
    static var twoScales: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _: Int) -> (Levels, Float, Float, Float) {
        #if arch(x86_64) && GRM_AVX2
        let (d, m) = AVX2Q.f16Pair(b)
        return (Levels(AVX2Q.nibbles(b + 4)), d, d, m)
        #else
        let d = QBits.f16(b, 0)
        return (Levels.nibbles(b + 4), d, d, QBits.f16(b, 2))
        #endif
    }
}

enum Q5_0Format: FusedFormat {
    static var dtype: DType { .q5_0 }
    static var hasOffset: Bool { true }
    static var twoScales: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _: Int) -> (Levels, Float, Float, Float) {
        let d = QBits.f16(b, 0)
        #if arch(x86_64) && GRM_AVX2
        let l = Levels(AVX2Q.q5Levels(QBits.u32(b, 2), b + 6))
        #else
        let l = Levels.q5(QBits.u32(b, 2), b + 6)
        #endif
        return (l, d, d, -16 * d)
    }
}

enum Q5_1Format: FusedFormat {
    static var dtype: DType { .q5_1 }
    static var hasOffset: Bool { true }
    static var twoScales: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _: Int) -> (Levels, Float, Float, Float) {
        #if arch(x86_64) && GRM_AVX2
        let (d, m) = AVX2Q.f16Pair(b)
        return (Levels(AVX2Q.q5Levels(QBits.u32(b, 4), b + 8)), d, d, m)
        #else
        let d = QBits.f16(b, 0)
        return (Levels.q5(QBits.u32(b, 4), b + 8), d, d, QBits.f16(b, 2))
        #endif
    }
}

enum Q8_0Format: FusedFormat {
    static var dtype: DType { .q8_0 }
    static var hasOffset: Bool { false }
    static var twoScales: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _: Int) -> (Levels, Float, Float, Float) {
        let d = QBits.f16(b, 0)
        #if arch(x86_64) && GRM_AVX2
        let l = Levels((AVX2Q.s8(b + 2), AVX2Q.s8(b + 10), AVX2Q.s8(b + 18), AVX2Q.s8(b + 26)))
        #else
        let l = Levels { e in Int32(Int8(bitPattern: QBits.byte(b, 2 + e))) }
        #endif
        return (l, d, d, 0)
    }
}

/// Q4_K: sub-block u = 2c (+1) is the low (high) nibbles of qs[32c..<32c+32].
enum Q4_KFormat: FusedFormat {
    static var dtype: DType { .q4_K }
    static var hasOffset: Bool { true }
    static var twoScales: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _ u: Int) -> (Levels, Float, Float, Float) {
        let (s, m) = QBits.scaleMinK4(u, b + 4)
        let d = QBits.f16(b, 0) * Float(s), c = -(QBits.f16(b, 2) * Float(m))
        let q = b + 16 + 32 * (u >> 1), shift = 4 * (u & 1)
        #if arch(x86_64) && GRM_AVX2
        let m15 = AVX2Q.k(15)
        let l = Levels(
            (
                AVX2Q.and(AVX2Q.shr(AVX2Q.u8(q), shift), m15), AVX2Q.and(AVX2Q.shr(AVX2Q.u8(q + 8), shift), m15),
                AVX2Q.and(AVX2Q.shr(AVX2Q.u8(q + 16), shift), m15), AVX2Q.and(AVX2Q.shr(AVX2Q.u8(q + 24), shift), m15)
            ))
        #else
        let l = Levels { e in Int32((QBits.byte(q, e) >> UInt8(shift)) & 0xF) }
        #endif
        return (l, d, d, c)
    }
}

/// Q5_K: Q4_K's nibbles plus bit u of qh[l] as bit 4.
enum Q5_KFormat: FusedFormat {
    static var dtype: DType { .q5_K }
    static var hasOffset: Bool { true }
    static var twoScales: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _ u: Int) -> (Levels, Float, Float, Float) {
        let (s, m) = QBits.scaleMinK4(u, b + 4)
        let d = QBits.f16(b, 0) * Float(s), c = -(QBits.f16(b, 2) * Float(m))
        let q = b + 48 + 32 * (u >> 1), qh = b + 16, shift = 4 * (u & 1)
        #if arch(x86_64) && GRM_AVX2
        let l = Levels(
            (
                group(q, qh, 0, shift, u), group(q, qh, 8, shift, u),
                group(q, qh, 16, shift, u), group(q, qh, 24, shift, u)
            ))
        #else
        let l = Levels { e in
            Int32((QBits.byte(q, e) >> UInt8(shift)) & 0xF) | Int32(((QBits.byte(qh, e) >> UInt8(u)) & 1) << 4)
        }
        #endif
        return (l, d, d, c)
    }

    #if arch(x86_64) && GRM_AVX2
    /// Levels of values o..<o+8: nibble (shifted by `shift`) | bit `bit` of qh[l] as bit 4.
    @inline(always) static func group(
        _ q: UnsafeRawPointer, _ qh: UnsafeRawPointer, _ o: Int,
        _ shift: Int, _ bit: Int
    ) -> __m256i {
        AVX2Q.or(
            AVX2Q.and(AVX2Q.shr(AVX2Q.u8(q + o), shift), AVX2Q.k(15)),
            AVX2Q.shl(AVX2Q.and(AVX2Q.shr(AVX2Q.u8(qh + o), bit), AVX2Q.k(1)), 4))
    }
    #endif
}

/// Q6_K: sub-block u = 4h + k holds values 128h + 32k + l; levels q - 32; scales per 16 values.
enum Q6_KFormat: FusedFormat {
    static var dtype: DType { .q6_K }
    static var hasOffset: Bool { false }
    static var twoScales: Bool { true }
    @inline(always) static func levels(_ b: UnsafeRawPointer, _ u: Int) -> (Levels, Float, Float, Float) {
        let h = u >> 2, kq = u & 3
        let d = QBits.f16(b, 208)
        let sc = (b + 192 + 8 * h + 2 * kq).assumingMemoryBound(to: Int8.self)
        let ql = b + 64 * h + 32 * (kq & 1), qh = b + 128 + 32 * h
        let nshift = 4 * (kq >> 1), hshift = 2 * kq
        #if arch(x86_64) && GRM_AVX2
        let l = Levels(
            (
                group(ql, qh, 0, nshift, hshift), group(ql, qh, 8, nshift, hshift),
                group(ql, qh, 16, nshift, hshift), group(ql, qh, 24, nshift, hshift)
            ))
        #else
        let l = Levels { e in
            Int32(((QBits.byte(ql, e) >> UInt8(nshift)) & 0xF) | (((QBits.byte(qh, e) >> UInt8(hshift)) & 3) << 4)) - 32
        }
        #endif
        return (l, d * Float(sc[0]), d * Float(sc[1]), 0)
    }

    #if arch(x86_64) && GRM_AVX2
    /// Levels of values o..<o+8: (nibble | two bits of qh[l] as bits 4-5) - 32.
    @inline(always) static func group(
        _ ql: UnsafeRawPointer, _ qh: UnsafeRawPointer, _ o: Int,
        _ nshift: Int, _ hshift: Int
    ) -> __m256i {
        AVX2Q.sub(
            AVX2Q.or(
                AVX2Q.and(AVX2Q.shr(AVX2Q.u8(ql + o), nshift), AVX2Q.k(15)),
                AVX2Q.shl(AVX2Q.and(AVX2Q.shr(AVX2Q.u8(qh + o), hshift), AVX2Q.k(3)), 4)), AVX2Q.k(32))
    }
    #endif
}

/// Activation rows a fused kernel instance handles at once (a compile-time count after specialisation).
protocol FusedRows { static var count: Int { get } }
enum FusedRows1: FusedRows { static var count: Int { 1 } }
enum FusedRows2: FusedRows { static var count: Int { 2 } }
enum FusedRows3: FusedRows { static var count: Int { 3 } }
enum FusedRows4: FusedRows { static var count: Int { 4 } }
enum FusedRows5: FusedRows { static var count: Int { 5 } }
enum FusedRows6: FusedRows { static var count: Int { 6 } }
enum FusedRows7: FusedRows { static var count: Int { 7 } }
enum FusedRows8: FusedRows { static var count: Int { 8 } }
