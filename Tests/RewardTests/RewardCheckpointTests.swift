import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// `grm train rm`'s checkpoints: a run stopped at step k and resumed from its checkpoint equals
/// the uninterrupted run bit for bit (LoRA and head-only), and a run with other data, settings or
/// base is refused naming what differs.
final class RewardCheckpointTests: XCTestCase {
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    static func bits(_ values: [Variable]) -> [[UInt32]] { values.map { $0.value.scalars().map(\.bitPattern) } }

    func testLoRAResumeEqualsUninterruptedBitForBit() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "rm-resume-lora")
        let data = ScalarHeadTests.attentionTask(10, seed: 4)
        func fresh(_ data: ScalarRewardExamples = data, lr: Float = 1e-2, alpha: Float = 8) throws -> ScalarRewardTrainer {
            let weights = try LlamaModel(config: ScalarHeadTests.tinyLoRA, seed: 7).inferenceWeights
            let model = try LlamaModel(
                config: ScalarHeadTests.tinyLoRA, weights: weights, mode: .lora(LoRASettings(rank: 4, alpha: alpha, seed: 2)))
            model.gradientCheckpointing = true
            return try ScalarRewardTrainer(
                model: model, head: ScalarHead(dim: 32, bias: true, seed: 3), data: data, steps: 6, itemsPerStep: 4,
                learningRate: lr, warmup: 2, centerCoefficient: 0.01, seed: 5)
        }
        let a = try fresh()
        let straight = try (0..<6).map { _ in try a.trainStep().loss }
        let b = try fresh()
        var resumed = try (0..<3).map { _ in try b.trainStep().loss }
        let path = dir + "ck.gguf"
        try b.save(to: path, metadata: ["rm.base": "base-sha"])

        // Refusals name the key that differs.
        let refusals: [(ScalarRewardTrainer, [String: String], String)] = [
            (try fresh(ScalarHeadTests.attentionTask(10, seed: 9)), ["rm.base": "base-sha"], "rm.data"),
            (try fresh(lr: 2e-2), ["rm.base": "base-sha"], "rm.lr"),
            (try fresh(alpha: 4), ["rm.base": "base-sha"], "rm.lora_scales"),
            (try fresh(), ["rm.base": "other-sha"], "rm.base")
        ]
        for (trainer, metadata, key) in refusals {
            XCTAssertThrowsError(try trainer.resume(from: path, metadata: metadata)) { e in
                XCTAssertTrue("\(e)".contains("saved with \(key) = "), "\(e)")
            }
        }
        let c = try fresh()
        try c.resume(from: path, metadata: ["rm.base": "base-sha"])
        XCTAssertEqual(c.step, 3)
        resumed += try (0..<3).map { _ in try c.trainStep().loss }
        XCTAssertEqual(straight.map(\.bitPattern), resumed.map(\.bitPattern))
        XCTAssertEqual(Self.bits(a.optimizer.parameters), Self.bits(c.optimizer.parameters))
        XCTAssertEqual(c.optimizer.parameters.map(\.name).prefix(2), ["cls.output.weight", "cls.output.bias"])
        // The checkpoint is a GGUF file whose tensors carry the head's and the adapters' names.
        let gguf = try GGUFFile(path: path)
        XCTAssertNotNil(gguf.info("cls.output.weight"))
        XCTAssertNotNil(gguf.info("blk.0.attn_q.weight.lora_a"))
    }

    func testHeadOnlyResumeEqualsUninterruptedBitForBit() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "rm-resume-head")
        // Features are the tiny model's hidden states, computed again for each run as a resumed
        // `grm train rm --head-only` does.
        try TinyRewardModels.writeBase(to: dir + "base.gguf")
        let file = try GGUFFile(path: dir + "base.gguf")
        let input = ScalarRewardInput(tokenizer: try Tokenizer(metadata: file.metadata), template: try ModelChatTemplate(metadata: file.metadata))
        let items = try (0..<12).map { i in
            try RewardItem(
                query: "What is \(i) + \(i)?", responses: ["\(2 * i)", "\(2 * i + 1)", "no idea"], label: .best(i % 3),
                margin: Double(i % 4) / 4)
        }
        let examples = try ScalarRewardExamples(items: items, input: input, context: 256)
        func features() throws -> (Tensor, [PreferencePair]) {
            let (seqs, pairs) = examples.flattened
            return (try ScalarRewardInput.hiddenStates(engine: try LlamaInference(gguf: file), sequences: seqs, batchTokens: 64), pairs)
        }
        let settings = HeadOnlyTraining(steps: 8, pairsPerStep: 5, learningRate: 5e-2, centerCoefficient: 0.01, seed: 3)
        func fresh(_ settings: HeadOnlyTraining = settings, features f: (Tensor, [PreferencePair])? = nil) throws -> HeadOnlyTrainer {
            let (x, pairs) = try f ?? features()
            return try HeadOnlyTrainer(head: ScalarHead(dim: 32, bias: true, seed: 1), features: x, pairs: pairs, settings: settings)
        }
        let a = try fresh()
        XCTAssertEqual(a.stepsPerEpoch, 5, "24 pairs in batches of 5: steps cross an epoch")
        let straight = try (0..<8).map { _ in try a.trainStep() }
        let b = try fresh()
        var resumed = try (0..<5).map { _ in try b.trainStep() }
        let path = dir + "head.gguf"
        try b.save(to: path, metadata: ["rm.data": examples.fingerprint])

        var other = settings
        other.centerCoefficient = 0
        XCTAssertThrowsError(try fresh(other).resume(from: path, metadata: ["rm.data": examples.fingerprint])) { e in
            XCTAssertTrue("\(e)".contains("saved with rm.center = "), "\(e)")
        }
        let (x, pairs) = try features()
        let moved = try Tensor(shape: x.shape, scalars: x.scalars().map { $0 + 1e-3 })
        XCTAssertThrowsError(try fresh(features: (moved, pairs)).resume(from: path, metadata: ["rm.data": examples.fingerprint])) { e in
            XCTAssertTrue("\(e)".contains("saved with rm.features = "), "\(e)")
        }
        XCTAssertThrowsError(try fresh().resume(from: path, metadata: ["rm.data": "other"])) { e in
            XCTAssertTrue("\(e)".contains("saved with rm.data = "), "\(e)")
        }
        // A LoRA checkpoint is not a head-only one.
        XCTAssertThrowsError(try fresh().resume(from: path, metadata: ["rm.data": examples.fingerprint, "rm.base": "x"])) { e in
            XCTAssertTrue("\(e)".contains("no rm.base"), "\(e)")
        }

        let c = try fresh()
        try c.resume(from: path, metadata: ["rm.data": examples.fingerprint])
        XCTAssertEqual(c.step, 5)
        resumed += try (0..<3).map { _ in try c.trainStep() }
        XCTAssertEqual(straight.map(\.bitPattern), resumed.map(\.bitPattern))
        XCTAssertEqual(Self.bits(a.head.parameters), Self.bits(c.head.parameters))
        // The same through `HeadOnlyTraining.train`, the convenience that runs every step.
        let head = ScalarHead(dim: 32, bias: true, seed: 1)
        let losses = try settings.train(head, features: x, pairs: pairs)
        XCTAssertEqual(losses.map(\.bitPattern), straight.map(\.bitPattern))
        XCTAssertEqual(Self.bits(head.parameters), Self.bits(a.head.parameters))
    }
}
