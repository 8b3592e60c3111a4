#if arch(x86_64) && GRM_AMX
import COpenBLAS
import _Builtin_intrinsics.intel

/// Prompt products on Intel AMX's bf16 tiles (`--activations bf16`, `ActivationMode.bf16`): the
/// activations and the weight's values rounded to bf16 (8 significant bits, to nearest even),
/// their products summed in f32 by `tdpbf16ps`, for any weight type with a decoder.
///
/// Why: the int8 tile products (QuantMatmulQ8AMX.swift) must scale every 32-value block's
/// integers into f32 with the block's own scales, four vector operations per row and block, and
/// that bounds them near 1 TFLOP/s on two cores. A bf16 tile product carries no per-block scale:
/// the weight's scales are folded into its values when they are decoded, and each 16 x 16 result
/// accumulates over the whole of K in its tile register, stored once.
///
/// Layout: A is the activations as bf16 rows (K rounded up to 32, rows to 32, zero padded), read
/// in place by the tile loads. W is decoded 32 rows (output columns) at a time into two B panels
/// of 16 columns, once per weight and kept with it (`Tensor.bf16Panels`; per call with
/// `EngineSettings.bf16Panels` off): per 32 values of K one 1,024-byte tile whose row r holds, for
/// each column, the pair of values 2r and 2r + 1 (a 16 x 16 transpose of 32-bit pairs). Each
/// block of 32 rows and 32 columns is then 4 tile products per 32 values of K
/// (`grm_amx_bf16_block32`), with C stored straight into y when the block is whole.
///
/// Error: each product's operands carry a relative rounding error of at most 2^-8 each, so an
/// element is off by at most about 2^-7 * sum_k |x_k w_k| from the exact product of the decoded
/// weight (the int8 path's bound is of the same order, from its 1/254 of each block's largest
/// activation). Inputs that are bf16 denormals count as zero (the tile unit's rule).
extension QuantMatmul {
    /// Whether a `.bf16` product of m rows with a weight of `type` reads the weight's kept bf16
    /// panels (`Tensor.bf16Panels`, `EngineSettings.bf16Panels`).
    static func usesBF16Panels(_ type: DType, m: Int) -> Bool {
        let s = EngineSettings.current
        return s.activations == .bf16 && s.bf16Panels && type != .f32 && type != .i32 && usesBF16Tiles(m: m)
    }

    /// Bytes of a weight's bf16 panels: per 32 columns, two panels of kp / 32 tiles of 1,024 bytes.
    static func bf16PanelBytes(n: Int, k: Int) -> Int { GEMM.ceilDiv(n, 32) * 64 * GEMM.ceilDiv(k, 32) * 32 }

    /// W [n, k] of `type` as the B panels the tiles read (columns 32u..<32u+32 at u * 64 * kp),
    /// decoded and rounded once, on every thread; with `adding` (f32 [n, k], contiguous), the
    /// panels of W + that matrix, summed in f32 before the rounding.
    static func packBF16Panels(
        _ type: DType, w: UnsafeRawPointer, n: Int, k: Int, adding delta: UnsafePointer<Float>? = nil,
        into out: UnsafeMutableRawPointer
    ) {
        let kp = GEMM.ceilDiv(k, 32) * 32, units = GEMM.ceilDiv(n, 32), rowBytes = type.byteCount(elements: k)
        ThreadPool.shared.parallelRanges(units, parts: min(units, ThreadPool.shared.threadCount)) { range in
            let scratch = Workspace.shared.acquire(floats: 32 * kp + 16)
            defer { Workspace.shared.release(scratch) }
            for u in range {
                let cols = min(32, n - 32 * u)
                bf16Decode(type, w, rowBytes: rowBytes, c0: 32 * u, cols: cols, k: k, kp: kp, scratch.floats)
                if let delta {
                    for r in 0..<cols {
                        let row = scratch.floats + r * kp, add = delta + (32 * u + r) * k
                        for j in 0..<k { row[j] += add[j] }
                    }
                }
                bf16Panels(scratch.floats, kp: kp, into: out + u * 64 * kp)
            }
        }
    }

