import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// TRL's per-item `margin`: read from pairwise and listwise JSONL items, carried by every pair of
/// the item, and subtracted inside the Bradley-Terry loss of both training modes.
final class RewardMarginTests: XCTestCase {
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    func testMarginIsReadAndCarriedByEveryPair() throws {
        let pairwise = try RewardItem(jsonLine: #"{"prompt":"q","chosen":"a","rejected":"b","margin":1.5}"#)
        XCTAssertEqual(pairwise.margin, 1.5)
        XCTAssertEqual(pairwise.preferencePairs(), [PreferencePair(chosen: 0, rejected: 1, margin: 1.5)])
        let listwise = try RewardItem(jsonLine: #"{"prompt":"q","responses":["a","b","c"],"scores":[1,3,2],"margin":-2}"#)
        XCTAssertEqual(listwise.margin, -2)
        XCTAssertEqual(listwise.preferencePairs().map(\.margin), [-2, -2, -2])
        XCTAssertEqual(listwise.preferencePairs(margin: 0.25).map(\.margin), [0.25, 0.25, 0.25], "an explicit margin overrides")
        let none = try RewardItem(jsonLine: #"{"prompt":"q","chosen":"a","rejected":"b","margin":null}"#)
        XCTAssertNil(none.margin)
        XCTAssertEqual(none.preferencePairs().map(\.margin), [0])
        // Written back and read again unchanged.
        XCTAssertEqual(try RewardItem(jsonLine: try pairwise.jsonLine()), pairwise)
        XCTAssertEqual(try RewardItem(jsonLine: try listwise.jsonLine()), listwise)
        XCTAssertTrue(try listwise.jsonLine().contains(#""margin":-2"#))
        XCTAssertThrowsError(try RewardItem(jsonLine: #"{"prompt":"q","chosen":"a","rejected":"b","margin":true}"#)) { e in
            XCTAssertTrue("\(e)".contains("margin must be a number, got a boolean"), "\(e)")
        }
        XCTAssertThrowsError(try RewardItem(query: "q", responses: ["a", "b"], label: .best(0)).with(margin: .infinity))
        // In a file, the error names the file and the line (what `grm train rm` prints).
        let dir = try TinyRewardModels.temporaryDirectory(self, "margin-file")
        try """
        {"prompt":"q","chosen":"a","rejected":"b","margin":0.5}
        {"prompt":"q","chosen":"a","rejected":"b","margin":"0.5"}
        """.write(toFile: dir + "train.jsonl", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try RewardItemReader.readAll(path: dir + "train.jsonl")) { e in
            XCTAssertEqual("\(e)", dir + "train.jsonl:2: margin must be a number, got a string")
        }
    }

    /// The loss of an item with a margin is the formula's, -log sigmoid(r_c - r_r - margin), and
    /// not the loss without it; its gradient checks.
    func testMarginChangesTheLossAsTheFormulaSays() throws {
        let items = [
            try RewardItem(jsonLine: #"{"prompt":"q","chosen":"a","rejected":"b","margin":2}"#),
            try RewardItem(jsonLine: #"{"prompt":"q","responses":["a","b","c"],"best":2,"margin":0.5}"#)
        ]
        // Rows: item 0's two responses, then item 1's three.
        let values: [Float] = [0.3, -0.2, 1.1, 0.4, 0.9]
        let pairs =
            items[0].preferencePairs()
            + items[1].preferencePairs().map { PreferencePair(chosen: $0.chosen + 2, rejected: $0.rejected + 2, margin: $0.margin) }
        XCTAssertEqual(pairs.map { [$0.chosen, $0.rejected] }, [[0, 1], [4, 2], [4, 3]])
        let r = Variable(try Tensor(shape: [5], scalars: values), requiresGrad: true)
        func formula(margins: [Double]) -> Double {
            zip(pairs, margins).map { p, m in log(1 + exp(-(Double(values[p.chosen]) - Double(values[p.rejected]) - m))) }
                .reduce(0, +) / Double(pairs.count)
        }
        let loss = try BradleyTerry.loss(rewards: r, pairs: pairs).item
        XCTAssertEqual(Double(loss), formula(margins: [2, 0.5, 0.5]), accuracy: 1e-6)
        let without = try BradleyTerry.loss(rewards: r, pairs: pairs.map { PreferencePair(chosen: $0.chosen, rejected: $0.rejected) }).item
        XCTAssertEqual(Double(without), formula(margins: [0, 0, 0]), accuracy: 1e-6)
        XCTAssertGreaterThan(loss, without, "a positive margin asks for a larger lead")
        let check = try GradCheck.check([r], eps: 1e-2) { v in
            try BradleyTerry.loss(rewards: v[0], pairs: pairs, centerCoefficient: 0.05).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
    }

    /// Head-only training reads the margins: its first step's loss (the head still untrained) is
    /// the formula's with the margins, and the gradient through the head checks.
    func testHeadOnlyTrainingUsesTheMargins() throws {
        var rng = SeededRandom(seed: 3)
        let features = Tensor.randomNormal([4, 8], rng: &rng)
        let pairs = [PreferencePair(chosen: 0, rejected: 1, margin: 1), PreferencePair(chosen: 2, rejected: 3, margin: -0.5)]
        let head = ScalarHead(dim: 8, bias: true, std: 0.5, seed: 4)
        let r = try head.rewards(features).map(Double.init)
        let want = (log(1 + exp(-(r[0] - r[1] - 1))) + log(1 + exp(-(r[2] - r[3] + 0.5)))) / 2
        let trainer = try HeadOnlyTrainer(
            head: head, features: features, pairs: pairs, settings: HeadOnlyTraining(steps: 1, pairsPerStep: 2, learningRate: 0, centerCoefficient: 0)
        )
        XCTAssertEqual(Double(try trainer.trainStep()), want, accuracy: 1e-5)
        let x = Variable(features)
        let check = try GradCheck.check([head.weight, head.bias!], eps: 1e-2) { _ in
            try BradleyTerry.loss(rewards: head.rewards(x), pairs: pairs).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
    }

    /// LoRA training reads the margins: the examples keep them, the trainer's batch carries them
    /// and the loss through the backbone's adapters is the formula's on the model's rewards.
    func testLoRATrainingUsesTheMargins() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "margin-lora")
        try TinyRewardModels.writeBase(to: dir + "base.gguf")
        let file = try GGUFFile(path: dir + "base.gguf")
        let input = ScalarRewardInput(tokenizer: try Tokenizer(metadata: file.metadata), template: try ModelChatTemplate(metadata: file.metadata))
        let items = [
            try RewardItem(jsonLine: #"{"prompt":"2+2?","chosen":"4","rejected":"5","margin":1.5}"#),
            try RewardItem(jsonLine: #"{"prompt":"Hi","responses":["Hello","Go","Bye"],"best":0,"margin":0.25}"#)
        ]
        let data = try ScalarRewardExamples(items: items, input: input, context: 256)
        XCTAssertEqual(data.examples.map { $0.pairs.map(\.margin) }, [[1.5], [0.25, 0.25]])
        let model = try LlamaModel(gguf: file, mode: .lora(LoRASettings(rank: 2, alpha: 4, seed: 3)))
        for l in model.layers {
            for (_, f) in l.lora {
                var g = SeededRandom(seed: 5)
                f.b.value = Tensor.randomNormal(f.b.shape, std: 0.3, rng: &g)
            }
        }
        let trainer = try ScalarRewardTrainer(
            model: model, head: ScalarHead(dim: 32, bias: true, std: 0.5, seed: 6), data: data, steps: 1, itemsPerStep: 2,
            learningRate: 0, centerCoefficient: 0)
        let (r, pairs) = try Autograd.noGrad { try trainer.rewards(items: [0, 1]) }
        XCTAssertEqual(pairs.map(\.margin), [1.5, 0.25, 0.25])
        let v = r.value.scalars().map(Double.init)
        let want = pairs.map { log(1 + exp(-(v[$0.chosen] - v[$0.rejected] - Double($0.margin)))) }.reduce(0, +) / 3
        XCTAssertEqual(Double(try trainer.trainStep().loss), want, accuracy: 1e-4)
        let probe = model.layers[1].lora[.v]!
        let check = try GradCheck.check([probe.a, trainer.head.weight], eps: 1e-2, atol: 2e-3, rtol: 2e-2) { _ in
            let (r, pairs) = try trainer.rewards(items: [0, 1])
            return try BradleyTerry.loss(rewards: r, pairs: pairs).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
    }
}

extension RewardItem {
    /// The item with another margin, validated.
    fileprivate func with(margin: Double) throws -> RewardItem {
        try RewardItem(id: id, category: category, prompt: prompt, responses: responses, label: label, format: format, margin: margin)
    }
}
