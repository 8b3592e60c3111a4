import Foundation
#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel
#endif

/// The optional int8-activation path (`EngineSettings.activations = .q8`) for products of up
/// to `q8MaxRows` (32) rows with Q4_0, Q4_1 or Q8_0 weights, with llama.cpp's arithmetic: each 32-value block of an activation
/// row is rounded to int8 levels as ggml's `quantize_row_q8_1` does (d_x = max |x| / 127 kept as
/// f16, levels round(x * 127 / max |x|) to nearest even, s = d_x * sum(levels) kept as f16), and a
/// block's dot product is an exact integer dot product of the weight levels with them
/// (`vpmaddubsw` + `vpmaddwd`), scaled by d_w * d_x; Q4_1's offsets add m_w * s per block, Q4_0's
/// levels are nibble - 8 (ggml's q4_0 x q8_0). Activations are rounded (at most d_x / 2 per value,
/// about 0.4% of a block's largest |x|) and d_x and s carry f16's relative error (2^-11), so per
/// block results differ from the exact path by at most about max|x| / 254 * sum |w| plus 0.05%
/// of sum |x w| (the bound the tests check, with margin). Off by default
/// (see `defaultActivationMode`). Each element is computed the same way whatever m, the thread count or the W rows next
/// to it. Needs `KernelISA.level` avx2 or above (the block dot: QuantMatmulQ8Dot.swift, `vpdpbusd`
/// from avx512-vnni); below, `.q8` falls back to the exact kernels.
extension QuantMatmul {
    public enum ActivationMode: Sendable {
        /// f32 activations, never rounded (the default).
        case exact
        /// Activations rounded to int8 per 32-value block (Q4_0, Q4_1, Q8_0 weights, up to
        /// `q8MaxRows` rows; more rows too on AVX-512 VNNI, through `q8GEMM`), as llama.cpp does.
        case q8
        /// As `.q8`, except that products of `bf16MinRows` or more rows (prompts), and a prompt's
        /// attention from `attentionMatrixRows` new rows, run on AMX's bf16 tiles where the CPU has
        /// them (QuantMatmulBF16AMX.swift, GEMMBF16.swift): operands rounded to bf16, products
        /// summed in f32, for every weight type.
        case bf16

        /// Whether products with Q4_0, Q4_1 or Q8_0 weights may round activations to int8
        /// (`.q8`, and `.bf16` below its tile products).
        public var roundsToInt8: Bool { self != .exact }

        /// The mode's name, as `--activations` and GRM_QMM_ACT take it.
        public var name: String {
            switch self {
            case .exact: "exact"
            case .q8: "q8"
            case .bf16: "bf16"
            }
        }
    }

    /// How products of up to `q8MaxRows` rows with Q4_0, Q4_1 or Q8_0 weights treat the
    /// activations (`EngineSettings.current.activations`). Exact is the default because rounding
    /// activations makes results depend on how rows reach the kernels: a prompt prefilled in one
    /// piece (f32 GEMM, over `q8MaxRows` rows) or as a shared prefix plus tails (int8), attention by
    /// matrices or per row, differ by 1e-6 in f32 and those differences flip int8 levels: with
    /// `.q8`, log-probabilities of sampled tokens depend on how the prompt was prefilled, and
    /// sharing a prompt prefix changes sampled tokens.
    public static var activationMode: ActivationMode { EngineSettings.current.activations }

    /// Types with an int8-activation kernel in this build (`DTypeTraits.hasInt8Kernel`), when
    /// the kernel path in force has one (`KernelISA.level` avx2 or above).
    static func hasQ8Kernel(_ type: DType) -> Bool { type.traits.hasInt8Kernel && KernelISA.level >= .avx2 }

