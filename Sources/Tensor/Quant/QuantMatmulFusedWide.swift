#if arch(x86_64) && GRM_AVX512
import _Builtin_intrinsics.intel

/// The fused kernels' AVX-512 form (`KernelISA.avx512` and up, two or more activation rows): two
/// W rows side by side in one 16-float register, row j in lanes 0-7 and row j + 1 in lanes 8-15,
/// against each group of 8 activations loaded into both halves (a 32-byte broadcast load).
///
/// Each half does exactly the 8-lane kernel's operations on its own lanes, in the same order (the
/// scheme in QuantMatmulFusedKernel.swift's comment), and its element is finished by the same code
/// (lanes summed pairwise, then the offset terms), so every element has the bits of the AVX2 path
/// whatever the row count or the W rows beside it. A W row left over at the end of a task's range
/// runs the 8-lane kernel.
///
/// What it buys: half the multiply and FMA instructions per element. Where the core has two
/// 512-bit FMA units (Intel Xeon) that is up to twice the FMA throughput that bounds decoding
/// several sequences; where a 512-bit FMA takes both 256-bit pipes (AMD Zen 4) it is the same
/// arithmetic in fewer instructions. One activation row stays on the 8-lane kernel: it is bound
/// by unpacking the weights' levels, which AVX-512 does not make cheaper (on Intel, 512-bit
/// instructions leave two vector ports instead of three); measured in docs/performance.md.
extension QuantMatmul {
    typealias F16x = SIMD16<Float>

    /// The fewest activation rows for which `fused` takes this path.
    static let wideFusedMinRows = 2

    @inline(always) static func join(_ lo: SIMD8<Float>, _ hi: SIMD8<Float>) -> F16x {
        F16x(lowHalf: lo, highHalf: hi)
    }

    /// 8 activations in both halves (a 32-byte broadcast load, no shuffle).
    @inline(always) static func loadTwice(_ p: UnsafePointer<Float>) -> F16x {
        let v = load8(p)
        return F16x(lowHalf: v, highHalf: v)
    }

    /// `accumulate` on both halves: x points at a block's 32 activations.
    @inline(always) static func accumulatePair<F: FusedFormat>(
        _: F.Type, _ acc: F16x, _ x: UnsafePointer<Float>,
        _ q: (F16x, F16x, F16x, F16x), _ dA: F16x, _ dB: F16x
    ) -> F16x {
        let sA = _mm512_fmadd_ps(loadTwice(x + 8), q.1, _mm512_mul_ps(loadTwice(x), q.0))
        let sB = _mm512_fmadd_ps(loadTwice(x + 24), q.3, _mm512_mul_ps(loadTwice(x + 16), q.2))
        if F.twoScales { return _mm512_fmadd_ps(sB, dB, _mm512_fmadd_ps(sA, dA, acc)) }
        return _mm512_fmadd_ps(_mm512_add_ps(sA, sB), dA, acc)
    }

    /// R = m activation rows (2...8), W rows j0..<j1 two at a time.
    @inline(never)
    static func fusedPairs<F: FusedFormat, R: FusedRows>(
        _: F.Type, _: R.Type, _ a: FusedArgs, _ j0: Int, _ j1: Int,
        _ cs: UnsafeMutablePointer<Float>
    ) {
        let nb = a.nb, nsb = nb / F.subBlocks, n = R.count, ld = a.ldx, rowBytes = a.rowBytes
        let c0 = cs, c1 = cs + nb
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
                    let (l0, dA0, dB0, e0) = F.levels(w0 + o, u)
                    let (l1, dA1, dB1, e1) = F.levels(w1 + o, u)
                    let q = (join(l0.q0, l1.q0), join(l0.q1, l1.q1), join(l0.q2, l1.q2), join(l0.q3, l1.q3))
                    let dA = join(SIMD8(repeating: dA0), SIMD8(repeating: dA1))
                    let dB = F.twoScales ? join(SIMD8(repeating: dB0), SIMD8(repeating: dB1)) : dA
                    let xb = a.x + 32 * b
                    a0 = accumulatePair(F.self, a0, xb, q, dA, dB)
                    if n > 1 { a1 = accumulatePair(F.self, a1, xb + ld, q, dA, dB) }
                    if n > 2 { a2 = accumulatePair(F.self, a2, xb + 2 * ld, q, dA, dB) }
                    if n > 3 { a3 = accumulatePair(F.self, a3, xb + 3 * ld, q, dA, dB) }
                    if n > 4 { a4 = accumulatePair(F.self, a4, xb + 4 * ld, q, dA, dB) }
                    if n > 5 { a5 = accumulatePair(F.self, a5, xb + 5 * ld, q, dA, dB) }
                    if n > 6 { a6 = accumulatePair(F.self, a6, xb + 6 * ld, q, dA, dB) }
                    if n > 7 { a7 = accumulatePair(F.self, a7, xb + 7 * ld, q, dA, dB) }
                    if F.hasOffset {
                        c0[b] = e0
                        c1[b] = e1
                    }
                }
            }
            let y = a.y + j, ldy = a.ldy, xs = a.xsum
            finishPair(F.self, a0, c0, c1, xs, nb, y)
            if n > 1 { finishPair(F.self, a1, c0, c1, xs + nb, nb, y + ldy) }
            if n > 2 { finishPair(F.self, a2, c0, c1, xs + 2 * nb, nb, y + 2 * ldy) }
            if n > 3 { finishPair(F.self, a3, c0, c1, xs + 3 * nb, nb, y + 3 * ldy) }
            if n > 4 { finishPair(F.self, a4, c0, c1, xs + 4 * nb, nb, y + 4 * ldy) }
            if n > 5 { finishPair(F.self, a5, c0, c1, xs + 5 * nb, nb, y + 5 * ldy) }
            if n > 6 { finishPair(F.self, a6, c0, c1, xs + 6 * nb, nb, y + 6 * ldy) }
            if n > 7 { finishPair(F.self, a7, c0, c1, xs + 7 * nb, nb, y + 7 * ldy) }
            j += 2
        }
        if j < j1 { fusedRows(F.self, R.self, a, j, j1, cs) }
    }

    /// Both elements of a pair's accumulator: y[0] from the low half, y[1] from the high half.
    @inline(always) static func finishPair<F: FusedFormat>(
        _: F.Type, _ acc: F16x, _ c0: UnsafePointer<Float>, _ c1: UnsafePointer<Float>,
        _ xs: UnsafePointer<Float>, _ nb: Int, _ y: UnsafeMutablePointer<Float>
    ) {
        y[0] = finish(F.self, acc.lowHalf, c0, xs, nb)
        y[1] = finish(F.self, acc.highHalf, c1, xs, nb)
    }
}
#endif

extension QuantMatmul {
    /// Whether `fused` runs the AVX-512 kernels (QuantMatmulFusedWide.swift) for m rows.
    static func usesWideFused(m: Int) -> Bool {
        #if arch(x86_64) && GRM_AVX512
        return m >= wideFusedMinRows && KernelISA.level >= .avx512
        #else
        return false
        #endif
    }
}