    /// W rows c0..<c0+cols decoded into 32 rows of kp floats at `rows` (zeros past k and cols).
    static func bf16Decode(
        _ type: DType, _ w: UnsafeRawPointer, rowBytes: Int, c0: Int, cols: Int, k: Int, kp: Int, _ rows: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<32 {
            let row = rows + r * kp
            if r < cols {
                decode(type, w + (c0 + r) * rowBytes, row, count: k)
                if kp > k { (row + k).update(repeating: 0, count: kp - k) }
            } else {
                row.update(repeating: 0, count: kp)
            }
        }
    }

    /// `y = x * W^T` for every part's W (all of `type`, K = k), on bf16 tiles. Parts are split
    /// over the threads in blocks of 32 columns; each element's value does not depend on the split.
    static func bf16Tiles(_ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, parts: [Part]) {
        bf16Run(type, m: m, k: k, x: x, ldx: ldx, parts.map { ($0.w, nil, $0.bf16, nil, $0.n, $0.y, $0.ldy) }, Add.self)
    }

    /// `y = f(x * G^T, x * U^T)` elementwise (a gated MLP's SwiGLU or GeGLU) on bf16 tiles, for
    /// weights G and U [n, k] of `type`: each 32 x 32 block of both products is formed in L1 and
    /// only f's result is written, so neither product makes a trip through memory. Each element
    /// is `F.apply` of the two values `bf16Tiles` gives.
    static func bf16Gated<F: BinaryFunction>(
        _ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, gate: UnsafeRawPointer, up: UnsafeRawPointer,
        panels: (UnsafeRawPointer, UnsafeRawPointer)?, n: Int, y: UnsafeMutablePointer<Float>, ldy: Int, _ f: F.Type
    ) {
        bf16Run(type, m: m, k: k, x: x, ldx: ldx, [(gate, up, panels?.0, panels?.1, n, y, ldy)], F.self)
    }

