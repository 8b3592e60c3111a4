import Foundation
import Reward

/// What a reference check concluded about one response.
public struct ResponseVerdict: Equatable, Sendable {
    /// The response's verifiable claim as it states it (its final answer, its list), if one was read.
    public var claim: String?
    public var correct: Bool
    /// Why it is right or wrong, as a clause ("gives 1014, not 1013"), nil to fall back on the claim.
    public var reason: String?
    /// The response's claim set beside the true one, for right and wrong responses alike ("has
    /// 300 + 31 = 313 against 300 + 31 = 331", "has 4 < 8 < 84 > 46"), so the verdict that follows
    /// compares two things a few tokens apart; nil when there is nothing to set beside (a broken
    /// constraint).
    public var comparison: String? = nil
    /// The response's own words quoted (or counted) before the verdict, then what decides it
    /// ("reads \"THE DOG ran\", where \"ran\" is in lower case", "has 8 < 12 < 84 > 46, and 84 > 46
    /// breaks the order"), so the judge decides on text it has just copied rather than on a
    /// reason it recalls; nil when the category has no such form.
    public var quoted: String? = nil
}

/// What the reference checks found for an item: the verifiable fact, and a verdict per response.
public struct ItemCheck: Equatable, Sendable {
    /// The fact that decides the item, with the working a judge can check ("Working: 300 + 700 =
    /// 1000; 5 + 8 = 13; 1000 + 13 = 1013."), nil when none.
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
        case "ordering": return ordering(item, best: best)
        case "spelling": return spelling(item, best: best)
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
            return ResponseVerdict(
                claim: claim, correct: correct, reason: correct ? nil : "gives \(claim), not \(truth)",
                comparison: "gives \(claim) against \(truth)")
        }
    }

    // MARK: - Categories

    /// Arithmetic: the fact is the working, step by step in the decomposition every response uses
    /// (hundreds and the rest, or tens and ones of the second factor), so that a judge checks small
    /// sums and products rather than the whole calculation at once; a wrong response is named by
    /// its first wrong step.
    static func arithmetic(_ item: RewardItem, best: Int?) -> ItemCheck {
        let claims = item.responses.map { r in matches("-?\\d+", r).last?[0] }
        let query = matches("(\\d+)\\s*(\\+|-|×|\\*|plus|minus|times)\\s*(\\d+)", item.query).first
        guard let q = query, let a = Int(q[1]), let b = Int(q[3]) else {
            let truth = best.flatMap { claims[$0] }
            return ItemCheck(
                fact: truth.map { "The correct result is \($0)." }, verdicts: compare(claims, truth: truth, item: item))
        }
        let op = ["+": "+", "plus": "+", "-": "-", "minus": "-"][q[2]] ?? "×"
        let steps = ArithmeticSteps(a, op, b)
        var verdicts = compare(claims, truth: String(steps.result), item: item)
        for i in verdicts.indices {
            if !verdicts[i].correct, let reason = steps.firstWrongStep(in: item.responses[i]) { verdicts[i].reason = reason }
            if let last = steps.lastStep(in: item.responses[i]) { verdicts[i].comparison = "has \(last) against \(steps.lastStep)" }
        }
        return ItemCheck(fact: steps.working, verdicts: verdicts)
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
        // Each response's product as it writes it ("123 × 12 = 1476"): set beside the best one's,
        // whose value and factor are the working.
        let products = item.responses.map { r in
            matches("(\\d+(?:\\.\\d+)?) × (\\d+(?:\\.\\d+)?) = (\\d+(?:\\.\\d+)?)", r).last.map { Array($0.dropFirst()) }
        }
        func shown(_ p: [String]) -> String { "\(p[0]) × \(p[1]) = \(p[2])" }
        if let right = products[best] {
            for i in verdicts.indices { verdicts[i].comparison = products[i].map { "has \(shown($0)) against \(shown(right))" } }
        }
        let product = factors[best].flatMap { f in products[best].flatMap { $0[1] == f ? (f, $0[0]) : nil } }
        let fact =
            product.map { "The factor is \($0.0): \($0.1) × \($0.0) = \(truth)." }
            ?? factors[best].map { "The factor is \($0), so the answer is \(truth)." } ?? "The answer is \(truth)."
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
        for i in verdicts.indices {
            if !verdicts[i].correct { verdicts[i].reason = "says \(claims[i])" }
            verdicts[i].comparison = "says \(claims[i]) against \(truth)"
        }
        return ItemCheck(fact: "The correct answer is \(truth).", verdicts: verdicts)
    }

    /// Ordering: a list is sorted when every neighbour follows the one before it, so a wrong list
    /// is named by its first pair out of order (a check of two items, not a sort of the whole list).
    /// Falls back to comparing with the labelled best list when the direction cannot be read.
    static func ordering(_ item: RewardItem, best: Int?) -> ItemCheck {
        let q = item.query.lowercased()
        // Each rule: its fact, whether the items compare as numbers, the sign between neighbours that
        // breaks the order, and why such a pair is out of order.
        let rule: (fact: String, numeric: Bool, breaks: String, why: (String, String) -> String)
        if q.contains("alphabet") {
            rule = (
                "In alphabetical order each word comes after the one before it.", false, ">",
                { a, b in "\(b) comes before \(a) alphabetically" }
            )
        } else if q.contains("ascending") {
            rule = (
                "In ascending order each number is larger than the one before it.", true, ">", { a, b in "\(b) is smaller than \(a)" }
            )
        } else if q.contains("descending") {
            rule = (
                "In descending order each number is smaller than the one before it.", true, "<", { a, b in "\(b) is larger than \(a)" }
            )
        } else {
            return listed(item, best: best, factPrefix: "The correct order is ")
        }
        let base = listed(item, best: best, factPrefix: "")
        var verdicts = base.verdicts
        /// "<", "=" or ">" between two neighbours, as numbers (a word counting as 0) or as words.
        func relation(_ a: String, _ b: String) -> String {
            let less = rule.numeric ? (Int(a) ?? 0) < (Int(b) ?? 0) : a < b
            let equal = rule.numeric ? (Int(a) ?? 0) == (Int(b) ?? 0) : a == b
            return equal ? "=" : less ? "<" : ">"
        }
        for i in verdicts.indices {
            verdicts[i].comparison = nil
            guard let list = statedAnswer(item.responses[i])?.components(separatedBy: ", "), list.count > 1 else { continue }
            let wrongPair = list.indices.dropLast().first(where: { relation(list[$0], list[$0 + 1]) == rule.breaks })
            if let p = wrongPair {
                verdicts[i].reason = "puts \(list[p]) before \(list[p + 1]), but \(rule.why(list[p], list[p + 1]))"
            } else if verdicts[i].correct {
                verdicts[i].reason = "keeps every neighbour in order"
            }
            // The neighbours compared one pair at a time, up to the first pair out of order. A list in
            // order that is still wrong (an item lost or repeated) keeps the reason above.
            guard wrongPair != nil || verdicts[i].correct else { continue }
            let end = wrongPair.map { $0 + 1 } ?? list.count - 1
            var chain = list[0]
            for j in 0..<end { chain += " \(relation(list[j], list[j + 1])) \(list[j + 1])" }
            verdicts[i].comparison = "has \(chain)"
            verdicts[i].quoted =
                "has \(chain)"
                + (wrongPair.map { ", and \(list[$0]) \(rule.breaks) \(list[$0 + 1]) breaks the order" } ?? ", every pair in order")
        }
        return ItemCheck(fact: rule.fact, verdicts: verdicts)
    }

    /// Spelling: counts and reversals spell the word out letter by letter first, the working a
    /// judge can check; other tasks compare with the labelled best answer.
    static func spelling(_ item: RewardItem, best: Int?) -> ItemCheck {
        var check = listed(item, best: best, factPrefix: "The correct answer is ")
        let quoted = matches("\"([^\"]+)\"", item.query).map { $0[1] }
        func spelled(_ w: String) -> String { w.map(String.init).joined(separator: "-") }
        if item.query.contains("How many times") || item.query.contains("occurrences"), quoted.count == 2 {
            let (letter, word) = (quoted[0], quoted[1])
            let n = word.filter { String($0) == letter }.count
            check.fact = "\"\(word)\" is \(spelled(word)): \"\(letter)\" appears \(n) time\(n == 1 ? "" : "s")."
        } else if item.query.contains("backwards") || item.query.contains("Reverse the letters"), let word = quoted.first {
            let back = String(word.reversed())
            check.fact = "\"\(word)\" is \(spelled(word)); from the end: \(spelled(back)), so \"\(back)\"."
        }
        return check
    }
}