    #if arch(x86_64) && GRM_AVX2
    /// `y = x * W^T` for every part's W, with activations rounded to int8 per block, for any m:
    /// the rows are quantised once, then run as near-equal chunks of at most 8 (one register
    /// accumulator per row); with several chunks each task walks its W rows in tiles of about
    /// 16 KB and runs every chunk over a tile while it is in cache, so W is read from memory once
    /// per call.
    static func q8Linear(_ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, parts: [Part]) {
        precondition(m >= 1 && hasQ8Kernel(type), "q8Linear: \(type) m = \(m)")
        let nb = k / 32, chunks = GEMM.ceilDiv(m, 8)
        // Per row: k int8 levels, then per block the scale d_x and s = d_x * sum of levels (both
        // rounded through f16, as ggml's block_q8_1 stores them); per chunk the scales transposed.
        let levelBytes = (k + 63) / 64 * 64
        let scratch = Workspace.shared.acquire(floats: m * (levelBytes / 4 + 2 * nb) + chunks * 8 * nb + 16)
        defer { Workspace.shared.release(scratch) }
        let qx = UnsafeMutableRawPointer(scratch.floats).assumingMemoryBound(to: Int8.self)
        let dx = scratch.floats + m * levelBytes / 4, sx = dx + m * nb, dxT = sx + m * nb
        for i in 0..<m {
            for b in 0..<nb {
                quantizeBlock(x + i * ldx + 32 * b, qx + i * levelBytes + 32 * b, &dx[i * nb + b], &sx[i * nb + b])
            }
        }
        let rowBytes = type.byteCount(elements: k)
        // Per part, per chunk: the chunk's rows against the part's W.
        var args: [Q8Args] = []
        for c in 0..<chunks {
            let i0 = m * c / chunks, rows = m * (c + 1) / chunks - i0
            let t = dxT + c * 8 * nb
            for b in 0..<nb {
                for i in 0..<8 { t[8 * b + i] = i < rows ? dx[(i0 + i) * nb + b] : 0 }
            }
            for p in parts {
                args.append(
                    Q8Args(
                        m: rows, nb: nb, qx: UnsafePointer(qx + i0 * levelBytes), ldq: levelBytes,
                        dx: UnsafePointer(dx + i0 * nb), sx: UnsafePointer(sx + i0 * nb), dxT: UnsafePointer(t),
                        w: p.w, rowBytes: rowBytes, y: p.y + i0 * p.ldy, ldy: p.ldy))
            }
        }
        let tile = max(4, (16384 / rowBytes) / 4 * 4), count = parts.count
        let vnni = KernelISA.level >= .avx512vnni
        args.withUnsafeBufferPointer { args in
            forPartRanges(parts, k: k, unit: 4) { part, j0, j1 in
                var t0 = j0
                while t0 < j1 {
                    let t1 = chunks == 1 ? j1 : min(j1, t0 + tile)
                    for c in 0..<chunks {
                        let a = args[c * count + part]
                        #if GRM_AVX512VNNI
                        if vnni {
                            switch type {
                            case .q4_0: q8Task(Q8WQ4_0.self, Q8DotVNNI.self, a, t0, t1)
                            case .q4_1: q8Task(Q8WQ4_1.self, Q8DotVNNI.self, a, t0, t1)
                            default: q8Task(Q8WQ8_0.self, Q8DotVNNI.self, a, t0, t1)
                            }
                            continue
                        }
                        #endif
                        switch type {
                        case .q4_0: q8Task(Q8WQ4_0.self, Q8DotAVX2.self, a, t0, t1)
                        case .q4_1: q8Task(Q8WQ4_1.self, Q8DotAVX2.self, a, t0, t1)
                        default: q8Task(Q8WQ8_0.self, Q8DotAVX2.self, a, t0, t1)
                        }
                    }
                    t0 = t1
                }
            }
        }
    }