    /// The tile products of `bf16Tiles` and `bf16Gated`: each source is one weight (`second`
    /// nil: its product) or two (F of the two products), with its kept panels (`cached`,
    /// `cachedSecond`: `Tensor.bf16Panels`) or without (decoded here).
    private static func bf16Run<F: BinaryFunction>(
        _ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
        _ sources: [(
            w: UnsafeRawPointer, second: UnsafeRawPointer?, cached: UnsafeRawPointer?, cachedSecond: UnsafeRawPointer?, n: Int,
            y: UnsafeMutablePointer<Float>, ldy: Int
        )],
        _: F.Type
    ) {
        let kp = GEMM.ceilDiv(k, 32) * 32, mp = GEMM.ceilDiv(m, 32) * 32, steps = kp / 32
        let rowBytes = type.byteCount(elements: k)
        let a = Workspace.shared.acquire(floats: mp * kp / 2 + 16)
        defer { Workspace.shared.release(a) }
        let ab = UnsafeMutableRawPointer(a.floats)
        // With kept panels, from 64 rows, each thread takes a contiguous run of rows against every
        // column: it rounds its own rows (no separate pass and barrier, and they are still in its
        // L2 when the tiles read them), and each column's panels come from L3 once per chunk of
        // its rows. (Split by columns instead, as without kept panels, every thread read all the
        // rows: 1,024 x 576 x 576 ran at 1.88-1.96 TFLOP/s on two threads against 2.43-2.48 now;
        // the down projection 2.09-2.11 against 2.48-2.51.)
        let cached = sources.allSatisfy { $0.cached != nil && ($0.second == nil || $0.cachedSecond != nil) }
        let rowSplit = cached && m >= 64
        if !rowSplit {
            ThreadPool.shared.parallelRanges(mp, parts: mp >= 256 ? ThreadPool.shared.threadCount : 1) { rows in
                bf16Rows(x, ldx: ldx, m: m, k: k, kp: kp, rows: rows, into: ab)
            }
        }
        var units: [(source: Int, column: Int)] = []
        for (p, source) in sources.enumerated() {
            for c in Swift.stride(from: 0, to: source.n, by: 32) { units.append((p, c)) }
        }
        let weights = sources.contains { $0.second != nil } ? 2 : 1
        let total = sources.reduce(0) { $0 + weights * $1.n }
        // Otherwise from 64 rows one task per thread, each over a contiguous run of columns: every
        // chunk of A rows is then read from L3 once per thread and used against all of its
        // columns. (Up to 32 tasks of one or two units each re-read the whole of A per task: the
        // down projection, K = 1,536, ran at 1.45 TFLOP/s on two threads instead of 2.05.)
        let tasks =
            rowSplit
            ? min(mp / 32, ThreadPool.shared.threadCount)
            : m >= 64 ? min(units.count, ThreadPool.shared.threadCount) : rowTasks(units: units.count, n: total, k: k)
        // Without kept panels each task decodes up to 1 MB of B panels (a group of its units); the
        // rows run over them in chunks of 512 KB of activations, which stay in L2 (a prompt's rows
        // streamed from L3 once per 32 columns ran the tiles at about half speed).
        let panelBytes = 64 * kp, unitBytes = weights * panelBytes
        let group = cached ? units.count : max(1, (1 << 20) / unitBytes), chunk = max(32, (1 << 19) / (2 * kp) / 32 * 32)
        sources.withUnsafeBufferPointer { sources in
            units.withUnsafeBufferPointer { units in
                ThreadPool.shared.parallelFor(tasks) { t in
                    let lo = rowSplit ? 0 : units.count * t / tasks, hi = rowSplit ? units.count : units.count * (t + 1) / tasks
                    let rowLo = rowSplit ? mp / 32 * t / tasks * 32 : 0, rowHi = rowSplit ? mp / 32 * (t + 1) / tasks * 32 : mp
                    if rowSplit { bf16Rows(x, ldx: ldx, m: m, k: k, kp: kp, rows: rowLo..<rowHi, into: ab) }
                    // Scratch: 32 decoded W rows (32 * kp floats), a group's B panels, two 32 x 32
                    // blocks (edges, and a gated product's two halves).
                    let groupFloats = cached ? 0 : min(group, hi - lo) * unitBytes / 4
                    let scratch = Workspace.shared.acquire(floats: 32 * kp + groupFloats + 2048 + 16)
                    grm_amx_bf16_configure()
                    defer {
                        grm_amx_release()
                        Workspace.shared.release(scratch)
                    }
                    let decoded = scratch.floats, panels = UnsafeMutableRawPointer(scratch.floats + 32 * kp)
                    let edge = scratch.floats + 32 * kp + groupFloats, second = edge + 1024
                    /// W rows c0..<c0+cols of `w` into the two B panels at `into`.
                    func prepare(_ w: UnsafeRawPointer, _ c0: Int, _ cols: Int, into: UnsafeMutableRawPointer) {
                        bf16Decode(type, w, rowBytes: rowBytes, c0: c0, cols: cols, k: k, kp: kp, decoded)
                        bf16Panels(decoded, kp: kp, into: into)
                    }
                    var g = lo
                    while g < hi {
                        let ge = min(hi, g + group)
                        for u in g..<ge where !cached {
                            let (p, c0) = units[u]
                            let source = sources[p], cols = min(32, source.n - c0), at = panels + (u - g) * unitBytes
                            prepare(source.w, c0, cols, into: at)
                            if let w2 = source.second { prepare(w2, c0, cols, into: at + panelBytes) }
                        }
                        var i0 = rowLo
                        while i0 < rowHi {
                            let i1 = min(rowHi, i0 + chunk)
                            for u in g..<ge {
                                let (p, c0) = units[u]
                                let source = sources[p], cols = min(32, source.n - c0)
                                // The two weights' panels (the second one's only for gated sources).
                                let b0: UnsafeRawPointer, s0: UnsafeRawPointer
                                if cached {
                                    b0 = source.cached! + (c0 / 32) * panelBytes
                                    s0 = (source.cachedSecond ?? source.cached!) + (c0 / 32) * panelBytes
                                } else {
                                    b0 = UnsafeRawPointer(panels + (u - g) * unitBytes)
                                    s0 = b0 + panelBytes
                                }
                                let b1 = b0 + 1024 * steps
                                var i = i0
                                while i < i1 {
                                    let ai = UnsafeRawPointer(ab + i * 2 * kp), rows = max(0, min(32, m - i))
                                    if source.second == nil && rows == 32 && cols == 32 {
                                        grm_amx_bf16_block32(ai, 2 * kp, b0, b1, steps, source.y + i * source.ldy + c0, 4 * source.ldy)
                                    } else {
                                        grm_amx_bf16_block32(ai, 2 * kp, b0, b1, steps, edge, 128)
                                        if source.second != nil {
                                            grm_amx_bf16_block32(ai, 2 * kp, s0, s0 + 1024 * steps, steps, second, 128)
                                            for e in Swift.stride(from: 0, to: 32 * rows, by: Vec.scalarCount) {
                                                let v = F.apply(
                                                    UnsafeRawPointer(edge + e).loadUnaligned(as: Vec.self),
                                                    UnsafeRawPointer(second + e).loadUnaligned(as: Vec.self))
                                                UnsafeMutableRawPointer(edge + e).storeBytes(of: v, as: Vec.self)
                                            }
                                        }
                                        for r in 0..<rows {
                                            (source.y + (i + r) * source.ldy + c0).update(from: edge + 32 * r, count: cols)
                                        }
                                    }
                                    i += 32
                                }
                            }
                            i0 = i1
                        }
                        g = ge
                    }
                }
            }
        }
    }

