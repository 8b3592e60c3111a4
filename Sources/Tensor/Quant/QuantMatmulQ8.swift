import Foundation
#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel
#endif

/// The optional int8-activation path (`QuantMatmul.activationMode = .q8`) for the fused products
/// (up to 16 rows, in calls of at most 8) with
/// Q4_0, Q4_1 or Q8_0 weights, with llama.cpp's arithmetic: each 32-value block of an activation
/// row is rounded to int8 levels as ggml's `quantize_row_q8_1` does (d_x = max |x| / 127 kept as
/// f16, levels round(x * 127 / max |x|) to nearest even, s = d_x * sum(levels) kept as f16), and a
/// block's dot product is an exact integer dot product of the weight levels with them
/// (`vpmaddubsw` + `vpmaddwd`), scaled by d_w * d_x; Q4_1's offsets add m_w * s per block, Q4_0's
/// levels are nibble - 8 (ggml's q4_0 x q8_0). Activations are rounded (at most d_x / 2 per value,
/// about 0.4% of a block's largest |x|) and d_x and s carry f16's relative error (2^-11), so per
/// block results differ from the exact path by at most about max|x| / 254 * sum |w| plus 0.05%
/// of sum |x w| (the bound the tests check, with margin). Off by
/// default. Each element is computed the same way whatever m, the thread count or the W rows next
/// to it. Needs AVX2; elsewhere `.q8` falls back to the exact kernels.
extension QuantMatmul {
    public enum ActivationMode: Sendable {
        /// f32 activations, never rounded (the default).
        case exact
        /// Activations rounded to int8 per 32-value block (Q4_0, Q4_1, Q8_0 weights, fused products).
        case q8
    }

    /// How the fused products (up to 16 rows) with Q4_0, Q4_1 or Q8_0 weights treat the activations.
    /// `GRM_QMM_ACT=q8` sets `.q8` from the start (for benchmarks).
    nonisolated(unsafe) public static var activationMode: ActivationMode =
        ProcessInfo.processInfo.environment["GRM_QMM_ACT"] == "q8" ? .q8 : .exact

    static func hasQ8Kernel(_ type: DType) -> Bool {
#if arch(x86_64) && GRM_AVX2
        return type == .q4_0 || type == .q4_1 || type == .q8_0
#else
        return false
#endif
    }

#if arch(x86_64) && GRM_AVX2
    /// `y = x * W^T` for one call of m <= 8 rows, activations rounded to int8 per block.
    static func q8Linear(_ type: DType, m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
                         w: UnsafeRawPointer, y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(m >= 1 && m <= 8 && hasQ8Kernel(type), "q8Linear: \(type) m = \(m)")
        let nb = k / 32
        // Per row: k int8 levels, then per block the scale d_x and s = d_x * sum of levels (both
        // rounded through f16, as ggml's block_q8_1 stores them).
        let levelBytes = (k + 63) / 64 * 64
        let scratch = Workspace.shared.acquire(floats: m * (levelBytes / 4 + 2 * nb) + 16)
        defer { Workspace.shared.release(scratch) }
        let qx = UnsafeMutableRawPointer(scratch.floats).assumingMemoryBound(to: Int8.self)
        let dx = scratch.floats + m * levelBytes / 4, sx = dx + m * nb
        for i in 0..<m {
            for b in 0..<nb {
                quantizeBlock(x + i * ldx + 32 * b, qx + i * levelBytes + 32 * b, &dx[i * nb + b], &sx[i * nb + b])
            }
        }
        let args = Q8Args(m: m, nb: nb, qx: UnsafePointer(qx), ldq: levelBytes, dx: UnsafePointer(dx),
                          sx: UnsafePointer(sx), w: w, rowBytes: type.byteCount(elements: k), y: y, ldy: ldy)
        forRowRanges(n: n, k: k, unit: 4) { j0, j1 in
            switch type {
            case .q4_0: q8Task(Q8WQ4_0.self, args, j0, j1)
            case .q4_1: q8Task(Q8WQ4_1.self, args, j0, j1)
            default: q8Task(Q8WQ8_0.self, args, j0, j1)
            }
        }
    }

