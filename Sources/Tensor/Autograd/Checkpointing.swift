/// Activation checkpointing (recompute in the backward), as PyTorch's `torch.utils.checkpoint`.
extension Autograd {
    /// Runs `body(input)` without recording its intermediates and records one node instead; the
    /// backward runs `body` again with recording on (over a fresh leaf holding the same input)
    /// and back-propagates the output's gradient through it. The tape then keeps only `input` and
    /// the output across the segment, at the cost of computing the segment's forward twice.
    ///
    /// Gradients reach `input` through the node, and every leaf the segment uses (its weights)
    /// directly, by accumulation, during the recomputation's backward. `body` may read only its
    /// argument and leaves (never an interior node of the enclosing graph, whose gradient would
    /// then be back-propagated partly, inside the recomputation). `body` must compute the
    /// same thing both times (no state that changes between the calls): then the gradients are
    /// bit for bit those of the un-checkpointed segment.
    public static func checkpoint(_ input: Variable, _ body: @escaping (Variable) throws -> Variable) throws -> Variable {
        guard isEnabled else { return try body(input) }
        let saved = input.value
        let out = try noGrad { try body(input) }
        let needInput = input.requiresGrad
        // Recorded whenever grad mode is on: the segment's weights may need gradients even when
        // its input does not.
        let node = Variable(out.value, requiresGrad: true)
        node.parents = [input]
        node.backwardFn = { g in
            let leaf = Variable(saved, requiresGrad: needInput)
            // Recording must be on for the recomputation whatever mode the backward runs in.
            let again = try Autograd.recording { try body(leaf) }
            if again.requiresGrad { try again.backward(seed: g) }
            return [needInput ? leaf.grad : nil]
        }
        return node
    }

    /// Runs `body` with recording on (the inverse of `noGrad`).
    static func recording<T>(_ body: () throws -> T) rethrows -> T {
        let saved = enabledFlag
        enabledFlag = true
        defer { enabledFlag = saved }
        return try body()
    }
}