    /// ggml's `quantize_row_q8_1` for one block of 32: d = max|x| / 127 (stored as f16), levels
    /// round(x * 127 / max|x|) to nearest even, s = d * sum(levels) (stored as f16). Eight lanes
    /// at a time: the products x * (127 / max|x|) are the scalar ones, rounded by `vcvtps2dq`
    /// (to nearest even, as ggml's AVX2 path).
    /// Returns the sum of the 32 levels (each within -127...127, so the stored bytes' sum).
    @inline(always) @discardableResult
    static func quantizeBlock(
        _ x: UnsafePointer<Float>, _ q: UnsafeMutablePointer<Int8>,
        _ d: inout Float, _ s: inout Float
    ) -> Int32 {
        let v = load32(x)
        // |x| by clearing the sign bit, then lane maxima (the stdlib's generic pointwiseMax is
        // not specialised here and costs a call per use).
        let signBit = _mm256_set1_ps(-0.0)
        @inline(__always) func abs8(_ u: SIMD8<Float>) -> __m256 { _mm256_andnot_ps(signBit, unsafeBitCast(u, to: __m256.self)) }
        let m8 = _mm256_max_ps(_mm256_max_ps(abs8(v.0), abs8(v.1)), _mm256_max_ps(abs8(v.2), abs8(v.3)))
        let halves = unsafeBitCast(m8, to: SIMD8<Float>.self)
        let m4 = _mm_max_ps(unsafeBitCast(halves.lowHalf, to: __m128.self), unsafeBitCast(halves.highHalf, to: __m128.self))
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4))
        let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)))
        let scale = amax / 127, id: Float = amax != 0 ? 127 / amax : 0
        let idv = SIMD8<Float>(repeating: id)
        @inline(__always) func levels(_ u: SIMD8<Float>) -> __m256i { _mm256_cvtps_epi32(unsafeBitCast(u * idv, to: __m256.self)) }
        let i0 = levels(v.0), i1 = levels(v.1), i2 = levels(v.2), i3 = levels(v.3)
        let sum = unsafeBitCast(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)), to: SIMD8<Int32>.self)
            .wrappedSum()
        // Saturating packs interleave the 128-bit halves; the permutation restores value order.
        let packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3))
        let ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
        UnsafeMutableRawPointer(q).storeBytes(of: ordered, as: __m256i.self)
        d = QBits.roundTripF16(scale)
        s = QBits.roundTripF16(scale * Float(sum))
        return sum
    }

    struct Q8Args {
        let m: Int, nb: Int
        let qx: UnsafePointer<Int8>, ldq: Int
        let dx: UnsafePointer<Float>, sx: UnsafePointer<Float>
        /// dx transposed: block b's scales of rows 0..<8 at 8 * b (zero past m).
        let dxT: UnsafePointer<Float>
        let w: UnsafeRawPointer, rowBytes: Int
        let y: UnsafeMutablePointer<Float>, ldy: Int
    }

    static func q8Task<F: Q8Weights, D: Q8Dot>(_ f: F.Type, _ d: D.Type, _ a: Q8Args, _ j0: Int, _ j1: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * a.nb + 16) { buf in
            let cs = buf.baseAddress!
            switch a.m {
            case 1: q8Vec4(f, d, a, j0, j1, cs)
            case 2: q8Rows(f, d, FusedRows2.self, a, j0, j1, cs)
            case 3: q8Rows(f, d, FusedRows3.self, a, j0, j1, cs)
            case 4: q8Rows(f, d, FusedRows4.self, a, j0, j1, cs)
            case 5: q8Rows(f, d, FusedRows5.self, a, j0, j1, cs)
            case 6: q8Rows(f, d, FusedRows6.self, a, j0, j1, cs)
            case 7: q8Rows(f, d, FusedRows7.self, a, j0, j1, cs)
            default: q8Rows(f, d, FusedRows8.self, a, j0, j1, cs)
            }
        }
    }

    /// An element from its accumulator: lanes summed pairwise, plus sum_b c_b * s_b (offset types).
    @inline(always) static func q8Finish<F: Q8Weights>(
        _: F.Type, _ acc: SIMD8<Float>, _ c: UnsafePointer<Float>,
        _ s: UnsafePointer<Float>, _ nb: Int
    ) -> Float {
        finish(acc, hasOffset: F.hasOffset, c, s, nb)
    }

    /// A block's integer dot product of weight levels `wq` and activation levels `xq`, as 8 floats
    /// (signed weights: their magnitudes against the activations with the weights' signs).
    @inline(always) static func q8Dot<F: Q8Weights, D: Q8Dot>(_: F.Type, _: D.Type, _ wq: __m256i, _ xq: __m256i) -> SIMD8<Float> {
        let p = F.signed ? D.dot(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq)) : D.dot(wq, xq)
        return _mm256_cvtepi32_ps(p)
    }

    /// m = 1: four W rows at a time (the activation levels loaded once per block for all four),
    /// prefetching ahead as the exact kernels do; the last 0-3 W rows through `q8Rows`, whose
    /// per-element arithmetic is the same.
    @inline(never)
    static func q8Vec4<F: Q8Weights, D: Q8Dot>(_ f: F.Type, _ dk: D.Type, _ a: Q8Args, _ j0: Int, _ j1: Int, _ cs: UnsafeMutablePointer<Float>) {
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
                a0 = a0.addingProduct(q8Dot(f, dk, q0, xq), SIMD8(repeating: d0 * dx))
                let (q1, d1, e1) = F.levels(w1 + o)
                a1 = a1.addingProduct(q8Dot(f, dk, q1, xq), SIMD8(repeating: d1 * dx))
                let (q2, d2, e2) = F.levels(w2 + o)
                a2 = a2.addingProduct(q8Dot(f, dk, q2, xq), SIMD8(repeating: d2 * dx))
                let (q3, d3, e3) = F.levels(w3 + o)
                a3 = a3.addingProduct(q8Dot(f, dk, q3, xq), SIMD8(repeating: d3 * dx))
                if F.hasOffset {
                    c0[b] = e0
                    c1[b] = e1
                    c2[b] = e2
                    c3[b] = e3
                }
            }
            a.y[j] = q8Finish(f, a0, c0, a.sx, nb)
            a.y[j + 1] = q8Finish(f, a1, c1, a.sx, nb)
            a.y[j + 2] = q8Finish(f, a2, c2, a.sx, nb)
            a.y[j + 3] = q8Finish(f, a3, c3, a.sx, nb)
            j += 4
        }
        if j < j1 { q8Rows(f, dk, FusedRows1.self, a, j, j1, cs) }
    }

    /// R = m activation rows (1...8), W rows j0..<j1 one at a time. Per block the weight levels
    /// are unpacked once (and made unsigned once, for the sign trick), the R scales d_w * d_x_i
    /// come from one vector multiply with the block's transposed activation scales (`dxT`), and
    /// each activation row costs one `vpmaddubsw` (plus a `vpsignb` for signed weights), one
    /// `vpmaddwd`, one conversion and one FMA into its own register accumulator. Per element the
    /// arithmetic is `q8Vec4`'s (the same products, the same rounding, the same order).
    @inline(never)
    static func q8Rows<F: Q8Weights, D: Q8Dot, R: FusedRows>(
        _ f: F.Type, _: D.Type, _: R.Type, _ a: Q8Args, _ j0: Int, _ j1: Int,
        _ cs: UnsafeMutablePointer<Float>
    ) {
        guard j0 < j1 else { return }
        let nb = a.nb, n = R.count, ldq = a.ldq, rowBytes = a.rowBytes
        // The block's scales d_w * d_x_i, lane i; broadcast from here (a load, not a shuffle).
        let st = cs + 2 * nb
        let x0 = UnsafeRawPointer(a.qx), x1 = x0 + ldq, x2 = x1 + ldq, x3 = x2 + ldq
        let x4 = x3 + ldq, x5 = x4 + ldq, x6 = x5 + ldq, x7 = x6 + ldq
        for j in j0..<j1 {
            let wr = a.w + j &* rowBytes
            prefetchRowAhead(wr, rowBytes: rowBytes, j: j, j1: j1)
            var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
            var o = 0, wb = wr
            for b in 0..<nb {
                let (wq, d, c) = F.levels(wb)
                if F.hasOffset { cs[b] = c }
                let sv = SIMD8<Float>(repeating: d) * UnsafeRawPointer(a.dxT + 8 &* b).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(st).storeBytes(of: sv, as: SIMD8<Float>.self)
                let wu = F.signed ? _mm256_sign_epi8(wq, wq) : wq
                @inline(__always) func step(_ acc: SIMD8<Float>, _ x: UnsafeRawPointer, _ i: Int) -> SIMD8<Float> {
                    var xq = (x + o).loadUnaligned(as: __m256i.self)
                    if F.signed { xq = _mm256_sign_epi8(xq, wq) }
                    let p = _mm256_cvtepi32_ps(D.dot(wu, xq))
                    return acc.addingProduct(
                        unsafeBitCast(p, to: SIMD8<Float>.self),
                        unsafeBitCast(_mm256_broadcast_ss(st + i), to: SIMD8<Float>.self))
                }
                a0 = step(a0, x0, 0)
                if n > 1 { a1 = step(a1, x1, 1) }
                if n > 2 { a2 = step(a2, x2, 2) }
                if n > 3 { a3 = step(a3, x3, 3) }
                if n > 4 { a4 = step(a4, x4, 4) }
                if n > 5 { a5 = step(a5, x5, 5) }
                if n > 6 { a6 = step(a6, x6, 6) }
                if n > 7 { a7 = step(a7, x7, 7) }
                o &+= 32
                wb += F.blockBytes
            }
            let y = a.y + j, ldy = a.ldy, sx = a.sx
            y[0] = q8Finish(f, a0, cs, sx, nb)
            if n > 1 { y[ldy] = q8Finish(f, a1, cs, sx + nb, nb) }
            if n > 2 { y[2 * ldy] = q8Finish(f, a2, cs, sx + 2 * nb, nb) }
            if n > 3 { y[3 * ldy] = q8Finish(f, a3, cs, sx + 3 * nb, nb) }
            if n > 4 { y[4 * ldy] = q8Finish(f, a4, cs, sx + 4 * nb, nb) }
            if n > 5 { y[5 * ldy] = q8Finish(f, a5, cs, sx + 5 * nb, nb) }
            if n > 6 { y[6 * ldy] = q8Finish(f, a6, cs, sx + 6 * nb, nb) }
            if n > 7 { y[7 * ldy] = q8Finish(f, a7, cs, sx + 7 * nb, nb) }
        }
    }
    #endif
}

