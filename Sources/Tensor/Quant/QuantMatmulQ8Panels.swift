#if arch(x86_64) && GRM_AVX512VNNI
import _Builtin_intrinsics.intel
#if GRM_AMX
import COpenBLAS
#endif

/// Q4_0, Q4_1 and Q8_0 weights laid out for `vpdpbusd` on 16 W rows at once, kept beside the
/// ggml blocks (`Tensor.q8Panels`) for the int8-activation products of any row count.
///
/// A panel is 16 W rows (output columns); per block of 32 values it holds the levels as 64-byte
/// groups [16 columns][4 bytes], then the 16 scales d_w and (Q4_1) the 16 offsets m_w as f16,
/// exactly the blocks' own. Q4 groups are the blocks' own 4-byte words: word g of a Q4 block holds
/// levels 4g..4g+3 in its low nibbles and 16+4g..16+4g+3 in its high ones, so one load gives two
/// operands (a mask, a shift). Q8_0 has eight groups of levels + 128 (unsigned, `vpdpbusd`'s
/// first operand). Rows past n in the last panel are zero. The same bytes as the blocks, rearranged
/// (Q4_1: 20 bytes per row and block either way), so a 1-row product streams memory in order and
/// needs no per-row lane sums: per block and activation row, 8 `vpdpbusd` cover 16 W rows.
enum Q8Panels {
    static let columns = 16

    static func blockBytes(_ type: DType) -> Int {
        switch type {
        case .q8_0: 8 * 64 + 32
        case .q4_1: 4 * 64 + 64
        default: 4 * 64 + 32
        }
    }

    static func byteCount(_ type: DType, n: Int, k: Int) -> Int {
        GEMM.ceilDiv(n, columns) * (k / 32) * blockBytes(type)
    }

