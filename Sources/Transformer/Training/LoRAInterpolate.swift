import Foundation
import Tensor

extension LoRAAdapter {
    /// The adapter whose factors are `(1 - t) * self + t * other`, factor by factor: a linear path
    /// in the trainable parameters between two adapters of the same shape (weight-space
    /// ensembling, as WiSE-FT interpolates a fine-tuned model with the one it started from). It is
    /// meant for adapters on one line of training (one fine-tuned from the other): their factors
    /// stay close, so the path's products stay close to the blend of the two updates. t = 0 gives
    /// `self`'s factors and t = 1 `other`'s, exactly. Metadata is `self`'s.
    ///
    /// Both must adapt the same weights with the same factor shapes and alpha (a different alpha
    /// would scale one side's product differently from its factors).
    public func interpolated(with other: LoRAAdapter, t: Float, paths: (String, String) = ("first", "second")) throws
        -> LoRAAdapter
    {
        func fail(_ message: String, tensor: String? = nil) -> LoRAAdapterError {
            LoRAAdapterError(path: paths.1, message, tensor: tensor)
        }
        guard t.isFinite else { throw fail("the interpolation weight \(t) is not finite") }
        guard architecture == other.architecture else {
            throw fail("architecture \(other.architecture), but \(paths.0) is \(architecture)")
        }
        guard alpha == other.alpha else { throw fail("alpha \(other.alpha), but \(paths.0) has \(alpha)") }
        guard Set(pairs.keys) == Set(other.pairs.keys) else {
            let missing = Set(pairs.keys).symmetricDifference(other.pairs.keys).sorted { Checkpoint.naturalOrder($0, $1) }
            throw fail("the two adapters adapt different weights", tensor: missing.first)
        }
        func mix(_ x: Tensor, _ y: Tensor, _ weight: String) throws -> Tensor {
            guard x.shape == y.shape else { throw fail("factor \(y.shape), but \(paths.0) has \(x.shape)", tensor: weight) }
            // The ends as they are (the blend's arithmetic could turn -0 into +0).
            if t == 0 { return x }
            if t == 1 { return y }
            let a = x.contiguous().scalars(), b = y.contiguous().scalars()
            return try Tensor(shape: x.shape, scalars: zip(a, b).map { (1 - t) * $0 + t * $1 })
        }
        var mixed: [String: Pair] = [:]
        for (weight, p) in pairs {
            let q = other.pairs[weight]!
            mixed[weight] = Pair(a: try mix(p.a, q.a, weight), b: try mix(p.b, q.b, weight))
        }
        return LoRAAdapter(architecture: architecture, alpha: alpha, pairs: mixed, metadata: metadata)
    }
}
