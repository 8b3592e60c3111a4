import Foundation

/// RMSNorm over the last axis: y = x / sqrt(mean(x^2) + eps) * weight.
public enum RMSNorm {
    /// Normalises `n` contiguous values (out may alias x); `weight` may be nil (all ones).
    @inline(always) public static func row(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        weight: UnsafePointer<Float>?, count n: Int, eps: Float
    ) {
        var a0 = Vec(), a1 = a0
        let w = Vec.scalarCount
        var i = 0
        while i + 2 * w <= n {
            let v0 = UnsafeRawPointer(x + i).loadUnaligned(as: Vec.self)
            let v1 = UnsafeRawPointer(x + i + w).loadUnaligned(as: Vec.self)
            a0 = a0.addingProduct(v0, v0)
            a1 = a1.addingProduct(v1, v1)
            i += 2 * w
        }
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            let v = VectorMath.load(x + i, stride: 1, count: c)
            a0 = a0.addingProduct(v, v)
            i += c
        }
        let scale = 1 / (VectorMath.sum(a0 + a1) / Float(n) + eps).squareRoot()
        i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            var v = VectorMath.load(x + i, stride: 1, count: c) * scale
            if let w = weight { v *= VectorMath.load(w + i, stride: 1, count: c) }
            VectorMath.store(v, out + i, count: c)
            i += c
        }
    }
}

extension Tensor {
    /// RMSNorm over the last axis with an optional weight of shape [last].
    public func rmsNorm(weight: Tensor?, eps: Float = 1e-5) throws -> Tensor {
        let out = Tensor.uninitialized(shape)
        try rmsNorm(weight: weight, eps: eps, into: out)
        return out
    }

    /// RMSNorm into `out` (contiguous, same shape; may be self).
    public func rmsNorm(weight: Tensor?, eps: Float = 1e-5, into out: Tensor) throws {
        try requireFloat32("rmsNorm")
        guard rank >= 1 else { throw TensorError.invalidShape(op: "rmsNorm", shape: shape, reason: "needs at least one axis") }
        let n = shape[rank - 1]
        var w: Tensor?
        if let weight {
            try weight.requireFloat32("rmsNorm")
            guard weight.shape == [n] else {
                throw TensorError.shapeMismatch(
                    op: "rmsNorm", lhs: shape, rhs: weight.shape,
                    reason: "the weight must have shape [\(n)]")
            }
            w = weight.contiguous()
        }
        let pw = w.map { UnsafePointer($0.floatPointer) }
        try rowwise(into: out, op: "rmsNorm") { x, o, n in
            RMSNorm.row(x, o, weight: pw, count: n, eps: eps)
        }
    }
}
