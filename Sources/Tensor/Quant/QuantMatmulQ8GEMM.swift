#if arch(x86_64) && GRM_AVX512VNNI
import _Builtin_intrinsics.intel

/// The int8-activation path for many rows (a prompt's prefill) on AVX-512 VNNI: a GEMM whose
/// inner step is `vpdpbusd` on 16 output columns at once, so no lane sums are needed per block.
///
/// Activations are rounded per 32-value block exactly as `q8Linear` rounds them (ggml's q8_1:
/// levels q, scale d_x, s_x = d_x * sum q). Every weight type is read as unsigned levels u with a
/// per-block scale d_w and offset: Q4_1's nibbles with its m; Q4_0's nibbles (value d_w (u - 8));
/// Q8_0's levels plus 128 (value d_w (u - 128)). A block's dot product is then the exact integer
/// `sum u q - o * sum q` (o = 0, 8 or 128: the integer ggml's kernels compute), scaled by
/// d_w * d_x, plus m_w * s_x for Q4_1; blocks are summed in order into one f32 per element. Each
/// element's arithmetic depends on nothing but its row and column: not on m, the tile it falls
/// in, the other columns or the thread count.
///
/// Layout: W is packed per call into panels of 32 columns (W rows); per block a panel holds the
/// levels as [8 groups of 4 k][32 columns][4 bytes] (a `vpdpbusd` operand is 16 columns x 4 k),
/// then 32 scales d_w, then 32 offsets m_w. Each task packs one panel and runs every activation
/// row over it, 4 rows at a time (8 integer and 8 f32 accumulators).
extension QuantMatmul {
    static let vnniPanel = 32
    static let vnniBlockBytes = 8 * 128 + 2 * 32 * 4

