import Foundation
import Tensor
import Transformer

/// What a scalar or semi-scalar head reads: the final-norm hidden state at the last token of the
/// model's chat template applied to the item's prompt followed by the response as the assistant's
/// message (TRL's reward models pool the last token of the same rendering).
public struct ScalarRewardInput {
    public let tokenizer: Tokenizer
    public let template: ModelChatTemplate
    /// Fixed so renderings that print a date are reproducible.
    public var now = Date(timeIntervalSince1970: 1_735_689_600)

    public init(tokenizer: Tokenizer, template: ModelChatTemplate) {
        self.tokenizer = tokenizer
        self.template = template
    }

    /// The token ids of `prompt + [assistant: response]` as the template renders them (the
    /// template writes any BOS the model wants; control tokens in it become their ids).
    public func tokens(prompt: [ChatMessage], response: String) throws -> [Int32] {
        let text = try template.render(
            messages: prompt + [ChatMessage(role: "assistant", content: response)],
            addGenerationPrompt: false, now: now)
        return tokenizer.encode(text, addSpecial: false, parseSpecial: true)
    }

    /// One token sequence per response of each item, in item order, with where each came from.
    public func tokens(for items: [RewardItem]) throws -> (sequences: [[Int32]], origin: [(item: Int, response: Int)]) {
        var sequences: [[Int32]] = [], origin: [(Int, Int)] = []
        for (i, item) in items.enumerated() {
            for (j, r) in item.responses.enumerated() {
                sequences.append(try tokens(prompt: item.prompt, response: r))
                origin.append((i, j))
            }
        }
        return (sequences, origin)
    }

    /// Final-norm hidden states [sequences.count, dim] at each sequence's last token: prefills of
    /// up to `batchTokens` tokens together (one forward pass, each sequence its own cache).
    /// A sequence longer than the model's context is refused naming it.
    public static func hiddenStates(
        engine: LlamaInference, sequences: [[Int32]], batchTokens: Int = 2048,
        onProgress: ((Int) -> Void)? = nil
    ) throws -> Tensor {
        let dim = engine.config.dim
        let out = Tensor.uninitialized([sequences.count, dim])
        for (i, s) in sequences.enumerated() where s.isEmpty || s.count > engine.config.contextLength {
            throw RewardDataError("sequence \(i) has \(s.count) tokens; the model takes 1 to \(engine.config.contextLength)")
        }
        var start = 0
        while start < sequences.count {
            var end = start, tokens = 0
            while end < sequences.count && (end == start || tokens + sequences[end].count <= batchTokens) {
                tokens += sequences[end].count
                end += 1
            }
            let requests = try (start..<end).map {
                ForwardRequest(sequence: try engine.newSequence(capacity: sequences[$0].count), tokens: sequences[$0], logits: .last)
            }
            let states = try engine.forward(requests, output: .hiddenStates)
            for (k, h) in states.enumerated() {
                (out.floatPointer + (start + k) * dim).update(from: h!.contiguous().floatPointer, count: dim)
            }
            start = end
            onProgress?(start)
        }
        return out
    }
}
