import Foundation

/// One Bradley-Terry comparison: response `chosen` is preferred to `rejected` by at least `margin`.
public struct PreferencePair: Equatable, Sendable {
    public var chosen: Int
    public var rejected: Int
    public var margin: Float

    public init(chosen: Int, rejected: Int, margin: Float = 0) {
        self.chosen = chosen
        self.rejected = rejected
        self.margin = margin
    }
}

extension RewardItem {
    /// The comparisons an item's label states, as TRL's RewardTrainer reads them: pairwise
    /// (`chosen`/`rejected`) and `best` items give the best response against each other one;
    /// `scores` items every ordered pair with a strictly higher score (ties give no pair);
    /// single-response 0/1 items give none. Every pair carries `margin`, by default the item's
    /// own (`RewardItem.margin`, TRL's optional per-row `margin` column; 0 without one).
    public func preferencePairs(margin: Float? = nil) -> [PreferencePair] {
        let margin = margin ?? Float(self.margin ?? 0)
        switch label {
        case let .best(b):
            return responses.indices.filter { $0 != b }.map { PreferencePair(chosen: b, rejected: $0, margin: margin) }
        case let .scores(s):
            var pairs: [PreferencePair] = []
            for i in s.indices { for j in s.indices where s[i] > s[j] { pairs.append(PreferencePair(chosen: i, rejected: j, margin: margin)) } }
            return pairs
        case .binary:
            return []
        }
    }
}