    /// ggml's `quantize_row_q8_1` for one block of 32: d = max|x| / 127 (stored as f16), levels
    /// round(x * 127 / max|x|) to nearest even, s = d * sum(levels) (stored as f16).
    @inline(always)
    static func quantizeBlock(_ x: UnsafePointer<Float>, _ q: UnsafeMutablePointer<Int8>,
                              _ d: inout Float, _ s: inout Float) {
        var amax: Float = 0
        for l in 0..<32 { amax = max(amax, abs(x[l])) }
        let scale = amax / 127, id: Float = amax != 0 ? 127 / amax : 0
        var sum: Int32 = 0
        for l in 0..<32 {
            let v = QBits.nearestInt(x[l] * id)
            q[l] = Int8(truncatingIfNeeded: v)
            sum &+= v
        }
        d = QBits.roundTripF16(scale)
        s = QBits.roundTripF16(scale * Float(sum))
    }

    struct Q8Args {
        let m: Int, nb: Int
        let qx: UnsafePointer<Int8>, ldq: Int
        let dx: UnsafePointer<Float>, sx: UnsafePointer<Float>
        let w: UnsafeRawPointer, rowBytes: Int
        let y: UnsafeMutablePointer<Float>, ldy: Int
    }

    static func q8Task<F: Q8Weights>(_ f: F.Type, _ a: Q8Args, _ j0: Int, _ j1: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * a.nb + 8) { buf in
            let cs = buf.baseAddress!
            var j = j0
            if a.m == 1 {
                q8Vec4(f, a, j0, j1, cs)
                j = j0 + (j1 - j0) / 4 * 4
            }
            while j < j1 {
                let wr = a.w + j * a.rowBytes
                prefetchRowAhead(wr, rowBytes: a.rowBytes, j: j, j1: j1)
                var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
                           SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                switch a.m {
                case 1: q8Row(f, 1, a, wr, &acc, cs)
                case 2: q8Row(f, 2, a, wr, &acc, cs)
                case 3: q8Row(f, 3, a, wr, &acc, cs)
                case 4: q8Row(f, 4, a, wr, &acc, cs)
                case 5: q8Row(f, 5, a, wr, &acc, cs)
                case 6: q8Row(f, 6, a, wr, &acc, cs)
                case 7: q8Row(f, 7, a, wr, &acc, cs)
                default: q8Row(f, 8, a, wr, &acc, cs)
                }
                withUnsafeBytes(of: &acc) { raw in
                    let v = raw.baseAddress!.assumingMemoryBound(to: SIMD8<Float>.self)
                    for i in 0..<a.m {
                        a.y[i * a.ldy + j] = q8Finish(f, v[i], cs, a.sx + i * a.nb, a.nb)
                    }
                }
                j += 1
            }
        }
    }

    /// An element from its accumulator: lanes summed pairwise, plus sum_b c_b * s_b (offset types).
    @inline(always) static func q8Finish<F: Q8Weights>(_: F.Type, _ acc: SIMD8<Float>, _ c: UnsafePointer<Float>,
                                                       _ s: UnsafePointer<Float>, _ nb: Int) -> Float {
        finish(acc, hasOffset: F.hasOffset, c, s, nb)
    }

    /// A block's integer dot product of weight levels `wq` and activation levels `xq`, as 8 floats.
    @inline(always) static func q8Dot<F: Q8Weights>(_: F.Type, _ wq: __m256i, _ xq: __m256i) -> SIMD8<Float> {
        let p = F.signed ? _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq))
                         : _mm256_maddubs_epi16(wq, xq)
        return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)))
    }

    /// m = 1: four W rows at a time (the activation levels loaded once per block for all four),
    /// prefetching ahead as the exact kernels do. Per element the arithmetic is `q8Row`'s.
    @inline(never)
    static func q8Vec4<F: Q8Weights>(_ f: F.Type, _ a: Q8Args, _ j0: Int, _ j1: Int, _ cs: UnsafeMutablePointer<Float>) {
        let nb = a.nb, rowBytes = a.rowBytes
        let c0 = cs, c1 = cs + nb, c2 = cs + 2 * nb, c3 = cs + 3 * nb
        var j = j0
        while j + 4 <= j1 {
            let w0 = a.w + j * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            prefetchGroupAhead(w0, rowBytes: rowBytes, j: j, j1: j1)
            var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
            for b in 0..<nb {
                let xq = UnsafeRawPointer(a.qx + 32 * b).loadUnaligned(as: __m256i.self)
                let dx = a.dx[b], o = b * F.blockBytes
                let (q0, d0, e0) = F.levels(w0 + o)
                a0 = a0.addingProduct(q8Dot(f, q0, xq), SIMD8(repeating: d0 * dx))
                let (q1, d1, e1) = F.levels(w1 + o)
                a1 = a1.addingProduct(q8Dot(f, q1, xq), SIMD8(repeating: d1 * dx))
                let (q2, d2, e2) = F.levels(w2 + o)
                a2 = a2.addingProduct(q8Dot(f, q2, xq), SIMD8(repeating: d2 * dx))
                let (q3, d3, e3) = F.levels(w3 + o)
                a3 = a3.addingProduct(q8Dot(f, q3, xq), SIMD8(repeating: d3 * dx))
                if F.hasOffset { c0[b] = e0; c1[b] = e1; c2[b] = e2; c3[b] = e3 }
            }
            a.y[j] = q8Finish(f, a0, c0, a.sx, nb)
            a.y[j + 1] = q8Finish(f, a1, c1, a.sx, nb)
            a.y[j + 2] = q8Finish(f, a2, c2, a.sx, nb)
            a.y[j + 3] = q8Finish(f, a3, c3, a.sx, nb)
            j += 4
        }
    }

    typealias Acc8 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>,
                      SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// One W row against `rows` activation rows: per block, acc_i = fma(float(idot_i), d_w * d_x_i, acc_i).
    @inline(always)
    static func q8Row<F: Q8Weights>(_ f: F.Type, _ rows: Int, _ a: Q8Args, _ wr: UnsafeRawPointer,
                                    _ acc: inout Acc8, _ cs: UnsafeMutablePointer<Float>) {
        for b in 0..<a.nb {
            let (wq, d, c) = F.levels(wr + b * F.blockBytes)
            if F.hasOffset { cs[b] = c }
            func step(_ acc: SIMD8<Float>, _ i: Int) -> SIMD8<Float> {
                let xq = UnsafeRawPointer(a.qx + i * a.ldq + 32 * b).loadUnaligned(as: __m256i.self)
                return acc.addingProduct(q8Dot(f, wq, xq), SIMD8(repeating: d * a.dx[i * a.nb + b]))
            }
            acc.0 = step(acc.0, 0)
            if rows > 1 { acc.1 = step(acc.1, 1) }
            if rows > 2 { acc.2 = step(acc.2, 2) }
            if rows > 3 { acc.3 = step(acc.3, 3) }
            if rows > 4 { acc.4 = step(acc.4, 4) }
            if rows > 5 { acc.5 = step(acc.5, 5) }
            if rows > 6 { acc.6 = step(acc.6, 6) }
            if rows > 7 { acc.7 = step(acc.7, 7) }
        }
    }
