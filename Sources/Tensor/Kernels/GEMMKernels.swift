#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel
#endif
/// The register-blocked micro-kernels of the packed GEMM path, the panel packing routines, and
/// the unpacked kernels of the small-M path. See GEMM.swift for the blocking and the threading.
///
/// Every routine here computes each element of C the same way wherever it sits (full tile, edge
/// tile, any thread): one accumulator per element, K in order, then `C = fma(alpha, acc, beta*C)`.
/// That is what makes the results independent of the thread count.

/// A micro-kernel and the block sizes tuned for it.
struct MicroKernel: @unchecked Sendable {
    /// Rows and columns of C a call computes (packed A panels are `mr` wide, B panels `nr`).
    let mr: Int
    let nr: Int
    /// Cache blocking: K per packed panel (B micro-panel in L1), rows per packed A block (L2),
    /// columns per packed B block (L3).
    let kc: Int
    let mc: Int
    let nc: Int
    /// `C[0..<mr, 0..<nr] = alpha * Apanel * Bpanel + beta * C` (beta 0: C is not read).
    /// `a` holds `kc` groups of `mr` floats, `b` holds `kc` groups of `nr` floats, 64-byte aligned.
    let run:
        (
            _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
        ) -> Void
    let name: String

    /// AVX2 (and anything without AVX-512): 6x16, twelve 8-float accumulators + 2 B vectors +
    /// 1 broadcast = 15 of 16 ymm registers.
    static let avx2 = MicroKernel(
        mr: 6, nr: 16, kc: 384, mc: 96, nc: 4080, run: Kernels.kernel6x16,
        name: "6x16 SIMD8")
    /// AVX-512: 12x32, twenty-four 16-float accumulators + 2 B vectors + 1 broadcast = 27 of 32 zmm.
    /// Block sizes are educated guesses (no AVX-512 machine was available to tune on).
    static let avx512 = MicroKernel(
        mr: 12, nr: 32, kc: 384, mc: 192, nc: 3072, run: Kernels.kernel12x32,
        name: "12x32 SIMD16")
}

/// Vector types the small-M kernels are written over (8 floats on AVX2, 16 on AVX-512).
protocol GEMMVector: SIMD where Scalar == Float {
    /// Sum of the lanes, always in the same (pairwise) order.
    var total: Float { get }
}

extension SIMD8: GEMMVector where Scalar == Float {
    @inline(__always) var total: Float {
        let h = lowHalf + highHalf
        let q = h.lowHalf + h.highHalf
        return q[0] + q[1]
    }
}

extension SIMD16: GEMMVector where Scalar == Float {
    @inline(__always) var total: Float { (lowHalf + highHalf).total }
}

enum Kernels {
    /// Stores `alpha * acc + beta * C` to C (`beta == 0`: C is not read, so NaN there is ignored).
    @inline(__always)
    static func update<V: SIMD>(_ p: UnsafeMutablePointer<Float>, _ acc: V, _ alpha: V, _ beta: Float)
    where V.Scalar == Float {
        let raw = UnsafeMutableRawPointer(p)
        var base = V()
        if beta != 0 { base = raw.loadUnaligned(as: V.self) * V(repeating: beta) }
        raw.storeBytes(of: base.addingProduct(acc, alpha), as: V.self)
    }

    /// The scalar form of `update`, lane for lane the same arithmetic.
    @inline(__always)
    static func update(_ p: UnsafeMutablePointer<Float>, _ acc: Float, _ alpha: Float, _ beta: Float) {
        let base: Float = beta != 0 ? p.pointee * beta : 0
        p.pointee = base.addingProduct(acc, alpha)
    }

