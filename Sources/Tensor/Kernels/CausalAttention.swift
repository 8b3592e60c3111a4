import Foundation

/// Fused causal self-attention with grouped-query heads, forward and backward.
///
/// q is [B, T, Hq, D]; k and v are [B, T, Hkv, D] with Hq a multiple of Hkv, query head h reading
/// key/value head h / (Hq / Hkv) (Llama's repeat_kv). Query i attends to keys 0...i.
///
/// The forward keeps only each row's log-sum-exp ([B, Hq, T]); the backward recomputes the
/// probabilities from it, so no T x T matrix is ever stored (FlashAttention's recompute, one row
/// at a time). The forward splits (batch, query head) pairs across threads, the backward
/// (batch, key/value head) pairs, so every key/value gradient is summed by one task in a fixed
/// order: results do not depend on the thread count.
public enum CausalAttention {
    static func check(_ q: Tensor, _ k: Tensor, _ v: Tensor) throws -> (b: Int, t: Int, hq: Int, hkv: Int, d: Int) {
        for x in [q, k, v] { try x.requireFloat32("attention") }
        guard q.rank == 4, k.rank == 4, v.shape == k.shape else {
            throw TensorError.shapeMismatch(op: "attention", lhs: q.shape, rhs: k.shape,
                                            reason: "q must be [B, T, Hq, D] and k, v [B, T, Hkv, D]")
        }
        let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let hkv = k.shape[2]
        guard k.shape[0] == b, k.shape[1] == t, k.shape[3] == d, hkv > 0, hq % hkv == 0 else {
            throw TensorError.shapeMismatch(op: "attention", lhs: q.shape, rhs: k.shape,
                                            reason: "batch, tokens and head size must agree and Hq be a multiple of Hkv")
        }
        return (b, t, hq, hkv, d)
    }

    /// Scores s_j = scale * q . k_j for j in 0...i into `s`, for one query row.
    @inline(always) static func scores(_ qi: UnsafePointer<Float>, _ k: UnsafePointer<Float>, rowStride: Int, count: Int,
                                       d: Int, scale: Float, into s: UnsafeMutablePointer<Float>) {
        for j in 0..<count { s[j] = RowGrad.dot(qi, k + j * rowStride, d) * scale }
    }

    /// Returns the attention output [B, T, Hq, D] and each row's log-sum-exp [B, Hq, T].
    public static func forward(q: Tensor, k: Tensor, v: Tensor, scale: Float? = nil) throws -> (out: Tensor, lse: Tensor) {
        let (b, t, hq, hkv, d) = try check(q, k, v)
        let sc = scale ?? 1 / Float(d).squareRoot()
        let qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous()
        let out = Tensor(zeros: q.shape)
        let lse = Tensor.uninitialized([b, hq, t])
        let pq = qc.floatPointer, pk = kc.floatPointer, pv = vc.floatPointer
        let po = out.floatPointer, pl = lse.floatPointer
        let rep = hq / hkv
        ThreadPool.shared.parallelFor(b * hq) { item in
            let bi = item / hq, h = item % hq, g = h / rep
            let s = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(t, 1))
            defer { s.deallocate() }
            let kBase = pk + (bi * t * hkv + g) * d, vBase = pv + (bi * t * hkv + g) * d
            for i in 0..<t {
                let row = (bi * t + i) * hq + h
                scores(pq + row * d, kBase, rowStride: hkv * d, count: i + 1, d: d, scale: sc, into: s)
                let n = i + 1
                let m = Reduction.max(s, count: n)
                var acc = Vec()
                var j = 0
                while j < n {
                    let c = Swift.min(Vec.scalarCount, n - j)
                    let e = VectorMath.exp(VectorMath.load(s + j, stride: 1, count: c, fill: -.infinity) - m)
                    acc += e
                    VectorMath.store(e, s + j, count: c)
                    j += c
                }
                let total = VectorMath.sum(acc)
                pl[(bi * hq + h) * t + i] = m + VectorMath.log(Vec(repeating: total))[0]
                let inv = 1 / total
                let o = po + row * d
                for j in 0..<n { RowGrad.axpy(o, s[j] * inv, vBase + j * hkv * d, d) }
            }
        }
        return (out, lse)
    }

    /// Gradients of q, k and v given the forward's output, log-sum-exp and the output gradient.
    public static func backward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, gradOut: Tensor,
                                scale: Float? = nil) throws -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let (b, t, hq, hkv, d) = try check(q, k, v)
        let sc = scale ?? 1 / Float(d).squareRoot()
        let qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous()
        let oc = out.contiguous(), gc = gradOut.contiguous(), lc = lse.contiguous()
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        let pq = qc.floatPointer, pk = kc.floatPointer, pv = vc.floatPointer
        let po = oc.floatPointer, pg = gc.floatPointer, pl = lc.floatPointer
        let pdq = dq.floatPointer, pdk = dk.floatPointer, pdv = dv.floatPointer
        let rep = hq / hkv
        let kvStride = hkv * d
        ThreadPool.shared.parallelFor(b * hkv) { item in
            let bi = item / hkv, g = item % hkv
            let s = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(t, 1))
            defer { s.deallocate() }
            let kBase = pk + (bi * t * hkv + g) * d, vBase = pv + (bi * t * hkv + g) * d
            let dkBase = pdk + (bi * t * hkv + g) * d, dvBase = pdv + (bi * t * hkv + g) * d
            for h in (g * rep)..<((g + 1) * rep) {
                for i in 0..<t {
                    let row = (bi * t + i) * hq + h
                    let qi = pq + row * d, gi = pg + row * d, dqi = pdq + row * d
                    let n = i + 1
                    scores(qi, kBase, rowStride: kvStride, count: n, d: d, scale: sc, into: s)
                    let l = Vec(repeating: pl[(bi * hq + h) * t + i])
                    var j = 0
                    while j < n {
                        let c = Swift.min(Vec.scalarCount, n - j)
                        VectorMath.store(VectorMath.exp(VectorMath.load(s + j, stride: 1, count: c, fill: -.infinity) - l), s + j, count: c)
                        j += c
                    }
                    let di = RowGrad.dot(gi, po + row * d, d)
                    for j in 0..<n {
                        let p = s[j]
                        let dp = RowGrad.dot(gi, vBase + j * kvStride, d)
                        let ds = p * (dp - di) * sc
                        RowGrad.axpy(dvBase + j * kvStride, p, gi, d)
                        RowGrad.axpy(dkBase + j * kvStride, ds, qi, d)
                        RowGrad.axpy(dqi, ds, kBase + j * kvStride, d)
                    }
                }
            }
        }
        return (dq, dk, dv)
    }
}
