/// A rank-r update added to a product's output: `y [m, n] += (x [m, k] A^T) Bt` for A [r, k] and
/// Bt [r, n] (a LoRA delta, with the scale folded into Bt). A and Bt are f32 or f16 (an adapter
/// stored as f16 keeps half the bytes to read per token; f16 widens to f32 exactly, so the result
/// is the bits of the same factors in f32).
///
/// Per row: r dot products of length k, then r axpys of length n, so the work is r (k + n) per
/// row and nothing of size [m, r] or [m, n] is allocated. General GEMM spends more in packing,
/// dispatch and temporaries than in arithmetic at these shapes (r of 4 to 64). Rows are split
/// over threads by shape only: the result does not depend on the thread count.
extension Tensor {
    public static func addLowRank(_ x: Tensor, a: Tensor, bt: Tensor, into y: Tensor) throws {
        for (t, name) in [(x, "x"), (y, "y")] where t.dtype != .f32 {
            throw TensorError.unsupportedType(op: "addLowRank", dtype: t.dtype, reason: "\(name) must be f32")
        }
        for (t, name) in [(a, "A"), (bt, "Bt")] where t.dtype != .f32 && t.dtype != .f16 {
            throw TensorError.unsupportedType(op: "addLowRank", dtype: t.dtype, reason: "\(name) must be f32 or f16")
        }
        guard a.rank == 2, bt.rank == 2, a.shape[0] == bt.shape[0], x.rank >= 1, y.rank == x.rank,
            x.shape.last == a.shape[1], y.shape.last == bt.shape[1], x.shape.dropLast() == y.shape.dropLast()
        else {
            throw TensorError.shapeMismatch(
                op: "addLowRank", lhs: x.shape, rhs: y.shape,
                reason: "needs x [..., k], A \(a.shape) = [r, k], Bt \(bt.shape) = [r, n], y [..., n]")
        }
        guard y.isContiguous else { throw TensorError.invalidShape(op: "addLowRank", shape: y.shape, reason: "y must be contiguous") }
        let xc = x.contiguous(), ac = a.contiguous(), bc = bt.contiguous()
        let r = a.shape[0], k = a.shape[1], n = bt.shape[1], m = x.count / Swift.max(k, 1)
        if m == 0 || r == 0 { return }
        let px = xc.floatPointer, py = y.floatPointer
        let pa = UnsafeRawPointer(ac.rawPointer), pb = UnsafeRawPointer(bc.rawPointer)
        let tasks = taskCount(work: m * r * (k + n), grain: 1 << 18, limit: ThreadPool.shared.threadCount)
        @inline(__always) func run<A: KVRow, B: KVRow>(_: A.Type, _: B.Type) {
            ThreadPool.shared.parallelRanges(m, parts: tasks) { rows in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: rows.count * r) { t in
                    let t = t.baseAddress!, i0 = rows.lowerBound
                    LowRank.project(px + i0 * k, rows: rows.count, pa, A.self, k: k, r: r, into: t)
                    LowRank.expand(py + i0 * n, rows: rows.count, t, pb, B.self, n: n, r: r)
                }
            }
        }
        withExtendedLifetime((xc, ac, bc, y)) {
            switch (ac.dtype, bc.dtype) {
            case (.f16, .f16): run(F16Row.self, F16Row.self)
            case (.f16, _): run(F16Row.self, F32Row.self)
            case (_, .f16): run(F32Row.self, F16Row.self)
            default: run(F32Row.self, F32Row.self)
            }
        }
    }
}

