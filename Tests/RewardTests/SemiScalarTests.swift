import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// The semi-scalar reward model: critiques (greedy, capped, cached) and the head on the end of
/// each critique's judging conversation.
final class SemiScalarTests: XCTestCase {
    /// A judge template short enough for the tiny byte-level models.
    static let shortSingle = "Is it right?\n{conversation}\n{responses}\nAnswer 1 or 0."

    static func items() throws -> [RewardItem] {
        [
            try RewardItem(id: "a", query: "2 + 2?", responses: ["4", "5", "22"], label: .best(0)),
            try RewardItem(id: "b", query: "Say hi.", responses: ["hello"], label: .binary(1))
        ]
    }

    func testCritiqueCacheRoundTripKeysAndErrors() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "critiques")
        let items = try Self.items()
        let key = CritiqueCache.key(item: items[0], response: 1, critic: "c", maxTokens: 8)
        XCTAssertNotEqual(key, CritiqueCache.key(item: items[0], response: 2, critic: "c", maxTokens: 8))
        XCTAssertNotEqual(key, CritiqueCache.key(item: items[0], response: 1, critic: "d", maxTokens: 8))
        XCTAssertNotEqual(key, CritiqueCache.key(item: items[0], response: 1, critic: "c", maxTokens: 9))
        // The label and the other responses do not change what a pointwise critique sees.
        var relabelled = items[0]
        relabelled.label = .best(2)
        XCTAssertEqual(key, CritiqueCache.key(item: relabelled, response: 1, critic: "c", maxTokens: 8))

        var cache = CritiqueCache()
        cache.entries[key] = "Analysis: \"5\" is wrong.\nScores: \\boxed{0}"
        cache.entries["other"] = "kept, though no item here has it"
        try cache.write(to: dir + "c.jsonl", items: items, critic: "c", maxTokens: 8)
        XCTAssertEqual(try CritiqueCache(path: dir + "c.jsonl").entries, cache.entries)
        let text = try String(contentsOfFile: dir + "c.jsonl", encoding: .utf8)
        XCTAssertTrue(text.contains(#""prompt":"2 + 2?","response":"5","critique""#), text)
        XCTAssertEqual(try CritiqueCache(path: dir + "missing.jsonl").entries, [:])

        try "{\"key\":\"k\",\"critique\":\"x\"}\n\n{\"key\":\"k2\"}\n".write(toFile: dir + "bad.jsonl", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try CritiqueCache(path: dir + "bad.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("bad.jsonl:3: a critique line needs string fields"), "\(error)")
        }
    }

    /// The scorer's rewards are the head on the final-norm state at the end of
    /// judge prompt + greedy critique, computed here step by step with separate engines; the
    /// writer reuses cached critiques and generates only the missing ones.
    func testScorerRewardsTheEndOfTheCritiqueConversation() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "semi")
        var config = TinyRewardModels.config
        config.contextLength = 1024
        try TinyRewardModels.writeBase(to: dir + "base.gguf", config: config)
        let head = ScalarHead(dim: 32, seed: 5)
        try RewardModelFile(
            kind: .semiScalar, architecture: "llama", head: head, baseName: "base.gguf", baseSHA256: try SHA256.file(dir + "base.gguf"),
            judgeTemplate: Self.shortSingle, critiqueTokens: 6
        ).write(gguf: dir + "semi.gguf")
        let back = try RewardModelFile(gguf: dir + "semi.gguf")
        XCTAssertEqual(back.kind, .semiScalar)
        XCTAssertEqual(back.judgeTemplate, Self.shortSingle)
        XCTAssertEqual(back.critiqueTokens, 6)

        let items = try Self.items()
        let scorer = try ScalarRewardScorer(rewardModel: dir + "semi.gguf", base: dir + "base.gguf")
        XCTAssertNotNil(scorer.critic)
        var critiqueCalls: [[Int]] = []
        let rewards = try scorer.rewards(items, onCritiques: { done, total in critiqueCalls.append([done, total]) })
        XCTAssertEqual(critiqueCalls.last, [4, 4])

        let file = try GGUFFile(path: dir + "base.gguf")
        let tokenizer = try Tokenizer(metadata: file.metadata)
        var templates = JudgePromptTemplates.standard
        templates.single = Self.shortSingle
        let builder = JudgePromptBuilder(templates: templates, chat: JudgeChatFormat(model: try ModelChatTemplate(metadata: file.metadata)))
        let judge = EngineJudgeGenerator(generator: Generator(engine: try LlamaInference(gguf: file), tokenizer: tokenizer))
        let engine = try LlamaInference(gguf: file)
        var critiques: [[String]] = []
        for (i, item) in items.enumerated() {
            var row: [String] = []
            for (j, response) in item.responses.enumerated() {
                let view = try RewardItem(query: item.query, responses: [response], label: .binary(0))
                let prompt = try builder.prompt(for: view, order: .identity(1))
                XCTAssertTrue(prompt.contains("Is it right?\nUser: \(item.query)\n[The Begin of Response 1]\n\(response)\n"), prompt)
                let critique = try judge.generate(
                    [JudgeRequest(prompt: prompt, samples: 1, seed: 0)], settings: GenerationSettings(temperature: 0, topP: 1, maxTokens: 6))[0][0]
                row.append(critique)
                let conversation = try builder.conversation(for: view, order: .identity(1), judgement: critique)
                XCTAssertEqual(conversation, prompt + critique + "<|im_end|>\n")
                let tokens = tokenizer.encode(conversation, addSpecial: false, parseSpecial: true)
                let hidden = try ScalarRewardInput.hiddenStates(engine: engine, sequences: [tokens])
                XCTAssertEqual(rewards[i][j], try head.rewards(hidden)[0], accuracy: 1e-5, "item \(i) response \(j)")
            }
            critiques.append(row)
        }

        // Cached critiques are reused; only what is missing is generated.
        let writer = scorer.critic!.writer
        let first = try writer.critiques(for: [items[0]], critic: "tiny")
        XCTAssertEqual(first.generated, 3)
        XCTAssertEqual(first.critiques, [critiques[0]])
        let both = try writer.critiques(for: items, cache: first.cache, critic: "tiny")
        XCTAssertEqual(both.generated, 1)
        XCTAssertEqual(both.critiques, critiques)
        XCTAssertEqual(try writer.critiques(for: items, cache: both.cache, critic: "tiny").generated, 0)
    }
}
