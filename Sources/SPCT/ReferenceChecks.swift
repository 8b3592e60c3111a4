import Foundation
import Reward

/// What a reference check concluded about one response.
public struct ResponseVerdict: Equatable, Sendable {
    /// The response's verifiable claim as it states it (its final answer, its list), if one was read.
    public var claim: String?
    public var correct: Bool
    /// Why it is right or wrong, as a clause ("gives 1014, not 1013"), nil to fall back on the claim.
    public var reason: String?
}

/// What the reference checks found for an item: the verifiable fact, and a verdict per response.
public struct ItemCheck: Equatable, Sendable {
    /// A sentence naming the fact that decides the item ("305 + 708 = 1013."), nil when none.
    public var fact: String?
    /// One verdict per response, in the item's original order.
    public var verdicts: [ResponseVerdict]
}

/// Checks the synthetic suite's responses the way its generators made them wrong: each category's
/// verifiable fact (the correct sum, the right order, the constraint broken) is recomputed from
/// the query where it can be, otherwise read from the labelled best response. Items of other
/// categories get verdicts from the label alone.
public enum ReferenceChecks {
    public static func check(_ item: RewardItem) -> ItemCheck {
        let best = item.bestIndex
        switch item.category {
        case "arithmetic": return arithmetic(item, best: best)
        case "units": return units(item, best: best)
        case "ordering": return listed(item, best: best, factPrefix: "The correct order is ")
        case "spelling": return listed(item, best: best, factPrefix: "The correct answer is ")
        case "facts": return facts(item, best: best)
        case "instructions": return instructions(item)
        default: return fromLabel(item)
        }
    }

    /// Verdicts from the label only: the best response right, the others not.
    static func fromLabel(_ item: RewardItem) -> ItemCheck {
        let verdicts = item.responses.indices.map { i -> ResponseVerdict in
            switch item.label {
            case let .binary(l): return ResponseVerdict(claim: nil, correct: l == 1, reason: nil)
            default: return ResponseVerdict(claim: nil, correct: i == item.bestIndex, reason: nil)
            }
        }
        return ItemCheck(fact: nil, verdicts: verdicts)
    }

    // MARK: - Text helpers