    @inline(never)
    static func kernel6x16(
        _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
    ) {
        typealias V = SIMD8<Float>
        var c0_0 = V()
        var c0_1 = V()
        var c1_0 = V()
        var c1_1 = V()
        var c2_0 = V()
        var c2_1 = V()
        var c3_0 = V()
        var c3_1 = V()
        var c4_0 = V()
        var c4_1 = V()
        var c5_0 = V()
        var c5_1 = V()
        var pa = a
        var pb = UnsafeRawPointer(b)
        for _ in 0..<kc {
            let b0 = pb.load(fromByteOffset: 0, as: V.self)
            let b1 = pb.load(fromByteOffset: 32, as: V.self)
            let a0 = V(repeating: pa[0])
            c0_0 = c0_0.addingProduct(a0, b0)
            c0_1 = c0_1.addingProduct(a0, b1)
            let a1 = V(repeating: pa[1])
            c1_0 = c1_0.addingProduct(a1, b0)
            c1_1 = c1_1.addingProduct(a1, b1)
            let a2 = V(repeating: pa[2])
            c2_0 = c2_0.addingProduct(a2, b0)
            c2_1 = c2_1.addingProduct(a2, b1)
            let a3 = V(repeating: pa[3])
            c3_0 = c3_0.addingProduct(a3, b0)
            c3_1 = c3_1.addingProduct(a3, b1)
            let a4 = V(repeating: pa[4])
            c4_0 = c4_0.addingProduct(a4, b0)
            c4_1 = c4_1.addingProduct(a4, b1)
            let a5 = V(repeating: pa[5])
            c5_0 = c5_0.addingProduct(a5, b0)
            c5_1 = c5_1.addingProduct(a5, b1)
            pa += 6
            pb += 64
        }
        let va = V(repeating: alpha)
        var row = c
        update(row, c0_0, va, beta)
        update(row + 8, c0_1, va, beta)
        row += ldc
        update(row, c1_0, va, beta)
        update(row + 8, c1_1, va, beta)
        row += ldc
        update(row, c2_0, va, beta)
        update(row + 8, c2_1, va, beta)
        row += ldc
        update(row, c3_0, va, beta)
        update(row + 8, c3_1, va, beta)
        row += ldc
        update(row, c4_0, va, beta)
        update(row + 8, c4_1, va, beta)
        row += ldc
        update(row, c5_0, va, beta)
        update(row + 8, c5_1, va, beta)
    }

    @inline(never)
    static func kernel12x32(
        _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
    ) {
        typealias V = SIMD16<Float>
        var c0_0 = V()
        var c0_1 = V()
        var c1_0 = V()
        var c1_1 = V()
        var c2_0 = V()
        var c2_1 = V()
        var c3_0 = V()
        var c3_1 = V()
        var c4_0 = V()
        var c4_1 = V()
        var c5_0 = V()
        var c5_1 = V()
        var c6_0 = V()
        var c6_1 = V()
        var c7_0 = V()
        var c7_1 = V()
        var c8_0 = V()
        var c8_1 = V()
        var c9_0 = V()
        var c9_1 = V()
        var c10_0 = V()
        var c10_1 = V()
        var c11_0 = V()
        var c11_1 = V()
        var pa = a
        var pb = UnsafeRawPointer(b)
        for _ in 0..<kc {
            let b0 = pb.load(fromByteOffset: 0, as: V.self)
            let b1 = pb.load(fromByteOffset: 64, as: V.self)
            let a0 = V(repeating: pa[0])
            c0_0 = c0_0.addingProduct(a0, b0)
            c0_1 = c0_1.addingProduct(a0, b1)
            let a1 = V(repeating: pa[1])
            c1_0 = c1_0.addingProduct(a1, b0)
            c1_1 = c1_1.addingProduct(a1, b1)
            let a2 = V(repeating: pa[2])
            c2_0 = c2_0.addingProduct(a2, b0)
            c2_1 = c2_1.addingProduct(a2, b1)
            let a3 = V(repeating: pa[3])
            c3_0 = c3_0.addingProduct(a3, b0)
            c3_1 = c3_1.addingProduct(a3, b1)
            let a4 = V(repeating: pa[4])
            c4_0 = c4_0.addingProduct(a4, b0)
            c4_1 = c4_1.addingProduct(a4, b1)
            let a5 = V(repeating: pa[5])
            c5_0 = c5_0.addingProduct(a5, b0)
            c5_1 = c5_1.addingProduct(a5, b1)
            let a6 = V(repeating: pa[6])
            c6_0 = c6_0.addingProduct(a6, b0)
            c6_1 = c6_1.addingProduct(a6, b1)
            let a7 = V(repeating: pa[7])
            c7_0 = c7_0.addingProduct(a7, b0)
            c7_1 = c7_1.addingProduct(a7, b1)
            let a8 = V(repeating: pa[8])
            c8_0 = c8_0.addingProduct(a8, b0)
            c8_1 = c8_1.addingProduct(a8, b1)
            let a9 = V(repeating: pa[9])
            c9_0 = c9_0.addingProduct(a9, b0)
            c9_1 = c9_1.addingProduct(a9, b1)
            let a10 = V(repeating: pa[10])
            c10_0 = c10_0.addingProduct(a10, b0)
            c10_1 = c10_1.addingProduct(a10, b1)
            let a11 = V(repeating: pa[11])
            c11_0 = c11_0.addingProduct(a11, b0)
            c11_1 = c11_1.addingProduct(a11, b1)
            pa += 12
            pb += 128
        }
        let va = V(repeating: alpha)
        var row = c
        update(row, c0_0, va, beta)
        update(row + 16, c0_1, va, beta)
        row += ldc
        update(row, c1_0, va, beta)
        update(row + 16, c1_1, va, beta)
        row += ldc
        update(row, c2_0, va, beta)
        update(row + 16, c2_1, va, beta)
        row += ldc
        update(row, c3_0, va, beta)
        update(row + 16, c3_1, va, beta)
        row += ldc
        update(row, c4_0, va, beta)
        update(row + 16, c4_1, va, beta)
        row += ldc
        update(row, c5_0, va, beta)
        update(row + 16, c5_1, va, beta)
        row += ldc
        update(row, c6_0, va, beta)
        update(row + 16, c6_1, va, beta)
        row += ldc
        update(row, c7_0, va, beta)
        update(row + 16, c7_1, va, beta)
        row += ldc
        update(row, c8_0, va, beta)
        update(row + 16, c8_1, va, beta)
        row += ldc
        update(row, c9_0, va, beta)
        update(row + 16, c9_1, va, beta)
        row += ldc
        update(row, c10_0, va, beta)
        update(row + 16, c10_1, va, beta)
        row += ldc
        update(row, c11_0, va, beta)
        update(row + 16, c11_1, va, beta)
    }

}

