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
