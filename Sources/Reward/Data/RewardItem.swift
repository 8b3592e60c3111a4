import Foundation
import Transformer

/// What is known about an item's responses.
public enum RewardLabel: Equatable, Sendable {
    /// The index of the best response (pairwise: chosen = 0; listwise: `best`).
    case best(Int)
    /// A reference score per response (listwise `scores`); the best is the unique maximum.
    case scores([Double])
    /// One response judged correct (1) or not (0).
    case binary(Int)
}

/// The layout an item was read from (and is written back in).
public enum RewardItemFormat: String, Codable, Sendable {
    /// `{"prompt", "chosen", "rejected"}` (TRL, RewardBench).
    case pairwise
    /// `{"prompt", "responses": [...], "best": i}` or `"scores": [...]`.
    case listwise
    /// `{"prompt", "response", "label": 0|1}`.
    case single
}

/// One labelled reward-modelling example: a conversation ending with the query, the candidate
/// responses, and which response is best (or how each scores, or whether the single one is right).
public struct RewardItem: Equatable, Sendable {
    public var id: String?
    public var category: String?
    /// The conversation before the responses; the last message is normally the user's query.
    public var prompt: [ChatMessage]
    public var responses: [String]
    public var label: RewardLabel
    public var format: RewardItemFormat
    /// How far the preferred response's reward should lead (TRL's optional per-row `margin`):
    /// Bradley-Terry training subtracts it inside every pair of the item,
    /// -log sigmoid(r_chosen - r_rejected - margin). Only items that state a preference have one.
    public var margin: Double?
    /// False only for an item read without a label (`RewardItem(json:allowUnlabelled:)`, for
    /// scoring): its `label` is then a placeholder (best 0, or 0 for a single response, whatever
    /// the format) that nothing may report or train on.
    public var isLabelled = true

    /// Builds an item, checking that the label fits the responses.
    public init(
        id: String? = nil, category: String? = nil, prompt: [ChatMessage], responses: [String],
        label: RewardLabel, format: RewardItemFormat? = nil, margin: Double? = nil
    ) throws {
        self.id = id
        self.category = category
        self.prompt = prompt
        self.responses = responses
        self.label = label
        self.margin = margin
        switch label {
        case .binary: self.format = format ?? .single
        case .best, .scores: self.format = format ?? .listwise
        }
        if let problem = validationProblem { throw RewardDataError(problem) }
    }

    /// A prompt of one user message.
    public init(
        id: String? = nil, category: String? = nil, query: String, responses: [String],
        label: RewardLabel, margin: Double? = nil
    ) throws {
        try self.init(
            id: id, category: category, prompt: [ChatMessage(role: "user", content: query)],
            responses: responses, label: label, margin: margin)
    }

    /// Why the item is inconsistent, or nil when it is fine.
    public var validationProblem: String? {
        if prompt.isEmpty { return "the prompt has no messages" }
        if let i = prompt.firstIndex(where: { $0.role.isEmpty }) { return "prompt message \(i) has an empty role" }
        if responses.isEmpty { return "there are no responses" }
        switch label {
        case let .best(b):
            if responses.count < 2 { return "a best-response label needs at least 2 responses, got \(responses.count)" }
            if b < 0 || b >= responses.count { return "best = \(b) is out of range for \(responses.count) responses" }
        case let .scores(s):
            if responses.count < 2 { return "reference scores need at least 2 responses, got \(responses.count)" }
            if s.count != responses.count { return "\(s.count) scores for \(responses.count) responses" }
            if let bad = s.first(where: { !$0.isFinite }) { return "score \(bad) is not finite" }
            if RewardItem.uniqueArgmax(s) == nil {
                return "the scores have no unique maximum (the correctness rule needs one best response)"
            }
        case let .binary(l):
            if responses.count != 1 { return "a 0/1 label needs exactly 1 response, got \(responses.count)" }
            if l != 0 && l != 1 { return "label = \(l) must be 0 or 1" }
        }
        if format == .pairwise && (responses.count != 2 || label != .best(0)) {
            return "a pairwise item has 2 responses with the chosen one first"
        }
        if let margin {
            if !margin.isFinite { return "margin \(margin) is not finite" }
            if case .binary = label { return "a margin needs a preference between responses (a pairwise or listwise item)" }
            if !isLabelled { return "a margin needs a labelled preference (best or scores)" }
        }
        return nil
    }

    /// The index of the best response (nil for single-response items).
    public var bestIndex: Int? {
        switch label {
        case let .best(b): return b
        case let .scores(s): return RewardItem.uniqueArgmax(s)
        case .binary: return nil
        }
    }

    /// The query: the content of the last user message (the last message if none is a user's).
    public var query: String {
        (prompt.last(where: { $0.role == "user" }) ?? prompt.last)?.content ?? ""
    }

    static func uniqueArgmax(_ values: [Double]) -> Int? {
        guard let top = values.max() else { return nil }
        let at = values.indices.filter { values[$0] == top }
        return at.count == 1 ? at[0] : nil
    }
}
