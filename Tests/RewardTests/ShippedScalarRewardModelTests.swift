import Foundation
import XCTest
@testable import Reward
import Tensor
import Transformer

/// The scalar reward model committed in weights/ (made by `make train-rm`'s LoRA stage): it loads
/// over the default model (the base's SHA-256 checked) and ranks the judge's test items well above
/// chance. Skipped when the default model is not fetched.
final class ShippedScalarRewardModelTests: XCTestCase {
    static let model = EngineJudgeGeneratorTests.modelPath
    static let rewardModel = (model as NSString).deletingLastPathComponent + "/grm-rm-scalar.gguf"

    /// The 80 items every reward model here is evaluated on (`grm data synth --n 100 --seed 7
    /// --split test`, the first 80). Chance is 36.2% on them; the model was measured at 67.5% (54
    /// right) with exact activations. The bound leaves room for another CPU's rounding, and none
    /// for a model that lost what it learnt.
    func testShippedScalarModelRanksTestItemsAboveChance() throws {
        guard FileManager.default.fileExists(atPath: Self.model) else {
            throw XCTSkip("model file missing: \(Self.model) (run `bash weights/fetch.sh`)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.rewardModel), "the scalar reward model is committed in weights/")
        let scorer = try ScalarRewardScorer(rewardModel: Self.rewardModel, base: Self.model)
        var synth = try RewardSynthesizer(seed: 7, split: SynthSplit.named("test"))
        let items = try (0..<80).map { _ in try synth.next() }
        let rewards = try EngineSettings.with({ $0.activations = .exact }) { try scorer.rewards(items) }
        var right = 0
        for (item, r) in zip(items, rewards) {
            XCTAssertEqual(r.count, item.responses.count)
            XCTAssertTrue(r.allSatisfy(\.isFinite), "\(r)")
            if ScalarRewardScorer.outcome(r, for: item) == .correct { right += 1 }
        }
        XCTAssertGreaterThanOrEqual(right, 50, "\(right) of 80 items right (measured: 54; chance: 29)")
    }
}
