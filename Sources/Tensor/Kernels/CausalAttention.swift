import Foundation

/// Fused causal self-attention with grouped-query heads, forward and backward.
///
/// q is [B, T, Hq, D]; k and v are [B, T, Hkv, D] with Hq a multiple of Hkv, query head h reading
/// key/value head h / (Hq / Hkv) (Llama's repeat_kv). Query i attends to keys 0...i.
///
/// Queries are processed in blocks of `blockRows` rows: a block's scores against the keys it may
/// see (0..<end of block) are one small GEMM into a [blockRows, T] scratch, so no T x T matrix
/// is ever kept. The forward saves only each row's log-sum-exp ([B, Hq, T]); the backward
/// recomputes the block's probabilities from it (FlashAttention's recompute) and forms dQ, dK
/// and dV with GEMMs. The forward splits (batch, query head) pairs across threads, the backward
/// (batch, key/value head) pairs, so every key/value gradient is summed by one task in a fixed
/// order: results do not depend on the thread count.
public enum CausalAttention {
    static func check(_ q: Tensor, _ k: Tensor, _ v: Tensor) throws -> (b: Int, t: Int, hq: Int, hkv: Int, d: Int) {
        for x in [q, k, v] { try x.requireFloat32("attention") }
        guard q.rank == 4, k.rank == 4, v.shape == k.shape else {
            throw TensorError.shapeMismatch(
                op: "attention", lhs: q.shape, rhs: k.shape,
                reason: "q must be [B, T, Hq, D] and k, v [B, T, Hkv, D]")
        }
        let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let hkv = k.shape[2]
        guard k.shape[0] == b, k.shape[1] == t, k.shape[3] == d, hkv > 0, hq % hkv == 0 else {
            throw TensorError.shapeMismatch(
                op: "attention", lhs: q.shape, rhs: k.shape,
                reason: "batch, tokens and head size must agree and Hq be a multiple of Hkv")
        }
        return (b, t, hq, hkv, d)
    }

    /// Query rows per block.
    static let blockRows = 64