    /// `y = x * W^T` for every part's W (Q4_0, Q4_1 or Q8_0), activations rounded to int8.
    static func q8GEMM(_ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, parts: [Part]) {
        precondition(m >= 1 && k % 32 == 0 && [.q4_0, .q4_1, .q8_0].contains(type), "q8GEMM: \(type) k = \(k)")
        withQuantizedRows(type, m: m, k: k, x: x, ldx: ldx) { args in
            var panels: [(part: Int, j: Int)] = []
            for (p, part) in parts.enumerated() {
                for j in stride(from: 0, to: part.n, by: vnniPanel) { panels.append((p, j)) }
            }
            let rowBytes = type.byteCount(elements: k), nb = args.nb
            parts.withUnsafeBufferPointer { parts in
                panels.withUnsafeBufferPointer { panels in
                    ThreadPool.shared.parallelFor(panels.count) { t in
                        let (p, j) = panels[t]
                        let part = parts[p], cols = min(vnniPanel, part.n - j)
                        let buffer = Workspace.shared.acquire(floats: nb * vnniBlockBytes / 4 + 16)
                        defer { Workspace.shared.release(buffer) }
                        let panel = UnsafeMutableRawPointer(buffer.floats)
                        packVNNIPanel(type, w: part.w + j * rowBytes, rowBytes: rowBytes, cols: cols, nb: nb, into: panel)
                        if type == .q4_1 {
                            vnniRows(VNNIWithOffset.self, args, UnsafeRawPointer(panel), part.y + j, part.ldy, cols)
                        } else {
                            vnniRows(VNNINoOffset.self, args, UnsafeRawPointer(panel), part.y + j, part.ldy, cols)
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` with the rows of x rounded to int8 as `q8Linear` rounds them: per row the
    /// levels, per block d_x, s_x and o * sum q (o: 8 for Q4_0, 128 for Q8_0, else 0).
    static func withQuantizedRows(
        _ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, _ body: (VNNIArgs) -> Void
    ) {
        let nb = k / 32
        let levelBytes = (k + 63) / 64 * 64
        let scratch = Workspace.shared.acquire(floats: m * (levelBytes / 4 + 3 * nb) + 16)
        defer { Workspace.shared.release(scratch) }
        let qx = UnsafeMutableRawPointer(scratch.floats).assumingMemoryBound(to: Int8.self)
        let dx = scratch.floats + m * levelBytes / 4, sx = dx + m * nb
        let cx = UnsafeMutableRawPointer(sx + m * nb).assumingMemoryBound(to: Int32.self)
        let offset: Int32 = type == .q4_0 ? 8 : type == .q8_0 ? 128 : 0
        for i in 0..<m {
            for b in 0..<nb {
                let q = qx + i * levelBytes + 32 * b
                quantizeBlock(x + i * ldx + 32 * b, q, &dx[i * nb + b], &sx[i * nb + b])
                var sum: Int32 = 0
                for t in 0..<32 { sum &+= Int32(q[t]) }
                cx[i * nb + b] = offset &* sum
            }
        }
        body(
            VNNIArgs(
                m: m, nb: nb, qx: UnsafePointer(qx), ldq: levelBytes, dx: UnsafePointer(dx), sx: UnsafePointer(sx),
                cx: UnsafePointer(cx)))
    }

    struct VNNIArgs {
        let m: Int, nb: Int
        let qx: UnsafePointer<Int8>, ldq: Int
        let dx: UnsafePointer<Float>, sx: UnsafePointer<Float>, cx: UnsafePointer<Int32>
    }

    /// Every activation row against one panel, four rows at a time.
    static func vnniRows<O: VNNIOffset>(
        _ o: O.Type, _ a: VNNIArgs, _ panel: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ cols: Int
    ) {
        var i = 0
        while i + 4 <= a.m {
            vnniTile(FusedRows4.self, o, a, panel, i, y + i * ldy, ldy, cols)
            i += 4
        }
        switch a.m - i {
        case 1: vnniTile(FusedRows1.self, o, a, panel, i, y + i * ldy, ldy, cols)
        case 2: vnniTile(FusedRows2.self, o, a, panel, i, y + i * ldy, ldy, cols)
        case 3: vnniTile(FusedRows3.self, o, a, panel, i, y + i * ldy, ldy, cols)
        default: break
        }
    }

    /// Packs W rows 0..<cols (at `w`) into a panel; columns past `cols` are zero (their results
    /// are not stored).
    static func packVNNIPanel(
        _ type: DType, w: UnsafeRawPointer, rowBytes: Int, cols: Int, nb: Int, into panel: UnsafeMutableRawPointer
    ) {
        if cols < vnniPanel { panel.initializeMemory(as: UInt8.self, repeating: 0, count: nb * vnniBlockBytes) }
        let blockBytes = type.blockBytes
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 8) { tmp in
            let levels = UnsafeMutableRawPointer(tmp.baseAddress!)
            for c in 0..<cols {
                let row = w + c * rowBytes
                for b in 0..<nb {
                    let block = row + b * blockBytes
                    let out = panel + b * vnniBlockBytes
                    let scales = (out + 1024).assumingMemoryBound(to: Float.self)
                    switch type {
                    case .q4_1:
                        let (d, m) = AVX2Q.f16Pair(block)
                        scales[c] = d
                        scales[32 + c] = m
                        levels.storeBytes(of: Q8WQ4_1.nibbleBytes(block + 4), as: __m256i.self)
                    case .q4_0:
                        scales[c] = QBits.f16(block, 0)
                        levels.storeBytes(of: Q8WQ4_1.nibbleBytes(block + 2), as: __m256i.self)
                    default:
                        scales[c] = QBits.f16(block, 0)
                        let v = (block + 2).loadUnaligned(as: __m256i.self)
                        levels.storeBytes(of: _mm256_xor_si256(v, _mm256_set1_epi8(-128)), as: __m256i.self)
                    }
                    for g in 0..<8 { (out + g * 128 + c * 4).storeBytes(of: tmp[g], as: UInt32.self) }
                }
            }
        }
    }

    /// Rows i0..<i0 + R.count against one panel: y[r][0..<cols] (row stride ldy).
    @inline(never)
    static func vnniTile<R: FusedRows, O: VNNIOffset>(
        _: R.Type, _: O.Type, _ a: VNNIArgs, _ panel: UnsafeRawPointer, _ i0: Int, _ y: UnsafeMutablePointer<Float>,
        _ ldy: Int, _ cols: Int
    ) {
        let n = R.count, nb = a.nb, ldq = a.ldq
        let x0 = UnsafeRawPointer(a.qx + i0 * ldq), x1 = x0 + ldq, x2 = x1 + ldq, x3 = x2 + ldq
        let d0 = a.dx + i0 * nb, d1 = d0 + nb, d2 = d1 + nb, d3 = d2 + nb
        let s0 = a.sx + i0 * nb, s1 = s0 + nb, s2 = s1 + nb, s3 = s2 + nb
        let c0 = a.cx + i0 * nb, c1 = c0 + nb, c2 = c1 + nb, c3 = c2 + nb
        let zf = _mm512_setzero_ps()
        var f00 = zf, f01 = zf, f10 = zf, f11 = zf, f20 = zf, f21 = zf, f30 = zf, f31 = zf
        for b in 0..<nb {
            let base = panel + b * vnniBlockBytes
            let zi = _mm512_setzero_si512()
            var i00 = zi, i01 = zi, i10 = zi, i11 = zi, i20 = zi, i21 = zi, i30 = zi, i31 = zi
            let xo = 32 * b
            for g in 0..<8 {
                let w0 = _mm512_loadu_si512(base + g * 128), w1 = _mm512_loadu_si512(base + g * 128 + 64)
                let o = xo + 4 * g
                let q0 = _mm512_set1_epi32(x0.loadUnaligned(fromByteOffset: o, as: Int32.self))
                i00 = _mm512_dpbusd_epi32(i00, w0, q0)
                i01 = _mm512_dpbusd_epi32(i01, w1, q0)
                if n > 1 {
                    let q1 = _mm512_set1_epi32(x1.loadUnaligned(fromByteOffset: o, as: Int32.self))
                    i10 = _mm512_dpbusd_epi32(i10, w0, q1)
                    i11 = _mm512_dpbusd_epi32(i11, w1, q1)
                }
                if n > 2 {
                    let q2 = _mm512_set1_epi32(x2.loadUnaligned(fromByteOffset: o, as: Int32.self))
                    i20 = _mm512_dpbusd_epi32(i20, w0, q2)
                    i21 = _mm512_dpbusd_epi32(i21, w1, q2)
                }
                if n > 3 {
                    let q3 = _mm512_set1_epi32(x3.loadUnaligned(fromByteOffset: o, as: Int32.self))
                    i30 = _mm512_dpbusd_epi32(i30, w0, q3)
                    i31 = _mm512_dpbusd_epi32(i31, w1, q3)
                }
            }
            let dw0 = _mm512_loadu_ps(base + 1024), dw1 = _mm512_loadu_ps(base + 1088)
            let mw0 = _mm512_loadu_ps(base + 1152), mw1 = _mm512_loadu_ps(base + 1216)
            @inline(__always) func scaled(
                _ f: __m512, _ acc: __m512i, _ dw: __m512, _ mw: __m512, _ d: Float, _ s: Float, _ c: Int32
            ) -> __m512 {
                let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_set1_epi32(c)))
                let r = _mm512_fmadd_ps(v, _mm512_mul_ps(dw, _mm512_set1_ps(d)), f)
                return O.value ? _mm512_fmadd_ps(mw, _mm512_set1_ps(s), r) : r
            }
            f00 = scaled(f00, i00, dw0, mw0, d0[b], s0[b], c0[b])
            f01 = scaled(f01, i01, dw1, mw1, d0[b], s0[b], c0[b])
            if n > 1 {
                f10 = scaled(f10, i10, dw0, mw0, d1[b], s1[b], c1[b])
                f11 = scaled(f11, i11, dw1, mw1, d1[b], s1[b], c1[b])
            }
            if n > 2 {
                f20 = scaled(f20, i20, dw0, mw0, d2[b], s2[b], c2[b])
                f21 = scaled(f21, i21, dw1, mw1, d2[b], s2[b], c2[b])
            }
            if n > 3 {
                f30 = scaled(f30, i30, dw0, mw0, d3[b], s3[b], c3[b])
                f31 = scaled(f31, i31, dw1, mw1, d3[b], s3[b], c3[b])
            }
        }
        @inline(__always) func store(_ lo: __m512, _ hi: __m512, _ p: UnsafeMutablePointer<Float>) {
            if cols == 32 {
                _mm512_storeu_ps(p, lo)
                _mm512_storeu_ps(p + 16, hi)
            } else {
                _mm512_mask_storeu_ps(p, __mmask16(truncatingIfNeeded: (1 << min(cols, 16)) - 1), lo)
                if cols > 16 { _mm512_mask_storeu_ps(p + 16, __mmask16(truncatingIfNeeded: (1 << (cols - 16)) - 1), hi) }
            }
        }
        store(f00, f01, y)
        if n > 1 { store(f10, f11, y + ldy) }
        if n > 2 { store(f20, f21, y + 2 * ldy) }
        if n > 3 { store(f30, f31, y + 3 * ldy) }
    }
}

/// Whether a weight type's blocks carry an offset m_w (Q4_1), as a type so that each kernel is
/// compiled without the test.
protocol VNNIOffset { static var value: Bool { get } }
enum VNNIWithOffset: VNNIOffset { static var value: Bool { true } }
enum VNNINoOffset: VNNIOffset { static var value: Bool { false } }
#endif
