import Foundation
import Tensor
import Transformer

/// Scores responses with a scalar reward model: one prefill per response (batched), the head on
/// the last token's final-norm state, the backbone's LoRA factors (if the model has any) applied
/// without merging.
public final class ScalarRewardScorer {
    public let engine: LlamaInference
    public let input: ScalarRewardInput
    public let head: ScalarHead
    /// Tokens per batched prefill.
    public var batchTokens = 2048

    public init(engine: LlamaInference, input: ScalarRewardInput, head: ScalarHead) throws {
        guard head.dim == engine.config.dim else {
            throw RewardDataError("the reward head reads width \(head.dim), the model has \(engine.config.dim)")
        }
        self.engine = engine
        self.input = input
        self.head = head
    }

    /// Loads the reward model at `rmPath` over the base model at `basePath`, checking that the
    /// base is the file it was trained on (SHA-256).
    public convenience init(rewardModel rmPath: String, base basePath: String, contextLength: Int? = nil) throws {
        let rm = try RewardModelFile(gguf: rmPath)
        guard rm.kind == .scalar else {
            throw RewardDataError(file: rmPath, "a \(rm.kind.rawValue) reward model needs its critique step, which is not built yet")
        }
        let file = try GGUFFile(path: basePath)
        let config = try LlamaConfig(gguf: file)
        try rm.validate(base: basePath, config: config)
        if let adapter = rm.adapter { try adapter.validate(against: file) }
        let engine = try LlamaInference(gguf: file, contextLength: contextLength, adapter: rm.adapter)
        try self.init(
            engine: engine,
            input: ScalarRewardInput(tokenizer: try Tokenizer(metadata: file.metadata), template: try ModelChatTemplate(metadata: file.metadata)),
            head: rm.head)
    }

    /// One reward per response of each item (labels are not read: unlabelled items score too).
    public func rewards(_ items: [RewardItem], onProgress: ((Int) -> Void)? = nil) throws -> [[Float]] {
        let (sequences, origin) = try input.tokens(for: items)
        let hidden = try ScalarRewardInput.hiddenStates(
            engine: engine, sequences: sequences, batchTokens: batchTokens,
            onProgress: onProgress)
        let r = try head.rewards(hidden)
        var out = items.map { [Float](repeating: 0, count: $0.responses.count) }
        for (k, o) in origin.enumerated() { out[o.item][o.response] = r[k] }
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