// MARK: - Packing

extension Kernels {
    typealias V8 = SIMD8<Float>

    @inline(__always)
    static func unzip(_ a: V8, _ b: V8) -> (V8, V8) {
        let w = SIMD16(lowHalf: a, highHalf: b)
        return (w.evenHalf, w.oddHalf)
    }

    /// Transposes the 8x8 block at `src` (rows `ld` apart; rows at or past `rows` read as zero) and
    /// stores its 8 columns as 8-float vectors `dstStride` floats apart. Three rounds of unzipping
    /// rotate the 6-bit (row, column) index by 3, which swaps row and column.
    @inline(__always)
    static func transpose8(
        _ src: UnsafePointer<Float>, _ ld: Int, rows: Int,
        _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int
    ) {
        #if arch(x86_64) && GRM_AVX2
        if rows == 8 { return transpose8AVX2(src, ld, dst, dstStride) }
        #endif
        @inline(__always) func row(_ i: Int) -> V8 {
            i < rows ? UnsafeRawPointer(src + i * ld).loadUnaligned(as: V8.self) : V8()
        }
        var r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
        var r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
        for _ in 0..<3 {
            let (n0, n4) = unzip(r0, r1), (n1, n5) = unzip(r2, r3)
            let (n2, n6) = unzip(r4, r5), (n3, n7) = unzip(r6, r7)
            (r0, r1, r2, r3, r4, r5, r6, r7) = (n0, n1, n2, n3, n4, n5, n6, n7)
        }
        let d = UnsafeMutableRawPointer(dst), s = dstStride * 4
        d.storeBytes(of: r0, as: V8.self)
        d.storeBytes(of: r1, toByteOffset: s, as: V8.self)
        d.storeBytes(of: r2, toByteOffset: 2 * s, as: V8.self)
        d.storeBytes(of: r3, toByteOffset: 3 * s, as: V8.self)
        d.storeBytes(of: r4, toByteOffset: 4 * s, as: V8.self)
        d.storeBytes(of: r5, toByteOffset: 5 * s, as: V8.self)
        d.storeBytes(of: r6, toByteOffset: 6 * s, as: V8.self)
        d.storeBytes(of: r7, toByteOffset: 7 * s, as: V8.self)
    }

