/// Layer ops on variables: matrix products, embedding lookup, normalisation, rotary embedding,
/// softmax and fused causal attention.
extension Variable {
    /// self [..., M, K] x other [..., K, N] with optional transposes; batch axes broadcast and their
    /// gradients are summed back. A rank-1 operand is a row (left) or column (right) vector whose
    /// axis is dropped from the result, as in `Tensor.matmul`.
    public func matmul(_ other: Variable, transposeA tA: Bool = false, transposeB tB: Bool = false) throws -> Variable {
        guard rank >= 1, other.rank >= 1 else {
            throw TensorError.shapeMismatch(op: "matmul", lhs: shape, rhs: other.shape, reason: "operands need at least one axis")
        }
        if rank == 1 || other.rank == 1 {
            let a = rank == 1 ? try reshaped([1, count]) : self
            let b = other.rank == 1 ? try other.reshaped([other.count, 1]) : other
            var r = try a.matmul(b, transposeA: rank == 1 ? false : tA, transposeB: other.rank == 1 ? false : tB)
            var s = r.shape
            if other.rank == 1 { s.remove(at: s.count - 1) }
            if rank == 1 { s.remove(at: s.count - (other.rank == 1 ? 1 : 2)) }
            r = try r.reshaped(s)
            return r
        }
        let a = value, b = other.value
        let needA = requiresGrad, needB = other.requiresGrad
        return Variable.record(try a.matmul(b, transposeA: tA, transposeB: tB), [self, other]) { g in
            // C = op(A) op(B): d op(A) = dC op(B)^T, d op(B) = op(A)^T dC, transposed back where needed.
            var da: Tensor?, db: Tensor?
            if needA {
                let r =
                    tA
                    ? try b.matmul(g, transposeA: tB, transposeB: true)
                    : try g.matmul(b, transposeB: !tB)
                da = try Autograd.sumToShape(r, a.shape)
            }
            if needB {
                let r =
                    tB
                    ? try g.matmul(a, transposeA: true, transposeB: tA)
                    : try a.matmul(g, transposeA: !tA)
                db = try Autograd.sumToShape(r, b.shape)
            }
            return [da, db]
        }
    }

    /// Rows `ids` of this [vocab, dim] table, shape idsShape + [dim]; the gradient scatter-adds.
    public func embedding(_ ids: [Int32], idsShape: [Int]? = nil) throws -> Variable {
        let rows = shape[0]
        return Variable.record(try value.embedding(ids, idsShape: idsShape), [self]) { g in
            [try Tensor.scatterAddRows(g, ids: ids, rows: rows)]
        }
    }

    /// RMSNorm over the last axis with an optional weight [last].
    public func rmsNorm(weight: Variable?, eps: Float = 1e-5) throws -> Variable {
        let x = value, w = weight?.value
        let parents = weight.map { [self, $0] } ?? [self]
        return Variable.record(try x.rmsNorm(weight: w, eps: eps), parents) { g in
            let (dx, dw) = try RowGrad.rmsNorm(input: x, weight: w, grad: g, eps: eps)
            return weight == nil ? [dx] : [dx, dw]
        }
    }

    /// Rotary embedding of [..., T, heads, headSize] at T positions. Its gradient is the inverse
    /// rotation, i.e. the same op at negated positions (ggml's angles are odd in the position).
    public func rope(_ rope: RoPE, positions: [Int32]) throws -> Variable {
        let back = positions.map { -$0 }
        return Variable.record(try value.rope(rope, positions: positions), [self]) { g in
            [try g.rope(rope, positions: back)]
        }
    }

    /// Softmax over the last axis.
    public func softmax() throws -> Variable {
        let y = try value.softmax()
        return Variable.record(y, [self]) { g in [RowGrad.softmax(output: y, grad: g)] }
    }

    /// Log-softmax over the last axis.
    public func logSoftmax() throws -> Variable {
        let y = try value.logSoftmax()
        return Variable.record(y, [self]) { g in [RowGrad.logSoftmax(output: y, grad: g)] }
    }

    /// Fused causal self-attention, q [B, T, Hq, D], k and v [B, T, Hkv, D] (grouped-query heads),
    /// scale 1/sqrt(D) unless given. Keeps only per-row log-sum-exps for the backward.
    public static func causalAttention(q: Variable, k: Variable, v: Variable, scale: Float? = nil) throws -> Variable {
        let (qv, kv, vv) = (q.value.contiguous(), k.value.contiguous(), v.value.contiguous())
        let (out, lse) = try CausalAttention.forward(q: qv, k: kv, v: vv, scale: scale)
        return record(out, [q, k, v]) { g in
            let r = try CausalAttention.backward(q: qv, k: kv, v: vv, out: out, lse: lse, gradOut: g, scale: scale)
            return [r.dq, r.dk, r.dv]
        }
    }
}

extension Variable {
    /// `self [..., K] x weight^T -> [..., N]` for a frozen weight [N, K] of any floating element
    /// type (a linear layer without bias, as `Tensor.linear`: quantised weights stay in their
    /// stored type). Only `self` gets a gradient: `g [..., N] x weight` (`Tensor.linearTransposed`).
    /// With `transposed` (`QuantMatmul.int8TransposedCopy(of: weight)`), the gradient is the
    /// int8 product `g.linear(transposed)` with int8 activations instead.
    public func linear(frozen weight: Tensor, transposed: Tensor? = nil) throws -> Variable {
        Variable.record(try value.linear(weight), [self]) { g in [try Variable.inputGradient(g, weight, transposed)] }
    }

