#if arch(x86_64) && GRM_AMX
import _Builtin_intrinsics.intel
#endif

/// Attention of an item's few new rows (a forked response's tail, a short prompt) as small
/// register-blocked products, in f32: for each KV head, the item's keys transposed once and its
/// values gathered once, then every query head of every new row against them. The row-by-row path
/// (`Job.run64`) reads each key once per row and sums each score across the lanes of a register;
/// here four query vectors share every load of a key, and a score is one lane of one accumulator,
/// so nothing is summed across lanes.
///
/// The same softmax(scale * q K^T) V as the row path, over the same positions, with the sums
/// taken in another order: the results differ from it by float rounding only. So it serves only
/// `ActivationMode.bf16` (`CachedAttention.run`), whose prompts already differ from decoding by
/// bf16 rounding; the exact and int8 paths keep each row's bits independent of its batch.
extension CachedAttention {
    /// New rows from which an item takes this path (below `matrixRows`) in bf16 mode; 0: never.
    /// (`EngineSettings.current.attentionBlockRows`)
    static var blockRowsFrom: Int { EngineSettings.current.attentionBlockRows }

    /// Query vectors per pass: four share each key's (and each value row's) loads.
    private static let queriesPerPass = 4

    /// Whether heads of `headDim` values can take this path (whole vectors per head).
    static func blockPathFits(headDim: Int) -> Bool { headDim % Vec.scalarCount == 0 }

