/// Stochastic gradient descent with momentum, as PyTorch's SGD (dampening 0):
///   g += wd * p;  b = momentum * b + g (b = g on the first step);  p -= lr * (nesterov ? g + momentum * b : b)
public final class SGD: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public var momentum: Float, weightDecay: Float, nesterov: Bool
    private var buffers: [Tensor?]

    public init(parameters: [Variable], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
    }

    public func step() throws {
        for (i, p) in parameters.enumerated() {
            guard let g = try ParameterUpdate.gradient(of: p, op: "SGD") else { continue }
            let lr = learningRate, mu = momentum, wd = weightDecay, nest = nesterov
            let pp = p.value.floatPointer, pg = g.floatPointer
            if mu == 0 {
                ParameterUpdate.forChunks(p.count) { lo, hi in
                    for j in lo..<hi { pp[j] -= lr * (pg[j] + wd * pp[j]) }
                }
                continue
            }
            let first = buffers[i] == nil
            if first { buffers[i] = Tensor(zeros: p.shape) }
            let pb = buffers[i]!.floatPointer
            ParameterUpdate.forChunks(p.count) { lo, hi in
                for j in lo..<hi {
                    let gj = pg[j] + wd * pp[j]
                    let b = first ? gj : mu * pb[j] + gj
                    pb[j] = b
                    pp[j] -= lr * (nest ? gj + mu * b : b)
                }
            }
        }
    }

    public func stateDict() -> (tensors: [String: Tensor], counters: [String: Int]) {
        var tensors: [String: Tensor] = [:]
        for (i, b) in buffers.enumerated() { if let b { tensors["sgd.momentum.\(i)"] = b } }
        return (tensors, [:])
    }

    public func loadStateDict(tensors: [String: Tensor], counters: [String: Int]) throws {
        for (i, p) in parameters.enumerated() {
            buffers[i] = nil
            if let b = tensors["sgd.momentum.\(i)"] {
                guard b.shape == p.shape else {
                    throw TensorError.shapeMismatch(op: "SGD.load", lhs: p.shape, rhs: b.shape, reason: "momentum of parameter \(i)")
                }
                buffers[i] = b.contiguous()
            }
        }
    }
}
