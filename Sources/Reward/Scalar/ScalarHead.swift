import Foundation
import Tensor
import Transformer

/// A scalar reward head: `r = w . h (+ b)` on a final-norm hidden state h [dim], as Hugging
/// Face's `*ForSequenceClassification` with one label reads the last token's state (its `score`
/// layer: no bias by default, weights normal with std 0.02). Its tensors are named as llama.cpp
/// names a classifier head: `cls.output.weight` [1, dim] and `cls.output.bias` [1].
public final class ScalarHead {
    public let weight: Variable
    public let bias: Variable?

    public static let weightName = "cls.output.weight"
    public static let biasName = "cls.output.bias"

    public init(dim: Int, bias: Bool = false, std: Float = 0.02, seed: UInt64 = 1) {
        var rng = SeededRandom(seed: seed)
        weight = Variable(Tensor.randomNormal([1, dim], std: std, rng: &rng), requiresGrad: true, name: ScalarHead.weightName)
        self.bias = bias ? Variable(Tensor(zeros: [1]), requiresGrad: true, name: ScalarHead.biasName) : nil
    }

    /// A head from saved tensors (weight [1, dim] f32, optional bias [1]).
    public init(weight: Tensor, bias: Tensor?) throws {
        guard weight.rank == 2, weight.shape[0] == 1, weight.dtype == .f32 else {
            throw TensorError.invalidShape(op: "ScalarHead", shape: weight.shape, reason: "\(ScalarHead.weightName) must be f32 [1, dim]")
        }
        if let bias, bias.shape != [1] || bias.dtype != .f32 {
            throw TensorError.invalidShape(op: "ScalarHead", shape: bias.shape, reason: "\(ScalarHead.biasName) must be f32 [1]")
        }
        self.weight = Variable(weight.copied(), requiresGrad: true, name: ScalarHead.weightName)
        self.bias = bias.map { Variable($0.copied(), requiresGrad: true, name: ScalarHead.biasName) }
    }

    public var dim: Int { weight.shape[1] }
    public var parameters: [Variable] { [weight] + (bias.map { [$0] } ?? []) }

    /// Rewards [N] of hidden states [N, dim].
    public func rewards(_ hidden: Variable) throws -> Variable {
        guard hidden.rank == 2, hidden.shape[1] == dim else {
            throw TensorError.shapeMismatch(
                op: "ScalarHead.rewards", lhs: hidden.shape, rhs: weight.shape,
                reason: "needs hidden states [N, \(dim)]")
        }
        var r = try hidden.matmul(weight, transposeB: true)  // [N, 1]
        if let bias { r = try r + bias }
        return try r.reshaped([hidden.shape[0]])
    }

    /// Rewards of hidden states without recording (scoring).
    public func rewards(_ hidden: Tensor) throws -> [Float] {
        try Autograd.noGrad { try rewards(Variable(hidden)) }.value.scalars()
    }
}

/// Training a scalar head alone on hidden states computed once (the backbone frozen): Bradley-Terry
/// over preference pairs, AdamW, seeded mini-batches of pairs. Minutes, not hours: a step is one
/// [N, dim] x [dim] product.
public struct HeadOnlyTraining {
    public var steps: Int
    public var pairsPerStep: Int = 64
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 0
    public var centerCoefficient: Float = 0.01
    public var seed: UInt64 = 1

    public init(steps: Int, pairsPerStep: Int = 64, learningRate: Float = 1e-3, centerCoefficient: Float = 0.01, seed: UInt64 = 1) {
        self.steps = steps
        self.pairsPerStep = pairsPerStep
        self.learningRate = learningRate
        self.centerCoefficient = centerCoefficient
        self.seed = seed
    }

    /// Trains `head` on `features` [N, dim] (one row per response) and `pairs` of row indices;
    /// returns the loss of each step. The pairs of step s are a seeded function of (seed, s).
    @discardableResult
    public func train(
        _ head: ScalarHead, features: Tensor, pairs: [PreferencePair],
        onStep: ((Int, Float) throws -> Void)? = nil
    ) throws -> [Float] {
        guard steps > 0, pairsPerStep > 0, !pairs.isEmpty else {
            throw RewardDataError("head training needs positive steps and pairs per step, and at least one pair")
        }
        let optimizer = AdamW(
            parameters: head.parameters, learningRate: learningRate, weightDecay: weightDecay,
            noDecay: head.bias == nil ? [] : [1])
        let schedule = LRSchedule(peak: learningRate, warmupSteps: min(10, steps / 10), totalSteps: steps)
        let x = Variable(features)
        var losses: [Float] = []
        let perEpoch = (pairs.count + pairsPerStep - 1) / pairsPerStep
        var order: [Int] = []
        for s in 0..<steps {
            if s % perEpoch == 0 {
                order = seededPermutation(pairs.count, seed: seed &+ UInt64(s / perEpoch) &* 0x9E37_79B9_7F4A_7C15)
            }
            let k = s % perEpoch
            let batch = order[(k * pairsPerStep)..<min((k + 1) * pairsPerStep, order.count)].map { pairs[$0] }
            optimizer.learningRate = schedule.rate(at: s)
            let loss = try BradleyTerry.loss(rewards: head.rewards(x), pairs: batch, centerCoefficient: centerCoefficient)
            try loss.backward()
            try optimizer.step()
            optimizer.zeroGrad()
            losses.append(loss.item)
            try onStep?(s + 1, loss.item)
        }
        return losses
    }
}
