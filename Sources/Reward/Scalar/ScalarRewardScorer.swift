import Foundation
import Tensor
import Transformer

/// Scores responses with a scalar or semi-scalar reward model: one prefill per response
/// (batched), the head on the last token's final-norm state, the backbone's LoRA factors (if the
/// model has any) applied without merging. A semi-scalar model first has the same engine write
/// each response's critique (`critic`), and the head reads the end of the critique's judging
/// conversation (`JudgementInput`) instead of the plain chat rendering.
public final class ScalarRewardScorer {
    public let engine: LlamaInference
    public let input: ScalarRewardInput
    public let head: ScalarHead
    /// A semi-scalar model's critique step: the writer and what the head reads after it.
    public let critic: (writer: CritiqueWriter, input: JudgementInput)?
    /// Tokens per batched prefill. 1,024 rather than 2,048: the bf16 tile products run about 20%
    /// faster on 512-1,024 rows than on 2,048, whose activations and results outgrow L2; exact and
    /// q8 scoring measured the same either way (docs/performance.md).
    public var batchTokens = 1024

    public init(
        engine: LlamaInference, input: ScalarRewardInput, head: ScalarHead,
        critic: (writer: CritiqueWriter, input: JudgementInput)? = nil
    ) throws {
        guard head.dim == engine.config.dim else {
            throw RewardDataError("the reward head reads width \(head.dim), the model has \(engine.config.dim)")
        }
        self.engine = engine
        self.input = input
        self.head = head
        self.critic = critic
    }

    /// Loads the reward model at `rmPath` over the base model at `basePath`, checking that the
    /// base is the file it was trained on (SHA-256). A semi-scalar model gets its critique step
    /// with the judge template and token cap recorded in the file.
    public convenience init(rewardModel rmPath: String, base basePath: String, contextLength: Int? = nil) throws {
        let rm = try RewardModelFile(gguf: rmPath)
        guard rm.kind != .meta else {
            throw RewardDataError(file: rmPath, "a meta reward model rates a judge's judgements (grm eval --meta), not responses")
        }
        let file = try GGUFFile(path: basePath)
        let config = try LlamaConfig(gguf: file)
        try rm.validate(base: basePath, config: config)
        if let adapter = rm.adapter { try adapter.validate(against: file) }
        let engine = try LlamaInference(gguf: file, contextLength: contextLength, adapter: rm.adapter)
        let tokenizer = try Tokenizer(metadata: file.metadata)
        let template = try ModelChatTemplate(metadata: file.metadata)
        var critic: (CritiqueWriter, JudgementInput)?
        if rm.kind == .semiScalar, let single = rm.judgeTemplate, let tokens = rm.critiqueTokens {
            var templates = JudgePromptTemplates.standard
            templates.single = single
            let writer = CritiqueWriter(
                engine: engine, tokenizer: tokenizer, chat: JudgeChatFormat(model: template), templates: templates, maxTokens: tokens)
            critic = (writer, JudgementInput(builder: writer.grm.builder, tokenizer: tokenizer))
        }
        try self.init(engine: engine, input: ScalarRewardInput(tokenizer: tokenizer, template: template), head: rm.head, critic: critic)
    }

    /// The token sequences the head reads, one per response of each item, in item order: the
    /// chat rendering of prompt and response, or (semi-scalar) the judging conversation ending
    /// with the response's critique from `critiques` ([item][response]).
    public func sequences(_ items: [RewardItem], critiques: [[String]]? = nil) throws -> [[Int32]] {
        guard let critic else { return try input.tokens(for: items).sequences }
        guard let critiques, critiques.count == items.count else {
            throw RewardDataError("a semi-scalar reward model needs one critique list per item")
        }
        var out: [[Int32]] = []
        for (item, texts) in zip(items, critiques) {
            guard texts.count == item.responses.count else {
                throw RewardDataError("\(texts.count) critiques for \(item.responses.count) responses")
            }
            for (j, text) in texts.enumerated() {
                out.append(
                    try critic.input.tokens(item: JudgementInput.singleResponseView(of: item, response: j), order: .identity(1), judgement: text))
            }
        }
        return out
    }

    /// One reward per response of each item (labels are not read: unlabelled items score too).
    /// A semi-scalar model writes the critiques first (`onCritiques` gets responses done and the
    /// total), then every response is prefilled (`onProgress` gets responses done).
    public func rewards(
        _ items: [RewardItem], onCritiques: ((Int, Int) -> Void)? = nil, onProgress: ((Int) -> Void)? = nil
    ) throws -> [[Float]] {
        var critiques: [[String]]?
        if let critic {
            critiques = try critic.writer.critiques(for: items, critic: "") { _, done, total in onCritiques?(done, total) }.critiques
        }
        let sequences = try sequences(items, critiques: critiques)
        let hidden = try ScalarRewardInput.hiddenStates(
            engine: engine, sequences: sequences, batchTokens: batchTokens,
            onProgress: onProgress)
        let r = try head.rewards(hidden)
        var out = items.map { [Float](repeating: 0, count: $0.responses.count) }
        var k = 0
        for (i, item) in items.enumerated() {
            for j in item.responses.indices {
                out[i][j] = r[k]
                k += 1
            }
        }
        return out
    }

    /// The pick: the response with the strictly highest reward (nil on a tie at the top, or when
    /// a reward is NaN).
    public static func pick(_ rewards: [Float]) -> Int? {
        guard !rewards.contains(where: \.isNaN), let top = rewards.max() else { return nil }
        let at = rewards.indices.filter { rewards[$0] == top }
        return at.count == 1 ? at[0] : nil
    }

    /// The label predicted for a single response: 1 when its reward is above 0, else 0 (a
    /// Bradley-Terry reward has no other threshold; 0 is where `--center` keeps rewards centred).
    public static func predictedLabel(_ reward: Float) -> Int { reward > 0 ? 1 : 0 }

    /// How a scalar reward model's `rewards` (one per response) judge a labelled item: with
    /// several responses, right when the labelled best has the strictly highest reward (a tie at
    /// the top is `.tie`, counted wrong); with a single 0/1-labelled response, right when
    /// `predictedLabel` equals the label. Rewards never fail to parse.
    public static func outcome(_ rewards: [Float], for item: RewardItem) -> ItemOutcome {
        if case let .binary(label) = item.label, rewards.count == 1 {
            return predictedLabel(rewards[0]) == label ? .correct : .wrong
        }
        guard let pick = pick(rewards) else { return .tie }
        return pick == item.bestIndex ? .correct : .wrong
    }
}
