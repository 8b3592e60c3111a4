#if arch(x86_64) && GRM_AVX512
import _Builtin_intrinsics.intel

/// The fused kernels' AVX-512 forms (`KernelISA.avx512` and up). Each does exactly the 8-lane
/// kernels' operations on each element, in the same order (the scheme in
/// QuantMatmulFusedKernel.swift's comment), and finishes it with the same code, so every element
/// has the bits of the AVX2 path whatever the row count or the W rows beside it.
///
/// * Single-scale formats (`fusedVec4Wide` for one activation row, `fusedRowsWide` for 2-8): an
///   element's accumulators A and B are the two halves of one 16-float register. Each W row's
///   sub-block is unpacked 16 values per instruction, values 0-15 in one register and 16-31 in
///   another (`levels16`; Q4's 16 bytes widen once and give both by a lookup and a shift), against
///   the activations loaded the same way: one multiply and one FMA give [sA | sB], one FMA with the
///   broadcast scale adds it. Per W row, sub-block and activation row that is 3 vector operations
///   (the 8-lane kernel: 6), plus 4 to unpack. The scales come from the weight's f32 table
///   (`Tensor.fusedScales`; the FMA's broadcast operand straight from memory) or from the block.
/// * Q6_K (two scales per sub-block; `fusedPairs`, 2-8 rows): two W rows side by side in one
///   16-float register, row j in lanes 0-7 and row j + 1 in lanes 8-15, against each group of 8
///   activations loaded into both halves (a 32-byte broadcast load). One activation row stays on
///   the 8-lane kernel.
///
/// A W row left over at the end of a task's range runs the 8-lane kernel. Measured in
/// docs/performance.md.
extension QuantMatmul {
    typealias F16x = SIMD16<Float>

    @inline(always) static func join(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>) -> F16x {
        F16x(lowHalf: lo, highHalf: hi)
    }

    /// 8 activations in both halves (a 32-byte broadcast load, no shuffle).
    @inline(always) static func loadTwice(_ p: UnsafePointer<Float>) -> F16x {
        let v = load8(p)
        return F16x(lowHalf: v, highHalf: v)
    }

    /// 16 floats from p.
    @inline(always) static func load16(_ p: UnsafePointer<Float>) -> F16x {
        UnsafeRawPointer(p).loadUnaligned(as: F16x.self)
    }

    /// One sub-block's contribution to a 16-float accumulator: x points at the block's 32
    /// activations, (l, h) are its levels of values 0-15 and 16-31, d its scale.
    @inline(always) static func accumulate16(
        _ acc: F16x, _ x: UnsafePointer<Float>, _ l: F16x, _ h: F16x, _ d: F16x
    ) -> F16x {
        _mm512_fmadd_ps(_mm512_fmadd_ps(load16(x + 16), h, _mm512_mul_ps(load16(x), l)), d, acc)
    }

    /// An element from its 16-float accumulator (A = lanes 0-7, B = lanes 8-15).
    @inline(always) static func finish16<F: FusedFormat>(
        _: F.Type, _ acc: F16x, _ c: UnsafePointer<Float>, _ xs: UnsafePointer<Float>, _ nb: Int
    ) -> Float {
        finish(F.self, Acc(a: acc.lowHalf, b: acc.highHalf), c, xs, nb)
    }

