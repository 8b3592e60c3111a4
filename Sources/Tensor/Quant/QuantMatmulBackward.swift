/// The product with a weight in its stored type, not transposed: `dX[m, k] = dY[m, n] * W[n, k]`,
/// W stored as n rows of k values of any floating element type (f32, f16, bf16 or a ggml block
/// type). This is the input gradient of `linear` (Y = X W^T), which training through a frozen,
/// quantised base model needs at every projection.
///
/// The weight is never dequantised as a whole. The result is bit for bit that of dequantising W
/// and calling `GEMM.ownSgemm(transA: false, transB: false)`, for every thread count:
/// - m > `GEMM.smallRows`: GEMM's packed path, with W's rows decoded straight into its packed B
///   panels (for each K block, the blocks of each W row that cover a task's columns are decoded
///   into cache-resident scratch and copied into the panels as `Kernels.packB` copies rows).
/// - otherwise: W is decoded in slabs of whole blocks of columns (all n rows, a few dozen
///   columns) and each slab runs GEMM's small path; that path computes each output column on its
///   own, so the columns' results do not depend on the slab they fall in.
extension QuantMatmul {
    public static func linearTransposed(
        _ type: DType, m: Int, n: Int, k: Int, dy: UnsafePointer<Float>, lddy: Int,
        w: UnsafeRawPointer, dx: UnsafeMutablePointer<Float>, lddx: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0 && type != .i32, "QuantMatmul.linearTransposed: bad arguments")
        precondition(k % type.blockElements == 0, "QuantMatmul.linearTransposed: k = \(k) is not a multiple of \(type)'s block")
        if m == 0 || k == 0 { return }
        if type == .f32 || n == 0 {
            GEMM.ownSgemm(
                transA: false, transB: false, m: m, n: k, k: n, a: dy, lda: lddy,
                b: w.assumingMemoryBound(to: Float.self), ldb: k, c: dx, ldc: lddx)
            return
        }
        let rowBytes = type.byteCount(elements: k)
        let qk = type.blockElements, blockBytes = type.blockBytes
        if m > GEMM.smallRows {
            // Output columns are W's k values; the reduction runs over W's n rows.
            GEMM.ownSgemm(m: m, n: k, k: n, a: dy, lda: lddy, c: dx, ldc: lddx) { j0, cols, k0, kc, nr, q0, q1, into in
                let lo = j0 + q0 * nr, hi = j0 + min(cols, q1 * nr)
                let b0 = lo / qk, b1 = (hi + qk - 1) / qk
                let span = (b1 - b0) * qk, skip = lo - b0 * qk
                let buffer = Workspace.shared.acquire(floats: span + 16)
                defer { Workspace.shared.release(buffer) }
                let tmp = buffer.floats
                for p in 0..<kc {
                    decode(type, w + (k0 + p) * rowBytes + b0 * blockBytes, tmp, count: span)
                    for q in q0..<q1 {
                        let c0 = q * nr, valid = min(nr, cols - c0)
                        let src = tmp + skip + (c0 - q0 * nr), out = into + q * nr * kc + p * nr
                        out.update(from: src, count: valid)
                        if valid < nr { (out + valid).update(repeating: 0, count: nr - valid) }
                    }
                }
            }
            return
        }
        // Slabs of whole blocks: at least 64 columns (so at least n * 64 floats: 12.6 MB for a
        // 49,152-row vocabulary), otherwise at most ~1 MB of decoded weights.
        let minCols = max(qk, 64 / qk * qk)
        let slabBlocks = max(minCols / qk, min(k / qk, (1 << 18) / max(n * qk, 1)))
        let slab = slabBlocks * qk
        let buffer = Workspace.shared.acquire(floats: n * slab + 16)
        defer { Workspace.shared.release(buffer) }
        let tmp = buffer.floats
        var c0 = 0
        while c0 < k {
            let width = min(slab, k - c0)
            Quant.forBlocks(n, grain: max(1, (1 << 14) / width)) { rows in
                for r in rows { decode(type, w + r * rowBytes + c0 / qk * blockBytes, tmp + r * width, count: width) }
            }
            GEMM.ownSgemm(
                transA: false, transB: false, m: m, n: width, k: n, a: dy, lda: lddy,
                b: UnsafePointer(tmp), ldb: width, c: dx + c0, ldc: lddx)
            c0 += width
        }
    }
}

extension Tensor {
    /// The input gradient of `linear`: `self [..., N] (f32) x weight [N, K] -> [..., K]` for a
    /// weight of any floating element type, never dequantised as a whole; bit for bit the own
    /// GEMM on the dequantised weight (see `QuantMatmul.linearTransposed`).
    public func linearTransposed(_ weight: Tensor) throws -> Tensor {
        try requireFloat32("linearTransposed")
        guard weight.dtype != .i32, rank >= 1, weight.rank == 2, shape[rank - 1] == weight.shape[0] else {
            throw TensorError.shapeMismatch(
                op: "linearTransposed", lhs: shape, rhs: weight.shape,
                reason: "needs an input [..., N] and a floating weight [N, K]")
        }
        let n = weight.shape[0], k = weight.shape[1]
        guard k % weight.dtype.blockElements == 0 else {
            throw TensorError.shapeMismatch(
                op: "linearTransposed", lhs: shape, rhs: weight.shape,
                reason: "K = \(k) is not a multiple of \(weight.dtype)'s block of \(weight.dtype.blockElements)")
        }
        guard weight.isContiguous || !weight.dtype.isBlockQuantised else {
            throw TensorError.invalidShape(op: "linearTransposed", shape: weight.shape, reason: "a block-quantised weight must be contiguous")
        }
        let w = weight.isContiguous ? weight : weight.contiguous()
        let x = contiguous()
        let m = shape.dropLast().reduce(1, *)
        let out = Tensor.uninitialized(Array(shape.dropLast()) + [k])
        withExtendedLifetime((x, w, out)) {
            QuantMatmul.linearTransposed(
                w.dtype, m: m, n: n, k: k, dy: x.floatPointer, lddy: n,
                w: UnsafeRawPointer(w.rawPointer), dx: out.floatPointer, lddx: k)
        }
        return out
    }
}

extension QuantMatmul {
    /// W^T of a frozen weight W [N, K], dequantised and stored as Q8_0 [K, N] (blocks along N),
    /// for the int8 input gradient of training with int8 activations: `dX = dY W` becomes
    /// `dY.linear(W^T)`, an int8 product (dY rounded to int8 per block of 32, as forward
    /// activations are; W^T rounded once to Q8_0 from its dequantised values, a relative error of
    /// at most 1/254 of each block's largest magnitude). Nil where the int8 kernels would not run
    /// for training's many rows (a kernel path below AVX-512 VNNI), for N not a multiple of 32 or
    /// a non-float weight: the exact `linearTransposed` stays. Costs 34 bytes per 32 weights (and
    /// its int8 panels as many again, made on first use).
    public static func int8TransposedCopy(of weight: Tensor) throws -> Tensor? {
        guard weight.rank == 2, weight.dtype != .i32, weight.shape[0] % 32 == 0, hasQ8Kernel(.q8_0), KernelISA.level >= .avx512vnni
        else { return nil }
        return try weight.converted(to: .f32).transposed().contiguous().quantized(to: .q8_0)
    }
}