    /// Rows `rows` of the A operand at `a`: row i < m of x (`ldx` floats apart) as bf16, K padded
    /// to kp with zeros (2 * kp bytes per row); rows m and up all zeros.
    static func bf16Rows(
        _ x: UnsafePointer<Float>, ldx: Int, m: Int, k: Int, kp: Int, rows: Range<Int>, into a: UnsafeMutableRawPointer
    ) {
        for i in rows {
            let dst = a + i * 2 * kp
            if i < m {
                bf16Row(x + i * ldx, k, into: dst)
                if kp > k { (dst + 2 * k).initializeMemory(as: UInt8.self, repeating: 0, count: 2 * (kp - k)) }
            } else {
                dst.initializeMemory(as: UInt8.self, repeating: 0, count: 2 * kp)
            }
        }
    }

    /// `n` floats from `src` as bf16 (round to nearest, ties to even; NaN stays NaN; denormals
    /// flushed to zero) at `dst`: `grm_bf16_row`, a hardware conversion of 32 floats at a time.
    @inline(__always) static func bf16Row(_ src: UnsafePointer<Float>, _ n: Int, into dst: UnsafeMutableRawPointer) {
        grm_bf16_row(src, n, dst)
    }

    /// Sixteen f32 bit patterns rounded to bf16 (`vpmovdw` of the rounded high halves).
    @inline(__always) static func bf16(_ v: __m512i) -> __m256i {
        let lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(1))
        let rounded = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16)
        // All ones where v is a NaN (its magnitude's bits above infinity's), else zero.
        let nan = _mm512_srai_epi32(_mm512_sub_epi32(_mm512_set1_epi32(0x7F80_0000), _mm512_and_si512(v, _mm512_set1_epi32(0x7FFF_FFFF))), 31)
        let quiet = _mm512_or_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(0x40))
        return _mm512_cvtepi32_epi16(_mm512_or_si512(_mm512_andnot_si512(nan, rounded), _mm512_and_si512(nan, quiet)))
    }

    /// `bf16` on Swift vectors (for tests).
    static func bf16(_ v: SIMD16<UInt32>) -> SIMD16<UInt16> {
        unsafeBitCast(bf16(unsafeBitCast(v, to: __m512i.self)), to: SIMD16<UInt16>.self)
    }

    /// The two B panels of 32 decoded W rows (`kp` floats apart) at `b`: columns 0-15 then
    /// 16-31, each kp / 32 tiles of 16 rows x 16 columns x 2 values (row r: values 2r and 2r + 1).
    static func bf16Panels(_ w: UnsafePointer<Float>, kp: Int, into b: UnsafeMutableRawPointer) {
        let steps = kp / 32
        @inline(__always) func pairs(_ row: UnsafePointer<Float>) -> __m512i {
            unsafeBitCast((bf16(_mm512_loadu_si512(row)), bf16(_mm512_loadu_si512(row + 16))), to: __m512i.self)
        }
        for h in 0..<2 {
            for s in 0..<steps {
                let src = w + 16 * h * kp + 32 * s
                let t = transpose16(
                    pairs(src), pairs(src + kp), pairs(src + 2 * kp), pairs(src + 3 * kp), pairs(src + 4 * kp),
                    pairs(src + 5 * kp), pairs(src + 6 * kp), pairs(src + 7 * kp), pairs(src + 8 * kp),
                    pairs(src + 9 * kp), pairs(src + 10 * kp), pairs(src + 11 * kp), pairs(src + 12 * kp),
                    pairs(src + 13 * kp), pairs(src + 14 * kp), pairs(src + 15 * kp))
                let dst = b + 1024 * (h * steps + s)
                withUnsafeBytes(of: t) { dst.copyMemory(from: $0.baseAddress!, byteCount: 1024) }
            }
        }
    }

    typealias Rows16 = (
        __m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i,
        __m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i
    )

    /// The 16 x 16 transpose of 32-bit elements (row i of the result holds element i of each row):
    /// 32-bit and 64-bit interleaves within 128-bit lanes, then two rounds of lane selection.
    @inline(__always) static func transpose16(
        _ r0: __m512i, _ r1: __m512i, _ r2: __m512i, _ r3: __m512i, _ r4: __m512i, _ r5: __m512i, _ r6: __m512i,
        _ r7: __m512i, _ r8: __m512i, _ r9: __m512i, _ r10: __m512i, _ r11: __m512i, _ r12: __m512i,
        _ r13: __m512i, _ r14: __m512i, _ r15: __m512i
    ) -> Rows16 {
        // u[4g + e], lane L: rows 4g..4g+3 at column 4L + e.
        @inline(__always) func quad(_ a: __m512i, _ b: __m512i, _ c: __m512i, _ d: __m512i) -> (__m512i, __m512i, __m512i, __m512i) {
            let t0 = _mm512_unpacklo_epi32(a, b), t1 = _mm512_unpackhi_epi32(a, b)
            let t2 = _mm512_unpacklo_epi32(c, d), t3 = _mm512_unpackhi_epi32(c, d)
            return (
                _mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
                _mm512_unpackhi_epi64(t1, t3)
            )
        }
        let g0 = quad(r0, r1, r2, r3), g1 = quad(r4, r5, r6, r7), g2 = quad(r8, r9, r10, r11), g3 = quad(r12, r13, r14, r15)
        // 128-bit lanes as 64-bit index pairs: a's lanes 0, 1 and b's 0, 1 (and 2, 3); then a's
        // lanes 0, 2 and b's 0, 2 (and 1, 3).
        let low = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), high = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4)
        let even = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), odd = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2)
        // Output rows 4L + e for e, from u[e], u[4 + e], u[8 + e], u[12 + e].
        @inline(__always) func column(_ a: __m512i, _ b: __m512i, _ c: __m512i, _ d: __m512i) -> (__m512i, __m512i, __m512i, __m512i) {
            let ab01 = _mm512_permutex2var_epi64(a, low, b), ab23 = _mm512_permutex2var_epi64(a, high, b)
            let cd01 = _mm512_permutex2var_epi64(c, low, d), cd23 = _mm512_permutex2var_epi64(c, high, d)
            return (
                _mm512_permutex2var_epi64(ab01, even, cd01), _mm512_permutex2var_epi64(ab01, odd, cd01),
                _mm512_permutex2var_epi64(ab23, even, cd23), _mm512_permutex2var_epi64(ab23, odd, cd23)
            )
        }
        let e0 = column(g0.0, g1.0, g2.0, g3.0), e1 = column(g0.1, g1.1, g2.1, g3.1)
        let e2 = column(g0.2, g1.2, g2.2, g3.2), e3 = column(g0.3, g1.3, g2.3, g3.3)
        // Row 4L + e is e_e.L.
        return (e0.0, e1.0, e2.0, e3.0, e0.1, e1.1, e2.1, e3.1, e0.2, e1.2, e2.2, e3.2, e0.3, e1.3, e2.3, e3.3)
    }
}

