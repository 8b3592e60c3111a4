import Foundation
import COpenBLAS
/// The fused kernels' loops (formats and the scheme in QuantMatmulFused.swift).
///
/// Per element (activation row i, W row j), always: for each 32-value sub-block b in order,
/// with levels q0..q3 (8 values each), activations x0..x3 and 8-lane accumulators A and B, in a
/// build with AVX-512 (GRM_AVX512)
///   sA = fma(x2, q2, x0 * q0), sB = fma(x3, q3, x1 * q1),
///   A = fma(sA, d, A), B = fma(sB, d, B)          (one scale per sub-block),
/// so that A and B are the two halves of one 16-float accumulator against sub-blocks held as
/// values 0-15 and 16-31 (the AVX-512 kernels, QuantMatmulFusedWide.swift); in other builds
///   sA = fma(x1, q1, x0 * q0), sB = fma(x3, q3, x2 * q2),
///   A = fma(sA + sB, d, A)                         (B unused),
/// whose one accumulator per row keeps R rows' accumulators and a sub-block's levels within
/// AVX2's 16 registers (two per row spilled there: 8 sequences decoded 20% slower, and walking
/// each sub-block twice, half the levels at a time, still 8-14% slower). Q6_K (a scale per 16
/// values: dA for values 0-15, dB for 16-31) in every build:
///   sA = fma(x1, q1, x0 * q0), sB = fma(x3, q3, x2 * q2),
///   A = fma(sB, dB, fma(sA, dA, A))                (B unused);
/// then y = (A + B)'s lanes summed pairwise + `offsetDot(c, blockSums(x_i))`. The scheme is fixed
/// per build, like the elementwise kernels' vector width: within a build every kernel path
/// (`GRM_ISA`), row count, task split and thread count gives an element the same bits.
extension QuantMatmul {
    /// Types with a fused kernel (`DTypeTraits.hasFusedKernel`).
    static func hasFusedKernel(_ type: DType) -> Bool { type.traits.hasFusedKernel }

    /// `y = x * W^T` for m <= 8 rows and every part's W, of a type that `hasFusedKernel`.
    static func fused(_ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, parts: [Part]) {
        precondition(m >= 1 && m <= 8, "fused: m = \(m)")
        let nb = k / 32
        let rowBytes = type.byteCount(elements: k)
        // Block sums of the activations, once per call (a fixed order per block).
        let sums = Workspace.shared.acquire(floats: m * nb + 16)
        defer { Workspace.shared.release(sums) }
        let xsum = sums.floats
        for i in 0..<m {
            for b in 0..<nb { xsum[i * nb + b] = blockSum(x + i * ldx + 32 * b) }
        }
        let xs = UnsafePointer(xsum)
        let wide = usesWideFused(m: m)
        let args = parts.map {
            FusedArgs(
                m: m, nb: nb, x: x, ldx: ldx, xsum: xs, wide: wide, w: $0.w, rowBytes: rowBytes,
                scales: $0.scales?.assumingMemoryBound(to: Float.self), y: $0.y, ldy: $0.ldy)
        }
        args.withUnsafeBufferPointer { args in
            forPartRanges(parts, k: k, unit: 4) { i, j0, j1 in
                let a = args[i]
                switch type {
                case .q4_0: fusedTask(Q4_0Format.self, a, j0, j1)
                case .q4_1: fusedTask(Q4_1Format.self, a, j0, j1)
                case .q5_0: fusedTask(Q5_0Format.self, a, j0, j1)
                case .q5_1: fusedTask(Q5_1Format.self, a, j0, j1)
                case .q8_0: fusedTask(Q8_0Format.self, a, j0, j1)
                case .q4_K: fusedTask(Q4_KFormat.self, a, j0, j1)
                case .q5_K: fusedTask(Q5_KFormat.self, a, j0, j1)
                case .q6_K: fusedTask(Q6_KFormat.self, a, j0, j1)
                default: preconditionFailure("fused: no fused kernel for \(type)")
                }
            }
        }
    }

    struct FusedArgs {
        let m: Int, nb: Int
        let x: UnsafePointer<Float>, ldx: Int
        let xsum: UnsafePointer<Float>
        /// Whether the AVX-512 kernels run (QuantMatmulFusedWide.swift).
        let wide: Bool
        let w: UnsafeRawPointer, rowBytes: Int
        /// W's block scales as f32, per row its nb scales d then its nb offsets c
        /// (`Tensor.fusedScales`), or nil (the kernels convert the blocks' own).
        let scales: UnsafePointer<Float>?
        let y: UnsafeMutablePointer<Float>, ldy: Int
    }