    /// Packs W [n, k] (ggml blocks at `w`) into panels at `out` (`byteCount` bytes).
    static func pack(_ type: DType, w: UnsafeRawPointer, n: Int, k: Int, into out: UnsafeMutableRawPointer) {
        let nb = k / 32, rowBytes = type.byteCount(elements: k), pb = blockBytes(type), qb = type.blockBytes
        let panels = GEMM.ceilDiv(n, columns)
        let tasks = taskCount(work: n * k, grain: 1 << 18, limit: ThreadPool.shared.threadCount)
        ThreadPool.shared.parallelRanges(panels, parts: tasks) { range in
            for p in range {
                let base = out + p * nb * pb
                let cols = min(columns, n - p * columns)
                if cols < columns { base.initializeMemory(as: UInt8.self, repeating: 0, count: nb * pb) }
                for c in 0..<cols {
                    let row = w + (p * columns + c) * rowBytes
                    for b in 0..<nb {
                        let src = row + b * qb, dst = base + b * pb
                        switch type {
                        case .q8_0:
                            for g in 0..<8 {
                                let word = src.loadUnaligned(fromByteOffset: 2 + 4 * g, as: UInt32.self) ^ 0x8080_8080
                                (dst + g * 64 + c * 4).storeBytes(of: word, as: UInt32.self)
                            }
                            (dst + 512 + 2 * c).storeBytes(of: src.loadUnaligned(as: UInt16.self), as: UInt16.self)
                        case .q4_1:
                            for g in 0..<4 {
                                (dst + g * 64 + c * 4).storeBytes(of: src.loadUnaligned(fromByteOffset: 4 + 4 * g, as: UInt32.self), as: UInt32.self)
                            }
                            (dst + 256 + 2 * c).storeBytes(of: src.loadUnaligned(as: UInt16.self), as: UInt16.self)
                            (dst + 288 + 2 * c).storeBytes(of: src.loadUnaligned(fromByteOffset: 2, as: UInt16.self), as: UInt16.self)
                        default:
                            for g in 0..<4 {
                                (dst + g * 64 + c * 4).storeBytes(of: src.loadUnaligned(fromByteOffset: 2 + 4 * g, as: UInt32.self), as: UInt32.self)
                            }
                            (dst + 256 + 2 * c).storeBytes(of: src.loadUnaligned(as: UInt16.self), as: UInt16.self)
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// This weight's int8 panels (`Q8Panels`; Q4_0, Q4_1 or Q8_0, [n, k], contiguous): made on
    /// first use and kept with the weight's storage (as many bytes again as the weight).
    var q8Panels: UnsafeRawPointer {
        let n = shape[0], k = shape[1], type = dtype, w = UnsafeRawPointer(rawPointer)
        let key = Storage.DerivedKey(offset: dtype.byteCount(elements: offset), dtype: type, n: n, k: k, layout: .q8Panels)
        let d = storage.derived(key, byteCount: Q8Panels.byteCount(type, n: n, k: k)) { out in
            Q8Panels.pack(type, w: w, n: n, k: k, into: out)
        }
        return UnsafeRawPointer(d.base)
    }
}

/// A panel type's shape, as a type so that each kernel is compiled for one.
protocol Q8PanelFormat {
    /// Q4 (levels in nibbles, 4 groups) or Q8_0 (8 groups of bytes).
    static var nibbles: Bool { get }
    static var hasOffset: Bool { get }
    /// Whether the levels are stored shifted (Q4_0 by 8, Q8_0 by 128), so that the block's
    /// integer dot product needs `cx` (the shift times the activations' sum) taken off.
    static var shifted: Bool { get }
    static var blockBytes: Int { get }
}
enum Q8PanelQ4_0: Q8PanelFormat {
    static var nibbles: Bool { true }
    static var hasOffset: Bool { false }
    static var shifted: Bool { true }
    static var blockBytes: Int { 4 * 64 + 32 }
}
enum Q8PanelQ4_1: Q8PanelFormat {
    static var nibbles: Bool { true }
    static var hasOffset: Bool { true }
    static var shifted: Bool { false }
    static var blockBytes: Int { 4 * 64 + 64 }
}
enum Q8PanelQ8_0: Q8PanelFormat {
    static var nibbles: Bool { false }
    static var hasOffset: Bool { false }
    static var shifted: Bool { true }
    static var blockBytes: Int { 8 * 64 + 32 }
}

extension QuantMatmul {
    /// `y = x * W^T` for every part's W, from the parts' panels (`panels`, one per part), for any
    /// m: activations rounded as `q8Linear` rounds them, every element computed as `q8GEMM` and
    /// its scalar reference compute it (the same bits). W panels are split over the threads; each
    /// runs every activation row over a panel, eight at a time (16 per AMX tile product from 32
    /// rows on, QuantMatmulQ8AMX.swift), while the panel is in L1.
    static func q8Panels(_ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, parts: [Part], panels: [UnsafeRawPointer]) {
        precondition(panels.count == parts.count && [.q4_0, .q4_1, .q8_0].contains(type), "q8Panels: \(type)")
        withQuantizedRows(type, m: m, k: k, x: x, ldx: ldx) { args in
            var units: [(part: Int, panel: Int)] = []
            for (p, part) in parts.enumerated() {
                for q in 0..<GEMM.ceilDiv(part.n, Q8Panels.columns) { units.append((p, q)) }
            }
            let total = parts.reduce(0) { $0 + $1.n }
            let tasks = rowTasks(units: units.count, n: total, k: k)
            let panelBytes = args.nb * Q8Panels.blockBytes(type)
            #if GRM_AMX
            let amx = usesAMX(m: m)
            let packed = amx ? Workspace.shared.acquire(floats: (m / amxRows) * args.nb * amxPackedBlock / 4 + 16) : nil
            if let packed { amxPackRows(args, into: UnsafeMutableRawPointer(packed.floats)) }
            defer { if let packed { Workspace.shared.release(packed) } }
            #endif
            parts.withUnsafeBufferPointer { parts in
                units.withUnsafeBufferPointer { units in
                    ThreadPool.shared.parallelFor(tasks) { t in
                        let range = (units.count * t / tasks)..<(units.count * (t + 1) / tasks)
                        #if GRM_AMX
                        // On AMX: this thread's tile configuration, and scratch for the unpacked Q4
                        // tiles (nb x 512 bytes) and a block's two int32 results (2 x 256).
                        let scratch = amx ? Workspace.shared.acquire(floats: 128 * args.nb + 512 + 16) : nil
                        if amx { grm_amx_configure() }
                        defer {
                            if let scratch {
                                grm_amx_release()
                                Workspace.shared.release(scratch)
                            }
                        }
                        #endif
                        func run<F: Q8PanelFormat>(_ f: F.Type) {
                            for u in range {
                                let (p, q) = units[u]
                                let part = parts[p], cols = min(Q8Panels.columns, part.n - q * Q8Panels.columns)
                                let panel = panels[p] + q * panelBytes, y = part.y + q * Q8Panels.columns
                                #if GRM_AMX
                                if let scratch {
                                    let c = UnsafeMutableRawPointer(scratch.floats + 128 * args.nb).assumingMemoryBound(to: Int32.self)
                                    amxPanelRows(
                                        f, args, panel, y, part.ldy, cols, UnsafeMutableRawPointer(scratch.floats), c,
                                        UnsafeRawPointer(packed!.floats))
                                    continue
                                }
                                #endif
                                panelRows(f, args, panel, y, part.ldy, cols, from: 0)
                            }
                        }
                        switch type {
                        case .q4_0: run(Q8PanelQ4_0.self)
                        case .q4_1: run(Q8PanelQ4_1.self)
                        default: run(Q8PanelQ8_0.self)
                        }
                    }
                }
            }
        }
    }

    /// Activation rows i0..<m against one panel, eight rows at a time.
    @inline(__always)
    static func panelRows<F: Q8PanelFormat>(
        _ f: F.Type, _ a: VNNIArgs, _ panel: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ cols: Int,
        from i0: Int
    ) {
        var i = i0
        while i + 8 <= a.m {
            panelTile(FusedRows8.self, f, a, panel, i, y + i * ldy, ldy, cols)
            i += 8
        }
        let y = y + i * ldy
        switch a.m - i {
        case 1: panelTile(FusedRows1.self, f, a, panel, i, y, ldy, cols)
        case 2: panelTile(FusedRows2.self, f, a, panel, i, y, ldy, cols)
        case 3: panelTile(FusedRows3.self, f, a, panel, i, y, ldy, cols)
        case 4: panelTile(FusedRows4.self, f, a, panel, i, y, ldy, cols)
        case 5: panelTile(FusedRows5.self, f, a, panel, i, y, ldy, cols)
        case 6: panelTile(FusedRows6.self, f, a, panel, i, y, ldy, cols)
        case 7: panelTile(FusedRows7.self, f, a, panel, i, y, ldy, cols)
        default: break
        }
    }

    /// Activation rows i0..<i0 + R.count against one panel's 16 columns: y[r][0..<cols].
    @inline(never)
    static func panelTile<R: FusedRows, F: Q8PanelFormat>(
        _: R.Type, _: F.Type, _ a: VNNIArgs, _ panel: UnsafeRawPointer, _ row0: Int,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ cols: Int
    ) {
        let n = R.count, nb = a.nb, ldq = a.ldq
        let x0 = UnsafeRawPointer(a.qx + row0 * ldq), x1 = x0 + ldq, x2 = x1 + ldq, x3 = x2 + ldq
        let x4 = x3 + ldq, x5 = x4 + ldq, x6 = x5 + ldq, x7 = x6 + ldq
        let zf = _mm512_setzero_ps()
        var f0 = zf, f1 = zf, f2 = zf, f3 = zf, f4 = zf, f5 = zf, f6 = zf, f7 = zf
        let low = _mm512_set1_epi8(0x0F)
        let scaleOffset = F.nibbles ? 256 : 512
        // Per-row block scales, sums and shifts, from row0 on (row r's at r * nb).
        let dx = a.dx + row0 * nb, sx = a.sx + row0 * nb, cx = a.cx + row0 * nb
        for b in 0..<nb {
            let blk = panel + b * F.blockBytes
            let zi = _mm512_setzero_si512()
            var i0 = zi, i1 = zi, i2 = zi, i3 = zi, i4 = zi, i5 = zi, i6 = zi, i7 = zi
            @inline(__always) func step(_ w: __m512i, _ o: Int) {
                @inline(__always) func x(_ p: UnsafeRawPointer) -> __m512i { _mm512_set1_epi32(p.loadUnaligned(fromByteOffset: o, as: Int32.self)) }
                i0 = _mm512_dpbusd_epi32(i0, w, x(x0))
                if n > 1 { i1 = _mm512_dpbusd_epi32(i1, w, x(x1)) }
                if n > 2 { i2 = _mm512_dpbusd_epi32(i2, w, x(x2)) }
                if n > 3 { i3 = _mm512_dpbusd_epi32(i3, w, x(x3)) }
                if n > 4 { i4 = _mm512_dpbusd_epi32(i4, w, x(x4)) }
                if n > 5 { i5 = _mm512_dpbusd_epi32(i5, w, x(x5)) }
                if n > 6 { i6 = _mm512_dpbusd_epi32(i6, w, x(x6)) }
                if n > 7 { i7 = _mm512_dpbusd_epi32(i7, w, x(x7)) }
            }
            let xo = 32 * b
            if F.nibbles {
                for g in 0..<4 {
                    let raw = _mm512_loadu_si512(blk + 64 * g)
                    step(_mm512_and_si512(raw, low), xo + 4 * g)
                    step(_mm512_and_si512(_mm512_srli_epi16(raw, 4), low), xo + 16 + 4 * g)
                }
            } else {
                for g in 0..<8 { step(_mm512_loadu_si512(blk + 64 * g), xo + 4 * g) }
            }
            let dw = _mm512_cvtph_ps((blk + scaleOffset).loadUnaligned(as: __m256i.self))
            let mw = F.hasOffset ? _mm512_cvtph_ps((blk + scaleOffset + 32).loadUnaligned(as: __m256i.self)) : zf
            @inline(__always) func scaled(_ f: __m512, _ acc: __m512i, _ r: Int) -> __m512 {
                let i = r &* nb &+ b
                let v = _mm512_cvtepi32_ps(F.shifted ? _mm512_sub_epi32(acc, _mm512_set1_epi32(cx[i])) : acc)
                let s = _mm512_fmadd_ps(v, _mm512_mul_ps(dw, _mm512_set1_ps(dx[i])), f)
                return F.hasOffset ? _mm512_fmadd_ps(mw, _mm512_set1_ps(sx[i]), s) : s
            }
            f0 = scaled(f0, i0, 0)
            if n > 1 { f1 = scaled(f1, i1, 1) }
            if n > 2 { f2 = scaled(f2, i2, 2) }
            if n > 3 { f3 = scaled(f3, i3, 3) }
            if n > 4 { f4 = scaled(f4, i4, 4) }
            if n > 5 { f5 = scaled(f5, i5, 5) }
            if n > 6 { f6 = scaled(f6, i6, 6) }
            if n > 7 { f7 = scaled(f7, i7, 7) }
        }
        let mask = __mmask16(truncatingIfNeeded: (1 << cols) - 1)
        @inline(__always) func store(_ v: __m512, _ r: Int) {
            if cols == 16 { _mm512_storeu_ps(y + r * ldy, v) } else { _mm512_mask_storeu_ps(y + r * ldy, mask, v) }
        }
        store(f0, 0)
        if n > 1 { store(f1, 1) }
        if n > 2 { store(f2, 2) }
        if n > 3 { store(f3, 3) }
        if n > 4 { store(f4, 4) }
        if n > 5 { store(f5, 5) }
        if n > 6 { store(f6, 6) }
        if n > 7 { store(f7, 7) }
    }
}
#else
extension Tensor {
    /// No int8 panels in this build (`QuantMatmul.usesQ8Panels` is false).
    var q8Panels: UnsafeRawPointer { preconditionFailure("q8Panels: this build has no AVX-512 VNNI kernels") }
}
#endif
