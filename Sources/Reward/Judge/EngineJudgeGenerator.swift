import Foundation
import Tensor
import Transformer

/// The inference engine behind the generative reward model: every request's prompt is prefilled
/// once (prompts sharing a prefix share its cache) and its samples decode as one batch with all
/// other live sequences (see `Generator`). Sample j of a request draws from the stream
/// (request.seed, j), so judgements do not depend on the batch or the thread count.
public final class EngineJudgeGenerator: JudgeGenerator {
    public let generator: Generator
    /// Called on the calling thread whenever a sample's text grows (about once per generated token;
    /// a piece can hold more than one token), with the number of pieces seen so far in this call.
    /// For live progress lines; exact token counts are in `generatedTokens` once the call returns.
    public var onText: ((Int) -> Void)?
    /// Generated tokens in the last call (for throughput figures).
    public private(set) var generatedTokens = 0
    /// Generated tokens over all calls.
    public private(set) var totalGeneratedTokens = 0
    /// Text pieces seen so far in the call under way (0 between calls).
    public private(set) var piecesInCall = 0

    public init(generator: Generator) {
        self.generator = generator
    }

    public func generate(_ requests: [JudgeRequest], settings: GenerationSettings) throws -> [[String]] {
        let tokenizer = generator.tokenizer
        let work = requests.map { r in
            // The chat template already wrote any BOS the model wants: no special tokens are added.
            GenerationRequest(prompt: tokenizer.encode(r.prompt, addSpecial: false, parseSpecial: true), samples: r.samples, seed: r.seed)
        }
        let sampling = SamplingParameters(temperature: settings.temperature, topP: settings.topP)
        piecesInCall = 0
        defer { piecesInCall = 0 }
        // Samples that may be cued (forced scores) keep their caches: a cued prompt is the
        // sample's prompt and text plus the cue, and prefills the cue and the sample's last token.
        // The cue calls (forcing off) leave them for one another; `forgetSamples` drops them.
        generator.keepContinuations = settings.forceScores
        let out = try generator.generate(
            work, sampling: sampling, stop: StopCondition(maxTokens: settings.maxTokens, repetition: settings.stopLoops ? RepetitionStop() : nil)
        ) {
            [self] _, _, _ in
            piecesInCall += 1
            onText?(piecesInCall)
        }
        generatedTokens = out.joined().reduce(0) { $0 + $1.ids.count }
        totalGeneratedTokens += generatedTokens
        return out.map { $0.map(\.text) }
    }

    public func forgetEarlierPrompts() { generator.clearPromptCache() }

    public func forgetSamples() { generator.dropContinuations() }

    public func fits(_ prompt: String, generating tokens: Int) -> Bool {
        generator.tokenizer.encode(prompt, addSpecial: false, parseSpecial: true).count + tokens
            <= generator.engine.config.contextLength
    }
}

extension EngineJudgeGenerator {
    /// Loads a GGUF model: the engine behind the judge, and the model's chat format for the
    /// judging prompts (`JudgePromptBuilder(chat:)`). A LoRA adapter, if given, is applied
    /// without merging (checked against the model; `adapterScale` multiplies its alpha / r).
    /// `kvType` is the KV cache's element type (f16: half the cache memory and faster attention,
    /// keys and values rounded to f16 as llama.cpp's default cache does).
    public static func load(
        model path: String, contextLength: Int? = nil, adapter: LoRAAdapter? = nil,
        adapterScale: Float = 1, kvType: KVCacheType = .f32
    ) throws -> (generator: EngineJudgeGenerator, chat: JudgeChatFormat) {
        let file = try GGUFFile(path: path)
        if let adapter { try adapter.validate(against: file) }
        let generator = Generator(
            engine: try LlamaInference(
                gguf: file, kvType: kvType, contextLength: contextLength, adapter: adapter,
                adapterScale: adapterScale),
            tokenizer: try Tokenizer(metadata: file.metadata))
        return (EngineJudgeGenerator(generator: generator), JudgeChatFormat(model: try ModelChatTemplate(metadata: file.metadata)))
    }
}