    static func matches(_ pattern: String, _ text: String) -> [[String]] {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return [] }
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { m in
            (0..<m.numberOfRanges).map { i in
                let r = m.range(at: i)
                return r.location == NSNotFound ? "" : ns.substring(with: r)
            }
        }
    }

    static func trimmedEnd(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        while let last = t.last, ".!".contains(last) { t.removeLast() }
        return t
    }

    /// The text after the last ": " (without the final full stop), or the last quoted string.
    static func statedAnswer(_ response: String) -> String? {
        if let r = response.range(of: ": ", options: .backwards) {
            return trimmedEnd(String(response[r.upperBound...]))
        }
        if let q = matches("\"([^\"]*)\"", response).last { return q[1] }
        return nil
    }

    /// The words of `response` that differ from `reference` (common leading and trailing words
    /// removed, punctuation trimmed): the answer in sentences that share a template.
    static func differingWords(_ response: String, from reference: String) -> String {
        let a = response.split(separator: " ").map(String.init)
        let b = reference.split(separator: " ").map(String.init)
        var lo = 0
        while lo < min(a.count, b.count) && a[lo] == b[lo] { lo += 1 }
        var hi = 0
        while hi < min(a.count, b.count) - lo && a[a.count - 1 - hi] == b[b.count - 1 - hi] { hi += 1 }
        let words = a[lo..<(a.count - hi)].joined(separator: " ")
        return trimmedEnd(words.trimmingCharacters(in: CharacterSet(charactersIn: ",;")))
    }

    /// The verdicts when each response's claim is compared with the true one.
    static func compare(_ claims: [String?], truth: String?, item: RewardItem) -> [ResponseVerdict] {
        claims.enumerated().map { i, claim in
            let labelled = item.bestIndex.map { $0 == i } ?? (item.label == .binary(1))
            guard let claim, let truth else { return ResponseVerdict(claim: claim, correct: labelled, reason: nil) }
            let correct = claim == truth
            return ResponseVerdict(claim: claim, correct: correct, reason: correct ? nil : "gives \(claim), not \(truth)")
        }
    }

    // MARK: - Categories

    static func arithmetic(_ item: RewardItem, best: Int?) -> ItemCheck {
        let claims = item.responses.map { r in matches("-?\\d+", r).last?[0] }
        let query = matches("(\\d+)\\s*(\\+|-|×|\\*|plus|minus|times)\\s*(\\d+)", item.query).first
        var truth = best.flatMap { claims[$0] }
        var fact: String?
        if let q = query, let a = Int(q[1]), let b = Int(q[3]) {
            let (symbol, value): (String, Int) =
                switch q[2] {
                case "+", "plus": ("+", a + b)
                case "-", "minus": ("-", a - b)
                default: ("×", a * b)
                }
            truth = String(value)
            fact = "\(a) \(symbol) \(b) = \(value)."
        } else if let truth {
            fact = "The correct result is \(truth)."
        }
        return ItemCheck(fact: fact, verdicts: compare(claims, truth: truth, item: item))
    }

    static func units(_ item: RewardItem, best: Int?) -> ItemCheck {
        let results = item.responses.map { r in
            matches("(\\d+(?:\\.\\d+)?) ([A-Za-z ]+?)\\.?\\s*$", r).last.map { "\($0[1]) \($0[2])" }
        }
        let factors = item.responses.map { r in matches("(?:is|are) (\\d+)", r).first?[1] }
        guard let best, let truth = results[best] else { return fromLabel(item) }
        var verdicts = compare(results, truth: truth, item: item)
        for i in verdicts.indices where !verdicts[i].correct {
            if let f = factors[i], let right = factors[best], f != right {
                verdicts[i].reason = "uses the factor \(f) instead of \(right), giving \(results[i] ?? "a wrong result")"
            }
        }
        let fact = factors[best].map { "The factor is \($0), so the answer is \(truth)." } ?? "The answer is \(truth)."
        return ItemCheck(fact: fact, verdicts: verdicts)
    }

    /// Ordering and spelling: the answer after the response's colon (or its last quote).
    static func listed(_ item: RewardItem, best: Int?, factPrefix: String) -> ItemCheck {
        let claims = item.responses.map(statedAnswer)
        guard let best, let truth = claims[best] else { return fromLabel(item) }
        var verdicts = compare(claims, truth: truth, item: item)
        // For lists, name the first place where the order goes wrong.
        let right = truth.components(separatedBy: ", ")
        for i in verdicts.indices where !verdicts[i].correct {
            guard let claim = claims[i] else { continue }
            let got = claim.components(separatedBy: ", ")
            if right.count > 2, got.count == right.count, let p = got.indices.first(where: { got[$0] != right[$0] }) {
                verdicts[i].reason = "puts \(got[p]) where \(right[p]) belongs"
            } else {
                verdicts[i].reason = "gives \(claim)"
            }
        }
        return ItemCheck(fact: factPrefix + truth + ".", verdicts: verdicts)
    }

    static func facts(_ item: RewardItem, best: Int?) -> ItemCheck {
        guard let best else { return fromLabel(item) }
        let reference = item.responses[(best + 1) % item.responses.count]
        let truth = differingWords(item.responses[best], from: reference)
        let claims = item.responses.enumerated().map { i, r in
            differingWords(r, from: i == best ? reference : item.responses[best])
        }
        var verdicts = compare(claims, truth: truth, item: item)
        for i in verdicts.indices where !verdicts[i].correct { verdicts[i].reason = "says \(claims[i])" }
        return ItemCheck(fact: "The correct answer is \(truth).", verdicts: verdicts)
    }
}
