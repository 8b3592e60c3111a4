import Foundation
import Reward
import Tensor
import Transformer

/// One cold-start example: the judge's prompt (as chat messages) and a reference judgement.
public struct ColdStartExample: Sendable {
    public var itemID: String?
    public var category: String?
    /// The judging prompt's messages (what `JudgePromptBuilder.messages` gives for `order`).
    public var prompt: [ChatMessage]
    /// The judgement: `Specific Criteria:`, `Analysis:`, `Scores: \boxed{...}`.
    public var judgement: String
    public var order: ResponseOrder
    /// False when the category's checks disagreed with the label and the label's verdicts were used.
    public var checksAgreed: Bool

    /// As SFT chat data: the prompt's messages, then the judgement as the assistant's turn.
    public var messages: [ChatMessage] { prompt + [ChatMessage(role: "assistant", content: judgement)] }
}

/// Writes reference judgements for labelled items: the stand-in for the stronger model whose
/// judgements start rejective fine-tuning (a 135M model cannot yet write the format, so sampling
/// from it would keep nothing). The synthetic suite knows why each wrong response is wrong
/// (`ReferenceChecks`), so the analysis names the verifiable fact, and the scores follow the label:
/// the best response strictly highest (8-10), the others 1-4; one response: 1 or 0.
/// Criteria, their weights and the sentence shapes vary per item, so a model trained on the data
/// learns the format and the reasoning rather than one string. Deterministic in (seed, item).
public struct ColdStartWriter {
    public var builder: JudgePromptBuilder
    public var seed: UInt64
    /// Each response's verdict ends with its score ("..., so it is wrong, score 3."), which the
    /// `\boxed{}` line then repeats in order. Without it a small judge trained on the data learnt
    /// the scores' usual shape (`\boxed{1, 10, 3}`) rather than their link to its own verdicts,
    /// which stood 30-60 tokens earlier; with it each score sits next to its verdict and the
    /// scores line is a copy. The same seed gives the same judgements either way, but for the scores.
    public var inlineScores: Bool
    /// Each verdict sets the response's claim beside the true one before it decides ("Response 1
    /// has 300 + 31 = 313 against 300 + 31 = 331: wrong", "Response 2 has 4 < 8 < 84 > 46: wrong";
    /// `ResponseVerdict.comparison`), for right responses as for wrong ones. Without it a wrong
    /// response is named by its error and a right one by its claim, so the judge decided right or
    /// wrong before writing anything to compare, against a fact stated 20-60 tokens earlier; the
    /// compact judge trained that way put its top score on the second response shown in half of its
    /// greedy judgements, where the best response stood second in a third (docs/spct.md).
    /// Off by default: the recipe's first two stages were written without it.
    public var sideBySide: Bool
    /// Verdicts that quote the response before deciding where the category has that form
    /// (`ResponseVerdict.quoted`: instructions quote the response, or count its words one by one;
    /// ordering's chain says which pair breaks the order, or that none does). The shipped judge
    /// quoted nothing and named constraints that the responses it pointed at did not break (an
    /// all-capitals response "writes \"The\" in lower case", JSON reasons in their usual order):
    /// its reasons came from memory, not from the text (docs/spct.md). Off by default, and the
    /// other categories are written as without it.
    public var quote: Bool

    public init(builder: JudgePromptBuilder, seed: UInt64, inlineScores: Bool = true, sideBySide: Bool = false, quote: Bool = false) {
        self.builder = builder
        self.seed = seed
        self.inlineScores = inlineScores
        self.sideBySide = sideBySide
        self.quote = quote
    }

    /// The example for `item` with its responses in a seeded shuffle (`variant` draws another one).
    public func example(for item: RewardItem, variant: Int = 0) -> ColdStartExample {
        var rng = SeededRandom(seed: StableHash.seed(seed, item.contentHash, UInt64(variant), 0x434F_4C44))
        let order = ResponseOrder.random(item.responses.count, rng: &rng)
        let (text, agreed) = judgement(for: item, order: order, rng: &rng)
        return ColdStartExample(
            itemID: item.id, category: item.category, prompt: builder.messages(for: item, order: order),
            judgement: text, order: order, checksAgreed: agreed)
    }

