/// The fused matrix-vector kernel for ggml's 32-value block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
/// (Written for any 32-value sub-block layout; Q4_K / Q5_K versions measured slower than decoding
/// rows for the f32 kernels, 4.5 vs 5.8 G weights/s single-threaded, so they were dropped.)
///
/// A block's values are `d * q + c` with integer levels q (Q4_0: c = -8 d, Q5_0: c = -16 d,
/// Q4_1/Q5_1: c = m, Q8_0: c = 0), so a row's dot product with activations x is
/// `sum over blocks of d * dot(x_b, q_b) + c * sum(x_b)`. The kernel unpacks each block's levels
/// (exact small integers as f32, in registers or a 128-byte stack buffer), dots them with the f32
/// activations and applies the two scales once per block; the block sums of x are computed once
/// per call. Activations are never rounded; the result differs from dequantise-then-GEMM only by
/// f32 rounding (the scale is applied after the block's dot product instead of to each value).
/// Every element is computed the same way whatever the rows, tasks or thread count.
protocol Block32Format {
    static var blockBytes: Int { get }
    /// 32-value sub-blocks per storage block (1 for the 32-value types).
    static var subBlocks: Int { get }
    /// Writes sub-block `sub`'s 32 levels q (as floats) and returns (d, c): value = d * q + c.
    static func unpack(_ b: UnsafeRawPointer, _ sub: Int, _ q: UnsafeMutablePointer<Float>) -> (Float, Float)
}

enum Q4_0Format: Block32Format {
    static var blockBytes: Int { 18 }
    static var subBlocks: Int { 1 }
    @inline(always) static func unpack(_ b: UnsafeRawPointer, _: Int, _ q: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let qs = (b + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 { q[j] = Float(qs[j] & 0xF); q[j + 16] = Float(qs[j] >> 4) }
        let d = QBits.f16(b, 0)
        return (d, -8 * d)
    }
}

enum Q4_1Format: Block32Format {
    static var blockBytes: Int { 20 }
    static var subBlocks: Int { 1 }
    @inline(always) static func unpack(_ b: UnsafeRawPointer, _: Int, _ q: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let qs = (b + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 { q[j] = Float(qs[j] & 0xF); q[j + 16] = Float(qs[j] >> 4) }
        return (QBits.f16(b, 0), QBits.f16(b, 2))
    }
}

enum Q5_0Format: Block32Format {
    static var blockBytes: Int { 22 }
    static var subBlocks: Int { 1 }
    @inline(always) static func unpack(_ b: UnsafeRawPointer, _: Int, _ q: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let qh = QBits.u32(b, 2)
        let qs = (b + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let v = UInt32(qs[j])
            q[j] = Float((v & 0xF) | (((qh &>> UInt32(j)) &<< 4) & 0x10))
            q[j + 16] = Float((v >> 4) | ((qh &>> UInt32(j + 12)) & 0x10))
        }
        let d = QBits.f16(b, 0)
        return (d, -16 * d)
    }
}

enum Q5_1Format: Block32Format {
    static var blockBytes: Int { 24 }
    static var subBlocks: Int { 1 }
    @inline(always) static func unpack(_ b: UnsafeRawPointer, _: Int, _ q: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let qh = QBits.u32(b, 4)
        let qs = (b + 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let v = UInt32(qs[j])
            q[j] = Float((v & 0xF) | (((qh &>> UInt32(j)) &<< 4) & 0x10))
            q[j + 16] = Float((v >> 4) | ((qh &>> UInt32(j + 12)) & 0x10))
        }
        return (QBits.f16(b, 0), QBits.f16(b, 2))
    }
}

enum Q8_0Format: Block32Format {
    static var blockBytes: Int { 34 }
    static var subBlocks: Int { 1 }
    @inline(always) static func unpack(_ b: UnsafeRawPointer, _: Int, _ q: UnsafeMutablePointer<Float>) -> (Float, Float) {
        let qs = (b + 2).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 { q[j] = Float(qs[j]) }
        return (QBits.f16(b, 0), 0)
    }
}

extension QuantMatmul {
    /// The type's fused format, if it has one.
    static func hasFusedKernel(_ type: DType) -> Bool {
        switch type {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return true
        default: return false
        }
    }

