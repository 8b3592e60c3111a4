#if arch(x86_64) && GRM_AMX
import COpenBLAS
import _Builtin_intrinsics.intel

/// The int8 panel products (`q8Panels`) on Intel AMX, for prompts (32 or more rows at once):
/// 16 activation rows against a
/// panel's 16 columns per tile product (`tdpbsud`: signed int8 activations, unsigned levels).
///
/// A 32-value block is one tile product: A is the 16 rows' 32 int8 activations, B the block's
/// levels as 8 rows of [16 columns][4 bytes] (the panel's groups as they are for Q8_0; for Q4
/// formats rows 0-3 are the low nibbles of groups 0-3, levels 4g..4g+3, and rows 4-7 their high
/// nibbles, levels 16+4g..16+4g+3, unpacked once per panel and call). The tile holds exactly the
/// integers `panelTile`'s `vpdpbusd` chains hold (integer sums, in any order the same), and each
/// is scaled into its element by `panelTile`'s float operations in the same order, so every
/// element has the VNNI path's bits. Rows past the last full tile of 16 run `panelTile`.
///
/// Why: `vpdpbusd` does 64 multiply-adds per instruction and the panel kernel issues 8 of them
/// per block, row and panel; one tile product does 16 rows' worth (8,192) at once, which leaves
/// the per-block scaling as the kernel's main cost. Figures in docs/performance.md.
extension QuantMatmul {
    /// Activation rows per tile product.
    static let amxRows = 16
    /// The fewest rows for which `q8Panels` uses tiles. Below it the VNNI kernel is faster
    /// (machine C: 16 and 24 sequences decoding together 6-8% slower on tiles, 32 even, 64 10%
    /// faster): a call's Q4 tiles are unpacked per panel, and with few row tiles that is not shared.
    static let amxMinRows = 32

    /// Whether `q8Panels` runs tile products for m rows.
    static func usesAMX(m: Int) -> Bool { m >= amxMinRows && KernelISA.level >= .amx }

    /// The B tiles of a Q4 panel's nb blocks (512 bytes each) into `tiles`.
    static func amxUnpack<F: Q8PanelFormat>(_: F.Type, _ panel: UnsafeRawPointer, nb: Int, into tiles: UnsafeMutableRawPointer) {
        let low = _mm512_set1_epi8(0x0F)
        for b in 0..<nb {
            let blk = panel + b * F.blockBytes, dst = tiles + 512 * b
            for g in 0..<4 {
                let raw = _mm512_loadu_si512(blk + 64 * g)
                _mm512_storeu_si512(dst + 64 * g, _mm512_and_si512(raw, low))
                _mm512_storeu_si512(dst + 256 + 64 * g, _mm512_and_si512(_mm512_srli_epi16(raw, 4), low))
            }
        }
    }

    /// Bytes of one packed A block (`amxPackRows`): the tile, then the 16 rows' dx, sx and cx.
    static let amxPackedBlock = 512 + 3 * 64

    /// The activations' full tiles of 16 rows as the tile kernel reads them: block b of tile t at
    /// `packed + (t * nb + b) * amxPackedBlock` holds the A tile (16 rows of 32 levels, 512
    /// contiguous bytes), then the 16 rows' dx, sx and cx for the block (16 floats, floats, int32).
    /// Read in place, an A tile touches 16 cache lines half each (from L2 once the rows outgrow
    /// L1), and the rows' scales 16 lines `nb` floats apart, each through its own address register.
    static func amxPackRows(_ a: VNNIArgs, into packed: UnsafeMutableRawPointer) {
        let tiles = a.m / amxRows, nb = a.nb
        ThreadPool.shared.parallelRanges(tiles, parts: tiles >= 4 ? ThreadPool.shared.threadCount : 1) { range in
            for t in range {
                for b in 0..<nb {
                    let dst = packed + (t * nb + b) * amxPackedBlock
                    for r in 0..<amxRows {
                        let row = amxRows * t + r
                        let src = UnsafeRawPointer(a.qx + row * a.ldq + 32 * b)
                        (dst + 32 * r).storeBytes(of: src.loadUnaligned(as: SIMD32<UInt8>.self), as: SIMD32<UInt8>.self)
                        (dst + 512 + 4 * r).storeBytes(of: a.dx[row * nb + b], as: Float.self)
                        (dst + 576 + 4 * r).storeBytes(of: a.sx[row * nb + b], as: Float.self)
                        (dst + 640 + 4 * r).storeBytes(of: a.cx[row * nb + b], as: Int32.self)
                    }
                }
            }
        }
    }