    /// `g W` exactly, or through W^T's int8 copy with int8 activations. The int8 path keeps each
    /// block's scale as f16 (ggml's q8_1), whose range gradients often fall far below (1e-6 and
    /// less): each row of g is first multiplied by a power of two that puts its largest magnitude
    /// in [2^8, 2^9), and its product row divided by it after, both exact.
    static func inputGradient(_ g: Tensor, _ weight: Tensor, _ transposed: Tensor?) throws -> Tensor {
        guard let transposed else { return try g.linearTransposed(weight) }
        let n = g.shape[g.rank - 1], k = transposed.shape[0], m = n == 0 ? 0 : g.count / n
        let gc = g.contiguous(), scaled = Tensor.uninitialized(g.shape)
        var back = [Float](repeating: 1, count: m)
        withExtendedLifetime(gc) {
            RowScale.normalise(gc.floatPointer, into: scaled.floatPointer, rows: m, width: n, top: 8, back: &back)
        }
        let out = try EngineSettings.with({ $0.activations = .q8 }) { try scaled.linear(transposed) }
        RowScale.apply(out.floatPointer, rows: m, width: k, factors: back)
        return out
    }
}

extension Variable {
    /// A LoRA-adapted linear layer in one op: `self [..., K] x W^T + scale * (self A^T) B^T` for a
    /// frozen weight W [N, K] of any floating type, A [r, K] and B [N, r] (f32). The tape keeps
    /// the input (already alive as its parent's value), the r-wide product self A^T and the
    /// output, instead of the four full-width intermediates the composed ops would keep.
    /// Gradients: with G the output's, dX = G W + scale (G B) A, dA = scale (G B)^T X,
    /// dB = scale G^T (X A^T).
    /// `transposed` as in `linear(frozen:transposed:)`.
    public func linear(frozen weight: Tensor, transposed: Tensor? = nil, loraA: Variable, loraB: Variable, scale: Float) throws -> Variable {
        let a = loraA.value, b = loraB.value
        guard rank >= 1, a.rank == 2, b.rank == 2, weight.rank == 2, a.shape[1] == shape[rank - 1], b.shape[1] == a.shape[0],
            b.shape[0] == weight.shape[0], weight.shape[1] == a.shape[1]
        else {
            throw TensorError.shapeMismatch(
                op: "linear(lora)", lhs: shape, rhs: weight.shape,
                reason: "needs x [..., K], W [N, K], A \(a.shape) = [r, K] and B \(b.shape) = [N, r]")
        }
        try a.requireFloat32("linear(lora)")
        try b.requireFloat32("linear(lora)")
        let k = a.shape[1], r = a.shape[0], n = b.shape[0]
        let x = value.contiguous(), ac = a.contiguous(), bc = b.contiguous()
        let m = x.shape.dropLast().reduce(1, *)
        let y = try x.linear(weight)
        let xa = Tensor.uninitialized([m, r])
        if m > 0 {
            GEMM.sgemm(
                transA: false, transB: true, m: m, n: r, k: k, a: x.floatPointer, lda: k, b: ac.floatPointer, ldb: k,
                c: xa.floatPointer, ldc: r)
            GEMM.sgemm(
                transA: false, transB: true, m: m, n: n, k: r, alpha: scale, a: xa.floatPointer, lda: r,
                b: bc.floatPointer, ldb: r, beta: 1, c: y.floatPointer, ldc: n)
        }
        let needX = requiresGrad, needA = loraA.requiresGrad, needB = loraB.requiresGrad
        let xShape = shape
        return Variable.record(y, [self, loraA, loraB]) { g in
            let gc = g.contiguous()
            let gb = Tensor.uninitialized([m, r])
            if m > 0 {
                GEMM.sgemm(
                    transA: false, transB: false, m: m, n: r, k: n, a: gc.floatPointer, lda: n, b: bc.floatPointer, ldb: r,
                    c: gb.floatPointer, ldc: r)
            }
            var dx: Tensor?, da: Tensor?, db: Tensor?
            if needX {
                let d = try Variable.inputGradient(gc, weight, transposed)
                if m > 0 {
                    GEMM.sgemm(
                        transA: false, transB: false, m: m, n: k, k: r, alpha: scale, a: gb.floatPointer, lda: r,
                        b: ac.floatPointer, ldb: k, beta: 1, c: d.floatPointer, ldc: k)
                }
                dx = try d.reshaped(xShape)
            }
            if needA {
                let d = Tensor(zeros: [r, k])
                GEMM.sgemm(
                    transA: true, transB: false, m: r, n: k, k: m, alpha: scale, a: gb.floatPointer, lda: r,
                    b: x.floatPointer, ldb: k, c: d.floatPointer, ldc: k)
                da = d
            }
            if needB {
                let d = Tensor(zeros: [n, r])
                GEMM.sgemm(
                    transA: true, transB: false, m: n, n: r, k: m, alpha: scale, a: gc.floatPointer, lda: n,
                    b: xa.floatPointer, ldb: r, c: d.floatPointer, ldc: r)
                db = d
            }
            return [dx, da, db]
        }
    }
}
