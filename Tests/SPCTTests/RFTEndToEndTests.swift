import Foundation
import XCTest
@testable import Reward
@testable import SPCT
import Tensor
import Transformer

/// Rejective fine-tuning end to end on a tiny model written by the test: a cold-start adapter,
/// sampling through the engine with that adapter, filtering, fine-tuning from the adapter on
/// what was kept (a resumed run equal to an uninterrupted one), and the adapter written out.
final class RFTEndToEndTests: XCTestCase {
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    /// A byte-level BPE vocabulary of the 256 bytes (no merges): every text tokenises.
    static func writeTinyModel(to path: String) throws -> LlamaConfig {
        var chars: [String] = [], n = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            chars.append(String(UnicodeScalar(UInt32(printable ? b : 256 + n))!))
            if !printable { n += 1 }
        }
        let config = LlamaConfig(vocabSize: 256, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 64, initStd: 0.2, contextLength: 256)
        var meta = try config.ggufMetadata(name: "tiny")
        meta["tokenizer.ggml.model"] = .string("gpt2")
        meta["tokenizer.ggml.pre"] = .string("gpt-2")
        meta["tokenizer.ggml.tokens"] = .array(.string(chars))
        meta["tokenizer.ggml.token_type"] = .array(.int32([Int32](repeating: 1, count: 256)))
        meta["tokenizer.ggml.merges"] = .array(.string([]))
        meta["tokenizer.ggml.eos_token_id"] = .uint32(0)
        var writer = GGUFWriter(metadata: meta)
        for v in try LlamaModel(config: config, seed: 11).variables { try writer.add(v.name, v.value) }
        try writer.write(to: path)
        return config
    }

    /// Short prompts and judgements, so that a tiny model learns the format in a few steps.
    static let templates = JudgePromptTemplates(
        multi: "{conversation}{responses}", single: "{conversation}{responses}", responseFrame: "[{index}]{response}",
        turn: "{content}", hint: " best {index}", system: nil)

    /// Items whose best response is "y": a judge can learn to find it.
    static func toyItems() throws -> [RewardItem] {
        try (0..<8).map { i in
            try RewardItem(id: "t\(i)", category: "toy", query: "q\(i)", responses: i % 2 == 0 ? ["y", "n"] : ["n", "y"], label: .best(i % 2))
        }
    }

    /// A cold-start adapter: the tiny model trained to write `\boxed{9, 2}`-style scores for the
    /// toy items (both orders of each), so that sampling from it finds right and wrong judgements.
    static func coldStart(file: GGUFFile, builder: JudgePromptBuilder, items: [RewardItem]) throws -> LoRAAdapter {
        let encoder = SFTEncoder(tokenizer: try Tokenizer(metadata: file.metadata), template: try ModelChatTemplate(metadata: file.metadata))
        func short(_ item: RewardItem, _ order: ResponseOrder) -> String {
            "\\boxed{" + order.toShown(item.responses).map { $0 == "y" ? "9" : "2" }.joined(separator: ", ") + "}"
        }
        var cold: [SFTExample] = []
        for item in items {
            for order in [ResponseOrder.identity(2), try ResponseOrder([1, 0])] {
                let e = ColdStartExample(
                    itemID: item.id, category: item.category, prompt: builder.messages(for: item, order: order),
                    judgement: short(item, order), order: order, checksAgreed: true)
                cold.append(try encoder.encode(json: try e.jsonLine()))
            }
        }
        let model = try LlamaModel(gguf: file, mode: .lora(LoRASettings(rank: 8, alpha: 16, seed: 3)))
        let batches = SFTBatcher(examples: cold, batchSize: 4, seed: 1)
        let trainer = try SFTTrainer(model: model, settings: SFTSettings(steps: 300, learningRate: 5e-2, warmupSteps: 5)) {
            batches.batch(at: $0)
        }
        for _ in 0..<300 { try trainer.trainStep() }
        return model.loraAdapter()
    }

    func testColdStartThenRejectiveFineTuning() throws {
        let dir = NSTemporaryDirectory() + "grm-rft-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.writeTinyModel(to: dir + "base.gguf")
        let file = try GGUFFile(path: dir + "base.gguf")
        let tokenizer = try Tokenizer(metadata: file.metadata)
        let template = try ModelChatTemplate(metadata: file.metadata)
        let encoder = SFTEncoder(tokenizer: tokenizer, template: template)
        let builder = JudgePromptBuilder(templates: Self.templates, chat: JudgeChatFormat(model: template))
        let items = try Self.toyItems()
        try Self.coldStart(file: file, builder: builder, items: items).write(gguf: dir + "cold.gguf", type: .f32, name: "cold")

        // Rejective sampling through the engine with the cold-start adapter.
        let start = try LoRAAdapter(gguf: dir + "cold.gguf", base: file)
        let (engine, _) = try EngineJudgeGenerator.load(model: dir + "base.gguf", adapter: start)
        let sampler = try RejectiveSampler(
            model: GenerativeRewardModel(generator: engine, builder: builder),
            settings: RFTSettings(samples: 4, generation: GenerationSettings(temperature: 0.5, maxTokens: 12), hint: true, seed: 5))
        let results = try sampler.run(items)
        var yield = RFTYield()
        for r in results { yield.add(r) }
        XCTAssertEqual(yield.items, items.count)
        XCTAssertEqual(yield.fates.values.reduce(0, +), items.count)
        XCTAssertGreaterThan(yield.correctSamples, 0, yield.summary)
        XCTAssertGreaterThan(yield.keptTrajectories, 0, yield.summary)
        let kept = results.flatMap(\.kept)
        for r in results {
            XCTAssertEqual(r.kept.isEmpty, r.fate == .tooEasy || r.fate == .discarded, yield.summary)
        }

        // Fine-tuning from the cold-start adapter on the kept set; resumed = uninterrupted.
        guard !kept.isEmpty else { return }
        let examples = try kept.map { try encoder.encode(json: try $0.jsonLine()) }
        let batcher = SFTBatcher(examples: examples, batchSize: 2, seed: 2)
        func fresh() throws -> SFTTrainer {
            let model = try LlamaModel(gguf: file, mode: .lora(LoRASettings(matching: start, layers: 2)))
            try model.loadLoRA(start)
            return try SFTTrainer(model: model, settings: SFTSettings(steps: 4, learningRate: 1e-2, warmupSteps: 1)) {
                batcher.batch(at: $0)
            }
        }
        let a = try fresh()
        // It starts where the cold start ended.
        for (name, p) in a.model.loraAdapter().pairs {
            XCTAssertEqual(p.b.scalars(), start.pairs[name]!.b.scalars(), name)
        }
        let straight = try (0..<4).map { _ in try a.trainStep().loss }
        let b = try fresh()
        var resumed = try (0..<2).map { _ in try b.trainStep().loss }
        try b.save(to: dir + "rft.ckpt.gguf", metadata: ["data": "kept"])
        let c = try fresh()
        try c.resume(from: dir + "rft.ckpt.gguf", metadata: ["data": "kept"])
        resumed += try (0..<2).map { _ in try c.trainStep().loss }
        XCTAssertEqual(straight.map(\.bitPattern), resumed.map(\.bitPattern))
        try c.model.loraAdapter().write(gguf: dir + "rft.gguf", type: .f32, name: "rft")
        let out = try LoRAAdapter(gguf: dir + "rft.gguf", base: file)
        XCTAssertEqual(Set(out.pairs.keys), Set(start.pairs.keys))
        XCTAssertNotEqual(out.pairs.values.first!.b.scalars(), start.pairs[out.pairs.keys.first!]!.b.scalars())

        // A model that adapts other weights, or with another rank, cannot start from the adapter.
        let other = try LlamaModel(gguf: file, mode: .lora(LoRASettings(rank: 2, alpha: 8, seed: 3)))
        XCTAssertThrowsError(try other.loadLoRA(start)) { e in XCTAssertTrue("\(e)".contains("differ"), "\(e)") }
    }
}