    /// Returns the attention output [B, T, Hq, D] and each row's log-sum-exp [B, Hq, T].
    public static func forward(q: Tensor, k: Tensor, v: Tensor, scale: Float? = nil) throws -> (out: Tensor, lse: Tensor) {
        let (b, t, hq, hkv, d) = try check(q, k, v)
        let sc = scale ?? 1 / Float(d).squareRoot()
        let qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous()
        let out = Tensor.uninitialized(q.shape)
        let lse = Tensor.uninitialized([b, hq, t])
        let pq = qc.floatPointer, pk = kc.floatPointer, pv = vc.floatPointer
        let po = out.floatPointer, pl = lse.floatPointer
        let rep = hq / hkv, ldq = hq * d, ldk = hkv * d
        ThreadPool.shared.parallelFor(b * hq) { item in
            let bi = item / hq, h = item % hq, g = h / rep
            let s = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(blockRows * t, 1))
            defer { s.deallocate() }
            let qh = pq + (bi * t * hq + h) * d, oh = po + (bi * t * hq + h) * d
            let kg = pk + (bi * t * hkv + g) * d, vg = pv + (bi * t * hkv + g) * d
            for i0 in stride(from: 0, to: t, by: blockRows) {
                let rows = Swift.min(blockRows, t - i0), n = i0 + rows
                GEMM.ownSgemm(
                    transA: false, transB: true, m: rows, n: n, k: d, alpha: sc,
                    a: qh + i0 * ldq, lda: ldq, b: kg, ldb: ldk, c: s, ldc: n)
                for r in 0..<rows {
                    let row = s + r * n, valid = i0 + r + 1
                    let (m, total) = Softmax.row(row, row, count: valid)
                    pl[(bi * hq + h) * t + i0 + r] = m + VectorMath.log(Vec(repeating: total))[0]
                    (row + valid).update(repeating: 0, count: n - valid)
                }
                GEMM.ownSgemm(
                    transA: false, transB: false, m: rows, n: d, k: n,
                    a: s, lda: n, b: vg, ldb: ldk, c: oh + i0 * ldq, ldc: ldq)
            }
        }
        return (out, lse)
    }

    /// Gradients of q, k and v given the forward's output, log-sum-exp and the output gradient.
    public static func backward(
        q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, gradOut: Tensor,
        scale: Float? = nil
    ) throws -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let (b, t, hq, hkv, d) = try check(q, k, v)
        let sc = scale ?? 1 / Float(d).squareRoot()
        let qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous()
        let oc = out.contiguous(), gc = gradOut.contiguous(), lc = lse.contiguous()
        let dq = Tensor.uninitialized(q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        let pq = qc.floatPointer, pk = kc.floatPointer, pv = vc.floatPointer
        let po = oc.floatPointer, pg = gc.floatPointer, pl = lc.floatPointer
        let pdq = dq.floatPointer, pdk = dk.floatPointer, pdv = dv.floatPointer
        let rep = hq / hkv, ldq = hq * d, ldk = hkv * d
        ThreadPool.shared.parallelFor(b * hkv) { item in
            let bi = item / hkv, g = item % hkv
            let p = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(blockRows * t, 1))
            let ds = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(blockRows * t, 1))
            defer {
                p.deallocate()
                ds.deallocate()
            }
            let kg = pk + (bi * t * hkv + g) * d, vg = pv + (bi * t * hkv + g) * d
            let dkg = pdk + (bi * t * hkv + g) * d, dvg = pdv + (bi * t * hkv + g) * d
            for h in (g * rep)..<((g + 1) * rep) {
                let off = (bi * t * hq + h) * d
                let qh = pq + off, oh = po + off, gh = pg + off, dqh = pdq + off
                for i0 in stride(from: 0, to: t, by: blockRows) {
                    let rows = Swift.min(blockRows, t - i0), n = i0 + rows
                    // P = exp(scale Q K^T - lse) on and below the diagonal, 0 above.
                    GEMM.ownSgemm(
                        transA: false, transB: true, m: rows, n: n, k: d, alpha: sc,
                        a: qh + i0 * ldq, lda: ldq, b: kg, ldb: ldk, c: p, ldc: n)
                    // dP = dO V^T
                    GEMM.ownSgemm(
                        transA: false, transB: true, m: rows, n: n, k: d,
                        a: gh + i0 * ldq, lda: ldq, b: vg, ldb: ldk, c: ds, ldc: n)
                    for r in 0..<rows {
                        let i = i0 + r, valid = i + 1
                        let prow = p + r * n, drow = ds + r * n
                        let l = Vec(repeating: pl[(bi * hq + h) * t + i])
                        // dS = P (dP - rowdot(dO, O)) * scale
                        let di = Vec(repeating: RowGrad.dot(gh + i * ldq, oh + i * ldq, d))
                        let scv = Vec(repeating: sc)
                        var j = 0
                        while j < valid {
                            let c = Swift.min(Vec.scalarCount, valid - j)
                            let e = VectorMath.exp(VectorMath.load(prow + j, stride: 1, count: c, fill: -.infinity) - l)
                            VectorMath.store(e, prow + j, count: c)
                            VectorMath.store(e * (VectorMath.load(drow + j, stride: 1, count: c) - di) * scv, drow + j, count: c)
                            j += c
                        }
                        (prow + valid).update(repeating: 0, count: n - valid)
                        (drow + valid).update(repeating: 0, count: n - valid)
                    }
                    // dQ = dS K;  dK += dS^T Q;  dV += P^T dO
                    GEMM.ownSgemm(
                        transA: false, transB: false, m: rows, n: d, k: n,
                        a: ds, lda: n, b: kg, ldb: ldk, c: dqh + i0 * ldq, ldc: ldq)
                    GEMM.ownSgemm(
                        transA: true, transB: false, m: n, n: d, k: rows,
                        a: ds, lda: n, b: qh + i0 * ldq, ldb: ldq, beta: 1, c: dkg, ldc: ldk)
                    GEMM.ownSgemm(
                        transA: true, transB: false, m: n, n: d, k: rows,
                        a: p, lda: n, b: gh + i0 * ldq, ldb: ldq, beta: 1, c: dvg, ldc: ldk)
                }
            }
        }
        return (dq, dk, dv)
    }
}
