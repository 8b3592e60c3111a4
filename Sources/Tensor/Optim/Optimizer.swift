import Foundation

/// An optimiser updates parameters (leaf variables) in place from their accumulated gradients.
///
/// Frozen parameters (`requiresGrad == false`) and parameters without a gradient are skipped.
/// Gradient accumulation over micro-batches needs nothing special: `backward()` adds into `.grad`,
/// so call it once per micro-batch (on the loss divided by the number of micro-batches), then
/// `step()`, then `zeroGrad()`.
public protocol Optimizer: AnyObject {
    var parameters: [Variable] { get }
    var learningRate: Float { get set }
    /// Applies one update from the current gradients.
    func step() throws
    /// The optimiser's state (moment buffers, step counters), for checkpoints.
    func stateDict() -> (tensors: [String: Tensor], counters: [String: Int])
    /// Restores state saved by `stateDict()` for the same parameter list.
    func loadStateDict(tensors: [String: Tensor], counters: [String: Int]) throws
}

extension Optimizer {
    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for p in parameters { p.grad = nil }
    }
}

public enum Gradients {
    /// The L2 norm of all parameters' gradients together (accumulated in Double, in parameter order).
    public static func globalNorm(_ parameters: [Variable]) -> Float {
        var total: Double = 0
        for p in parameters {
            guard let g = p.grad?.contiguous() else { continue }
            let n = g.count, ptr = g.floatPointer
            var i = 0
            while i < n {
                let c = Swift.min(1 << 14, n - i)
                total += Double(RowGrad.dot(ptr + i, ptr + i, c))
                i += c
            }
        }
        return Float(total.squareRoot())
    }

    /// Scales the gradients so that their global norm is at most `maxNorm` (as PyTorch's
    /// clip_grad_norm_: factor maxNorm / (norm + 1e-6) when the norm exceeds maxNorm).
    /// Returns the norm before clipping.
    @discardableResult
    public static func clipByGlobalNorm(_ parameters: [Variable], maxNorm: Float) throws -> Float {
        let norm = globalNorm(parameters)
        if norm > maxNorm {
            let f = maxNorm / (norm + 1e-6)
            for p in parameters { if let g = p.grad { p.grad = try g.scaled(by: f) } }
        }
        return norm
    }
}

/// Helpers for the in-place updates of the optimisers.
enum ParameterUpdate {
    /// Checks that a parameter can be updated in place and returns its gradient, contiguous.
    static func gradient(of p: Variable, op: String) throws -> Tensor? {
        guard p.requiresGrad, let g = p.grad else { return nil }
        guard p.value.dtype == .f32, p.value.isContiguous else {
            throw TensorError.unsupportedType(op: op, dtype: p.value.dtype, reason: "parameters must be contiguous f32")
        }
        guard g.shape == p.shape else {
            throw TensorError.shapeMismatch(op: op, lhs: p.shape, rhs: g.shape, reason: "gradient and parameter shapes differ")
        }
        return g.contiguous()
    }

    /// Runs `body(lo, hi)` over `n` elements in parallel chunks (elementwise: any split gives the same result).
    static func forChunks(_ n: Int, _ body: (Int, Int) -> Void) {
        let chunk = 1 << 15
        let parts = (n + chunk - 1) / chunk
        ThreadPool.shared.parallelFor(parts) { i in body(i * chunk, Swift.min(n, (i + 1) * chunk)) }
    }
}