    #if arch(x86_64) && GRM_AVX2
    /// `transpose8` of a full 8x8 block in 24 shuffles (unzips take 48, and `gather` is hot in
    /// batched judging): rows i and i + 4 are loaded as the two halves of one
    /// register, then two rounds of unpacking (4-byte, then 8-byte) leave column k of rows 0-3 in
    /// the low half and of rows 4-7 in the high half.
    @inline(__always)
    static func transpose8AVX2(
        _ src: UnsafePointer<Float>, _ ld: Int, _ dst: UnsafeMutablePointer<Float>,
        _ dstStride: Int
    ) {
        @inline(__always) func pair(_ lo: Int, _ offset: Int) -> __m256 {
            _mm256_loadu2_m128(src + (lo + 4) * ld + offset, src + lo * ld + offset)
        }
        let d = UnsafeMutableRawPointer(dst), s = dstStride * 4
        @inline(__always) func columns(_ offset: Int) {
            let a0 = pair(0, offset), a1 = pair(1, offset), a2 = pair(2, offset), a3 = pair(3, offset)
            let t0 = _mm256_castps_pd(_mm256_unpacklo_ps(a0, a1)), t1 = _mm256_castps_pd(_mm256_unpackhi_ps(a0, a1))
            let t2 = _mm256_castps_pd(_mm256_unpacklo_ps(a2, a3)), t3 = _mm256_castps_pd(_mm256_unpackhi_ps(a2, a3))
            let o = d + offset * s
            o.storeBytes(of: _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2)), as: __m256.self)
            o.storeBytes(of: _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2)), toByteOffset: s, as: __m256.self)
            o.storeBytes(of: _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3)), toByteOffset: 2 * s, as: __m256.self)
            o.storeBytes(of: _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3)), toByteOffset: 3 * s, as: __m256.self)
        }
        columns(0)
        columns(4)
    }
    #endif

    /// Gathers `count` (<= `width`) strided rows into `width`-float groups: for each k in `0..<kc`,
    /// `dst[k * width + r] = src[r * ld + k]`, zeros for `r >= count`. Full 8-row groups go through
    /// 8x8 transposes; their stores may spill up to 7 floats past a group (into the next k's slots,
    /// rewritten afterwards, or past the panel: the buffers keep 8 floats of slack).
    static func gather(
        _ src: UnsafePointer<Float>, _ ld: Int, count: Int, kc: Int, width: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        if count < width {
            // Edge panel: plain loops.
            for r in 0..<count {
                let s = src + r * ld
                var o = dst + r
                for kk in 0..<kc {
                    o.pointee = s[kk]
                    o += width
                }
            }
            for kk in 0..<kc { for r in count..<width { dst[kk * width + r] = 0 } }
            return
        }
        let kv = kc / 8 * 8
        // Last group first: a group's overflow lands only in slots that later groups (lower
        // offsets) or later k rewrite.
        var g = (width + 7) / 8 - 1
        while g >= 0 {
            let rows = min(8, width - g * 8)
            let s = src + g * 8 * ld
            var kk = 0
            while kk < kv {
                transpose8(s + kk, ld, rows: rows, dst + kk * width + g * 8, width)
                kk += 8
            }
            g -= 1
        }
        for kk in kv..<kc { for r in 0..<width { dst[kk * width + r] = src[r * ld + kk] } }
    }

    /// Copies `kc` groups of `width` contiguous floats (`ld` apart) to `dst`, zero-padded past `count`.
    static func copyRows(
        _ src: UnsafePointer<Float>, _ ld: Int, count: Int, kc: Int, width: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        var s = src, o = dst
        if count == width && width % 8 == 0 {
            for _ in 0..<kc {
                var v = 0
                while v < width {
                    UnsafeMutableRawPointer(o + v).storeBytes(
                        of: UnsafeRawPointer(s + v).loadUnaligned(as: V8.self), as: V8.self)
                    v += 8
                }
                s += ld
                o += width
            }
        } else {
            for _ in 0..<kc {
                for r in 0..<count { o[r] = s[r] }
                for r in count..<width { o[r] = 0 }
                s += ld
                o += width
            }
        }
    }

    /// Packs rows `i0..<i0+rows` and K `k0..<k0+kc` of op(A) into `mr`-row panels: panel p holds,
    /// for each k, the `mr` values of rows `i0+p*mr ..< i0+(p+1)*mr` (zeros past `rows`).
    static func packA(
        transA: Bool, _ a: UnsafePointer<Float>, _ lda: Int, i0: Int, rows: Int,
        k0: Int, kc: Int, mr: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        var r0 = 0
        while r0 < rows {
            let valid = min(mr, rows - r0)
            let out = dst + r0 * kc  // panel r0 / mr
            if transA {
                copyRows(a + k0 * lda + i0 + r0, lda, count: valid, kc: kc, width: mr, into: out)
            } else {
                gather(a + (i0 + r0) * lda + k0, lda, count: valid, kc: kc, width: mr, into: out)
            }
            r0 += mr
        }
    }

    /// Packs `nr`-column panels `q0..<q1` of op(B) (columns from `j0`, `cols` valid in the block,
    /// K `k0..<k0+kc`): panel q holds, for each k, the `nr` values of its columns (zeros past `cols`).
    static func packB(
        transB: Bool, _ b: UnsafePointer<Float>, _ ldb: Int, j0: Int, cols: Int,
        k0: Int, kc: Int, nr: Int, panels q0: Int, _ q1: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        for q in q0..<q1 {
            let c0 = q * nr
            let valid = min(nr, cols - c0)
            let out = dst + q * nr * kc
            if transB {
                gather(b + (j0 + c0) * ldb + k0, ldb, count: valid, kc: kc, width: nr, into: out)
            } else {
                copyRows(b + k0 * ldb + j0 + c0, ldb, count: valid, kc: kc, width: nr, into: out)
            }
        }
    }
}

