import Foundation
import XCTest
@testable import Reward
import Tensor
import Transformer

/// The judge adapter committed in weights/ (made by `make train-grm`): it loads against the default
/// model and writes judgements the parser reads. Skipped when the default model is not fetched.
final class ShippedJudgeTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let model = root.appendingPathComponent("weights/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let judge = root.appendingPathComponent("weights/grm-judge.gguf").path

    func testShippedJudgeWritesParsableJudgements() throws {
        guard FileManager.default.fileExists(atPath: Self.model) else {
            throw XCTSkip("model file missing: \(Self.model) (run `bash weights/fetch.sh`)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.judge), "the trained judge is committed in weights/")
        let adapter = try LoRAAdapter(gguf: Self.judge, base: try GGUFFile(path: Self.model))
        let (engine, chat) = try EngineJudgeGenerator.load(model: Self.model, adapter: adapter)
        // The prompt the judge was trained on, as its adapter records.
        let grm = GenerativeRewardModel(
            generator: engine, builder: JudgePromptBuilder(templates: try JudgePromptTemplates.recorded(in: adapter), chat: chat))
        let items = try [
            RewardItem(
                category: "arithmetic", query: "What is 23 + 19?",
                responses: ["23 + 19 = 42. The answer is 42.", "23 + 19 = 32. The answer is 32."], label: .best(0)),
            RewardItem(
                category: "facts", query: "What is the capital of Japan?",
                responses: ["The capital of Japan is Osaka.", "The capital of Japan is Tokyo."], label: .best(1))
        ]
        let judged = try grm.judge(items, config: VotingConfig(k: 1, seed: 1, settings: GenerationSettings(temperature: 0, maxTokens: 200)))
        for j in judged {
            let s = j.samples[0]
            XCTAssertNotNil(s.scores, "greedy judgement parses: \(s.text)")
            XCTAssertFalse(s.principles.isEmpty, s.text)
            XCTAssertTrue(s.principles.allSatisfy { $0.weight != nil }, s.text)
            XCTAssertNotNil(s.analysis, s.text)
        }
    }
}
