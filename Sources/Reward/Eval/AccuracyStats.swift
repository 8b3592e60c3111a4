import Foundation

/// The Wilson score interval for a binomial proportion (better than the normal approximation for
/// small counts and proportions near 0 or 1; never leaves [0, 1]).
public enum Wilson {
    /// The two-sided 95% normal quantile.
    public static let z95 = 1.959963984540054

    public static func interval(successes: Int, total: Int, z: Double = z95) -> (low: Double, high: Double) {
        guard total > 0 else { return (0, 1) }
        let n = Double(total), p = Double(successes) / n, z2 = z * z
        let denominator = 1 + z2 / n
        let center = (p + z2 / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / denominator
        return (max(0, center - half), min(1, center + half))
    }
}

/// Accuracy over items: ties and parse failures count as wrong and are also reported on their own.
public struct AccuracyStats: Codable, Equatable, Sendable {
    public var total = 0
    public var correct = 0
    /// A unique pick, but not the labelled one.
    public var wrong = 0
    public var ties = 0
    public var parseFailures = 0

    public init() {}

    public mutating func add(_ outcome: ItemOutcome) {
        total += 1
        switch outcome {
        case .correct: correct += 1
        case .wrong: wrong += 1
        case .tie: ties += 1
        case .parseFailure: parseFailures += 1
        }
    }

    /// correct / total (0 for no items).
    public var accuracy: Double { total > 0 ? Double(correct) / Double(total) : 0 }

    /// The 95% Wilson interval of the accuracy.
    public var interval95: (low: Double, high: Double) { Wilson.interval(successes: correct, total: total) }

    enum CodingKeys: String, CodingKey {
        case total, correct, wrong, ties, parseFailures, accuracy, low95, high95
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(total, forKey: .total)
        try c.encode(correct, forKey: .correct)
        try c.encode(wrong, forKey: .wrong)
        try c.encode(ties, forKey: .ties)
        try c.encode(parseFailures, forKey: .parseFailures)
        try c.encode(accuracy, forKey: .accuracy)
        let ci = interval95
        try c.encode(ci.low, forKey: .low95)
        try c.encode(ci.high, forKey: .high95)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        total = try c.decode(Int.self, forKey: .total)
        correct = try c.decode(Int.self, forKey: .correct)
        wrong = try c.decode(Int.self, forKey: .wrong)
        ties = try c.decode(Int.self, forKey: .ties)
        parseFailures = try c.decode(Int.self, forKey: .parseFailures)
        guard correct + wrong + ties + parseFailures == total else {
            throw DecodingError.dataCorruptedError(
                forKey: .total, in: c,
                debugDescription: "correct + wrong + ties + parseFailures != total")
        }
    }
}

/// Accuracy overall and per category.
public struct AccuracyTally: Equatable, Sendable {
    public private(set) var overall = AccuracyStats()
    public private(set) var byCategory: [String: AccuracyStats] = [:]

    public init() {}

    /// Items without a category are counted under "uncategorised".
    public mutating func add(_ outcome: ItemOutcome, category: String?) {
        overall.add(outcome)
        byCategory[category ?? "uncategorised", default: AccuracyStats()].add(outcome)
    }

    /// Categories in name order.
    public var categories: [(name: String, stats: AccuracyStats)] {
        byCategory.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Per-sample statistics: how often single samples parse and are right.
public struct SampleStats: Codable, Equatable, Sendable {
    public var samples = 0
    public var parsed = 0
    public var correct = 0
    /// Parse failures by kind (`ScoreParseError.kind`).
    public var failures: [String: Int] = [:]
    /// The judge's position bias, over the parsed samples of items with a labelled best response
    /// and a strictly highest score: `topByPosition[p]` counts those whose top score was the
    /// response shown at position p + 1, `bestByPosition[p]` those that showed the labelled best
    /// there. An unbiased judge's counts follow the best's. Nil when no sample counted (and in
    /// reports written before they were).
    public var topByPosition: [Int]?
    public var bestByPosition: [Int]?
    /// Samples whose scores were cued (`GenerationSettings.forceScores`), and how many of those
    /// were right; nil when none was (and in reports written before scores were forced).
    public var forced: Int?
    public var forcedCorrect: Int?

    public init() {}

    public mutating func add(_ s: JudgeSample, best: Int? = nil) {
        samples += 1
        if s.scores != nil { parsed += 1 }
        if s.isCorrect { correct += 1 }
        if s.forced {
            forced = (forced ?? 0) + 1
            forcedCorrect = (forcedCorrect ?? 0) + (s.isCorrect ? 1 : 0)
        }
        if let e = s.parseError { failures[e.kind, default: 0] += 1 }
        guard let best, let shown = try? s.output.scores.get(), let top = shown.max(),
            shown.filter({ $0 == top }).count == 1, let at = shown.firstIndex(of: top),
            let bestAt = s.order.shownToOriginal.firstIndex(of: best)
        else { return }
        func count(_ counts: inout [Int]?, _ p: Int) {
            var c = counts ?? []
            if c.count <= p { c += [Int](repeating: 0, count: p + 1 - c.count) }
            c[p] += 1
            counts = c
        }
        count(&topByPosition, at)
        count(&bestByPosition, bestAt)
    }

    /// "scores forced (none of their own): 5 samples (2 right)", nil when none was.
    public var forcedSummary: String? {
        guard let forced, forced > 0 else { return nil }
        return "scores forced (none of their own): \(forced) sample\(forced == 1 ? "" : "s") (\(forcedCorrect ?? 0) right)"
    }

    /// "top score by position shown: 1st 31%, 2nd 52%, 3rd 17% (the best response there: 1st 36%,
    /// 2nd 38%, 3rd 26%)", nil when nothing was counted.
    public var positionSummary: String? {
        guard let top = topByPosition, let best = bestByPosition else { return nil }
        let n = max(top.count, best.count)
        func shares(_ c: [Int]) -> String {
            let total = max(1, c.reduce(0, +))
            return (0..<n).map { p in
                let ordinal = p == 0 ? "1st" : p == 1 ? "2nd" : p == 2 ? "3rd" : "\(p + 1)th"
                return String(format: "%@ %.0f%%", ordinal, Double(p < c.count ? c[p] : 0) * 100 / Double(total))
            }.joined(separator: ", ")
        }
        return "top score by position shown: \(shares(top)) (the best response there: \(shares(best)))"
    }

    public var parseRate: Double { samples > 0 ? Double(parsed) / Double(samples) : 0 }
    /// Accuracy of single samples (greedy-like, no voting).
    public var sampleAccuracy: Double { samples > 0 ? Double(correct) / Double(samples) : 0 }
}
