import Foundation
import XCTest
@testable import Reward
@testable import SPCT
import Tensor
import Transformer

/// GRPO: advantages, and a tiny model's run (rollouts, rewards, loss, KL against the reference,
/// checkpoints that resume bit for bit).
final class GRPOTests: XCTestCase {
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    func testGroupAdvantages() {
        XCTAssertEqual(GRPO.advantages([1, 1, 1, 1]), [0, 0, 0, 0], "a flat group carries no signal")
        XCTAssertEqual(GRPO.advantages([-1, -1]), [0, 0])
        // Mean 0, sample std sqrt(4/3).
        let a = GRPO.advantages([1, -1, -1, 1])
        let s = Float(4.0 / 3.0).squareRoot()
        for (x, r) in zip(a, [Float(1), -1, -1, 1]) { XCTAssertEqual(x, r / (s + 1e-4), accuracy: 1e-6) }
        let b = GRPO.advantages([1, -1, -1, -1])
        XCTAssertEqual(b.reduce(0, +), 0, accuracy: 1e-6)
        XCTAssertGreaterThan(b[0], 0)
    }

    func testTinyRunResumesBitForBitAndStartsAtZeroKL() throws {
        let dir = NSTemporaryDirectory() + "grm-grpo-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try RFTEndToEndTests.writeTinyModel(to: dir + "base.gguf")
        let file = try GGUFFile(path: dir + "base.gguf")
        let template = try ModelChatTemplate(metadata: file.metadata)
        let builder = JudgePromptBuilder(templates: RFTEndToEndTests.templates, chat: JudgeChatFormat(model: template))
        // The cold-start adapter of the RFT test: some judgements right, some wrong.
        let items = try RFTEndToEndTests.toyItems()
        let adapter = try RFTEndToEndTests.coldStart(file: file, builder: builder, items: items)
        var settings = GRPOSettings(steps: 3)
        settings.group = 4
        settings.itemsPerStep = 4
        settings.microBatch = 2
        settings.learningRate = 1e-2
        settings.generation = GenerationSettings(temperature: 0.3, maxTokens: 12)
        func fresh() throws -> GRPOTrainer {
            try GRPOTrainer(file: file, start: adapter, items: items, builder: builder, settings: settings, contextLength: 256)
        }
        let a = try fresh()
        // Items are drawn in a seeded order, epoch after epoch.
        XCTAssertEqual(a.stepItems(0).count, 4)
        XCTAssertEqual(Set((0..<2).flatMap { a.stepItems($0).map(\.id!) }), Set(items.map(\.id!)))
        let rollouts = try a.rollouts(step: 0).rollouts
        XCTAssertEqual(rollouts.count, 16)
        for r in rollouts {
            XCTAssertEqual(r.reward, r.sample.isCorrect ? 1 : -1)
            XCTAssertFalse(r.completion.isEmpty)
            XCTAssertLessThanOrEqual(r.completion.count, 12)
        }
        let first = try a.trainStep()
        XCTAssertEqual(first.kl, 0, accuracy: 1e-9, "the policy starts as the reference")
        let straight = try [first] + (0..<2).map { _ in try a.trainStep() }
        let all = straight.map(\.accuracy)
        XCTAssertTrue(all.contains { $0 > 0 } && straight.contains { $0.flatGroups < 4 }, "some signal: \(straight)")
        XCTAssertGreaterThan(straight[2].kl, 0, "the policy moved away from the reference")

        let b = try fresh()
        var resumed = try (0..<2).map { _ in try b.trainStep() }
        try b.save(to: dir + "grpo.ckpt.gguf", metadata: ["data": "x"])
        let c = try fresh()
        XCTAssertThrowsError(try c.resume(from: dir + "grpo.ckpt.gguf", metadata: ["data": "y"]))
        try c.resume(from: dir + "grpo.ckpt.gguf", metadata: ["data": "x"])
        resumed.append(try c.trainStep())
        XCTAssertEqual(straight.map(\.loss), resumed.map(\.loss))
        XCTAssertEqual(straight.map(\.kl), resumed.map(\.kl))
        for (p, q) in zip(a.policy.parameters, c.policy.parameters) {
            XCTAssertEqual(p.value.scalars().map(\.bitPattern), q.value.scalars().map(\.bitPattern), p.name)
        }
    }

    /// With rewards that differ within a group, the loss at the update (ratio 1, KL 0) is minus the
    /// mean advantage, and the policy moves towards the rewarded judgement.
    func testPolicyGradientFavoursTheRewardedSample() throws {
        let dir = NSTemporaryDirectory() + "grm-grpo-pg-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try RFTEndToEndTests.writeTinyModel(to: dir + "base.gguf")
        let file = try GGUFFile(path: dir + "base.gguf")
        let model = try LlamaModel(gguf: file, mode: .lora(LoRASettings(rank: 2, alpha: 4, seed: 3)))
        let item = try RewardItem(query: "q", responses: ["y", "n"], label: .best(0))
        func rollout(_ completion: [Int32], _ reward: Float) -> Rollout {
            Rollout(
                itemIndex: 0, sample: GenerativeRewardModel.sample("", index: 0, group: 0, order: .identity(2), item: item),
                prompt: [40, 41, 42], completion: completion, reward: reward, advantage: 0)
        }
        var rollouts = [rollout([57, 48], 1), rollout([50, 48], -1)]
        for (i, a) in GRPO.advantages(rollouts.map(\.reward)).enumerated() { rollouts[i].advantage = a }
        let before = try Autograd.noGrad { try GRPO.completionLogProbs(model, rollouts, padID: 0).value.scalars() }
        let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-2, weightDecay: 0)
        for _ in 0..<5 {
            let logp = try GRPO.completionLogProbs(model, rollouts, padID: 0)
            let values = logp.value.scalars()
            let adv = rollouts.flatMap { r in r.completion.map { _ in r.advantage } }
            let w = try Tensor(shape: [4], scalars: [Float](repeating: 0.25, count: 4))
            let loss = try (try logp.policyLoss(old: values, ref: values, advantage: adv, clip: 0.2, beta: 0.08) * Variable(w)).sum()
            XCTAssertEqual(loss.item, 0, accuracy: 1e-6, "ratio 1, KL 0, advantages summing to 0")
            try loss.backward()
            try optimizer.step()
            optimizer.zeroGrad()
        }
        let after = try Autograd.noGrad { try GRPO.completionLogProbs(model, rollouts, padID: 0).value.scalars() }
        XCTAssertGreaterThan(after[0], before[0], "the rewarded first token became likelier")
        XCTAssertLessThan(after[2], before[2], "the penalised first token became less likely")
    }
}