    /// m = 1, single-scale formats: W rows j0..<j1 four at a time (four accumulator chains; the
    /// activations read from L1 by each row's operations). Scales from the table (`S`) or the blocks
    /// (c kept in `cs`).
    @inline(never)
    static func fusedVec4Wide<F: FusedFormat, S: WideScaleSource>(
        _: F.Type, _: S.Type, _ a: FusedArgs, _ j0: Int, _ j1: Int,
        _ cs: UnsafeMutablePointer<Float>
    ) {
        let nb = a.nb, nsb = nb / F.subBlocks, rowBytes = a.rowBytes, x = a.x
        var j = j0
        while j + 4 <= j1 {
            let w0 = a.w + j * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            prefetchGroupAhead(w0, rowBytes: rowBytes, j: j, j1: j1)
            // Table rows: d at t_r, c at t_r + nb.
            let t0 = S.table ? a.scales! + 2 * nb * j : UnsafePointer(cs)
            let t1 = t0 + 2 * nb, t2 = t1 + 2 * nb, t3 = t2 + 2 * nb
            var a0 = F16x(), a1 = a0, a2 = a0, a3 = a0
            for sb in 0..<nsb {
                let o = sb * F.blockBytes
                for u in 0..<F.subBlocks {
                    let b = sb * F.subBlocks + u
                    let xb = x + 32 * b
                    let (l0, h0, d0, e0) = F.levels16(w0 + o, u)
                    a0 = accumulate16(a0, xb, l0, h0, F16x(repeating: S.table ? t0[b] : d0))
                    let (l1, h1, d1, e1) = F.levels16(w1 + o, u)
                    a1 = accumulate16(a1, xb, l1, h1, F16x(repeating: S.table ? t1[b] : d1))
                    let (l2, h2, d2, e2) = F.levels16(w2 + o, u)
                    a2 = accumulate16(a2, xb, l2, h2, F16x(repeating: S.table ? t2[b] : d2))
                    let (l3, h3, d3, e3) = F.levels16(w3 + o, u)
                    a3 = accumulate16(a3, xb, l3, h3, F16x(repeating: S.table ? t3[b] : d3))
                    if !S.table && F.hasOffset {
                        cs[b] = e0
                        cs[nb + b] = e1
                        cs[2 * nb + b] = e2
                        cs[3 * nb + b] = e3
                    }
                }
            }
            let c0 = S.table ? t0 + nb : UnsafePointer(cs), c1 = S.table ? t1 + nb : c0 + nb
            let c2 = S.table ? t2 + nb : c0 + 2 * nb, c3 = S.table ? t3 + nb : c0 + 3 * nb
            let y = a.y + j, xs = a.xsum
            y[0] = finish16(F.self, a0, c0, xs, nb)
            y[1] = finish16(F.self, a1, c1, xs, nb)
            y[2] = finish16(F.self, a2, c2, xs, nb)
            y[3] = finish16(F.self, a3, c3, xs, nb)
            j += 4
        }
        if j < j1 { fusedRows(F.self, FusedRows1.self, a, j, j1, cs) }
    }

