import Foundation
import Tensor
import Transformer

/// A meta reward model (SPCT's guided voting): a pointwise scalar head that reads one sampled
/// judgement in its judging conversation (the judge's prompt with the responses in the sample's
/// order, then the judgement, `JudgementInput`) and rates how likely the judgement is correct.
/// Trained with binary cross-entropy on the rule's verdicts (`grm spct metarm`); voting then keeps
/// the `metaKeep` best-rated samples (`VotingConfig.metaKeep`). Ratings are the head's logits.
public final class MetaRewardModel: TrajectoryScorer {
    public let engine: LlamaInference
    public let input: JudgementInput
    public let head: ScalarHead
    /// Tokens per batched prefill.
    public var batchTokens = 4096

    public init(engine: LlamaInference, input: JudgementInput, head: ScalarHead) throws {
        guard head.dim == engine.config.dim else {
            throw RewardDataError("the meta head reads width \(head.dim), the model has \(engine.config.dim)")
        }
        self.engine = engine
        self.input = input
        self.head = head
    }

    /// Loads a meta RM file (kind `meta`) over the base it was trained on (checked by SHA-256),
    /// with its own engine (the base with the file's adapter). The file's judge template must be
    /// the one this build judges with: the head was fitted to conversations in that wording.
    public convenience init(file path: String, base basePath: String, contextLength: Int? = nil) throws {
        let rm = try RewardModelFile(gguf: path)
        guard rm.kind == .meta else {
            throw RewardDataError(file: path, "a \(rm.kind.rawValue) reward model scores responses, not judgements (use --rm)")
        }
        guard let templates = JudgePromptTemplates.builtIn.first(where: { $0.multi == rm.judgeTemplate }) else {
            throw RewardDataError(file: path, "this meta RM was trained on a judge prompt that this build does not write")
        }
        let file = try GGUFFile(path: basePath)
        let config = try LlamaConfig(gguf: file)
        try rm.validate(base: basePath, config: config)
        if let adapter = rm.adapter { try adapter.validate(against: file) }
        let engine = try LlamaInference(gguf: file, contextLength: contextLength, adapter: rm.adapter)
        let chat = JudgeChatFormat(model: try ModelChatTemplate(metadata: file.metadata))
        try self.init(
            engine: engine,
            input: JudgementInput(builder: JudgePromptBuilder(templates: templates, chat: chat), tokenizer: try Tokenizer(metadata: file.metadata)),
            head: rm.head)
    }

    /// The token sequence of each sample's judging conversation.
    public func sequences(_ samples: [JudgeSample], for item: RewardItem) throws -> [[Int32]] {
        try samples.map { try input.tokens(item: item, order: $0.order, judgement: $0.text) }
    }

    /// Final-norm states at the end of each conversation, [sequences.count, dim].
    public func hiddenStates(_ sequences: [[Int32]], onProgress: ((Int) -> Void)? = nil) throws -> Tensor {
        try ScalarRewardInput.hiddenStates(engine: engine, sequences: sequences, batchTokens: batchTokens, onProgress: onProgress)
    }

    public func rate(_ samples: [JudgeSample], for item: RewardItem) throws -> [Double] {
        guard !samples.isEmpty else { return [] }
        return try head.rewards(hiddenStates(try sequences(samples, for: item))).map(Double.init)
    }
}
