#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel

/// AVX2 block decoders: the same integer levels and the same float operations, in the same
/// order, as ggml's reference dequantisers (`Dequant`), eight values per instruction, so bit for
/// bit the reference (each value is one int-to-float conversion, one multiply and at most one
/// add or subtract, never fused). Also the levels of a 32-value (sub-)block for the fused kernels
/// (QuantMatmulFused.swift). Built when Package.swift defines GRM_AVX2 (the build machine has
/// AVX2, FMA and F16C); `Decode`'s portable loops are used otherwise.
///
/// Bytes are widened with `vpmovzxbd`/`vpmovsxbd` straight from memory (eight bytes to eight
/// 32-bit lanes), so nibbles and bit fields are taken apart in 32-bit lanes with shifts and masks.
enum AVX2Q {
    typealias I = __m256i
    typealias F = SIMD8<Float>

    // MARK: Lane helpers

    /// Bytes p[0..<8] zero-extended to 32-bit lanes.
    @inline(always) static func u8(_ p: UnsafeRawPointer) -> I {
        _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(p.loadUnaligned(as: Int64.self)))
    }
    /// Bytes p[0..<8] sign-extended to 32-bit lanes.
    @inline(always) static func s8(_ p: UnsafeRawPointer) -> I {
        _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(p.loadUnaligned(as: Int64.self)))
    }
    @inline(always) static func k(_ v: Int32) -> I { _mm256_set1_epi32(v) }
    /// The f16 values at p and p + 2 (a block's d and m), converted together: one 32-bit load and
    /// one `vcvtph2ps` instead of two of each (the same values as `QBits.f16`).
    @inline(always) static func f16Pair(_ p: UnsafeRawPointer) -> (Float, Float) {
        let v = unsafeBitCast(
            _mm_cvtph_ps(_mm_cvtsi32_si128(Int32(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))))),
            to: SIMD4<Float>.self)
        return (v[0], v[1])
    }
    @inline(always) static func and(_ a: I, _ b: I) -> I { _mm256_and_si256(a, b) }
    @inline(always) static func or(_ a: I, _ b: I) -> I { _mm256_or_si256(a, b) }
    @inline(always) static func xor(_ a: I, _ b: I) -> I { _mm256_xor_si256(a, b) }
    @inline(always) static func sub(_ a: I, _ b: I) -> I { _mm256_sub_epi32(a, b) }
    @inline(always) static func shr(_ a: I, _ n: Int) -> I { _mm256_srli_epi32(a, Int32(n)) }
    @inline(always) static func shl(_ a: I, _ n: Int) -> I { _mm256_slli_epi32(a, Int32(n)) }
    @inline(always) static func float(_ a: I) -> F { _mm256_cvtepi32_ps(a) }
    @inline(always) static func splat(_ x: Float) -> F { _mm256_set1_ps(x) }
    @inline(always) static func mul(_ a: F, _ b: F) -> F { _mm256_mul_ps(a, b) }
    @inline(always) static func add(_ a: F, _ b: F) -> F { _mm256_add_ps(a, b) }
    @inline(always) static func subf(_ a: F, _ b: F) -> F { _mm256_sub_ps(a, b) }
    @inline(always) static func store(_ y: UnsafeMutablePointer<Float>, _ v: F) { _mm256_storeu_ps(y, v) }
    /// a * b + c, one rounding (`vfmadd`): what `c.addingProduct(a, b)` means. Hot loops call this
    /// rather than `addingProduct`, whose lane-by-lane definition an AVX-512 build's vectoriser
    /// split into scalar FMAs, extracts and blends (2.5x the instructions of the exact kernels).
    @inline(always) static func fma(_ a: F, _ b: F, _ c: F) -> F { _mm256_fmadd_ps(a, b, c) }

    /// Bit 4 of values e0..<e0+8 of a Q5_0/Q5_1 block: bit e of `qh`, as 0 or 16.
    @inline(always) static func q5High(_ qh: UInt32, _ e0: Int32) -> I {
        let shifts = _mm256_setr_epi32(e0, e0 + 1, e0 + 2, e0 + 3, e0 + 4, e0 + 5, e0 + 6, e0 + 7)
        return shl(and(_mm256_srlv_epi32(k(Int32(bitPattern: qh)), shifts), k(1)), 4)
    }

    // MARK: 32-value types: the levels (q as in value = d q + c), in value order

    /// Q4_0/Q4_1 levels 0..15 from 16 nibble bytes: (values 0-7, 8-15, 16-23, 24-31).
    @inline(always) static func nibbles(_ qs: UnsafeRawPointer) -> (I, I, I, I) {
        let a = u8(qs), b = u8(qs + 8), m = k(15)
        return (and(a, m), and(b, m), shr(a, 4), shr(b, 4))
    }

    @inline(always) static func q5Levels(_ qh: UInt32, _ qs: UnsafeRawPointer) -> (I, I, I, I) {
        let (l0, l1, l2, l3) = nibbles(qs)
        return (or(l0, q5High(qh, 0)), or(l1, q5High(qh, 8)), or(l2, q5High(qh, 16)), or(l3, q5High(qh, 24)))
    }

    // MARK: Bit-exact block decoders

    /// (q - bias) d for four groups of eight levels.
    @inline(always) static func storeScaled(_ y: UnsafeMutablePointer<Float>, _ l: (I, I, I, I), bias: Int32, _ d: Float) {
        let vd = splat(d), b = k(bias)
        store(y, mul(float(sub(l.0, b)), vd))
        store(y + 8, mul(float(sub(l.1, b)), vd))
        store(y + 16, mul(float(sub(l.2, b)), vd))
        store(y + 24, mul(float(sub(l.3, b)), vd))
    }

    /// q d + m (the product rounded, then the sum) for four groups of eight levels.
    @inline(always) static func storeAffine(_ y: UnsafeMutablePointer<Float>, _ l: (I, I, I, I), _ d: Float, _ m: Float) {
        let vd = splat(d), vm = splat(m)
        store(y, add(mul(float(l.0), vd), vm))
        store(y + 8, add(mul(float(l.1), vd), vm))
        store(y + 16, add(mul(float(l.2), vd), vm))
        store(y + 24, add(mul(float(l.3), vd), vm))
    }

    @inline(always) static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        storeScaled(y, nibbles(b + 2), bias: 8, QBits.f16(b, 0))
    }

    @inline(always) static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        storeAffine(y, nibbles(b + 4), QBits.f16(b, 0), QBits.f16(b, 2))
    }

    @inline(always) static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        storeScaled(y, q5Levels(QBits.u32(b, 2), b + 6), bias: 16, QBits.f16(b, 0))
    }

    @inline(always) static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        storeAffine(y, q5Levels(QBits.u32(b, 4), b + 8), QBits.f16(b, 0), QBits.f16(b, 2))
    }

    @inline(always) static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let vd = splat(QBits.f16(b, 0))
        for g in 0..<4 { store(y + 8 * g, mul(float(s8(b + 2 + 8 * g)), vd)) }
    }

    /// d_s q - m_s: `Dequant.q4_K`'s `d0 * Float(q) - dm0`.
    @inline(always) static func scaleSub(_ y: UnsafeMutablePointer<Float>, _ q: I, _ d: F, _ m: F) {
        store(y, subf(mul(d, float(q)), m))
    }

    @inline(always) static func q4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), dmin = QBits.f16(b, 2)
        let sc = b + 4, m15 = k(15)
        for c in 0..<4 {
            let (s0, m0) = QBits.scaleMinK4(2 * c, sc)
            let (s1, m1) = QBits.scaleMinK4(2 * c + 1, sc)
            let d0 = splat(d * Float(s0)), dm0 = splat(dmin * Float(m0))
            let d1 = splat(d * Float(s1)), dm1 = splat(dmin * Float(m1))
            let q = b + 16 + 32 * c, out = y + 64 * c
            for g in 0..<4 {
                let v = u8(q + 8 * g)
                scaleSub(out + 8 * g, and(v, m15), d0, dm0)
                scaleSub(out + 32 + 8 * g, shr(v, 4), d1, dm1)
            }
        }
    }

    @inline(always) static func q5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), dmin = QBits.f16(b, 2)
        let sc = b + 4, qh = b + 16, m15 = k(15), one = k(1)
        for c in 0..<4 {
            let (s0, m0) = QBits.scaleMinK4(2 * c, sc)
            let (s1, m1) = QBits.scaleMinK4(2 * c + 1, sc)
            let d0 = splat(d * Float(s0)), dm0 = splat(dmin * Float(m0))
            let d1 = splat(d * Float(s1)), dm1 = splat(dmin * Float(m1))
            let q = b + 48 + 32 * c, out = y + 64 * c
            for g in 0..<4 {
                let v = u8(q + 8 * g), h = u8(qh + 8 * g)
                let lo = or(and(v, m15), shl(and(shr(h, 2 * c), one), 4))
                let hi = or(shr(v, 4), shl(and(shr(h, 2 * c + 1), one), 4))
                scaleSub(out + 8 * g, lo, d0, dm0)
                scaleSub(out + 32 + 8 * g, hi, d1, dm1)
            }
        }
    }

    @inline(always) static func q6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 208)
        let scales = (b + 192).assumingMemoryBound(to: Int8.self)
        let m15 = k(15), m3 = k(3), bias = k(32)
        for h in 0..<2 {
            let ql = b + 64 * h, qh = b + 128 + 32 * h, out = y + 128 * h
            for g in 0..<4 {
                let s = scales + 8 * h + g / 2, l = 8 * g
                let a = u8(ql + l), c = u8(ql + 32 + l), hb = u8(qh + l)
                let q0 = sub(or(and(a, m15), shl(and(hb, m3), 4)), bias)
                let q1 = sub(or(and(c, m15), shl(and(shr(hb, 2), m3), 4)), bias)
                let q2 = sub(or(shr(a, 4), shl(and(shr(hb, 4), m3), 4)), bias)
                let q3 = sub(or(shr(c, 4), shl(shr(hb, 6), 4)), bias)
                store(out + l, mul(splat(d * Float(s[0])), float(q0)))
                store(out + l + 32, mul(splat(d * Float(s[2])), float(q1)))
                store(out + l + 64, mul(splat(d * Float(s[4])), float(q2)))
                store(out + l + 96, mul(splat(d * Float(s[6])), float(q3)))
            }
        }
    }

    @inline(always) static func q2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 80), dmin = QBits.f16(b, 82)
        let sc = b.assumingMemoryBound(to: UInt8.self)
        let m3 = k(3)
        for h in 0..<2 {
            for s in 0..<4 {
                for half in 0..<2 {
                    let e0 = 128 * h + 32 * s + 16 * half
                    let scv = sc[e0 / 16]
                    let dl = splat(d * Float(scv & 0xF)), ml = splat(dmin * Float(scv >> 4))
                    let src = b + 16 + 32 * h + 16 * half
                    for g in 0..<2 {
                        scaleSub(y + e0 + 8 * g, and(shr(u8(src + 8 * g), 2 * s), m3), dl, ml)
                    }
                }
            }
        }
    }

    @inline(always) static func q3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 108)
        let m3 = k(3), one = k(1)
        for h in 0..<2 {
            for s in 0..<4 {
                let bit = 4 * h + s
                for half in 0..<2 {
                    let e0 = 128 * h + 32 * s + 16 * half
                    let dl = splat(d * Float(Dequant.q3Scale(b, e0 / 16)))
                    let src = b + 32 + 32 * h + 16 * half, mask = b + 16 * half
                    for g in 0..<2 {
                        let low = and(shr(u8(src + 8 * g), 2 * s), m3)
                        let high = shl(xor(and(shr(u8(mask + 8 * g), bit), one), one), 2)
                        store(y + e0 + 8 * g, mul(dl, float(sub(low, high))))
                    }
                }
            }
        }
    }
}
#endif