extension Tensor {
    /// This weight's bf16 panels (`QuantMatmul.packBF16Panels`; any floating type but f32, [n, k],
    /// contiguous): made on first use and kept with the weight's storage (2 bytes per weight).
    var bf16Panels: UnsafeRawPointer {
        let n = shape[0], k = shape[1], type = dtype, w = UnsafeRawPointer(rawPointer)
        let key = Storage.DerivedKey(offset: dtype.byteCount(elements: offset), dtype: type, n: n, k: k, layout: .bf16Panels)
        let d = storage.derived(key, byteCount: QuantMatmul.bf16PanelBytes(n: n, k: k)) { out in
            QuantMatmul.packBF16Panels(type, w: w, n: n, k: k, into: out)
        }
        return UnsafeRawPointer(d.base)
    }

    /// Whether a product of `rows` rows with this weight (`linear`, `gatedLinear`) reads its kept
    /// bf16 panels: `.bf16` activations, AMX bf16 tiles, `bf16MinRows` or more rows, panels kept.
    public func productUsesBF16Panels(rows: Int) -> Bool {
        rank == 2 && isContiguous && QuantMatmul.usesBF16Panels(dtype, m: rows)
    }

    /// Makes this weight's bf16 panels now if a product of `rows` rows would read them.
    public func prepareBF16Panels(rows: Int) {
        if productUsesBF16Panels(rows: rows) { _ = bf16Panels }
    }