/// The two halves of the rows' low-rank update. Each gives the bits of the plain loops it replaces
/// (per row r `RowGrad.dot`s, then r `RowGrad.axpy`s: the same products summed in the same order),
/// but reads x once per four dots and y once rather than r times, with independent FMA chains,
/// A's and Bt's pieces once for all the rows of a task, and each vector of them loaded (and
/// widened from f16) once for two rows.
enum LowRank {
    /// t[i][j] = x_i . A_j for `rows` rows of x (stride k) and j in 0..<r (t's stride r), each
    /// accumulated as `RowGrad.dot` does (two alternating vector accumulators, the tail into the
    /// first, then the lanes summed). Four A rows at a time over all rows, so they stay in L1.
    @inline(__always)
    static func project<E: KVRow>(
        _ x: UnsafePointer<Float>, rows: Int, _ a: UnsafeRawPointer, _: E.Type, k: Int, r: Int,
        into t: UnsafeMutablePointer<Float>
    ) {
        let w = Vec.scalarCount, rowBytes = k * E.bytes
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
        // Two rows at a time share each load of A (16 accumulators: AVX-512's 32 registers hold
        // them, AVX2's 16 would spill, so there rows go one at a time).
        let pairs = w >= 16
        var j = 0
        while j + 4 <= r {
            let a0 = a + j * rowBytes, a1 = a0 + rowBytes, a2 = a1 + rowBytes, a3 = a2 + rowBytes
            var row = 0
            while pairs && row + 2 <= rows {
                let x = x + row * k, xb = x + k, t = t + row * r
                var s00 = Vec(), s01 = Vec(), s10 = Vec(), s11 = Vec()
                var s20 = Vec(), s21 = Vec(), s30 = Vec(), s31 = Vec()
                var u00 = Vec(), u01 = Vec(), u10 = Vec(), u11 = Vec()
                var u20 = Vec(), u21 = Vec(), u30 = Vec(), u31 = Vec()
                var i = 0
                while i + 2 * w <= k {
                    let x0 = load(x + i), x1 = load(x + i + w), z0 = load(xb + i), z1 = load(xb + i + w)
                    var p = E.load(a0, i), q = E.load(a0, i + w)
                    s00 = s00.addingProduct(x0, p)
                    s01 = s01.addingProduct(x1, q)
                    u00 = u00.addingProduct(z0, p)
                    u01 = u01.addingProduct(z1, q)
                    p = E.load(a1, i)
                    q = E.load(a1, i + w)
                    s10 = s10.addingProduct(x0, p)
                    s11 = s11.addingProduct(x1, q)
                    u10 = u10.addingProduct(z0, p)
                    u11 = u11.addingProduct(z1, q)
                    p = E.load(a2, i)
                    q = E.load(a2, i + w)
                    s20 = s20.addingProduct(x0, p)
                    s21 = s21.addingProduct(x1, q)
                    u20 = u20.addingProduct(z0, p)
                    u21 = u21.addingProduct(z1, q)
                    p = E.load(a3, i)
                    q = E.load(a3, i + w)
                    s30 = s30.addingProduct(x0, p)
                    s31 = s31.addingProduct(x1, q)
                    u30 = u30.addingProduct(z0, p)
                    u31 = u31.addingProduct(z1, q)
                    i += 2 * w
                }
                while i < k {
                    let c = Swift.min(w, k - i)
                    let xv = VectorMath.load(x + i, stride: 1, count: c), zv = VectorMath.load(xb + i, stride: 1, count: c)
                    var p = E.load(a0, i, count: c)
                    s00 = s00.addingProduct(xv, p)
                    u00 = u00.addingProduct(zv, p)
                    p = E.load(a1, i, count: c)
                    s10 = s10.addingProduct(xv, p)
                    u10 = u10.addingProduct(zv, p)
                    p = E.load(a2, i, count: c)
                    s20 = s20.addingProduct(xv, p)
                    u20 = u20.addingProduct(zv, p)
                    p = E.load(a3, i, count: c)
                    s30 = s30.addingProduct(xv, p)
                    u30 = u30.addingProduct(zv, p)
                    i += c
                }
                t[j] = VectorMath.sum(s00 + s01)
                t[j + 1] = VectorMath.sum(s10 + s11)
                t[j + 2] = VectorMath.sum(s20 + s21)
                t[j + 3] = VectorMath.sum(s30 + s31)
                t[r + j] = VectorMath.sum(u00 + u01)
                t[r + j + 1] = VectorMath.sum(u10 + u11)
                t[r + j + 2] = VectorMath.sum(u20 + u21)
                t[r + j + 3] = VectorMath.sum(u30 + u31)
                row += 2
            }
            while row < rows {
                let x = x + row * k, t = t + row * r
                var s00 = Vec(), s01 = Vec(), s10 = Vec(), s11 = Vec()
                var s20 = Vec(), s21 = Vec(), s30 = Vec(), s31 = Vec()
                var i = 0
                while i + 2 * w <= k {
                    let x0 = load(x + i), x1 = load(x + i + w)
                    s00 = s00.addingProduct(x0, E.load(a0, i))
                    s01 = s01.addingProduct(x1, E.load(a0, i + w))
                    s10 = s10.addingProduct(x0, E.load(a1, i))
                    s11 = s11.addingProduct(x1, E.load(a1, i + w))
                    s20 = s20.addingProduct(x0, E.load(a2, i))
                    s21 = s21.addingProduct(x1, E.load(a2, i + w))
                    s30 = s30.addingProduct(x0, E.load(a3, i))
                    s31 = s31.addingProduct(x1, E.load(a3, i + w))
                    i += 2 * w
                }
                while i < k {
                    let c = Swift.min(w, k - i)
                    let xv = VectorMath.load(x + i, stride: 1, count: c)
                    s00 = s00.addingProduct(xv, E.load(a0, i, count: c))
                    s10 = s10.addingProduct(xv, E.load(a1, i, count: c))
                    s20 = s20.addingProduct(xv, E.load(a2, i, count: c))
                    s30 = s30.addingProduct(xv, E.load(a3, i, count: c))
                    i += c
                }
                t[j] = VectorMath.sum(s00 + s01)
                t[j + 1] = VectorMath.sum(s10 + s11)
                t[j + 2] = VectorMath.sum(s20 + s21)
                t[j + 3] = VectorMath.sum(s30 + s31)
                row += 1
            }
            j += 4
        }
        while j < r {
            // (`KVRow.dot` is `RowGrad.dot` with the second operand widened from E.)
            for row in 0..<rows { t[row * r + j] = E.dot(x + row * k, a + j * rowBytes, k) }
            j += 1
        }
    }