#endif
}

#if arch(x86_64) && GRM_AVX2
/// Weight levels for the int8 path: 32 bytes in value order, unsigned (Q4) or signed (Q8_0).
protocol Q8Weights {
    static var blockBytes: Int { get }
    static var signed: Bool { get }
    static var hasOffset: Bool { get }
    /// (levels, d, c): value = d * level + c.
    static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float)
}

extension Q8Weights {
    /// 16 nibble bytes as 32 bytes: low nibbles (values 0-15), then high nibbles (16-31).
    @inline(always) static func nibbleBytes(_ qs: UnsafeRawPointer) -> __m256i {
        let raw = qs.loadUnaligned(as: __m128i.self)
        let m = _mm_set1_epi8(0x0F)
        return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m), _mm_and_si128(raw, m))
    }
}

enum Q8WQ4_0: Q8Weights {
    static var blockBytes: Int { 18 }
    static var signed: Bool { true }
    static var hasOffset: Bool { false }
    /// Levels nibble - 8 (signed), as ggml's q4_0 x q8_0 product.
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        (_mm256_sub_epi8(nibbleBytes(b + 2), _mm256_set1_epi8(8)), QBits.f16(b, 0), 0)
    }
}

enum Q8WQ4_1: Q8Weights {
    static var blockBytes: Int { 20 }
    static var signed: Bool { false }
    static var hasOffset: Bool { true }
    /// d and m are converted together: one 32-bit load and one `vcvtph2ps` for both.
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(Int32(bitPattern: UInt32(littleEndian: b.loadUnaligned(as: UInt32.self)))))
        let v = unsafeBitCast(dm, to: SIMD4<Float>.self)
        return (nibbleBytes(b + 4), v[0], v[1])
    }
}

enum Q8WQ8_0: Q8Weights {
    static var blockBytes: Int { 34 }
    static var signed: Bool { true }
    static var hasOffset: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        ((b + 2).loadUnaligned(as: __m256i.self), QBits.f16(b, 0), 0)
    }
}
#endif
