/// Matrix products of tensors, with batch broadcasting (as torch.matmul) and free transposes.
///
/// Each operand's last two axes are passed to GEMM as they lie in memory: a row-major matrix, or a
/// transposed one (a `transposed()` view costs no copy), so only layouts that are neither are made
/// contiguous. Batches of small products run in parallel, one product per task; large products
/// are parallel inside GEMM.
extension Tensor {
    /// self [..., M, K] x other [..., K, N] -> [..., M, N]; batch axes broadcast. A rank-1 operand
    /// is a row (left) or column (right) vector and its axis is dropped from the result.
    public func matmul(_ other: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        // A weight in another type (f16, bf16, quantised), used as X * W^T: the linear path.
        if other.dtype != .f32 && other.rank == 2 && transposeB && !transposeA {
            return try linear(other)
        }
        try requireFloat32("matmul")
        try other.requireFloat32("matmul")
        guard rank >= 1, other.rank >= 1 else {
            throw TensorError.shapeMismatch(op: "matmul", lhs: shape, rhs: other.shape, reason: "operands need at least one axis")
        }
        var a = rank == 1 ? try unsqueezed(axis: 0) : self
        var b = other.rank == 1 ? try other.unsqueezed(axis: 1) : other
        if transposeA { a = try a.transposed() }
        if transposeB { b = try b.transposed() }
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1]
        guard k == k2 else {
            throw TensorError.shapeMismatch(
                op: "matmul", lhs: shape, rhs: other.shape,
                reason: "inner sizes \(k) and \(k2) differ"
                    + (transposeA || transposeB ? " (after transposes)" : ""))
        }
        let batch = try Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "matmul")
        a = try a.broadcast(to: batch + [m, k])
        b = try b.broadcast(to: batch + [k, n])
        let ma = MatrixOperand(a), mb = MatrixOperand(b)
        let out = Tensor.uninitialized(batch + [m, n])
        let count = batch.reduce(1, *)
        let batchLayout = Layout(
            shape: batch.isEmpty ? [1] : batch,
            strides: [
                batch.isEmpty ? [0] : Array(ma.tensor.strides.dropLast(2)),
                batch.isEmpty ? [0] : Array(mb.tensor.strides.dropLast(2))
            ])
        let pa = ma.tensor.floatPointer, pb = mb.tensor.floatPointer, pc = out.floatPointer
        @inline(__always) func product(_ i: Int, own: Bool) {
            let offA = batch.isEmpty ? 0 : batchLayout.elementOffset(i, operand: 0)
            let offB = batch.isEmpty ? 0 : batchLayout.elementOffset(i, operand: 1)
            let c = pc + i * m * n
            if own {
                GEMM.ownSgemm(
                    transA: ma.transposed, transB: mb.transposed, m: m, n: n, k: k,
                    a: pa + offA, lda: ma.ld, b: pb + offB, ldb: mb.ld, c: c, ldc: n)
            } else {
                GEMM.sgemm(
                    transA: ma.transposed, transB: mb.transposed, m: m, n: n, k: k,
                    a: pa + offA, lda: ma.ld, b: pb + offB, ldb: mb.ld, c: c, ldc: n)
            }
        }
        // Small products (attention heads, say) go one per task through our own GEMM; the choice
        // depends only on the shape, so results never depend on the thread count.
        if count > 1 && m * n * k <= 1 << 21 {
            ThreadPool.shared.parallelFor(count) { product($0, own: true) }
        } else {
            for i in 0..<count { product(i, own: false) }
        }
        var result = out
        if other.rank == 1 { result = try result.selected(axis: -1, 0) }
        if rank == 1 { result = try result.selected(axis: -2, 0) }
        return result
    }
}

/// A matrix operand as GEMM takes it: a base tensor whose last two axes are row-major
/// (`transposed` false) or column-major (`transposed` true) with leading dimension `ld`.
struct MatrixOperand {
    let tensor: Tensor
    let transposed: Bool
    let ld: Int

    init(_ t: Tensor) {
        let r = t.shape[t.rank - 2], c = t.shape[t.rank - 1]
        let sr = t.strides[t.rank - 2], sc = t.strides[t.rank - 1]
        if (sc == 1 || c == 1) && (sr >= Swift.max(c, 1) || r == 1) {
            tensor = t
            transposed = false
            ld = r == 1 ? Swift.max(c, 1) : sr
        } else if (sr == 1 || r == 1) && (sc >= Swift.max(r, 1) || c == 1) {
            tensor = t
            transposed = true
            ld = c == 1 ? Swift.max(r, 1) : sc
        } else {
            // Neither layout: a contiguous copy.
            tensor = t.contiguous()
            transposed = false
            ld = Swift.max(c, 1)
        }
    }
}
