import Foundation
import XCTest
@testable import Reward

/// The real engine behind the judge, on the default model (skipped when weights/ has no model).
final class EngineJudgeGeneratorTests: XCTestCase {
    /// <repo>/weights/SmolLM2-135M-Instruct.Q4_1.gguf, from this file's location.
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("weights/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static func skipWithoutModel() throws {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw XCTSkip("model file missing: \(modelPath) (run `bash weights/fetch.sh`)")
        }
    }

    /// A pair whose first response is right.
    static func sumItem() throws -> RewardItem {
        try RewardItem(
            id: "sum", category: "arithmetic", query: "What is 2 + 2?", responses: ["2 + 2 = 4", "2 + 2 = 5"], label: .best(0))
    }

    func testJudgesOneItemReproducibly() throws {
        try EngineJudgeGeneratorTests.skipWithoutModel()
        let (engine, chat) = try EngineJudgeGenerator.load(model: EngineJudgeGeneratorTests.modelPath)
        let grm = GenerativeRewardModel(generator: engine, builder: JudgePromptBuilder(chat: chat))
        let item = try EngineJudgeGeneratorTests.sumItem()
        let config = VotingConfig(k: 2, seed: 7, settings: GenerationSettings(temperature: 0.5, maxTokens: 64))
        var pieces = 0
        engine.onText = { n in pieces = n }

        let first = try grm.judge(item, config: config)
        XCTAssertEqual(first.samples.count, 2)
        XCTAssertEqual(first.samples.map(\.index), [0, 1])
        XCTAssertTrue(first.samples.allSatisfy { !$0.text.isEmpty })
        XCTAssertGreaterThan(engine.generatedTokens, 0)
        XCTAssertLessThanOrEqual(engine.generatedTokens, 2 * 64)
        XCTAssertGreaterThan(pieces, 0)
        XCTAssertLessThanOrEqual(pieces, engine.generatedTokens)
        XCTAssertEqual(engine.piecesInCall, 0, "reset after the call")
        for s in first.samples {
            // Scores, when the small model manages to write them, are in range and in original order.
            if let scores = s.scores { XCTAssertEqual(scores, s.order.toOriginal(try s.output.scores.get())) }
        }
        XCTAssertEqual(first.vote.voters, first.samples.filter { $0.scores != nil }.count)

        let tokensAfterFirst = engine.totalGeneratedTokens
        let again = try grm.judge(item, config: config)
        XCTAssertEqual(again.samples.map(\.text), first.samples.map(\.text), "same seed, same texts")
        XCTAssertEqual(again.samples.map(\.order), first.samples.map(\.order))
        XCTAssertEqual(engine.totalGeneratedTokens, 2 * tokensAfterFirst)

        // A different seed draws other samples (64 tokens at temperature 0.5 virtually never coincide).
        var other = config
        other.seed = 8
        let different = try grm.judge(item, config: other)
        XCTAssertNotEqual(different.samples.map(\.text), first.samples.map(\.text))

        // Forgetting earlier prompts empties the prompt cache and keeps its size setting; the
        // judgement, prefilled from scratch, is the same.
        XCTAssertGreaterThan(engine.generator.promptCacheUsage.prompts, 0)
        let size = engine.generator.promptCacheTokens
        engine.forgetEarlierPrompts()
        XCTAssertEqual(engine.generator.promptCacheUsage.prompts, 0)
        XCTAssertEqual(engine.generator.promptCacheTokens, size)
        let cold = try grm.judge(item, config: config)
        XCTAssertEqual(cold.samples.map(\.text), first.samples.map(\.text))
        XCTAssertGreaterThan(engine.generator.prefilledTokens, 0)
    }

    /// An f16 cache (`--kv f16`): the engine holds f16 keys and values and judges as before (the
    /// same response order for the seed, a judgement written).
    func testF16CacheJudges() throws {
        try EngineJudgeGeneratorTests.skipWithoutModel()
        let (f16, chat) = try EngineJudgeGenerator.load(model: EngineJudgeGeneratorTests.modelPath, kvType: .f16)
        let (f32, _) = try EngineJudgeGenerator.load(model: EngineJudgeGeneratorTests.modelPath)
        XCTAssertEqual(f16.generator.engine.kvType, .f16)
        XCTAssertEqual(f32.generator.engine.kvType, .f32)
        let item = try EngineJudgeGeneratorTests.sumItem()
        let config = VotingConfig(k: 1, seed: 7, settings: GenerationSettings(temperature: 0, maxTokens: 8))
        let a = try GenerativeRewardModel(generator: f16, builder: JudgePromptBuilder(chat: chat)).judge(item, config: config)
        let b = try GenerativeRewardModel(generator: f32, builder: JudgePromptBuilder(chat: chat)).judge(item, config: config)
        XCTAssertEqual(a.samples.count, 1)
        XCTAssertFalse(a.samples[0].text.isEmpty)
        XCTAssertEqual(a.samples[0].order, b.samples[0].order)
        XCTAssertGreaterThan(f16.generatedTokens, 0)
    }

    func testCutOffSamplesAreCuedOnTheEngine() throws {
        try EngineJudgeGeneratorTests.skipWithoutModel()
        let (engine, chat) = try EngineJudgeGenerator.load(model: EngineJudgeGeneratorTests.modelPath)
        let grm = GenerativeRewardModel(generator: engine, builder: JudgePromptBuilder(chat: chat))
        let item = try EngineJudgeGeneratorTests.sumItem()
        // 12 tokens are too few for criteria, analysis and scores: both greedy samples are cut off.
        let settings = GenerationSettings(temperature: 0, maxTokens: 12, stopLoops: true, forceScores: true)
        let j = try grm.judge(item, config: VotingConfig(k: 2, seed: 7, settings: settings))
        for s in j.samples {
            XCTAssertTrue(s.forced, s.text)
            XCTAssertTrue(s.text.contains("\n" + ScoreCue.cue), s.text)
        }
        // The last call was the cue's: one short continuation per sample, each forking its
        // sample's kept cache, so that per distinct cued prompt only the cue, the sample's last
        // token and at most a token or two where the text re-tokenises differently are prefilled
        // (without the kept caches: the 12 generated tokens and the cue, from the prompt cache).
        XCTAssertLessThanOrEqual(engine.generatedTokens, j.samples.count * ScoreCue.maxTokens(responses: 2))
        let cue = engine.generator.tokenizer.encode("\n" + ScoreCue.cue, addSpecial: false, parseSpecial: false).count
        let distinct = Set(j.samples.map { "\($0.order)|\($0.text)" }).count
        XCTAssertGreaterThan(engine.generator.prefilledTokens, 0)
        XCTAssertLessThanOrEqual(engine.generator.prefilledTokens, distinct * (cue + 3))
        XCTAssertEqual(engine.generator.continuationCount, 0, "the kept samples are dropped once the cues are done")
        let context = engine.generator.engine.config.contextLength
        XCTAssertTrue(engine.fits("What is 2 + 2?", generating: 12))
        XCTAssertFalse(engine.fits("What is 2 + 2?", generating: context))
    }
}