    /// Rows `item.row ..< item.row + item.count` of `out`, query heads of KV head `g`. `parts`
    /// are the item's cached positions then its new ones (written already); `blockPathFits`.
    static func blockPath(
        _ item: Item, parts: [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)], g: Int,
        q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, heads: Int, kvHeads: Int, headDim: Int, scale: Float,
        window: Int?, type: KVCacheType
    ) {
        let w = Vec.scalarCount
        let kvDim = kvHeads * headDim, qDim = heads * headDim, group = heads / kvHeads
        let start = item.sequence.length, total = start + item.count
        // Key columns padded to two vectors (the score kernel's step); the padding is zero.
        let stride = (total + 2 * w - 1) / (2 * w) * (2 * w)
        let vectors = item.count * group
        let buffer = Workspace.shared.acquire(floats: 2 * headDim * stride + vectors * stride + 16)
        defer { Workspace.shared.release(buffer) }
        let keysT = buffer.floats, values = keysT + headDim * stride, scores = values + headDim * stride

        // K^T [headDim, stride] and V [stride, headDim] of KV head g, in f32: keys sixteen at a
        // time by 16 x 16 transposes where the build has them, the rest one by one.
        var base = 0
        for part in parts {
            var j = 0
            #if arch(x86_64) && GRM_AMX
            if headDim % 16 == 0 {
                while j + 16 <= part.count {
                    for d0 in Swift.stride(from: 0, to: headDim, by: 16) {
                        @inline(__always) func row(_ i: Int) -> __m512i {
                            let at = (j + i) * kvDim + g * headDim + d0
                            switch type {
                            case .f32: return _mm512_loadu_si512(part.keys + 4 * at)
                            case .f16: return unsafeBitCast(Half.load(part.keys + 2 * at), to: __m512i.self)
                            }
                        }
                        let t = QuantMatmul.transpose16(
                            row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7), row(8), row(9), row(10),
                            row(11), row(12), row(13), row(14), row(15))
                        withUnsafeBytes(of: t) { t in
                            for e in 0..<16 {
                                UnsafeMutableRawPointer(keysT + (d0 + e) * stride + base + j)
                                    .copyMemory(from: t.baseAddress! + 64 * e, byteCount: 64)
                            }
                        }
                    }
                    j += 16
                }
            }
            #endif
            while j < part.count {
                let at = j &* kvDim &+ g &* headDim
                var column = keysT + base + j
                switch type {
                case .f32:
                    let k = part.keys.assumingMemoryBound(to: Float.self) + at
                    for d in 0..<headDim {
                        column.pointee = k[d]
                        column += stride
                    }
                case .f16:
                    let k = part.keys.assumingMemoryBound(to: UInt16.self) + at
                    for d in 0..<headDim {
                        column.pointee = Half.toFloat(k[d])
                        column += stride
                    }
                }
                j += 1
            }
            for j in 0..<part.count {
                let row = j * kvDim + g * headDim, v = values + (base + j) * headDim
                switch type {
                case .f32: v.update(from: part.values.assumingMemoryBound(to: Float.self) + row, count: headDim)
                case .f16: Half.toFloat(part.values.assumingMemoryBound(to: UInt16.self) + row, v, count: headDim)
                }
            }
            base += part.count
        }
        if stride > total {
            for d in 0..<headDim { (keysT + d * stride + total).update(repeating: 0, count: stride - total) }
            (values + total * headDim).update(repeating: 0, count: (stride - total) * headDim)
        }

        // Query vector v is head h = v % group of new row r = v / group: it sees positions
        // first(v) ..< visible(v).
        @inline(__always) func offset(_ v: Int) -> Int { (item.row + v / group) * qDim + (g * group + v % group) * headDim }
        @inline(__always) func query(_ v: Int) -> UnsafePointer<Float> { q + offset(v) }
        @inline(__always) func visible(_ v: Int) -> Int { start + v / group + 1 }
        @inline(__always) func first(_ v: Int) -> Int { window.map { max(0, visible(v) - $0) } ?? 0 }

        // Scores: four query vectors (the last one repeated to fill a pass) against two vectors
        // of keys at a time, one FMA per query, key vector and dimension.
        var v0 = 0
        while v0 < vectors {
            let last = min(vectors, v0 + queriesPerPass) - 1
            let q0 = query(v0), q1 = query(min(v0 + 1, last)), q2 = query(min(v0 + 2, last)), q3 = query(last)
            let columns = visible(last)
            var j = 0
            while j < columns {
                // The last key vector alone when one is left (as fast per FMA, half the work).
                if columns - j <= w {
                    var a0 = Vec(), b0 = Vec(), c0 = Vec(), e0 = Vec()
                    var kt = UnsafeRawPointer(keysT + j)
                    for d in 0..<headDim {
                        let k0 = kt.loadUnaligned(as: Vec.self)
                        a0 = a0.addingProduct(Vec(repeating: q0[d]), k0)
                        b0 = b0.addingProduct(Vec(repeating: q1[d]), k0)
                        c0 = c0.addingProduct(Vec(repeating: q2[d]), k0)
                        e0 = e0.addingProduct(Vec(repeating: q3[d]), k0)
                        kt += 4 * stride
                    }
                    @inline(__always) func store(_ v: Int, _ x: Vec) {
                        if v <= last { UnsafeMutableRawPointer(scores + v * stride + j).storeBytes(of: x * scale, as: Vec.self) }
                    }
                    store(v0, a0)
                    store(v0 + 1, b0)
                    store(v0 + 2, c0)
                    store(v0 + 3, e0)
                    break
                }
                var a0 = Vec(), a1 = Vec(), b0 = Vec(), b1 = Vec(), c0 = Vec(), c1 = Vec(), e0 = Vec(), e1 = Vec()
                var kt = UnsafeRawPointer(keysT + j)
                for d in 0..<headDim {
                    let k0 = kt.loadUnaligned(as: Vec.self), k1 = kt.loadUnaligned(fromByteOffset: 4 * w, as: Vec.self)
                    let x0 = Vec(repeating: q0[d]), x1 = Vec(repeating: q1[d])
                    let x2 = Vec(repeating: q2[d]), x3 = Vec(repeating: q3[d])
                    a0 = a0.addingProduct(x0, k0)
                    a1 = a1.addingProduct(x0, k1)
                    b0 = b0.addingProduct(x1, k0)
                    b1 = b1.addingProduct(x1, k1)
                    c0 = c0.addingProduct(x2, k0)
                    c1 = c1.addingProduct(x2, k1)
                    e0 = e0.addingProduct(x3, k0)
                    e1 = e1.addingProduct(x3, k1)
                    kt += 4 * stride
                }
                @inline(__always) func store(_ v: Int, _ x: Vec, _ y: Vec) {
                    guard v <= last else { return }
                    let s = UnsafeMutableRawPointer(scores + v * stride + j)
                    s.storeBytes(of: x * scale, as: Vec.self)
                    s.storeBytes(of: y * scale, toByteOffset: 4 * w, as: Vec.self)
                }
                store(v0, a0, a1)
                store(v0 + 1, b0, b1)
                store(v0 + 2, c0, c1)
                store(v0 + 3, e0, e1)
                j += 2 * w
            }
            v0 += queriesPerPass
        }
        // Softmax over each vector's positions; zero elsewhere, so that the value pass can run
        // over a pass's longest range.
        for v in 0..<vectors { softmax(scores + v * stride, from: first(v), to: visible(v), stride: stride) }

        // Values: four query vectors against each value row, up to 64 dimensions per pass.
        v0 = 0
        while v0 < vectors {
            let last = min(vectors, v0 + queriesPerPass) - 1
            let s0 = scores + v0 * stride, s1 = scores + min(v0 + 1, last) * stride
            let s2 = scores + min(v0 + 2, last) * stride, s3 = scores + last * stride
            let positions = visible(last)
            var d0 = 0
            while d0 < headDim {
                let dims = min(4 * w, headDim - d0)
                // Four accumulators per query vector (registers on AVX-512); dims is a multiple
                // of w, and the vectors past it are zero and never stored.
                var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec(), b0 = Vec(), b1 = Vec(), b2 = Vec(), b3 = Vec()
                var c0 = Vec(), c1 = Vec(), c2 = Vec(), c3 = Vec(), e0 = Vec(), e1 = Vec(), e2 = Vec(), e3 = Vec()
                for j in 0..<positions {
                    let vr = UnsafeRawPointer(values + j * headDim + d0)
                    let y0 = vr.loadUnaligned(as: Vec.self)
                    let y1 = dims > w ? vr.loadUnaligned(fromByteOffset: 4 * w, as: Vec.self) : Vec()
                    let y2 = dims > 2 * w ? vr.loadUnaligned(fromByteOffset: 8 * w, as: Vec.self) : Vec()
                    let y3 = dims > 3 * w ? vr.loadUnaligned(fromByteOffset: 12 * w, as: Vec.self) : Vec()
                    let p0 = Vec(repeating: s0[j]), p1 = Vec(repeating: s1[j])
                    let p2 = Vec(repeating: s2[j]), p3 = Vec(repeating: s3[j])
                    a0 = a0.addingProduct(p0, y0)
                    a1 = a1.addingProduct(p0, y1)
                    a2 = a2.addingProduct(p0, y2)
                    a3 = a3.addingProduct(p0, y3)
                    b0 = b0.addingProduct(p1, y0)
                    b1 = b1.addingProduct(p1, y1)
                    b2 = b2.addingProduct(p1, y2)
                    b3 = b3.addingProduct(p1, y3)
                    c0 = c0.addingProduct(p2, y0)
                    c1 = c1.addingProduct(p2, y1)
                    c2 = c2.addingProduct(p2, y2)
                    c3 = c3.addingProduct(p2, y3)
                    e0 = e0.addingProduct(p3, y0)
                    e1 = e1.addingProduct(p3, y1)
                    e2 = e2.addingProduct(p3, y2)
                    e3 = e3.addingProduct(p3, y3)
                }
                @inline(__always) func store(_ v: Int, _ x0: Vec, _ x1: Vec, _ x2: Vec, _ x3: Vec) {
                    guard v <= last else { return }
                    let o = UnsafeMutableRawPointer(out + offset(v) + d0)
                    o.storeBytes(of: x0, as: Vec.self)
                    if dims > w { o.storeBytes(of: x1, toByteOffset: 4 * w, as: Vec.self) }
                    if dims > 2 * w { o.storeBytes(of: x2, toByteOffset: 8 * w, as: Vec.self) }
                    if dims > 3 * w { o.storeBytes(of: x3, toByteOffset: 12 * w, as: Vec.self) }
                }
                store(v0, a0, a1, a2, a3)
                store(v0 + 1, b0, b1, b2, b3)
                store(v0 + 2, c0, c1, c2, c3)
                store(v0 + 3, e0, e1, e2, e3)
                d0 += dims
            }
            v0 += queriesPerPass
        }
    }

    /// Softmax of `row[lo..<hi]` in place, zeros elsewhere in `row[0..<stride]` (stride a multiple
    /// of the vector width): whole vectors throughout, the positions outside the range set to
    /// -infinity first so that they take no part in the maximum and exp to zero. (The general
    /// `Softmax.row` spends most of a short row on its partial vectors and lane-by-lane sums.)
    @inline(__always) static func softmax(_ row: UnsafeMutablePointer<Float>, from lo: Int, to hi: Int, stride: Int) {
        let w = Vec.scalarCount, end = (hi + w - 1) / w * w
        row.update(repeating: -.infinity, count: lo)
        (row + hi).update(repeating: -.infinity, count: end - hi)
        var top = Vec(repeating: -.infinity)
        for j in Swift.stride(from: 0, to: end, by: w) { top = VectorMath.maximum(top, UnsafeRawPointer(row + j).loadUnaligned(as: Vec.self)) }
        let m = Vec(repeating: horizontalMax(top))
        var total = Vec()
        for j in Swift.stride(from: 0, to: end, by: w) {
            let e = VectorMath.exp(UnsafeRawPointer(row + j).loadUnaligned(as: Vec.self) - m)
            total += e
            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: Vec.self)
        }
        let inv = Vec(repeating: 1 / horizontalSum(total))
        for j in Swift.stride(from: 0, to: end, by: w) {
            let p = UnsafeMutableRawPointer(row + j)
            p.storeBytes(of: p.loadUnaligned(as: Vec.self) * inv, as: Vec.self)
        }
        (row + end).update(repeating: 0, count: stride - end)
    }

    // Horizontal reductions by halves, on concrete vector types (Swift's generic `.max()`,
    // `.sum()` and `pointwiseMax` on SIMD vectors compile to lane-by-lane loops).
    @inline(__always) static func horizontalMax(_ v: SIMD16<Float>) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
        return c[1] > c[0] ? c[1] : c[0]
    }
    @inline(__always) static func horizontalMax(_ v: SIMD8<Float>) -> Float {
        let b = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
        return c[1] > c[0] ? c[1] : c[0]
    }
    @inline(__always) static func horizontalSum(_ v: SIMD16<Float>) -> Float {
        let a = v.lowHalf + v.highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }
    @inline(__always) static func horizontalSum(_ v: SIMD8<Float>) -> Float {
        let b = v.lowHalf + v.highHalf, c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }
}
