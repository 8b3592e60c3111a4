import Foundation

/// Adam with decoupled weight decay (Loshchilov & Hutter), as PyTorch's AdamW:
///   p -= lr * wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
///   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
/// with t counted per parameter (frozen or gradient-less parameters do not advance).
public final class AdamW: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// Parameters (by index) that get no weight decay (norm weights, say).
    public var noDecay: Set<Int>
    private var m: [Tensor?], v: [Tensor?]
    public private(set) var steps: [Int]

    public init(
        parameters: [Variable], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0.01, noDecay: Set<Int> = []
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.noDecay = noDecay
        m = Array(repeating: nil, count: parameters.count)
        v = m
        steps = Array(repeating: 0, count: parameters.count)
    }

    public func step() throws {
        for (i, p) in parameters.enumerated() {
            guard let g = try ParameterUpdate.gradient(of: p, op: "AdamW") else { continue }
            if m[i] == nil {
                m[i] = Tensor(zeros: p.shape)
                v[i] = Tensor(zeros: p.shape)
            }
            steps[i] += 1
            let t = Double(steps[i])
            let c1 = Float(1 - Foundation.pow(Double(beta1), t)), c2 = Float(1 - Foundation.pow(Double(beta2), t))
            let lr = learningRate, b1 = beta1, b2 = beta2, e = eps
            let decay = 1 - lr * (noDecay.contains(i) ? 0 : weightDecay)
            let pp = p.value.floatPointer, pg = g.floatPointer, pm = m[i]!.floatPointer, pv = v[i]!.floatPointer
            let step = lr / c1, rc2 = 1 / c2.squareRoot()
            ParameterUpdate.forChunks(p.count) { lo, hi in
                for j in lo..<hi {
                    let gj = pg[j]
                    let mj = b1 * pm[j] + (1 - b1) * gj
                    let vj = b2 * pv[j] + (1 - b2) * gj * gj
                    pm[j] = mj
                    pv[j] = vj
                    // m_hat / (sqrt(v_hat) + eps) = (m / c1) / (sqrt(v) / sqrt(c2) + eps)
                    pp[j] = pp[j] * decay - step * mj / (vj.squareRoot() * rc2 + e)
                }
            }
        }
    }

    public func stateDict() -> (tensors: [String: Tensor], counters: [String: Int]) {
        var tensors: [String: Tensor] = [:], counters: [String: Int] = [:]
        for i in parameters.indices {
            counters["adamw.step.\(i)"] = steps[i]
            if let mi = m[i], let vi = v[i] {
                tensors["adamw.m.\(i)"] = mi
                tensors["adamw.v.\(i)"] = vi
            }
        }
        return (tensors, counters)
    }

    public func loadStateDict(tensors: [String: Tensor], counters: [String: Int]) throws {
        for (i, p) in parameters.enumerated() {
            steps[i] = counters["adamw.step.\(i)"] ?? 0
            m[i] = nil
            v[i] = nil
            if let mi = tensors["adamw.m.\(i)"], let vi = tensors["adamw.v.\(i)"] {
                guard mi.shape == p.shape, vi.shape == p.shape else {
                    throw TensorError.shapeMismatch(op: "AdamW.load", lhs: p.shape, rhs: mi.shape, reason: "state of parameter \(i) (\(p.name))")
                }
                m[i] = mi.contiguous()
                v[i] = vi.contiguous()
            }
        }
    }
}