    /// `y = x * W^T` for a few rows (m <= `fusedMaxRows`) with a 32-value block type (see `Block32Format`).
    static func fused<V: GEMMVector>(_ v: V.Type, _ type: DType, m: Int, n: Int, k: Int,
                                     x: UnsafePointer<Float>, ldx: Int, w: UnsafeRawPointer,
                                     y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 32
        let rowBytes = type.byteCount(elements: k)
        // Block sums of the activations, once per call (fixed order: lane-free scalar sums).
        let sums = Workspace.shared.acquire(floats: m * nb + 16)
        defer { Workspace.shared.release(sums) }
        let xsum = sums.floats
        for i in 0..<m {
            for b in 0..<nb {
                let xb = x + i * ldx + 32 * b
                var s: Float = 0
                for l in 0..<32 { s += xb[l] }
                xsum[i * nb + b] = s
            }
        }
        let unit = 4
        let units = GEMM.ceilDiv(n, unit)
        let tasks = max(1, min(units, min(32, n * k >> 15)))
        let xs = UnsafePointer(xsum)
        ThreadPool.shared.parallelFor(tasks) { t in
            let j0 = min(n, units * t / tasks * unit)
            let j1 = min(n, units * (t + 1) / tasks * unit)
            if j0 >= j1 { return }
            switch type {
            case .q4_0: fusedRows(Q4_0Format.self, v, m: m, nb: nb, x: x, ldx: ldx, xsum: xs, w: w, rowBytes: rowBytes,
                                  y: y, ldy: ldy, j0: j0, j1: j1)
            case .q4_1: fusedRows(Q4_1Format.self, v, m: m, nb: nb, x: x, ldx: ldx, xsum: xs, w: w, rowBytes: rowBytes,
                                  y: y, ldy: ldy, j0: j0, j1: j1)
            case .q5_0: fusedRows(Q5_0Format.self, v, m: m, nb: nb, x: x, ldx: ldx, xsum: xs, w: w, rowBytes: rowBytes,
                                  y: y, ldy: ldy, j0: j0, j1: j1)
            case .q5_1: fusedRows(Q5_1Format.self, v, m: m, nb: nb, x: x, ldx: ldx, xsum: xs, w: w, rowBytes: rowBytes,
                                  y: y, ldy: ldy, j0: j0, j1: j1)
            case .q8_0: fusedRows(Q8_0Format.self, v, m: m, nb: nb, x: x, ldx: ldx, xsum: xs, w: w, rowBytes: rowBytes,
                                  y: y, ldy: ldy, j0: j0, j1: j1)
            default: preconditionFailure("fused: no fused kernel for \(type)")
            }
        }
    }

    @inline(always) static func vload<V: GEMMVector>(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    /// The 32-value dot product of a block, lane-wise: two FMA chains (even and odd vectors), added.
    @inline(always) static func blockDot<V: GEMMVector>(_ per: Int, _ x: UnsafePointer<Float>,
                                                        _ q: UnsafePointer<Float>) -> V {
        let width = V.scalarCount
        var s0 = V(), s1 = V()
        var t = 0
        while t + 2 <= per {
            s0 = s0.addingProduct(vload(x + t * width), vload(q + t * width))
            s1 = s1.addingProduct(vload(x + (t + 1) * width), vload(q + (t + 1) * width))
            t += 2
        }
        if t < per { s0 = s0.addingProduct(vload(x + t * width), vload(q + t * width)) }
        return s0 + s1
    }

    /// W rows `j0..<j1`. Per element: for each block in order, s = the block's dot product
    /// (`blockDot`), acc = fma(s, d, acc) and off = fma(c, xsum, off);
    /// y = acc's lanes summed pairwise + off. The same for m = 1 and m > 1.
    @inline(never)
    static func fusedRows<F: Block32Format, V: GEMMVector>(_: F.Type, _: V.Type, m: Int, nb: Int,
                                                           x: UnsafePointer<Float>, ldx: Int, xsum: UnsafePointer<Float>,
                                                           w: UnsafeRawPointer, rowBytes: Int,
                                                           y: UnsafeMutablePointer<Float>, ldy: Int, j0: Int, j1: Int) {
        let width = V.scalarCount
        let per = 32 / width
        withUnsafeTemporaryAllocation(byteCount: 128 + 8 * MemoryLayout<V>.stride + 64, alignment: 64) { raw in
            let q = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            let accs = (raw.baseAddress! + 128).assumingMemoryBound(to: V.self)
            var offs: (Float, Float, Float, Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0, 0, 0, 0)
            for j in j0..<j1 {
                let wr = w + j * rowBytes
                if m == 1 {
                    var acc = V()
                    var off: Float = 0
                    for sb in 0..<(nb / F.subBlocks) {
                        for u in 0..<F.subBlocks {
                            let b = sb * F.subBlocks + u
                            let (d, c) = F.unpack(wr + sb * F.blockBytes, u, q)
                            let xb = x + 32 * b
                            let s = blockDot(per, xb, q) as V
                            acc = acc.addingProduct(s, V(repeating: d))
                            off = off.addingProduct(c, xsum[b])
                        }
                    }
                    y[j] = acc.total + off
                } else {
                    for i in 0..<m { accs[i] = V() }
                    offs = (0, 0, 0, 0, 0, 0, 0, 0)
                    withUnsafeMutableBytes(of: &offs) { ob in
                        let off = ob.baseAddress!.assumingMemoryBound(to: Float.self)
                        for sb in 0..<(nb / F.subBlocks) {
                            for u in 0..<F.subBlocks {
                                let b = sb * F.subBlocks + u
                                let (d, c) = F.unpack(wr + sb * F.blockBytes, u, q)
                                let vd = V(repeating: d)
                                for i in 0..<m {
                                    let xb = x + i * ldx + 32 * b
                                    let s = blockDot(per, xb, q) as V
                                    accs[i] = accs[i].addingProduct(s, vd)
                                    off[i] = off[i].addingProduct(c, xsum[i * nb + b])
                                }
                            }
                        }
                        for i in 0..<m { y[i * ldy + j] = accs[i].total + off[i] }
                    }
                }
            }
        }
    }
}
