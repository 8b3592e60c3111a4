/// Checks backward rules against central finite differences.
///
/// For a function f of some variables, the scalar L = sum(f(inputs) * w) with fixed random weights
/// w is differentiated both ways: analytically through `backward(seed: w)`, and numerically as
/// (L(x + eps) - L(x - eps)) / 2eps per input element, with L summed in Double. The kernels are
/// f32, so eps must stay well above f32 rounding (1e-2 suits inputs of order 1).
public enum GradCheck {
    public struct Result: CustomStringConvertible {
        /// max over elements of |analytic - numeric| / (atol + rtol * |numeric|); passes when <= 1.
        public var worstRatio: Double = 0
        public var worst = ""
        public var checked = 0
        public var passed: Bool { worstRatio <= 1 }
        public var description: String {
            "\(checked) elements checked, worst ratio \(worstRatio)\(worst.isEmpty ? "" : " at " + worst)"
        }
    }

    public static func check(
        _ inputs: [Variable], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2,
        seed: UInt64 = 1, _ f: ([Variable]) throws -> Variable
    ) throws -> Result {
        let out = try f(inputs)
        var rng = SeededRandom(seed: seed)
        let w = Tensor.randomUniform(out.shape, low: -1, high: 1, rng: &rng)
        let wv = w.scalars().map(Double.init)
        for x in inputs { x.grad = nil }
        try out.backward(seed: w)
        func loss() throws -> Double {
            let y = try Autograd.noGrad { try f(inputs) }.value.scalars()
            var s: Double = 0
            for (a, b) in zip(y, wv) { s += Double(a) * b }
            return s
        }
        var result = Result()
        for (xi, x) in inputs.enumerated() where x.requiresGrad {
            precondition(x.value.isContiguous && x.value.dtype == .f32, "gradcheck inputs must be contiguous f32")
            let analytic = x.grad?.scalars() ?? [Float](repeating: 0, count: x.count)
            let p = x.value.floatPointer
            for j in 0..<x.count {
                let saved = p[j]
                p[j] = saved + eps
                let up = try loss()
                p[j] = saved - eps
                let down = try loss()
                p[j] = saved
                let numeric = (up - down) / (2 * Double(eps))
                let ratio = abs(Double(analytic[j]) - numeric) / (atol + rtol * abs(numeric))
                result.checked += 1
                if !(ratio <= result.worstRatio) {
                    result.worstRatio = ratio.isNaN ? .infinity : ratio
                    result.worst = "input \(xi) element \(j): analytic \(analytic[j]) numeric \(numeric)"
                }
            }
        }
        return result
    }
}
