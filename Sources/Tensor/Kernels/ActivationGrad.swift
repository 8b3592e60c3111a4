/// Derivatives of the activation functions, as binary functions of (x, upstream gradient) so that
/// they run through the same broadcasting SIMD loop as the forward ops.

/// g * d/dx silu(x) = g * s (1 + x (1 - s)), s = sigmoid(x).
public enum SiLUGrad: BinaryFunction {
    public static let name = "siluGrad"
    @inline(always) public static func apply(_ x: Vec, _ g: Vec) -> Vec {
        let s = VectorMath.sigmoid(x)
        return g * s * (1 + x * (1 - s))
    }
}

/// g * d/dx gelu_tanh(x) = g * (0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3c x^2)), t = tanh(k (x + c x^3)).
public enum GELUGrad: BinaryFunction {
    public static let name = "geluGrad"
    @inline(always) public static func apply(_ x: Vec, _ g: Vec) -> Vec {
        let k: Float = 0.797_884_560_802_865_4, c: Float = 0.044_715
        let x2 = x * x
        let t = VectorMath.tanh(k * (x + c * x2 * x))
        let one = Vec(repeating: 1), half = Vec(repeating: 0.5)
        let inner: Vec = (one + Vec(repeating: 3 * c) * x2) * Vec(repeating: k)
        let sech2: Vec = one - t * t
        let d: Vec = half * (one + t) + half * x * sech2 * inner
        return g * d
    }
}

/// g * d/dx sigmoid(x), from the output y: g * y (1 - y).
public enum SigmoidGradFromOutput: BinaryFunction {
    public static let name = "sigmoidGrad"
    @inline(always) public static func apply(_ y: Vec, _ g: Vec) -> Vec { g * y * (1 - y) }
}

/// log(sigmoid(x)) = min(x, 0) - log(1 + e^-|x|), stable for large |x| of either sign.
public struct LogSigmoid: UnaryFunction {
    public init() {}
    public var name: String { "logSigmoid" }
    @inline(always) public func apply(_ x: Vec) -> Vec {
        let a = VectorMath.floats(VectorMath.bits(x) & 0x7FFF_FFFF)
        return VectorMath.minimum(x, Vec()) - VectorMath.log(1 + VectorMath.exp(-a))
    }
}

/// g * d/dx log(sigmoid(x)) = g * sigmoid(-x).
public enum LogSigmoidGrad: BinaryFunction {
    public static let name = "logSigmoidGrad"
    @inline(always) public static func apply(_ x: Vec, _ g: Vec) -> Vec { g * VectorMath.sigmoid(-x) }
}

extension Tensor {
    public func logSigmoid() throws -> Tensor { try map(LogSigmoid()) }
}
