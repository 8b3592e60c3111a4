import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// The meta reward model: its binary cross-entropy objective, head training on 0/1 labels, and
/// ratings read from the end of each sample's judging conversation.
final class MetaRewardModelTests: XCTestCase {
    func testBinaryCrossEntropyMatchesTheFormulaAndItsGradientChecks() throws {
        let values: [Float] = [0.5, -1, 2, 0.25, -30]
        let labels: [Float] = [1, 0, 0, 1, 0]
        let z = Variable(try Tensor(shape: [5], scalars: values), requiresGrad: true)
        let loss = try BinaryCrossEntropy.loss(logits: z, labels: labels)
        var want = 0.0
        for (x, y) in zip(values.map(Double.init), labels) {
            let p = 1 / (1 + exp(-x))
            want -= y == 1 ? log(p) : log(1 - p)
        }
        XCTAssertEqual(Double(loss.item), want / 5, accuracy: 1e-5)
        let check = try GradCheck.check([z], eps: 1e-2) { v in try BinaryCrossEntropy.loss(logits: v[0], labels: labels).reshaped([1]) }
        XCTAssertTrue(check.passed, "\(check)")
        XCTAssertThrowsError(try BinaryCrossEntropy.loss(logits: z, labels: [1, 0]))
        XCTAssertThrowsError(try BinaryCrossEntropy.loss(logits: z, labels: [1, 0, 0.5, 1, 0]))
        XCTAssertEqual(BinaryCrossEntropy.accuracy(logits: [1, -1, 0, 2], labels: [1, 1, 0, 0]), 0.5)
    }

    /// Rows labelled 1 lie further along a hidden direction: the head, started pointing the
    /// wrong way with a bias, classifies every held-out row; a checkpoint records the labels.
    func testHeadOnlyTrainingLearnsBinaryLabels() throws {
        let dim = 12, rows = 200
        var rng = SeededRandom(seed: 21)
        let direction = Tensor.randomNormal([dim], rng: &rng).scalars()
        var data: [Float] = [], labels: [Float] = []
        for i in 0..<rows {
            let label: Float = i % 3 == 0 ? 1 : 0
            let x = Tensor.randomNormal([dim], rng: &rng).scalars()
            let along = x.indices.reduce(Float(0)) { $0 + x[$1] * direction[$1] } / direction.reduce(0) { $0 + $1 * $1 }
            let shift = (label == 1 ? 1.5 : -1.5) - along  // the component along the direction is +-1.5
            data += zip(x, direction).map { $0 + shift * $1 }
            labels.append(label)
        }
        let features = try Tensor(shape: [rows, dim], scalars: data)
        let trainRows = 150
        let train = try Tensor(shape: [trainRows, dim], scalars: Array(data.prefix(trainRows * dim)))
        let test = try Tensor(shape: [rows - trainRows, dim], scalars: Array(data.suffix((rows - trainRows) * dim)))
        let head = try ScalarHead(weight: Tensor(shape: [1, dim], scalars: direction.map { -0.1 * $0 }), bias: Tensor(zeros: [1]))
        XCTAssertLessThan(BinaryCrossEntropy.accuracy(logits: try head.rewards(test), labels: Array(labels.suffix(rows - trainRows))), 0.5)
        let settings = HeadOnlyTraining(steps: 150, pairsPerStep: 32, learningRate: 5e-2, centerCoefficient: 0, seed: 4)
        let losses = try settings.train(head, features: train, objective: .binary(Array(labels.prefix(trainRows))))
        XCTAssertLessThan(losses.suffix(10).reduce(0, +), losses.prefix(10).reduce(0, +) / 4)
        XCTAssertEqual(BinaryCrossEntropy.accuracy(logits: try head.rewards(test), labels: Array(labels.suffix(rows - trainRows))), 1)
        XCTAssertEqual(BinaryCrossEntropy.accuracy(logits: try head.rewards(features), labels: labels), 1)

        let trainer = try HeadOnlyTrainer(
            head: ScalarHead(dim: dim, bias: true), features: train, objective: .binary(Array(labels.prefix(trainRows))), settings: settings)
        XCTAssertNotNil(trainer.identity([:])["rm.labels"])
        XCTAssertThrowsError(try HeadOnlyTrainer(head: ScalarHead(dim: dim), features: train, objective: .binary([1, 0]), settings: settings))
    }

