/// A rank-r update added to a product's output: `y [m, n] += (x [m, k] A^T) Bt` for A [r, k] and
/// Bt [r, n] (a LoRA delta, with the scale folded into Bt).
///
/// Per row: r dot products of length k, then r axpys of length n, so the work is r (k + n) per
/// row and nothing of size [m, r] or [m, n] is allocated. General GEMM spends more in packing,
/// dispatch and temporaries than in arithmetic at these shapes (r of 4 to 64). Rows are split
/// over threads by shape only: the result does not depend on the thread count.
extension Tensor {
    public static func addLowRank(_ x: Tensor, a: Tensor, bt: Tensor, into y: Tensor) throws {
        for (t, name) in [(x, "x"), (a, "A"), (bt, "Bt"), (y, "y")] where t.dtype != .f32 {
            throw TensorError.unsupportedType(op: "addLowRank", dtype: t.dtype, reason: "\(name) must be f32")
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
        let px = xc.floatPointer, pa = ac.floatPointer, pb = bc.floatPointer, py = y.floatPointer
        let tasks = taskCount(work: m * r * (k + n), grain: 1 << 16, limit: ThreadPool.shared.threadCount)
        withExtendedLifetime((xc, ac, bc, y)) {
            ThreadPool.shared.parallelRanges(m, parts: tasks) { rows in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: r) { t in
                    for i in rows {
                        for j in 0..<r { t[j] = RowGrad.dot(px + i * k, pa + j * k, k) }
                        for j in 0..<r { RowGrad.axpy(py + i * n, t[j], pb + j * n, n) }
                    }
                }
            }
        }
    }
}