    static func fusedTask<F: FusedFormat>(_ f: F.Type, _ a: FusedArgs, _ j0: Int, _ j1: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * a.nb + 8) { buf in
            let cs = buf.baseAddress!
            /// R rows on the kernel the call chose: AVX-512 (`wide`; QuantMatmulFusedWide.swift) or 8 lanes.
            func rows<R: FusedRows>(_ r: R.Type) {
                #if arch(x86_64) && GRM_AVX512
                if a.wide {
                    if F.twoScales { return fusedPairs(f, r, a, j0, j1, cs) }
                    if a.scales != nil { return fusedRowsWide(f, r, TableScales.self, a, j0, j1, cs) }
                    return fusedRowsWide(f, r, BlockScales.self, a, j0, j1, cs)
                }
                #endif
                fusedRows(f, r, a, j0, j1, cs)
            }
            switch a.m {
            case 1:
                #if arch(x86_64) && GRM_AVX512
                if a.wide && !F.twoScales {
                    if a.scales != nil { return fusedVec4Wide(f, TableScales.self, a, j0, j1, cs) }
                    return fusedVec4Wide(f, BlockScales.self, a, j0, j1, cs)
                }
                #endif
                fusedVec4(f, a, j0, j1, cs)
            case 2: rows(FusedRows2.self)
            case 3: rows(FusedRows3.self)
            case 4: rows(FusedRows4.self)
            case 5: rows(FusedRows5.self)
            case 6: rows(FusedRows6.self)
            case 7: rows(FusedRows7.self)
            default: rows(FusedRows8.self)
            }
        }
    }

    typealias X4 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    @inline(always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(always) static func load32(_ p: UnsafePointer<Float>) -> X4 {
        (load8(p), load8(p + 8), load8(p + 16), load8(p + 24))
    }

    /// The sum of 32 activations: (x0 + x1) + (x2 + x3) lane-wise, then the lanes pairwise.
    @inline(always) static func blockSum(_ p: UnsafePointer<Float>) -> Float {
        let v = load32(p)
        return ((v.0 + v.1) + (v.2 + v.3)).total
    }

    /// An element's accumulators A and B (see the file comment).
    struct Acc {
        var a = SIMD8<Float>(), b = SIMD8<Float>()
    }

    /// One sub-block's contribution to an element's accumulators (see the file comment).
    @inline(always) static func accumulate<F: FusedFormat>(
        _: F.Type, _ acc: Acc, _ x: X4, _ l: Levels,
        _ dA: Float, _ dB: Float
    ) -> Acc {
        #if arch(x86_64) && GRM_AVX2
        #if GRM_AVX512
        if !F.twoScales {
            let sA = AVX2Q.fma(x.2, l.q2, x.0 * l.q0)
            let sB = AVX2Q.fma(x.3, l.q3, x.1 * l.q1)
            let d = SIMD8<Float>(repeating: dA)
            return Acc(a: AVX2Q.fma(sA, d, acc.a), b: AVX2Q.fma(sB, d, acc.b))
        }
        #endif
        let sA = AVX2Q.fma(x.1, l.q1, x.0 * l.q0)
        let sB = AVX2Q.fma(x.3, l.q3, x.2 * l.q2)
        if F.twoScales {
            return Acc(a: AVX2Q.fma(sB, SIMD8(repeating: dB), AVX2Q.fma(sA, SIMD8(repeating: dA), acc.a)), b: acc.b)
        }
        return Acc(a: AVX2Q.fma(sA + sB, SIMD8(repeating: dA), acc.a), b: acc.b)
        #else
        let sA = (x.0 * l.q0).addingProduct(x.1, l.q1)
        let sB = (x.2 * l.q2).addingProduct(x.3, l.q3)
        if F.twoScales {
            return Acc(a: acc.a.addingProduct(sA, SIMD8(repeating: dA)).addingProduct(sB, SIMD8(repeating: dB)), b: acc.b)
        }
        return Acc(a: acc.a.addingProduct(sA + sB, SIMD8(repeating: dA)), b: acc.b)
        #endif
    }

    /// `sum_b c[b] * xs[b]`: 8 lanes over whole groups of 8 (lanes summed pairwise), then the rest in order.
    @inline(always) static func offsetDot(_ c: UnsafePointer<Float>, _ xs: UnsafePointer<Float>, _ nb: Int) -> Float {
        var v = SIMD8<Float>()
        var b = 0
        while b + 8 <= nb {
            v = v.addingProduct(load8(c + b), load8(xs + b))
            b += 8
        }
        var s = v.total
        while b < nb {
            s = s.addingProduct(c[b], xs[b])
            b += 1
        }
        return s
    }

    /// An element from its accumulators: A + B (A alone where the build's scheme has no B), then
    /// as `finish(_:hasOffset:)`.
    @inline(always) static func finish<F: FusedFormat>(
        _: F.Type, _ acc: Acc, _ c: UnsafePointer<Float>,
        _ xs: UnsafePointer<Float>, _ nb: Int
    ) -> Float {
        #if arch(x86_64) && GRM_AVX512
        finish(acc.a + acc.b, hasOffset: F.hasOffset, c, xs, nb)
        #else
        finish(acc.a, hasOffset: F.hasOffset, c, xs, nb)  // B is unused in this build's scheme
        #endif
    }

    /// An element from its accumulator: lanes summed pairwise, plus `sum_b c[b] * xs[b]` for
    /// formats with an offset (the fused and the int8 kernels alike).
    @inline(always) static func finish(
        _ acc: SIMD8<Float>, hasOffset: Bool, _ c: UnsafePointer<Float>,
        _ xs: UnsafePointer<Float>, _ nb: Int
    ) -> Float {
        hasOffset ? acc.total + offsetDot(c, xs, nb) : acc.total
    }

    /// Weight rows are streamed from memory once per call: without hints the kernels keep too few
    /// cache misses in flight and read far below the memory's bandwidth. Each group of rows asks for the group this many groups
    /// ahead (m = 1: groups of four rows; m >= 2: single rows, `prefetchRows` ahead).
    /// `EngineSettings.prefetchGroups` (`GRM_QMM_PREFETCH`) sets the groups, once, for benchmarks.
    static let prefetchGroups = EngineSettings.startup.prefetchGroups
    static let prefetchRows = 4

    /// Prefetch hints for `bytes` bytes from `p`, one per 64-byte line.
    @inline(always) static func prefetch(_ p: UnsafeRawPointer, _ bytes: Int) {
        var o = 0
        while o < bytes {
            grm_prefetch(p + o)
            o += 64
        }
    }

    /// m = 1 kernels, at the group of four W rows from `w` (row `j` of `j0..<j1`): hints for the
    /// group `prefetchGroups` groups ahead, if it is in the range (0: the group about to be read,
    /// all its lines asked for at once; negative: no hints).
    @inline(always) static func prefetchGroupAhead(_ w: UnsafeRawPointer, rowBytes: Int, j: Int, j1: Int) {
        if prefetchGroups >= 0 && j + 4 * prefetchGroups + 4 <= j1 { prefetch(w + 4 * prefetchGroups * rowBytes, 4 * rowBytes) }
    }

    /// Row-at-a-time kernels, at W row `j` (at `w`) of `j0..<j1`: hints for the row `prefetchRows`
    /// ahead (none when `prefetchGroups` is negative).
    @inline(always) static func prefetchRowAhead(_ w: UnsafeRawPointer, rowBytes: Int, j: Int, j1: Int) {
        if prefetchGroups >= 0 && j + prefetchRows < j1 { prefetch(w + prefetchRows * rowBytes, rowBytes) }
    }

    /// m = 1: W rows j0..<j1, four at a time (four independent chains; the activations loaded once).
    @inline(never)
    static func fusedVec4<F: FusedFormat>(
        _: F.Type, _ a: FusedArgs, _ j0: Int, _ j1: Int,
        _ cs: UnsafeMutablePointer<Float>
    ) {
        let nb = a.nb, nsb = nb / F.subBlocks, rowBytes = a.rowBytes, x = a.x
        let c0 = cs, c1 = cs + nb, c2 = cs + 2 * nb, c3 = cs + 3 * nb
        var j = j0
        while j + 4 <= j1 {
            let w0 = a.w + j * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            prefetchGroupAhead(w0, rowBytes: rowBytes, j: j, j1: j1)
            var a0 = Acc(), a1 = a0, a2 = a0, a3 = a0
            for sb in 0..<nsb {
                let o = sb * F.blockBytes
                for u in 0..<F.subBlocks {
                    let b = sb * F.subBlocks + u
                    let xv = load32(x + 32 * b)
                    let (l0, dA0, dB0, e0) = F.levels(w0 + o, u)
                    a0 = accumulate(F.self, a0, xv, l0, dA0, dB0)
                    let (l1, dA1, dB1, e1) = F.levels(w1 + o, u)
                    a1 = accumulate(F.self, a1, xv, l1, dA1, dB1)
                    let (l2, dA2, dB2, e2) = F.levels(w2 + o, u)
                    a2 = accumulate(F.self, a2, xv, l2, dA2, dB2)
                    let (l3, dA3, dB3, e3) = F.levels(w3 + o, u)
                    a3 = accumulate(F.self, a3, xv, l3, dA3, dB3)
                    if F.hasOffset {
                        c0[b] = e0
                        c1[b] = e1
                        c2[b] = e2
                        c3[b] = e3
                    }
                }
            }
            a.y[j] = finish(F.self, a0, c0, a.xsum, nb)
            a.y[j + 1] = finish(F.self, a1, c1, a.xsum, nb)
            a.y[j + 2] = finish(F.self, a2, c2, a.xsum, nb)
            a.y[j + 3] = finish(F.self, a3, c3, a.xsum, nb)
            j += 4
        }
        if j < j1 { fusedRows(F.self, FusedRows1.self, a, j, j1, cs) }
    }

    /// R = m activation rows (1...8), W rows j0..<j1 one at a time: each sub-block's levels are
    /// unpacked once and used for every activation row (R accumulators in registers).
    @inline(never)
    static func fusedRows<F: FusedFormat, R: FusedRows>(
        _: F.Type, _: R.Type, _ a: FusedArgs, _ j0: Int, _ j1: Int,
        _ cs: UnsafeMutablePointer<Float>
    ) {
        let nb = a.nb, nsb = nb / F.subBlocks, ldx = a.ldx, n = R.count
        for j in j0..<j1 {
            let wr = a.w + j * a.rowBytes
            prefetchRowAhead(wr, rowBytes: a.rowBytes, j: j, j1: j1)
            var a0 = Acc(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
            for sb in 0..<nsb {
                for u in 0..<F.subBlocks {
                    let b = sb * F.subBlocks + u
                    let (l, dA, dB, c) = F.levels(wr + sb * F.blockBytes, u)
                    let xb = a.x + 32 * b
                    a0 = accumulate(F.self, a0, load32(xb), l, dA, dB)
                    if n > 1 { a1 = accumulate(F.self, a1, load32(xb + ldx), l, dA, dB) }
                    if n > 2 { a2 = accumulate(F.self, a2, load32(xb + 2 * ldx), l, dA, dB) }
                    if n > 3 { a3 = accumulate(F.self, a3, load32(xb + 3 * ldx), l, dA, dB) }
                    if n > 4 { a4 = accumulate(F.self, a4, load32(xb + 4 * ldx), l, dA, dB) }
                    if n > 5 { a5 = accumulate(F.self, a5, load32(xb + 5 * ldx), l, dA, dB) }
                    if n > 6 { a6 = accumulate(F.self, a6, load32(xb + 6 * ldx), l, dA, dB) }
                    if n > 7 { a7 = accumulate(F.self, a7, load32(xb + 7 * ldx), l, dA, dB) }
                    if F.hasOffset { cs[b] = c }
                }
            }
            let y = a.y + j, ldy = a.ldy, xs = a.xsum
            y[0] = finish(F.self, a0, cs, xs, nb)
            if n > 1 { y[ldy] = finish(F.self, a1, cs, xs + nb, nb) }
            if n > 2 { y[2 * ldy] = finish(F.self, a2, cs, xs + 2 * nb, nb) }
            if n > 3 { y[3 * ldy] = finish(F.self, a3, cs, xs + 3 * nb, nb) }
            if n > 4 { y[4 * ldy] = finish(F.self, a4, cs, xs + 4 * nb, nb) }
            if n > 5 { y[5 * ldy] = finish(F.self, a5, cs, xs + 5 * nb, nb) }
            if n > 6 { y[6 * ldy] = finish(F.self, a6, cs, xs + 6 * nb, nb) }
            if n > 7 { y[7 * ldy] = finish(F.self, a7, cs, xs + 7 * nb, nb) }
        }
    }
}
