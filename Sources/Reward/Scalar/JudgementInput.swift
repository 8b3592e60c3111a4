import Foundation
import Tensor
import Transformer

/// What a semi-scalar head and a meta reward model read: the final-norm hidden state at the last
/// token of a judging conversation, that is the judge's prompt for an item (its responses in a
/// given order, `JudgePromptBuilder.prompt`) followed by a judgement as the assistant's finished
/// turn. For a semi-scalar model the item is one response and the judgement its greedy critique;
/// for a meta RM it is a whole item and one sampled judgement of it.
public struct JudgementInput {
    public let builder: JudgePromptBuilder
    public let tokenizer: Tokenizer

    public init(builder: JudgePromptBuilder, tokenizer: Tokenizer) {
        self.builder = builder
        self.tokenizer = tokenizer
    }

    /// The token ids of the conversation, encoded as the judge's prompts are
    /// (`EngineJudgeGenerator`): the template writes any BOS the model wants, and control-token
    /// texts become their ids.
    public func tokens(item: RewardItem, order: ResponseOrder, judgement: String) throws -> [Int32] {
        tokenizer.encode(try builder.conversation(for: item, order: order, judgement: judgement), addSpecial: false, parseSpecial: true)
    }

    /// One item per response, holding that response alone (unlabelled): the view a pointwise
    /// critique judges.
    public static func singleResponseView(of item: RewardItem, response: Int) throws -> RewardItem {
        var view = try RewardItem(
            id: item.id, category: item.category, prompt: item.prompt, responses: [item.responses[response]], label: .binary(0))
        view.isLabelled = false
        return view
    }
}