    /// R = m activation rows (2...8), single-scale formats: W rows j0..<j1 one at a time, each
    /// sub-block's levels unpacked once for every activation row.
    @inline(never)
    static func fusedRowsWide<F: FusedFormat, R: FusedRows, S: WideScaleSource>(
        _: F.Type, _: R.Type, _: S.Type, _ a: FusedArgs, _ j0: Int, _ j1: Int,
        _ cs: UnsafeMutablePointer<Float>
    ) {
        let nb = a.nb, nsb = nb / F.subBlocks, ld = a.ldx, n = R.count
        for j in j0..<j1 {
            let wr = a.w + j * a.rowBytes
            prefetchRowAhead(wr, rowBytes: a.rowBytes, j: j, j1: j1)
            let t = S.table ? a.scales! + 2 * nb * j : UnsafePointer(cs)
            var a0 = F16x(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
            for sb in 0..<nsb {
                for u in 0..<F.subBlocks {
                    let b = sb * F.subBlocks + u
                    let (l, h, d0, c) = F.levels16(wr + sb * F.blockBytes, u)
                    let d = F16x(repeating: S.table ? t[b] : d0)
                    let xb = a.x + 32 * b
                    a0 = accumulate16(a0, xb, l, h, d)
                    if n > 1 { a1 = accumulate16(a1, xb + ld, l, h, d) }
                    if n > 2 { a2 = accumulate16(a2, xb + 2 * ld, l, h, d) }
                    if n > 3 { a3 = accumulate16(a3, xb + 3 * ld, l, h, d) }
                    if n > 4 { a4 = accumulate16(a4, xb + 4 * ld, l, h, d) }
                    if n > 5 { a5 = accumulate16(a5, xb + 5 * ld, l, h, d) }
                    if n > 6 { a6 = accumulate16(a6, xb + 6 * ld, l, h, d) }
                    if n > 7 { a7 = accumulate16(a7, xb + 7 * ld, l, h, d) }
                    if !S.table && F.hasOffset { cs[b] = c }
                }
            }
            let c = S.table ? t + nb : UnsafePointer(cs)
            let y = a.y + j, ldy = a.ldy, xs = a.xsum
            y[0] = finish16(F.self, a0, c, xs, nb)
            if n > 1 { y[ldy] = finish16(F.self, a1, c, xs + nb, nb) }
            if n > 2 { y[2 * ldy] = finish16(F.self, a2, c, xs + 2 * nb, nb) }
            if n > 3 { y[3 * ldy] = finish16(F.self, a3, c, xs + 3 * nb, nb) }
            if n > 4 { y[4 * ldy] = finish16(F.self, a4, c, xs + 4 * nb, nb) }
            if n > 5 { y[5 * ldy] = finish16(F.self, a5, c, xs + 5 * nb, nb) }
            if n > 6 { y[6 * ldy] = finish16(F.self, a6, c, xs + 6 * nb, nb) }
            if n > 7 { y[7 * ldy] = finish16(F.self, a7, c, xs + 7 * nb, nb) }
        }
    }

    /// Q6_K's `accumulate` (accumulator A) on both halves: x points at a block's 32 activations.
    @inline(always) static func accumulatePair(
        _ acc: F16x, _ x: UnsafePointer<Float>,
        _ q: (F16x, F16x, F16x, F16x), _ dA: F16x, _ dB: F16x
    ) -> F16x {
        let sA = _mm512_fmadd_ps(loadTwice(x + 8), q.1, _mm512_mul_ps(loadTwice(x), q.0))
        let sB = _mm512_fmadd_ps(loadTwice(x + 24), q.3, _mm512_mul_ps(loadTwice(x + 16), q.2))
        return _mm512_fmadd_ps(sB, dB, _mm512_fmadd_ps(sA, dA, acc))
    }

    /// R = m activation rows (2...8), Q6_K: W rows j0..<j1 two at a time.
    @inline(never)
    static func fusedPairs<F: FusedFormat, R: FusedRows>(
        _: F.Type, _: R.Type, _ a: FusedArgs, _ j0: Int, _ j1: Int,
        _ cs: UnsafeMutablePointer<Float>
    ) {
        precondition(F.twoScales && !F.hasOffset, "fusedPairs: Q6_K's scheme")
        let nb = a.nb, nsb = nb / F.subBlocks, n = R.count, ld = a.ldx, rowBytes = a.rowBytes
        var j = j0
        while j + 2 <= j1 {
            let w0 = a.w + j * rowBytes, w1 = w0 + rowBytes
            prefetchRowAhead(w0, rowBytes: rowBytes, j: j, j1: j1)
            prefetchRowAhead(w1, rowBytes: rowBytes, j: j + 1, j1: j1)
            var a0 = F16x(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
            for sb in 0..<nsb {
                let o = sb * F.blockBytes
                for u in 0..<F.subBlocks {
                    let b = sb * F.subBlocks + u
                    let (l0, dA0, dB0, _) = F.levels(w0 + o, u)
                    let (l1, dA1, dB1, _) = F.levels(w1 + o, u)
                    let q = (join(l0.q0, l1.q0), join(l0.q1, l1.q1), join(l0.q2, l1.q2), join(l0.q3, l1.q3))
                    let dA = join(SIMD8(repeating: dA0), SIMD8(repeating: dA1))
                    let dB = join(SIMD8(repeating: dB0), SIMD8(repeating: dB1))
                    let xb = a.x + 32 * b
                    a0 = accumulatePair(a0, xb, q, dA, dB)
                    if n > 1 { a1 = accumulatePair(a1, xb + ld, q, dA, dB) }
                    if n > 2 { a2 = accumulatePair(a2, xb + 2 * ld, q, dA, dB) }
                    if n > 3 { a3 = accumulatePair(a3, xb + 3 * ld, q, dA, dB) }
                    if n > 4 { a4 = accumulatePair(a4, xb + 4 * ld, q, dA, dB) }
                    if n > 5 { a5 = accumulatePair(a5, xb + 5 * ld, q, dA, dB) }
                    if n > 6 { a6 = accumulatePair(a6, xb + 6 * ld, q, dA, dB) }
                    if n > 7 { a7 = accumulatePair(a7, xb + 7 * ld, q, dA, dB) }
                }
            }
            let y = a.y + j, ldy = a.ldy, xs = a.xsum
            finishPair(F.self, a0, cs, xs, nb, y)
            if n > 1 { finishPair(F.self, a1, cs, xs + nb, nb, y + ldy) }
            if n > 2 { finishPair(F.self, a2, cs, xs + 2 * nb, nb, y + 2 * ldy) }
            if n > 3 { finishPair(F.self, a3, cs, xs + 3 * nb, nb, y + 3 * ldy) }
            if n > 4 { finishPair(F.self, a4, cs, xs + 4 * nb, nb, y + 4 * ldy) }
            if n > 5 { finishPair(F.self, a5, cs, xs + 5 * nb, nb, y + 5 * ldy) }
            if n > 6 { finishPair(F.self, a6, cs, xs + 6 * nb, nb, y + 6 * ldy) }
            if n > 7 { finishPair(F.self, a7, cs, xs + 7 * nb, nb, y + 7 * ldy) }
            j += 2
        }
        if j < j1 { fusedRows(F.self, R.self, a, j, j1, cs) }
    }

    /// Both elements of a Q6_K pair's accumulator: y[0] from the low half's A, y[1] from the high
    /// half's (B zero, as in the 8-lane kernel; no offsets, so `c` is not read).
    @inline(always) static func finishPair<F: FusedFormat>(
        _: F.Type, _ acc: F16x, _ c: UnsafePointer<Float>,
        _ xs: UnsafePointer<Float>, _ nb: Int, _ y: UnsafeMutablePointer<Float>
    ) {
        y[0] = finish(F.self, Acc(a: acc.lowHalf), c, xs, nb)
        y[1] = finish(F.self, Acc(a: acc.highHalf), c, xs, nb)
    }
}
#endif

#if arch(x86_64) && GRM_AVX512
/// `levels16`: 16 bytes of nibbles widened once (values 0-15 the low nibbles, 16-31 the high
/// ones), Q8_0's 32 bytes in two widenings; other formats join their 8-lane levels.
extension FusedFormat {
    @inline(always) static func levels16(_ b: UnsafeRawPointer, _ u: Int) -> (SIMD16<Float>, SIMD16<Float>, Float, Float) {
        let (l, d, _, c) = levels(b, u)
        return (QuantMatmul.join(l.q0, l.q1), QuantMatmul.join(l.q2, l.q3), d, c)
    }
}

enum AVX512Q {
    /// Levels of the 32 nibbles in 16 bytes: low nibbles (values 0-15), high nibbles (16-31).
    /// The low ones are looked up (`vpermps` reads only an index's low four bits: no mask, no
    /// conversion, on the shuffle port), the high ones shifted and converted (the other port).
    @inline(always) static func nibbles(_ qs: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>) {
        // The floats 0...15 (a constant here: a stored property would cost a lazy-init check per call).
        let table = SIMD16<Float>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let w = _mm512_cvtepu8_epi32(qs.loadUnaligned(as: __m128i.self))
        return (_mm512_permutexvar_ps(w, table), _mm512_cvtepi32_ps(_mm512_srli_epi32(w, 4)))
    }

    /// 16 signed bytes as floats.
    @inline(always) static func s8(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(p.loadUnaligned(as: __m128i.self)))
    }
}

extension Q4_0Format {
    @inline(always) static func levels16(_ b: UnsafeRawPointer, _: Int) -> (SIMD16<Float>, SIMD16<Float>, Float, Float) {
        let d = QBits.f16(b, 0), (l, h) = AVX512Q.nibbles(b + 2)
        return (l, h, d, -8 * d)
    }
}

extension Q4_1Format {
    @inline(always) static func levels16(_ b: UnsafeRawPointer, _: Int) -> (SIMD16<Float>, SIMD16<Float>, Float, Float) {
        let (d, m) = AVX2Q.f16Pair(b), (l, h) = AVX512Q.nibbles(b + 4)
        return (l, h, d, m)
    }
}

extension Q8_0Format {
    @inline(always) static func levels16(_ b: UnsafeRawPointer, _: Int) -> (SIMD16<Float>, SIMD16<Float>, Float, Float) {
        (AVX512Q.s8(b + 2), AVX512Q.s8(b + 18), QBits.f16(b, 0), 0)
    }
}

/// Where `fusedVec4Wide` and `fusedRowsWide` take each sub-block's d and c from.
protocol WideScaleSource { static var table: Bool { get } }
/// The weight's f32 table (`Tensor.fusedScales`).
enum TableScales: WideScaleSource { static var table: Bool { true } }
/// The block's own (f16 conversions in the loop).
enum BlockScales: WideScaleSource { static var table: Bool { false } }
#endif

extension QuantMatmul {
    /// Whether products of m rows with weights of `type` read the weight's f32 block scales
    /// (`Tensor.fusedScales`): products on the fused kernels (`path`) on AVX-512, a single-scale
    /// format, and `EngineSettings.fusedScales`.
    public static func usesFusedScales(_ type: DType, m: Int) -> Bool {
        #if arch(x86_64) && GRM_AVX512
        return EngineSettings.current.fusedScales && type != .q6_K && KernelISA.level >= .avx512
            && path(type, m: m, k: type.blockElements, panels: usesQ8Panels(type)) == .fused
        #else
        return false
        #endif
    }

