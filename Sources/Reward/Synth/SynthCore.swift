import Foundation
import Tensor

/// The kinds of synthetic items, each with a best response known by construction.
public enum SynthCategory: String, CaseIterable, Codable, Sendable {
    /// Worked sums, differences and products against the same working with a carry/borrow error
    /// or a slipped digit.
    case arithmetic
    /// Unit conversions against a wrong factor or a slipped digit.
    case units
    /// Sorting numbers or words against near-sorted orders.
    case ordering
    /// Verifiable constraints (word count, capitals, a word to include or avoid, bullets, JSON).
    case instructions
    /// Capitals and chemical symbols from built-in tables against plausible confusions.
    case facts
    /// Spelling, letter counting and reversal against near misses.
    case spelling

    /// Parses a comma-separated list (`"arithmetic,facts"`).
    public static func parseList(_ text: String) throws -> [SynthCategory] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw RewardDataError("no categories given") }
        return try names.map { name in
            guard let c = SynthCategory(rawValue: name) else {
                throw RewardDataError(
                    "unknown category \"\(name)\"; known: "
                        + SynthCategory.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return c
        }
    }
}

/// A part of the item space. Every item's split is fixed by a hash of what it asks (not of the
/// seed), so the splits are disjoint whatever seeds they are generated with.
public struct SynthSplit: Equatable, Sendable {
    public let name: String
    /// The item belongs to the split when its hash, as a fraction in [0, 1), is in this range.
    public let range: Range<Double>

    public init(name: String, range: Range<Double>) {
        self.name = name
        self.range = range
    }

    public static let train = SynthSplit(name: "train", range: 0..<0.8)
    public static let validation = SynthSplit(name: "validation", range: 0.8..<0.9)
    public static let test = SynthSplit(name: "test", range: 0.9..<1)
    public static let all = SynthSplit(name: "all", range: 0..<1)

    public static func named(_ name: String) throws -> SynthSplit {
        switch name {
        case "train": return .train
        case "validation", "valid", "dev": return .validation
        case "test": return .test
        case "all": return .all
        default: throw RewardDataError("unknown split \"\(name)\"; known: train (80%), validation (10%), test (10%), all")
        }
    }

    /// Where an item with identity `key` falls in [0, 1).
    public static func position(ofKey key: String) -> Double {
        Double(StableHash.of("synth-split", key) >> 11) * 0x1.0p-53
    }
}

/// What a category generator produces: a query, its right answer and wrong ones.
struct SynthDraft {
    /// What the item asks, independent of wording and of the responses (split and de-duplication).
    var key: String
    var prompt: String
    var correct: String
    /// Wrong responses, each different from `correct` (duplicates are removed when assembling).
    var wrong: [String]
}

extension SeededRandom {
    /// Uniform in `range`.
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + nextInt(range.count) }

    mutating func pick<T>(_ items: [T]) -> T { items[nextInt(items.count)] }

    mutating func chance(_ p: Double) -> Bool { nextDouble() < p }

    /// The items in a uniformly random order.
    mutating func shuffled<T>(_ items: [T]) -> [T] {
        var a = items
        if a.count > 1 {
            for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, nextInt(i + 1)) }
        }
        return a
    }

    /// `count` distinct items (all of them if there are fewer).
    mutating func sample<T>(_ items: [T], _ count: Int) -> [T] { Array(shuffled(items).prefix(count)) }
}

/// Small text helpers for the generators.
enum SynthText {
    /// `n` with one digit changed by one (never making a leading zero): a slipped digit.
    static func slipDigit(_ n: Int, rng: inout SeededRandom) -> Int {
        var digits = Array(String(abs(n)))
        let positions = digits.indices.filter { !($0 == 0 && digits[0] == "1" && digits.count > 1) }
        let p = rng.pick(positions.isEmpty ? Array(digits.indices) : positions)
        let d = Int(String(digits[p]))!
        var nd = rng.chance(0.5) ? d + 1 : d - 1
        if nd > 9 { nd = d - 1 }
        if nd < 0 || (p == 0 && nd == 0 && digits.count > 1) { nd = d + 1 }
        digits[p] = Character(String(nd))
        return (n < 0 ? -1 : 1) * Int(String(digits))!
    }

    /// `n` with two adjacent different digits swapped (nil when all digits are equal).
    static func transposeDigits(_ n: Int, rng: inout SeededRandom) -> Int? {
        let digits = Array(String(n))
        let spots = (0..<max(0, digits.count - 1)).filter {
            digits[$0] != digits[$0 + 1] && !($0 == 0 && digits[1] == "0")
        }
        guard !spots.isEmpty else { return nil }
        let p = rng.pick(spots)
        var d = digits
        d.swapAt(p, p + 1)
        return Int(String(d))
    }

    /// A tenths count as a decimal: 35 -> "3.5", 40 -> "4".
    static func tenths(_ t: Int) -> String {
        t % 10 == 0 ? String(t / 10) : "\(t / 10).\(abs(t % 10))"
    }
}