    /// A meta RM rates each sample by the head on the final-norm state at the end of its judging
    /// conversation, with the responses in the sample's own order; files of other kinds and other
    /// judge templates are refused by the loaders.
    func testRatingsReadEachSamplesConversation() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "meta")
        var config = TinyRewardModels.config
        config.contextLength = 2048
        let base = dir + "base.gguf"
        try TinyRewardModels.writeBase(to: base, config: config)
        let head = ScalarHead(dim: 32, bias: true, seed: 8)
        let sha = try SHA256.file(base)
        try RewardModelFile(
            kind: .meta, architecture: "llama", head: head, baseName: "base.gguf", baseSHA256: sha,
            judgeTemplate: JudgePromptTemplates.standard.multi
        ).write(gguf: dir + "meta.gguf")
        let meta = try MetaRewardModel(file: dir + "meta.gguf", base: base)

        let item = try RewardItem(query: "3 * 3?", responses: ["9", "6", "33"], label: .best(0))
        let orders = [try ResponseOrder([2, 0, 1]), ResponseOrder.identity(3)]
        let samples = [
            GenerativeRewardModel.sample("Scores: \\boxed{2, 9, 1}", index: 0, group: 0, order: orders[0], item: item),
            GenerativeRewardModel.sample("no scores", index: 1, group: 1, order: orders[1], item: item)
        ]
        XCTAssertTrue(samples[0].isCorrect)
        let ratings = try meta.rate(samples, for: item)
        XCTAssertEqual(ratings.count, 2)

        let file = try GGUFFile(path: base)
        let builder = JudgePromptBuilder(chat: JudgeChatFormat(model: try ModelChatTemplate(metadata: file.metadata)))
        let tokenizer = try Tokenizer(metadata: file.metadata)
        let engine = try LlamaInference(gguf: file)
        for (s, rating) in zip(samples, ratings) {
            let text = try builder.conversation(for: item, order: s.order, judgement: s.text)
            XCTAssertTrue(text.hasSuffix(s.text + "<|im_end|>\n"))
            let hidden = try ScalarRewardInput.hiddenStates(
                engine: engine, sequences: [tokenizer.encode(text, addSpecial: false, parseSpecial: true)])
            XCTAssertEqual(rating, Double(try head.rewards(hidden)[0]), accuracy: 1e-5)
        }
        XCTAssertNotEqual(ratings[0], ratings[1])

        // Each file to its own loader.
        XCTAssertThrowsError(try ScalarRewardScorer(rewardModel: dir + "meta.gguf", base: base)) { error in
            XCTAssertTrue("\(error)".contains("a meta reward model rates a judge's judgements"), "\(error)")
        }
        try RewardModelFile(kind: .scalar, architecture: "llama", head: head, baseName: "base.gguf", baseSHA256: sha).write(gguf: dir + "s.gguf")
        XCTAssertThrowsError(try MetaRewardModel(file: dir + "s.gguf", base: base)) { error in
            XCTAssertTrue("\(error)".contains("scores responses, not judgements"), "\(error)")
        }
        try RewardModelFile(kind: .meta, architecture: "llama", head: head, baseName: "base.gguf", baseSHA256: sha, judgeTemplate: "other")
            .write(gguf: dir + "m2.gguf")
        XCTAssertThrowsError(try MetaRewardModel(file: dir + "m2.gguf", base: base)) { error in
            XCTAssertTrue("\(error)".contains("a judge prompt that this build does not write"), "\(error)")
        }
        // A meta RM of a judge that reads the compact prompt rates conversations in that prompt.
        try RewardModelFile(
            kind: .meta, architecture: "llama", head: head, baseName: "base.gguf", baseSHA256: sha,
            judgeTemplate: JudgePromptTemplates.compact.multi
        ).write(gguf: dir + "m3.gguf")
        XCTAssertEqual(try MetaRewardModel(file: dir + "m3.gguf", base: base).input.builder.templates, .compact)
        XCTAssertEqual(meta.input.builder.templates, .standard)
    }
}
