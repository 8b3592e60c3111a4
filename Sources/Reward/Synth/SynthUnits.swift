import Foundation
import Tensor

/// Unit conversions: the right factor against plausible wrong ones (a metric prefix off by ten,
/// 100 minutes to the hour, ...) carried through, or the right working with a slipped digit.
enum SynthUnits {
    struct Conversion {
        let from: String, fromPlural: String, toPlural: String
        let factor: Int
        let wrongFactors: [Int]
    }

    static let table: [Conversion] = [
        Conversion(from: "kilometre", fromPlural: "kilometres", toPlural: "metres", factor: 1000, wrongFactors: [100, 10000]),
        Conversion(from: "metre", fromPlural: "metres", toPlural: "centimetres", factor: 100, wrongFactors: [10, 1000]),
        Conversion(from: "centimetre", fromPlural: "centimetres", toPlural: "millimetres", factor: 10, wrongFactors: [100, 1000]),
        Conversion(from: "metre", fromPlural: "metres", toPlural: "millimetres", factor: 1000, wrongFactors: [100, 10000]),
        Conversion(from: "kilogram", fromPlural: "kilograms", toPlural: "grams", factor: 1000, wrongFactors: [100, 10000]),
        Conversion(from: "litre", fromPlural: "litres", toPlural: "millilitres", factor: 1000, wrongFactors: [100, 10000]),
        Conversion(from: "hour", fromPlural: "hours", toPlural: "minutes", factor: 60, wrongFactors: [100, 24, 30]),
        Conversion(from: "minute", fromPlural: "minutes", toPlural: "seconds", factor: 60, wrongFactors: [100, 30]),
        Conversion(from: "day", fromPlural: "days", toPlural: "hours", factor: 24, wrongFactors: [12, 60, 20]),
        Conversion(from: "week", fromPlural: "weeks", toPlural: "days", factor: 7, wrongFactors: [5, 10, 6]),
        Conversion(from: "foot", fromPlural: "feet", toPlural: "inches", factor: 12, wrongFactors: [10, 3, 16]),
        Conversion(from: "yard", fromPlural: "yards", toPlural: "feet", factor: 3, wrongFactors: [12, 2, 4]),
        Conversion(from: "US gallon", fromPlural: "US gallons", toPlural: "quarts", factor: 4, wrongFactors: [2, 8, 3]),
        Conversion(from: "pound", fromPlural: "pounds", toPlural: "ounces", factor: 16, wrongFactors: [12, 10, 14]),
        Conversion(from: "year", fromPlural: "years", toPlural: "months", factor: 12, wrongFactors: [10, 52, 13]),
        Conversion(from: "dozen", fromPlural: "dozen", toPlural: "eggs", factor: 12, wrongFactors: [10, 6, 20])
    ]

    static func draft(_ rng: inout SeededRandom) -> SynthDraft {
        let c = rng.pick(table)
        // A whole number, or (half the time) one with a tenths digit.
        let tenths = rng.chance(0.5) ? rng.int(2...250) * 10 : rng.int(11...999)
        let v = SynthText.tenths(tenths)
        let style = rng.nextInt(2)
        func text(_ factor: Int, _ resultTenths: Int) -> String {
            let result = String(resultTenths / 10) + (resultTenths % 10 == 0 ? "" : ".\(resultTenths % 10)")
            if style == 0 {
                return "There are \(factor) \(c.toPlural) in one \(c.from), so \(v) \(c.fromPlural) = \(v) × \(factor) "
                    + "= \(result) \(c.toPlural)."
            }
            return "One \(c.from) is \(factor) \(c.toPlural). Multiplying: \(v) × \(factor) = \(result), "
                + "so the answer is \(result) \(c.toPlural)."
        }
        let right = tenths * c.factor
        var wrong = c.wrongFactors.map { text($0, tenths * $0) }
        // Right factor, slipped digit in the result (on the whole part so the decimal stays).
        let whole = right / 10, frac = right % 10
        wrong.append(text(c.factor, SynthText.slipDigit(whole, rng: &rng) * 10 + frac))
        let prompt = rng.pick([
            "Convert \(v) \(c.fromPlural) to \(c.toPlural).",
            "How many \(c.toPlural) are in \(v) \(c.fromPlural)?",
            "Express \(v) \(c.fromPlural) in \(c.toPlural)."
        ])
        return SynthDraft(
            key: "\(c.from)>\(c.toPlural):\(tenths)", prompt: prompt, correct: text(c.factor, right),
            wrong: wrong)
    }
}