    /// Every activation row against one panel: tiles of 16 rows, then `panelTile` for the rest.
    /// The calling thread's tiles must be configured (`grm_amx_configure`); `tiles` holds
    /// nb * 512 bytes and `c` 512 int32, both the caller's scratch.
    @inline(__always)
    static func amxPanelRows<F: Q8PanelFormat>(
        _ f: F.Type, _ a: VNNIArgs, _ panel: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ cols: Int,
        _ tiles: UnsafeMutableRawPointer, _ c: UnsafeMutablePointer<Int32>, _ packedX: UnsafeRawPointer
    ) {
        if F.nibbles { amxUnpack(f, panel, nb: a.nb, into: tiles) }
        var i = 0
        while i + amxRows <= a.m {
            amxTile(f, a, panel, UnsafeRawPointer(tiles), packedX + (i / amxRows) * a.nb * amxPackedBlock, y + i * ldy, ldy, cols, c)
            i += amxRows
        }
        panelRows(f, a, panel, y, ldy, cols, from: i)
    }

    /// The 16 rows packed at `xa` (`amxPackRows`) against one panel's 16 columns: y[r][0..<cols].
    @inline(never)
    static func amxTile<F: Q8PanelFormat>(
        _: F.Type, _ a: VNNIArgs, _ panel: UnsafeRawPointer, _ tiles: UnsafeRawPointer, _ xa: UnsafeRawPointer,
        _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ cols: Int, _ c: UnsafeMutablePointer<Int32>
    ) {
        let nb = a.nb
        let zf = _mm512_setzero_ps()
        let scaleOffset = F.nibbles ? 256 : 512
        // The 16 rows' sums stay in registers (in memory, their stores would bound the loop).
        var f0 = zf, f1 = zf, f2 = zf, f3 = zf, f4 = zf, f5 = zf, f6 = zf, f7 = zf
        var f8 = zf, f9 = zf, f10 = zf, f11 = zf, f12 = zf, f13 = zf, f14 = zf, f15 = zf
        // A three-stage pipeline over the blocks, so that no stage waits for the one before:
        // block b's tile product (tile set b % 2) is issued, then block b - 1's result is stored
        // (into c's half (b - 1) % 2), then block b - 2's integers, stored a step earlier, are
        // scaled.
        @inline(__always) func product(_ b: Int) {
            grm_amx_product(Int32(b & 1), xa + amxPackedBlock * b, 32, F.nibbles ? tiles + 512 * b : panel + b * F.blockBytes)
        }
        @inline(__always) func store(_ b: Int) { grm_amx_store(Int32(b & 1), c + 256 * (b & 1)) }
        @inline(__always) func scale(_ b: Int) {
            let blk = panel + b * F.blockBytes, cb = c + 256 * (b & 1), xs = xa + amxPackedBlock * b + 512
            let dw = _mm512_cvtph_ps((blk + scaleOffset).loadUnaligned(as: __m256i.self))
            let mw = F.hasOffset ? _mm512_cvtph_ps((blk + scaleOffset + 32).loadUnaligned(as: __m256i.self)) : zf
            @inline(__always) func row(_ f: inout __m512, _ r: Int) {
                let s = UnsafeRawPointer(cb + 16 * r).loadUnaligned(as: __m512i.self)
                let cx = xs.load(fromByteOffset: 128 + 4 * r, as: Int32.self)
                let v = _mm512_cvtepi32_ps(F.shifted ? _mm512_sub_epi32(s, _mm512_set1_epi32(cx)) : s)
                let dx = xs.load(fromByteOffset: 4 * r, as: Float.self), sx = xs.load(fromByteOffset: 64 + 4 * r, as: Float.self)
                let t = _mm512_fmadd_ps(v, _mm512_mul_ps(dw, _mm512_set1_ps(dx)), f)
                f = F.hasOffset ? _mm512_fmadd_ps(mw, _mm512_set1_ps(sx), t) : t
            }
            row(&f0, 0)
            row(&f1, 1)
            row(&f2, 2)
            row(&f3, 3)
            row(&f4, 4)
            row(&f5, 5)
            row(&f6, 6)
            row(&f7, 7)
            row(&f8, 8)
            row(&f9, 9)
            row(&f10, 10)
            row(&f11, 11)
            row(&f12, 12)
            row(&f13, 13)
            row(&f14, 14)
            row(&f15, 15)
        }
        for b in 0..<(nb + 2) {
            if b < nb { product(b) }
            if b >= 1 && b <= nb { store(b - 1) }
            if b >= 2 { scale(b - 2) }
        }
        let mask = __mmask16(truncatingIfNeeded: (1 << cols) - 1)
        @inline(__always) func put(_ v: __m512, _ r: Int) {
            if cols == 16 { _mm512_storeu_ps(y + r * ldy, v) } else { _mm512_mask_storeu_ps(y + r * ldy, mask, v) }
        }
        put(f0, 0)
        put(f1, 1)
        put(f2, 2)
        put(f3, 3)
        put(f4, 4)
        put(f5, 5)
        put(f6, 6)
        put(f7, 7)
        put(f8, 8)
        put(f9, 9)
        put(f10, 10)
        put(f11, 11)
        put(f12, 12)
        put(f13, 13)
        put(f14, 14)
        put(f15, 15)
    }
}
#endif
