#if arch(x86_64) && GRM_AVX512
import _Builtin_intrinsics.intel

extension CachedAttention.Job {
    /// `run64`'s scores of four keys (at `k`, `row` bytes apart) for each of the group's query
    /// heads, on AVX-512: two keys per register (the first key of a pair in the low eight lanes,
    /// the second in the high eight), so each 512-bit multiply or FMA does the work of two of
    /// `run64`'s 256-bit ones, and the four keys are read once for all the heads. Per key the
    /// operations are `run64`'s, in its order: two chains of four FMAs over the key's eight-value
    /// chunks, their sum, then the eight lanes summed pairwise in three rounds (as its
    /// horizontal-add tree sums them; float addition is commutative, so which operand comes
    /// first does not matter). The same bits; `CachedAttentionTests` compares the paths.
    @inline(__always) func scores4Wide<E: KVRow>(_ k: UnsafeRawPointer, row: Int, _: E.Type, at s: Int) {
        @inline(__always) func pair(_ a: UnsafeRawPointer, _ i: Int) -> __m512 {
            unsafeBitCast(SIMD16<Float>(lowHalf: E.load8(a, i), highHalf: E.load8(a + row, i)), to: __m512.self)
        }
        let k2 = k + 2 * row
        let x0 = pair(k, 0), x1 = pair(k, 8), x2 = pair(k, 16), x3 = pair(k, 24)
        let x4 = pair(k, 32), x5 = pair(k, 40), x6 = pair(k, 48), x7 = pair(k, 56)
        let y0 = pair(k2, 0), y1 = pair(k2, 8), y2 = pair(k2, 16), y3 = pair(k2, 24)
        let y4 = pair(k2, 32), y5 = pair(k2, 40), y6 = pair(k2, 48), y7 = pair(k2, 56)
        // Lane indices of the pairwise sums: the even and odd lanes of two registers (0-15 the
        // first, 16-31 the second), then of one.
        let even2 = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0)
        let odd2 = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1)
        let even = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 14, 12, 10, 8, 6, 4, 2, 0)
        let odd = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 15, 13, 11, 9, 7, 5, 3, 1)
        for h in 0..<group {
            let qh = q + h * headDim
            @inline(__always) func query(_ i: Int) -> __m512 {
                let v = UnsafeRawPointer(qh + i).loadUnaligned(as: SIMD8<Float>.self)
                return unsafeBitCast(SIMD16<Float>(lowHalf: v, highHalf: v), to: __m512.self)
            }
            let q0 = query(0), q1 = query(8), q2 = query(16), q3 = query(24)
            let q4 = query(32), q5 = query(40), q6 = query(48), q7 = query(56)
            @inline(__always) func dots(
                _ c0: __m512, _ c1: __m512, _ c2: __m512, _ c3: __m512, _ c4: __m512, _ c5: __m512, _ c6: __m512, _ c7: __m512
            ) -> __m512 {
                let a = _mm512_fmadd_ps(q3, c3, _mm512_fmadd_ps(q2, c2, _mm512_fmadd_ps(q1, c1, _mm512_mul_ps(q0, c0))))
                let b = _mm512_fmadd_ps(q7, c7, _mm512_fmadd_ps(q6, c6, _mm512_fmadd_ps(q5, c5, _mm512_mul_ps(q4, c4))))
                return _mm512_add_ps(a, b)
            }
            let x = dots(x0, x1, x2, x3, x4, x5, x6, x7), y = dots(y0, y1, y2, y3, y4, y5, y6, y7)
            // Lanes 4i..4i+3: key i's lanes summed in pairs; then 2i, 2i+1: in fours; then i: all.
            let p = _mm512_add_ps(_mm512_permutex2var_ps(x, even2, y), _mm512_permutex2var_ps(x, odd2, y))
            let r = _mm512_add_ps(_mm512_permutexvar_ps(even, p), _mm512_permutexvar_ps(odd, p))
            let t = _mm512_add_ps(_mm512_permutexvar_ps(even, r), _mm512_permutexvar_ps(odd, r))
            let four = unsafeBitCast(t, to: SIMD16<Float>.self).lowHalf.lowHalf
            UnsafeMutableRawPointer(scores + h * stride + s).storeBytes(of: four * scale, as: SIMD4<Float>.self)
        }
    }
}
#endif
