import Foundation

/// The clipped policy-gradient objective with a KL penalty (PPO's, as GRPO uses it), per token.
extension Variable {
    /// Per-token GRPO loss for the log-probabilities `self` [T] of one sampled sequence's tokens
    /// under the policy being trained:
    ///
    ///     ratio_t = exp(logp_t - old_t)
    ///     obj_t   = min(ratio_t * A, clamp(ratio_t, 1 - clip, 1 + clip) * A)
    ///     kl_t    = exp(ref_t - logp_t) - (ref_t - logp_t) - 1        (the k3 estimator)
    ///     loss_t  = -(obj_t - beta * kl_t)
    ///
    /// `old` are the log-probabilities when the sequence was sampled, `ref` the frozen reference
    /// model's, `advantage` the sequence's A. Where the clipped branch is the minimum and the ratio
    /// lies outside the clip range, obj_t has no gradient (PPO's rule). Returns [T]; callers
    /// average over tokens and sequences.
    public func policyLoss(old: [Float], ref: [Float], advantage: [Float], clip: Float, beta: Float) throws -> Variable {
        try value.requireFloat32("policyLoss")
        guard rank == 1, old.count == count, ref.count == count, advantage.count == count else {
            throw TensorError.shapeMismatch(
                op: "policyLoss", lhs: shape, rhs: [old.count, ref.count],
                reason: "one old and one reference log-probability and one advantage per token")
        }
        let logp = value.scalars()
        var out = [Float](repeating: 0, count: count)
        var slope = [Float](repeating: 0, count: count)
        for t in 0..<count {
            let ratio = Foundation.exp(logp[t] - old[t])
            let clipped = Swift.min(Swift.max(ratio, 1 - clip), 1 + clip)
            let unclippedTerm = ratio * advantage[t], clippedTerm = clipped * advantage[t]
            let obj = Swift.min(unclippedTerm, clippedTerm)
            // d obj / d logp: the unclipped branch's ratio * A, unless the clipped branch is the
            // minimum with the ratio clamped (then it is a constant).
            let objSlope: Float = unclippedTerm <= clippedTerm || clipped == ratio ? ratio * advantage[t] : 0
            let e = Foundation.exp(ref[t] - logp[t])
            let kl = e - (ref[t] - logp[t]) - 1
            out[t] = -(obj - beta * kl)
            // d kl / d logp = -e + 1.
            slope[t] = -(objSlope - beta * (1 - e))
        }
        let shape = self.shape
        return Variable.record(try Tensor(shape: shape, scalars: out), [self]) { g in
            [try Tensor(shape: shape, scalars: zip(g.scalars(), slope).map { $0 * $1 })]
        }
    }
}