// MARK: - Small M (no packing)

extension Kernels {
    @inline(__always)
    static func load<V: GEMMVector>(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    /// The first `count` floats at `p`, zeros after.
    @inline(__always)
    static func loadPartial<V: GEMMVector>(_ p: UnsafePointer<Float>, _ count: Int) -> V {
        var v = V()
        for l in 0..<count { v[l] = p[l] }
        return v
    }

    /// `C[i, j] = alpha * dot(A row i, W row j) + beta * C[i, j]` for 4 rows of A and 2 rows of W
    /// (op(B) = W^T, the usual layout of weights). Accumulates `V.scalarCount` lanes along K, the
    /// tail zero-padded, then sums the lanes pairwise: the same per element as `dot1x4`/`dot1x1`.
    @inline(never)
    static func dot4x2<V: GEMMVector>(
        _: V.Type, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
        _ w: UnsafePointer<Float>, _ ldw: Int,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
    ) {
        var s00 = V(), s01 = V(), s10 = V(), s11 = V(), s20 = V(), s21 = V(), s30 = V(), s31 = V()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, w0 = w, w1 = w + ldw
        @inline(__always) func step(_ x0: V, _ x1: V, _ y0: V, _ y1: V, _ y2: V, _ y3: V) {
            s00 = s00.addingProduct(y0, x0)
            s01 = s01.addingProduct(y0, x1)
            s10 = s10.addingProduct(y1, x0)
            s11 = s11.addingProduct(y1, x1)
            s20 = s20.addingProduct(y2, x0)
            s21 = s21.addingProduct(y2, x1)
            s30 = s30.addingProduct(y3, x0)
            s31 = s31.addingProduct(y3, x1)
        }
        let width = V.scalarCount
        var p = 0
        while p + width <= k {
            step(load(w0 + p), load(w1 + p), load(a0 + p), load(a1 + p), load(a2 + p), load(a3 + p))
            p += width
        }
        if p < k {
            let r = k - p
            step(
                loadPartial(w0 + p, r), loadPartial(w1 + p, r), loadPartial(a0 + p, r),
                loadPartial(a1 + p, r), loadPartial(a2 + p, r), loadPartial(a3 + p, r))
        }
        update(c, s00.total, alpha, beta)
        update(c + 1, s01.total, alpha, beta)
        update(c + ldc, s10.total, alpha, beta)
        update(c + ldc + 1, s11.total, alpha, beta)
        update(c + 2 * ldc, s20.total, alpha, beta)
        update(c + 2 * ldc + 1, s21.total, alpha, beta)
        update(c + 3 * ldc, s30.total, alpha, beta)
        update(c + 3 * ldc + 1, s31.total, alpha, beta)
    }

    /// One row of A against 4 rows of W (the matrix-vector case).
    @inline(never)
    static func dot1x4<V: GEMMVector>(
        _: V.Type, _ k: Int, _ a: UnsafePointer<Float>,
        _ w: UnsafePointer<Float>, _ ldw: Int,
        _ c: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float
    ) {
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        let w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw
        @inline(__always) func step(_ y: V, _ x0: V, _ x1: V, _ x2: V, _ x3: V) {
            s0 = s0.addingProduct(y, x0)
            s1 = s1.addingProduct(y, x1)
            s2 = s2.addingProduct(y, x2)
            s3 = s3.addingProduct(y, x3)
        }
        let width = V.scalarCount
        var p = 0
        while p + width <= k {
            step(load(a + p), load(w0 + p), load(w1 + p), load(w2 + p), load(w3 + p))
            p += width
        }
        if p < k {
            let r = k - p
            step(
                loadPartial(a + p, r), loadPartial(w0 + p, r), loadPartial(w1 + p, r),
                loadPartial(w2 + p, r), loadPartial(w3 + p, r))
        }
        update(c, s0.total, alpha, beta)
        update(c + 1, s1.total, alpha, beta)
        update(c + 2, s2.total, alpha, beta)
        update(c + 3, s3.total, alpha, beta)
    }

    /// One row of A against one row of W.
    @inline(never)
    static func dot1x1<V: GEMMVector>(
        _: V.Type, _ k: Int, _ a: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float
    ) {
        var s = V()
        let width = V.scalarCount
        var p = 0
        while p + width <= k {
            s = s.addingProduct(load(a + p) as V, load(w + p))
            p += width
        }
        if p < k { s = s.addingProduct(loadPartial(a + p, k - p) as V, loadPartial(w + p, k - p)) }
        update(c, s.total, alpha, beta)
    }

    /// `C[i, j..<j+2V] = alpha * sum_k A[i, k] * B[k, j..<j+2V] + beta * C` for `rows` (1...4)
    /// rows of A, B row-major [K, N]. Each element is a plain K-ordered FMA chain, as in `axpyTail`.
    @inline(never)
    static func axpy4<V: GEMMVector>(
        _: V.Type, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
    ) {
        var s00 = V(), s01 = V(), s10 = V(), s11 = V(), s20 = V(), s21 = V(), s30 = V(), s31 = V()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
        let width = V.scalarCount
        var pb = b
        for p in 0..<k {
            let x0: V = load(pb), x1: V = load(pb + width)
            var y = V(repeating: a0[p])
            s00 = s00.addingProduct(y, x0)
            s01 = s01.addingProduct(y, x1)
            y = V(repeating: a1[p])
            s10 = s10.addingProduct(y, x0)
            s11 = s11.addingProduct(y, x1)
            y = V(repeating: a2[p])
            s20 = s20.addingProduct(y, x0)
            s21 = s21.addingProduct(y, x1)
            y = V(repeating: a3[p])
            s30 = s30.addingProduct(y, x0)
            s31 = s31.addingProduct(y, x1)
            pb += ldb
        }
        let va = V(repeating: alpha)
        update(c, s00, va, beta)
        update(c + width, s01, va, beta)
        update(c + ldc, s10, va, beta)
        update(c + ldc + width, s11, va, beta)
        update(c + 2 * ldc, s20, va, beta)
        update(c + 2 * ldc + width, s21, va, beta)
        update(c + 3 * ldc, s30, va, beta)
        update(c + 3 * ldc + width, s31, va, beta)
    }

    /// One row of A, 2V columns.
    @inline(never)
    static func axpy1<V: GEMMVector>(
        _: V.Type, _ k: Int, _ a: UnsafePointer<Float>,
        _ b: UnsafePointer<Float>, _ ldb: Int,
        _ c: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float
    ) {
        var s0 = V(), s1 = V()
        let width = V.scalarCount
        var pb = b
        for p in 0..<k {
            let y = V(repeating: a[p])
            s0 = s0.addingProduct(y, load(pb))
            s1 = s1.addingProduct(y, load(pb + width))
            pb += ldb
        }
        let va = V(repeating: alpha)
        update(c, s0, va, beta)
        update(c + width, s1, va, beta)
    }

    /// Scalar columns `j0..<j1` of the small-M, B-not-transposed product (one FMA chain each).
    static func axpyTail(
        _ rows: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int, _ j0: Int, _ j1: Int,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float
    ) {
        for i in 0..<rows {
            for j in j0..<j1 {
                var s: Float = 0
                for p in 0..<k { s = s.addingProduct(a[i * lda + p], b[p * ldb + j]) }
                update(c + i * ldc + j, s, alpha, beta)
            }
        }
    }
}
