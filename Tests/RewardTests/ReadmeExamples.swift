import Reward
import Transformer

// The README's Swift examples, compiled with the tests so that they keep matching the API. They
// are not run here (they read the default model and generate for a while); the tests of each
// library cover what they do.
enum ReadmeExamples {
    static func generate() throws {
        let file = try GGUFFile(path: "weights/SmolLM2-135M-Instruct.Q4_1.gguf")
        let generator = Generator(engine: try LlamaInference(gguf: file), tokenizer: try Tokenizer(metadata: file.metadata))
        let prompt = try generator.promptIDs(
            messages: [ChatMessage(role: "user", content: "Why is the sky blue?")],
            template: ModelChatTemplate(metadata: file.metadata))
        let out = try generator.generate(
            [GenerationRequest(prompt: prompt, samples: 2, seed: 7)],
            sampling: SamplingParameters(temperature: 0.7, topP: 0.9),
            stop: StopCondition(maxTokens: 128))
        for sample in out[0] { print(sample.text) }
    }

    static func score() throws {
        let (judge, chat) = try EngineJudgeGenerator.load(model: "weights/SmolLM2-135M-Instruct.Q4_1.gguf")
        let grm = GenerativeRewardModel(generator: judge, builder: JudgePromptBuilder(chat: chat))
        let item = try RewardItem(query: "What is 17 * 6?", responses: ["102", "112"], label: .best(0))
        let judgement = try grm.judge(item, config: VotingConfig(k: 4, seed: 1))
        print(judgement.vote.totals, judgement.vote.pick as Any, judgement.outcome)
    }

    static func fineTune() throws {
        let file = try GGUFFile(path: "weights/SmolLM2-135M-Instruct.Q4_1.gguf")
        let tokenizer = try Tokenizer(metadata: file.metadata)
        let data = try SFTDataset.load(
            path: "examples/sft-arithmetic.jsonl", tokenizer: tokenizer,
            template: ModelChatTemplate(metadata: file.metadata), context: 256, overlong: .truncate)
        let model = try LlamaModel(gguf: file, mode: .lora(LoRASettings(rank: 8, alpha: 16)), contextLength: 256)
        let batcher = SFTBatcher(examples: data.examples, batchSize: 8, seed: 1, padID: tokenizer.eos ?? 0)
        let trainer = try SFTTrainer(model: model, settings: SFTSettings(steps: 60)) { batcher.batch(at: $0) }
        for _ in 0..<60 { print(try trainer.trainStep().loss) }
        try model.loraAdapter().write(gguf: "adapter.gguf")
    }
}
