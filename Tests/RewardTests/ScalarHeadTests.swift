import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// The scalar reward head's pieces: pairs from labels, the Bradley-Terry loss and its gradient,
/// head-only training, and the hidden states it reads.
final class ScalarHeadTests: XCTestCase {
    func testPairsFromEveryLabel() throws {
        let best = try RewardItem(query: "q", responses: ["a", "b", "c"], label: .best(1))
        XCTAssertEqual(best.preferencePairs(), [PreferencePair(chosen: 1, rejected: 0), PreferencePair(chosen: 1, rejected: 2)])
        let scores = try RewardItem(query: "q", responses: ["a", "b", "c"], label: .scores([2, 5, 2]))
        XCTAssertEqual(scores.preferencePairs(margin: 0.5).map { [$0.chosen, $0.rejected] }, [[1, 0], [1, 2]], "ties give no pair")
        XCTAssertEqual(scores.preferencePairs(margin: 0.5).map(\.margin), [0.5, 0.5])
        let single = try RewardItem(query: "q", responses: ["a"], label: .binary(1))
        XCTAssertEqual(single.preferencePairs(), [])
    }

    func testLossMatchesTheFormulaAndItsGradientChecks() throws {
        let r = Variable(try Tensor(shape: [4], scalars: [0.5, -1, 2, 0.25]), requiresGrad: true)
        let pairs = [PreferencePair(chosen: 0, rejected: 1), PreferencePair(chosen: 3, rejected: 2, margin: 1),
                     PreferencePair(chosen: 2, rejected: 1)]
        let loss = try BradleyTerry.loss(rewards: r, pairs: pairs, centerCoefficient: 0.1)
        func logSigmoid(_ x: Double) -> Double { -log(1 + exp(-x)) }
        let v: [Double] = [0.5, -1, 2, 0.25]
        var want = 0.0, center = 0.0
        for p in pairs {
            want -= logSigmoid(v[p.chosen] - v[p.rejected] - Double(p.margin))
            center += pow(v[p.chosen] + v[p.rejected], 2)
        }
        want = want / 3 + 0.1 * center / 3
        XCTAssertEqual(Double(loss.item), want, accuracy: 1e-5)
        let check = try GradCheck.check([r], eps: 1e-2) { v in
            try BradleyTerry.loss(rewards: v[0], pairs: pairs, centerCoefficient: 0.1).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
        XCTAssertThrowsError(try BradleyTerry.loss(rewards: r, pairs: [PreferencePair(chosen: 0, rejected: 9)]))
        XCTAssertEqual(BradleyTerry.accuracy(rewards: [1, 0, 0], pairs: [PreferencePair(chosen: 0, rejected: 1),
                                                                        PreferencePair(chosen: 1, rejected: 2)]), 0.5)
    }

    /// The gradient reaches the head's weight and bias through the hidden states.
    func testHeadGradientChecks() throws {
        let head = ScalarHead(dim: 6, bias: true, std: 0.5, seed: 3)
        var rng = SeededRandom(seed: 4)
        let h = Variable(Tensor.randomNormal([5, 6], rng: &rng), requiresGrad: true)
        let pairs = [PreferencePair(chosen: 0, rejected: 1), PreferencePair(chosen: 2, rejected: 4), PreferencePair(chosen: 3, rejected: 0)]
        let check = try GradCheck.check([h, head.weight, head.bias!], eps: 1e-2) { v in
            try BradleyTerry.loss(rewards: head.rewards(v[0]), pairs: pairs, centerCoefficient: 0.05).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
    }

    /// A tiny preference task (the preferred response's features lie further along a hidden
    /// direction): head-only training separates every held-out pair.
    func testHeadOnlyTrainingLearnsATinyPreferenceTask() throws {
        let dim = 16, items = 120
        var rng = SeededRandom(seed: 9)
        let direction = Tensor.randomNormal([dim], rng: &rng).scalars()
        var rows: [Float] = [], pairs: [PreferencePair] = []
        for i in 0..<items {
            let base = Tensor.randomNormal([dim], rng: &rng).scalars()
            let gap = Float(0.5 + Double(rng.nextInt(100)) / 100)
            rows += zip(base, direction).map { $0 + gap * $1 }   // chosen: row 2i
            rows += base                                           // rejected: row 2i + 1
            pairs.append(PreferencePair(chosen: 2 * i, rejected: 2 * i + 1))
        }
        let features = try Tensor(shape: [2 * items, dim], scalars: rows)
        let train = Array(pairs.prefix(80)), heldOut = Array(pairs.suffix(40))
        // Started pointing the wrong way: every pair ranked backwards.
        let head = try ScalarHead(weight: Tensor(shape: [1, dim], scalars: direction.map { -0.1 * $0 }), bias: Tensor(zeros: [1]))
        XCTAssertEqual(BradleyTerry.accuracy(rewards: try head.rewards(features), pairs: heldOut), 0)
        let losses = try HeadOnlyTraining(steps: 200, pairsPerStep: 16, learningRate: 5e-2, seed: 2).train(head, features: features, pairs: train)
        XCTAssertLessThan(losses.suffix(10).reduce(0, +) / 10, losses.prefix(10).reduce(0, +) / 10)
        XCTAssertEqual(BradleyTerry.accuracy(rewards: try head.rewards(features), pairs: heldOut), 1)
    }

    /// The inference engine's final-norm hidden states are what the training model computes,
    /// and its logits are their projection.
    func testInferenceHiddenStatesMatchTheTrainingModel() throws {
        let config = LlamaConfig(vocabSize: 30, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 48, initStd: 0.1, contextLength: 32)
        let model = try LlamaModel(config: config, seed: 3)
        let engine = try LlamaInference(config: config, weights: model.inferenceWeights)
        let ids: [Int32] = [1, 5, 7, 2, 9, 11]
        let seq = try engine.newSequence()
        let hidden = try engine.forward([ForwardRequest(sequence: seq, tokens: ids, logits: .all)], output: .hiddenStates)[0]!
        XCTAssertEqual(hidden.shape, [6, 32])
        let want = try Autograd.noGrad { try model.hiddenStates(ids, batch: 1, length: 6) }.value.scalars()
        for (a, b) in zip(hidden.scalars(), want) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        let logits = try engine.logits(ids, allPositions: true).scalars()
        for (a, b) in zip(logits, try hidden.linear(model.output.value).scalars()) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }
}
