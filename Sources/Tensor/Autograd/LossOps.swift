/// Losses over token logits (cross-entropy with an ignore mask, per-token log-probabilities) and
/// their fused gradients: the softmax is recomputed in the backward, never stored.
extension Variable {
    /// Targets equal to this id are ignored by `crossEntropy` (PyTorch's default).
    public static let ignoreIndex: Int32 = -100

    /// Mean cross-entropy of logits [..., V] against one target per row, over the rows whose target
    /// is not `ignoreIndex` (0 when every row is ignored). Rank 0.
    public func crossEntropy(targets: [Int32], ignoreIndex: Int32 = Variable.ignoreIndex) throws -> Variable {
        let (x, rows, v) = try logitRows("crossEntropy", targets)
        let lse = TokenLoss.logSumExp(x)
        var total: Double = 0
        var used = 0
        for r in 0..<rows where targets[r] != ignoreIndex {
            let t = Int(targets[r])
            guard t >= 0 && t < v else {
                throw TensorError.invalidShape(op: "crossEntropy", shape: shape, reason: "target \(t) at row \(r) is outside 0..<\(v)")
            }
            total += Double(lse[r] - x.floatPointer[r * v + t])
            used += 1
        }
        let loss = Tensor(used == 0 ? 0 : Float(total / Double(used)))
        let mask = targets.map { $0 == ignoreIndex }
        return Variable.record(loss, [self]) { g in
            let scale = used == 0 ? 0 : g.scalars()[0] / Float(used)
            let coef = mask.map { $0 ? Float(0) : scale }
            let ids = zip(targets, mask).map { $1 ? Int32(-1) : $0 }
            return [TokenLoss.gradient(logits: x, lse: lse, ids: ids, coef: coef)]
        }
    }

    /// log p(ids[r] | row r) for logits [..., V]: shape [...] (the logits' shape without V).
    /// GRPO's per-token log-probabilities of sampled tokens.
    public func tokenLogProbs(_ ids: [Int32]) throws -> Variable {
        let (x, rows, v) = try logitRows("tokenLogProbs", ids)
        for (r, t) in ids.enumerated() where t < 0 || Int(t) >= v {
            throw TensorError.invalidShape(op: "tokenLogProbs", shape: shape, reason: "id \(t) at row \(r) is outside 0..<\(v)")
        }
        let lse = TokenLoss.logSumExp(x)
        let out = Tensor.uninitialized(Array(shape.dropLast()))
        for r in 0..<rows { out.floatPointer[r] = x.floatPointer[r * v + Int(ids[r])] - lse[r] }
        return Variable.record(out, [self]) { g in
            let coef = g.scalars().map { -$0 }
            return [TokenLoss.gradient(logits: x, lse: lse, ids: ids, coef: coef)]
        }
    }

    private func logitRows(_ op: String, _ ids: [Int32]) throws -> (Tensor, Int, Int) {
        try value.requireFloat32(op)
        guard rank >= 1, let v = shape.last, v > 0 else {
            throw TensorError.invalidShape(op: op, shape: shape, reason: "logits need a non-empty last axis")
        }
        let rows = count / v
        guard ids.count == rows else {
            throw TensorError.shapeMismatch(op: op, lhs: shape, rhs: [ids.count], reason: "one id per row of logits is needed")
        }
        return (value.contiguous(), rows, v)
    }
}