    /// The judgement text for `item` shown in `order`, and whether the checks agreed with the label.
    public func judgement(for item: RewardItem, order: ResponseOrder, rng: inout SeededRandom) -> (String, Bool) {
        let check = ReferenceChecks.check(item)
        let labelled = item.responses.indices.map { i -> Bool in
            if case let .binary(l) = item.label { return l == 1 }
            return i == item.bestIndex
        }
        var agreed = true
        var verdicts = check.verdicts
        for i in verdicts.indices where verdicts[i].correct != labelled[i] {
            agreed = false
            verdicts[i] = ResponseVerdict(claim: nil, correct: labelled[i], reason: nil)
        }
        let scores = ColdStartWriter.scores(for: item, rng: &rng)
        let style = ColdStartWriter.styles[rng.nextInt(ColdStartWriter.styles.count)]
        var analysis: [String] = []
        if agreed, let fact = check.fact { analysis.append(fact) }
        for (shown, original) in order.shownToOriginal.enumerated() {
            let v = verdicts[original]
            let reason =
                (quote ? v.quoted : nil) ?? (sideBySide ? v.comparison : nil) ?? v.reason ?? v.claim.map { "gives \($0)" }
                ?? (v.correct ? "answers the query correctly" : "does not answer the query correctly")
            var sentence = style(shown + 1, reason, v.correct)
            if inlineScores { sentence = sentence.dropLast() + ", score \(scores[original])." }
            analysis.append(sentence)
        }
        let criteria = ColdStartWriter.criteria(for: item.category, rng: &rng)
        let shownScores = order.toShown(scores).map(String.init).joined(separator: ", ")
        let text =
            "Specific Criteria:\n" + criteria.enumerated().map { "\($0 + 1). \($1.0) (Weight: \($1.1)%)" }.joined(separator: "\n")
            + "\nAnalysis: " + analysis.joined(separator: " ")
            + "\nScores: \\boxed{\(shownScores)}"
        return (text, agreed)
    }

    /// Scores in the original order: the best 8-10 and the others 1-4 (ranked like reference
    /// scores when the item has them); a single response 1 (right) or 0.
    static func scores(for item: RewardItem, rng: inout SeededRandom) -> [Int] {
        switch item.label {
        case let .binary(l): return [l]
        case let .best(b):
            return item.responses.indices.map { $0 == b ? 8 + rng.nextInt(3) : 1 + rng.nextInt(4) }
        case let .scores(reference):
            let best = item.bestIndex!
            let others = item.responses.indices.filter { $0 != best }.sorted { reference[$0] > reference[$1] }
            let low = others.map { _ in 1 + rng.nextInt(4) }.sorted(by: >)
            var out = [Int](repeating: 0, count: item.responses.count)
            out[best] = 8 + rng.nextInt(3)
            for (i, s) in zip(others, low) { out[i] = s }
            return out
        }
    }

    typealias Style = (Int, String, Bool) -> String
    static let styles: [Style] = [
        { i, reason, ok in "Response \(i) \(reason), so it is \(ok ? "correct" : "wrong")." },
        { i, reason, ok in "Response \(i) \(reason): \(ok ? "right" : "wrong")." },
        { i, reason, ok in "Response \(i) \(reason); \(ok ? "this is correct" : "this is incorrect")." }
    ]

    /// Two to four criteria that fit the category, with weights summing to 100%.
    static func criteria(for category: String?, rng: inout SeededRandom) -> [(String, Int)] {
        let pools: [[String]]
        switch category {
        case "arithmetic":
            pools = [["Correct final result", "Accurate answer", "Right result"], ["Sound working", "Correct steps"], ["Clarity"]]
        case "units":
            pools = [["Correct conversion factor", "Right factor"], ["Correct result", "Accurate answer"], ["Units stated"]]
        case "ordering":
            pools = [["Correct order", "Properly sorted"], ["All items kept", "Nothing dropped"], ["Follows the request"]]
        case "spelling":
            pools = [["Exact letters", "Correct spelling"], ["Follows the task", "Task adherence"], ["Clear answer"]]
        case "facts":
            pools = [["Factual accuracy", "Correct fact"], ["Direct answer", "Relevance"]]
        case "instructions":
            pools = [["Meets every constraint", "Instruction adherence"], ["Exact format", "Format compliance"], ["Fluency"]]
        default:
            pools = [["Correctness", "Accuracy"], ["Helpfulness", "Usefulness"], ["Clarity"], ["Harmlessness"]]
        }
        let count = min(pools.count, 2 + rng.nextInt(min(3, pools.count - 1)))
        let weights: [[Int]]
        switch count {
        case 2: weights = [[60, 40], [70, 30], [80, 20]]
        case 3: weights = [[50, 30, 20], [60, 30, 10], [70, 20, 10]]
        default: weights = [[40, 30, 20, 10]]
        }
        let w = weights[rng.nextInt(weights.count)]
        return (0..<count).map { (pools[$0][rng.nextInt(pools[$0].count)], w[$0]) }
    }
}

extension ColdStartExample {
    /// One JSONL line of SFT chat data: `{"id", "category", "messages": [...]}` (`grm train sft`
    /// reads `messages` and ignores the rest).
    public func jsonLine() throws -> String {
        var fields: [(key: String, value: JSONValue)] = []
        if let itemID { fields.append(("id", .string(itemID))) }
        if let category { fields.append(("category", .string(category))) }
        fields.append(
            (
                "messages",
                .array(messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) })
            ))
        return try JSONValue.object(fields).serialized()
    }
}
