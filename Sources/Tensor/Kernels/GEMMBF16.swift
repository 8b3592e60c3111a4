#if arch(x86_64) && GRM_AMX
import COpenBLAS
import _Builtin_intrinsics.intel

extension GEMM {
    /// `C = alpha * A op(B)` on AMX bf16 tiles for f32 operands, on the calling thread: A [m, k]
    /// (rows `lda` apart), op(B) = B^T for `transB` (B [n, k], rows `ldb` apart) or B ([k, n]).
    /// Both operands are rounded to bf16 (`QuantMatmul.bf16`), their products summed in f32, and
    /// C [m, n] (rows `ldc` apart) written in full. For `--activations bf16` prompts' attention
    /// (scores against the keys, then probabilities against the values). Needs
    /// `QuantMatmul.usesBF16Tiles`; the tiles are configured and released here.
    static func bf16Tiles(
        transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
        ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        let kp = max(32, GEMM.ceilDiv(k, 32) * 32), mp = GEMM.ceilDiv(m, 32) * 32, steps = kp / 32
        let units = GEMM.ceilDiv(n, 32), panelBytes = 64 * kp
        // Scratch: A as bf16 (mp x kp), the B panels of every unit, 32 f32 rows for transposed B,
        // and a 32 x 32 result block.
        let scratch = Workspace.shared.acquire(floats: mp * kp / 2 + units * panelBytes / 4 + 32 * kp + 1024 + 16)
        defer { Workspace.shared.release(scratch) }
        let ab = UnsafeMutableRawPointer(scratch.floats), panels = ab + 2 * mp * kp
        let rows = scratch.floats + mp * kp / 2 + units * panelBytes / 4, edge = rows + 32 * kp
        QuantMatmul.bf16Rows(a, ldx: lda, m: m, k: k, kp: kp, rows: 0..<mp, into: ab)
        for u in 0..<units {
            let n0 = 32 * u, cols = min(32, n - n0), p = panels + u * panelBytes
            if transB {
                // B's rows are the columns, as a weight's are: the weights' panel builder, on f32.
                QuantMatmul.bf16Decode(.f32, b, rowBytes: 4 * ldb, c0: n0, cols: cols, k: k, kp: kp, rows)
                QuantMatmul.bf16Panels(rows, kp: kp, into: p)
            } else {
                bf16PairRows(b, ldb: ldb, k: k, n0: n0, cols: cols, steps: steps, into: p)
            }
        }
        grm_amx_bf16_configure()
        defer { grm_amx_release() }
        for u in 0..<units {
            let n0 = 32 * u, cols = min(32, n - n0)
            let b0 = UnsafeRawPointer(panels + u * panelBytes), b1 = b0 + 1024 * steps
            var i = 0
            while i < m {
                let ai = UnsafeRawPointer(ab + 2 * i * kp), rb = min(32, m - i)
                grm_amx_bf16_block32(ai, 2 * kp, b0, b1, steps, edge, 128)
                for r in 0..<rb {
                    let src = edge + 32 * r, dst = c + (i + r) * ldc + n0
                    if alpha == 1 {
                        dst.update(from: src, count: cols)
                    } else {
                        for j in 0..<cols { dst[j] = alpha * src[j] }
                    }
                }
                i += 32
            }
        }
    }

    /// The two B panels of columns n0..<n0+cols of B [k, n] (rows `ldb` apart): tile row r of
    /// step s holds, per column, the pair of rows 32s + 2r and 32s + 2r + 1 (zeros past k and cols).
    private static func bf16PairRows(
        _ b: UnsafePointer<Float>, ldb: Int, k: Int, n0: Int, cols: Int, steps: Int, into p: UnsafeMutableRawPointer
    ) {
        var tail = SIMD16<Float>()
        @inline(__always) func sixteen(_ row: Int, _ c0: Int) -> __m256i {
            let width = min(16, cols - c0)
            if row >= k || width <= 0 { return _mm256_setzero_si256() }
            let src = b + row * ldb + n0 + c0
            if width == 16 { return QuantMatmul.bf16(_mm512_loadu_si512(src)) }
            tail = SIMD16<Float>()
            for j in 0..<width { tail[j] = src[j] }
            return QuantMatmul.bf16(unsafeBitCast(tail, to: __m512i.self))
        }
        for h in 0..<2 {
            for s in 0..<steps {
                let tile = p + 1024 * (h * steps + s)
                for r in 0..<16 {
                    let k0 = 32 * s + 2 * r
                    let lo = _mm512_cvtepu16_epi32(sixteen(k0, 16 * h)), hi = _mm512_cvtepu16_epi32(sixteen(k0 + 1, 16 * h))
                    (tile + 64 * r).storeBytes(of: _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)), as: __m512i.self)
                }
            }
        }
    }
}
#endif