    /// This weight with `delta` (f32 [n, k], e.g. a LoRA adapter's scaled B A) added to its bf16
    /// panels only: a view of the same bytes, on a storage of its own whose bf16 panels are made
    /// now from W + delta (summed in f32, then rounded). Products that read the panels
    /// (`productUsesBF16Panels`) compute x (W + delta)^T; every other product reads W's bytes
    /// and computes x W^T, so the caller adds the delta's product there itself.
    public func addingToBF16Panels(_ delta: Tensor) throws -> Tensor {
        guard rank == 2, isContiguous, dtype != .f32, dtype != .i32 else {
            throw TensorError.invalidShape(
                op: "addingToBF16Panels", shape: shape, reason: "needs a contiguous [n, k] weight of a decodable type other than f32")
        }
        guard delta.shape == shape, delta.dtype == .f32 else {
            throw TensorError.shapeMismatch(
                op: "addingToBF16Panels", lhs: shape, rhs: delta.shape, reason: "the delta must be f32 of the weight's shape")
        }
        let n = shape[0], k = shape[1], type = dtype
        let bytes = type.byteCount(elements: n * k), start = type.byteCount(elements: offset)
        let view = Storage(borrowing: storage.base + start, byteCount: bytes, owner: storage)
        let merged = Tensor(storage: view, dtype: type, shape: shape, strides: strides)
        let d = delta.contiguous(), w = UnsafeRawPointer(view.base)
        let key = Storage.DerivedKey(offset: 0, dtype: type, n: n, k: k, layout: .bf16Panels)
        withExtendedLifetime(d) {
            _ = view.derived(key, byteCount: QuantMatmul.bf16PanelBytes(n: n, k: k)) { out in
                QuantMatmul.packBF16Panels(type, w: w, n: n, k: k, adding: d.floatPointer, into: out)
            }
        }
        return merged
    }
}
#else
extension Tensor {
    var bf16Panels: UnsafeRawPointer { preconditionFailure("bf16Panels: this build has no AMX kernels") }
    /// Without AMX no product reads bf16 panels.
    public func productUsesBF16Panels(rows: Int) -> Bool { false }
    /// Without AMX there are no panels to make.
    public func prepareBF16Panels(rows: Int) {}
    /// Without AMX there are no panels to add to: the weight itself.
    public func addingToBF16Panels(_ delta: Tensor) throws -> Tensor { self }
}
extension QuantMatmul {
    static func usesBF16Panels(_ type: DType, m: Int) -> Bool { false }
}
#endif

extension QuantMatmul {
    /// The fewest rows for which `.bf16` products run on bf16 tiles (fewer run as `.q8`). Tiles
    /// hold 32 rows, so fewer waste part of each product: machine C, `grm bench kernels` q4_1,
    /// 16 rows 461-864 GFLOP/s against q8's 574-890, 24 rows 594-1242 against 619-919.
    public static let bf16MinRows = 24

    /// Whether this build, the CPU and the kernel path in force have AMX bf16 tiles.
    static var hasBF16Tiles: Bool {
        #if arch(x86_64) && GRM_AMX
        return KernelISA.level >= .amx && CPU.hasAMXBF16
        #else
        return false
        #endif
    }

    /// Whether `.bf16` products of m rows run on bf16 tiles here.
    static func usesBF16Tiles(m: Int) -> Bool { m >= bf16MinRows && hasBF16Tiles }
}
