import Foundation

/// The correctness rule of SPCT (used for data filtering, the RL reward and evaluation):
/// * n >= 2 responses: right only if the best response scores strictly higher than every other;
/// * n = 1: right only if the score equals the 0/1 label.
/// Unparsable output (nil scores) is wrong.
public enum Correctness {
    /// Whether one sample's scores (original order) are right for `item`.
    public static func isCorrect(_ scores: [Int]?, for item: RewardItem) -> Bool {
        guard let scores, scores.count == item.responses.count else { return false }
        if case let .binary(label) = item.label { return scores[0] == label }
        guard let best = item.bestIndex else { return false }
        return scores.indices.allSatisfy { $0 == best || scores[$0] < scores[best] }
    }

    /// The RL reward of one sample: +1 right, -1 wrong or unparsable.
    public static func reward(_ scores: [Int]?, for item: RewardItem) -> Float {
        isCorrect(scores, for: item) ? 1 : -1
    }
}

/// The result of voting over samples: per-response sums and what they pick.
public struct VoteResult: Equatable, Codable, Sendable {
    /// Sum of each response's scores over the voting samples (original order).
    public var totals: [Int]
    /// Samples that voted (parsed, and kept by the meta RM when one is used).
    public var voters: Int
    /// n >= 2: the response with the highest total; nil when tied at the top or nobody voted.
    public var pick: Int?
    /// n = 1: 1 when the total is above half the voters, 0 below; nil when exactly half or nobody voted.
    public var predictedLabel: Int?

    /// True when votes were cast but the top is tied.
    public var isTie: Bool { voters > 0 && pick == nil && predictedLabel == nil }
}

/// How an item came out: right, or why not.
public enum ItemOutcome: String, Codable, Sendable, CaseIterable {
    case correct
    /// A unique pick, but not the labelled one.
    case wrong
    /// The top of the vote is tied (counts as wrong).
    case tie
    /// No sample could be parsed (counts as wrong).
    case parseFailure = "parse-failure"
}

/// Voting@k: sum each response's scores over the samples, pick the highest sum.
public enum Voting {
    /// Votes with the parsed samples' scores (each in original order, one per response).
    public static func vote(_ samples: [[Int]], responses n: Int) -> VoteResult {
        var totals = [Int](repeating: 0, count: n)
        var voters = 0
        for s in samples where s.count == n {
            for i in 0..<n { totals[i] += s[i] }
            voters += 1
        }
        var result = VoteResult(totals: totals, voters: voters, pick: nil, predictedLabel: nil)
        guard voters > 0 else { return result }
        if n == 1 {
            if 2 * totals[0] > voters { result.predictedLabel = 1 } else if 2 * totals[0] < voters { result.predictedLabel = 0 }
        } else if let top = totals.max(), totals.filter({ $0 == top }).count == 1 {
            result.pick = totals.firstIndex(of: top)
        }
        return result
    }

    /// How a vote came out for `item`.
    public static func outcome(_ vote: VoteResult, for item: RewardItem) -> ItemOutcome {
        if vote.voters == 0 { return .parseFailure }
        if vote.isTie { return .tie }
        if case let .binary(label) = item.label { return vote.predictedLabel == label ? .correct : .wrong }
        return vote.pick == item.bestIndex ? .correct : .wrong
    }

    /// The indices of the `keep` samples a meta RM rates highest, among those with scores
    /// (unparsable samples cannot vote). Ties in rating go to the earlier sample. Returned in
    /// increasing index order.
    public static func metaSelect(ratings: [Double], parsed: [Bool], keep: Int) -> [Int] {
        precondition(ratings.count == parsed.count, "\(ratings.count) ratings for \(parsed.count) samples")
        let candidates = ratings.indices.filter { parsed[$0] }
        let ranked = candidates.sorted { a, b in
            let ra = ratings[a].isNaN ? -Double.infinity : ratings[a]
            let rb = ratings[b].isNaN ? -Double.infinity : ratings[b]
            return ra != rb ? ra > rb : a < b
        }
        return ranked.prefix(max(0, keep)).sorted()
    }
}