#if arch(x86_64) && GRM_AVX2
/// Weight levels for the int8 path: 32 bytes in value order, unsigned (Q4) or signed (Q8_0).
protocol Q8Weights {
    /// The block type (its size comes from `DType.traits`).
    static var dtype: DType { get }
    static var signed: Bool { get }
    static var hasOffset: Bool { get }
    /// (levels, d, c): value = d * level + c.
    static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float)
}

extension Q8Weights {
    @inline(__always) static var blockBytes: Int { dtype.blockBytes }

    /// 16 nibble bytes as 32 bytes: low nibbles (values 0-15), then high nibbles (16-31). The 16
    /// bytes are loaded into both halves (`vbroadcasti128`, a load), the upper half shifted by 4
    /// (`vpsrlvq` with counts 0, 0, 4, 4), one mask: two vector operations instead of four.
    @inline(always) static func nibbleBytes(_ qs: UnsafeRawPointer) -> __m256i {
        let raw = _mm256_broadcastsi128_si256(qs.loadUnaligned(as: __m128i.self))
        return _mm256_and_si256(_mm256_srlv_epi64(raw, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F))
    }
}

enum Q8WQ4_0: Q8Weights {
    static var dtype: DType { .q4_0 }
    static var signed: Bool { true }
    static var hasOffset: Bool { false }
    /// Levels nibble - 8 (signed), as ggml's q4_0 x q8_0 product.
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        (_mm256_sub_epi8(nibbleBytes(b + 2), _mm256_set1_epi8(8)), QBits.f16(b, 0), 0)
    }
}

enum Q8WQ4_1: Q8Weights {
    static var dtype: DType { .q4_1 }
    static var signed: Bool { false }
    static var hasOffset: Bool { true }
    /// d and m are converted together: one 32-bit load and one `vcvtph2ps` for both.
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        let (d, m) = AVX2Q.f16Pair(b)
        return (nibbleBytes(b + 4), d, m)
    }
}

enum Q8WQ8_0: Q8Weights {
    static var dtype: DType { .q8_0 }
    static var signed: Bool { true }
    static var hasOffset: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        ((b + 2).loadUnaligned(as: __m256i.self), QBits.f16(b, 0), 0)
    }
}
#endif