    /// y_i += sum_j t[i][j] Bt_j for `rows` rows of y (stride n), a vector of y at a time with its
    /// FMAs in j order (as r axpys in turn would do them), four vectors in flight; a chunk of Bt
    /// serves every row while it is in L1.
    @inline(__always)
    static func expand<E: KVRow>(
        _ y: UnsafeMutablePointer<Float>, rows: Int, _ t: UnsafePointer<Float>, _ b: UnsafeRawPointer, _: E.Type, n: Int,
        r: Int
    ) {
        let w = Vec.scalarCount, rowBytes = n * E.bytes
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec { UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
        @inline(__always) func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self) }
        var c = 0
        while c + 4 * w <= n {
            // Two rows at a time share each chunk of Bt as it is loaded (and widened).
            var row = 0
            while row + 2 <= rows {
                let y = y + row * n + c, z = y + n, t = t + row * r, u = t + r
                var y0 = load(y), y1 = load(y + w), y2 = load(y + 2 * w), y3 = load(y + 3 * w)
                var z0 = load(z), z1 = load(z + w), z2 = load(z + 2 * w), z3 = load(z + 3 * w)
                var bj = b + c * E.bytes
                for j in 0..<r {
                    let s = Vec(repeating: t[j]), v = Vec(repeating: u[j])
                    let b0 = E.load(bj, 0), b1 = E.load(bj, w), b2 = E.load(bj, 2 * w), b3 = E.load(bj, 3 * w)
                    y0 = y0.addingProduct(s, b0)
                    y1 = y1.addingProduct(s, b1)
                    y2 = y2.addingProduct(s, b2)
                    y3 = y3.addingProduct(s, b3)
                    z0 = z0.addingProduct(v, b0)
                    z1 = z1.addingProduct(v, b1)
                    z2 = z2.addingProduct(v, b2)
                    z3 = z3.addingProduct(v, b3)
                    bj += rowBytes
                }
                store(y0, y)
                store(y1, y + w)
                store(y2, y + 2 * w)
                store(y3, y + 3 * w)
                store(z0, z)
                store(z1, z + w)
                store(z2, z + 2 * w)
                store(z3, z + 3 * w)
                row += 2
            }
            while row < rows {
                let y = y + row * n + c, t = t + row * r
                var y0 = load(y), y1 = load(y + w), y2 = load(y + 2 * w), y3 = load(y + 3 * w)
                var bj = b + c * E.bytes
                for j in 0..<r {
                    let s = Vec(repeating: t[j])
                    y0 = y0.addingProduct(s, E.load(bj, 0))
                    y1 = y1.addingProduct(s, E.load(bj, w))
                    y2 = y2.addingProduct(s, E.load(bj, 2 * w))
                    y3 = y3.addingProduct(s, E.load(bj, 3 * w))
                    bj += rowBytes
                }
                store(y0, y)
                store(y1, y + w)
                store(y2, y + 2 * w)
                store(y3, y + 3 * w)
                row += 1
            }
            c += 4 * w
        }
        while c < n {
            let cnt = Swift.min(w, n - c)
            for row in 0..<rows {
                let y = y + row * n + c, t = t + row * r
                var v = VectorMath.load(y, stride: 1, count: cnt)
                for j in 0..<r { v = v.addingProduct(Vec(repeating: t[j]), E.load(b + j * rowBytes, c, count: cnt)) }
                VectorMath.store(v, y, count: cnt)
            }
            c += cnt
        }
    }
}