    /// Packs the f32 table of W [n, k] (blocks at `w`, a type with a fused kernel): per row, the
    /// nb = k / 32 sub-blocks' scales d, then their offsets c (`FusedFormat.levels`' values).
    static func packFusedScales(_ type: DType, w: UnsafeRawPointer, n: Int, k: Int, into out: UnsafeMutablePointer<Float>) {
        func pack<F: FusedFormat>(_: F.Type) {
            let nb = k / 32, rowBytes = type.byteCount(elements: k)
            let tasks = taskCount(work: n * k, grain: 1 << 18, limit: ThreadPool.shared.threadCount)
            ThreadPool.shared.parallelRanges(n, parts: tasks) { rows in
                for j in rows {
                    let row = w + j * rowBytes, t = out + 2 * nb * j
                    for b in 0..<nb {
                        let (_, d, _, c) = F.levels(row + (b / F.subBlocks) * F.blockBytes, b % F.subBlocks)
                        t[b] = d
                        t[nb + b] = c
                    }
                }
            }
        }
        switch type {
        case .q4_0: pack(Q4_0Format.self)
        case .q4_1: pack(Q4_1Format.self)
        case .q5_0: pack(Q5_0Format.self)
        case .q5_1: pack(Q5_1Format.self)
        case .q8_0: pack(Q8_0Format.self)
        case .q4_K: pack(Q4_KFormat.self)
        case .q5_K: pack(Q5_KFormat.self)
        default: preconditionFailure("packFusedScales: no single-scale fused kernel for \(type)")
        }
    }
}

extension Tensor {
    /// This weight's f32 block scales (`QuantMatmul.packFusedScales`; [n, k], contiguous, a
    /// single-scale fused type): made on first use and kept with the weight's storage (8 bytes
    /// per 32 weights, 40% of a Q4_1 weight's bytes).
    var fusedScales: UnsafeRawPointer {
        let n = shape[0], k = shape[1], type = dtype, w = UnsafeRawPointer(rawPointer)
        let key = Storage.DerivedKey(offset: dtype.byteCount(elements: offset), dtype: type, n: n, k: k, layout: .fusedScales)
        let d = storage.derived(key, byteCount: 2 * n * (k / 32) * MemoryLayout<Float>.stride) { out in
            QuantMatmul.packFusedScales(type, w: w, n: n, k: k, into: out.assumingMemoryBound(to: Float.self))
        }
        return UnsafeRawPointer(d.base)
    }
}

extension QuantMatmul {
    /// Whether `fused` runs the AVX-512 kernels (QuantMatmulFusedWide.swift) for m rows: any row
    /// count (Q6_K's one-row products stay on the 8-lane kernel).
    static func usesWideFused(m: Int) -> Bool {
        #if arch(x86_64) && GRM_AVX512
        return m >= 1 && KernelISA.level >= .avx512
        #else
        return false
        #endif
    }
}
