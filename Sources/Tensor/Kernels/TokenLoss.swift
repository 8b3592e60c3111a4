/// Per-row log-sum-exp of logits and the gradients of losses built on it: cross-entropy over
/// chosen tokens and per-token log-probabilities of given ids. The [rows, vocab] softmax is never
/// stored: the backward recomputes exp(x - lse) row by row.
public enum TokenLoss {
    /// log(sum(exp(x))) of each row of `n` floats in `logits` (contiguous), as [rows].
    public static func logSumExp(_ logits: Tensor) -> [Float] {
        let n = logits.shape.last ?? 1, rows = n == 0 ? 0 : logits.count / n
        var out = [Float](repeating: 0, count: rows)
        let p = logits.floatPointer
        out.withUnsafeMutableBufferPointer { ob in
            let o = ob.baseAddress!
            RowGrad.forRows(rows, n: n) { r in
                let x = p + r * n
                let m = Reduction.max(x, count: n)
                var acc = Vec()
                var i = 0
                while i < n {
                    let c = Swift.min(Vec.scalarCount, n - i)
                    acc += VectorMath.exp(VectorMath.load(x + i, stride: 1, count: c, fill: -.infinity) - m)
                    i += c
                }
                o[r] = m + VectorMath.log(Vec(repeating: VectorMath.sum(acc)))[0]
            }
        }
        return out
    }

    /// d/dlogits of sum_r coef[r] * (lse_r - x[r, ids[r]]): coef[r] * (softmax(x_r) - onehot(ids[r])).
    /// Rows with coef 0 (ignored tokens) get exact zeros; an id < 0 means no one-hot term.
    public static func gradient(logits: Tensor, lse: [Float], ids: [Int32], coef: [Float]) -> Tensor {
        let n = logits.shape.last ?? 1, rows = n == 0 ? 0 : logits.count / n
        let out = Tensor.uninitialized(logits.shape)
        let px = logits.floatPointer, po = out.floatPointer
        lse.withUnsafeBufferPointer { lb in
            coef.withUnsafeBufferPointer { cb in
                ids.withUnsafeBufferPointer { ib in
                    RowGrad.forRows(rows, n: n) { r in
                        let x = px + r * n, o = po + r * n
                        let c = cb[r]
                        if c == 0 {
                            o.update(repeating: 0, count: n)
                            return
                        }
                        let l = Vec(repeating: lb[r]), cv = Vec(repeating: c)
                        var i = 0
                        while i < n {
                            let k = Swift.min(Vec.scalarCount, n - i)
                            let e = VectorMath.exp(VectorMath.load(x + i, stride: 1, count: k, fill: -.infinity) - l)
                            VectorMath.store(e * cv, o + i, count: k)
                            i += k
                        }
                        let id = Int(ib[r])
                        if id >= 0 { o[id] -= c }
                    }
                }
            }
        }
        return out
    }
}
