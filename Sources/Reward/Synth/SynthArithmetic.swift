import Foundation
import Tensor

/// Worked arithmetic: every response shows the same decomposition; a wrong one carries a
/// carry/borrow error or a slipped digit through to its (consistently wrong) answer, or slips
/// only in the final step. All responses have the same shape, so length does not tell.
enum SynthArithmetic {
    static func draft(_ rng: inout SeededRandom) -> SynthDraft {
        switch rng.nextInt(3) {
        case 0: return addition(&rng)
        case 1: return subtraction(&rng)
        default: return multiplication(&rng)
        }
    }

    static func question(_ a: Int, _ symbol: String, _ word: String, _ b: Int, _ rng: inout SeededRandom) -> String {
        rng.pick([
            "What is \(a) \(symbol) \(b)?", "Compute \(a) \(symbol) \(b).", "Calculate \(a) \(word) \(b).",
            "What do you get for \(a) \(symbol) \(b)? Show your working."
        ])
    }

    static func closing(_ total: Int, _ style: Int) -> String {
        ["The answer is \(total).", "So the result is \(total).", "Answer: \(total)."][style]
    }

    /// `a + b` for two 3-digit numbers: hundreds and the rest added separately.
    static func addition(_ rng: inout SeededRandom) -> SynthDraft {
        let a = rng.int(101...989), b = rng.int(101...989)
        let (ah, ar, bh, br) = (a / 100 * 100, a % 100, b / 100 * 100, b % 100)
        let style = rng.nextInt(3)
        func text(_ h: Int, _ r: Int, _ t: Int) -> String {
            "Split each number into hundreds and the rest: \(a) + \(b) = (\(ah) + \(bh)) + (\(ar) + \(br)) "
                + "= \(h) + \(r) = \(t). " + closing(t, style)
        }
        let h = ah + bh, r = ar + br, t = a + b
        var wrong: [String] = []
        // Carry error in the rest: the carried hundred is lost, or a ten is slipped.
        let rBad = r >= 100 ? r - 100 : (rng.chance(0.5) || r < 10 ? r + 10 : r - 10)
        wrong.append(text(h, rBad, h + rBad))
        // Hundreds slipped by one hundred.
        let hBad = rng.chance(0.5) ? h + 100 : h - 100
        wrong.append(text(hBad, r, hBad + r))
        // Right working, slipped digit in the final sum.
        wrong.append(text(h, r, SynthText.slipDigit(t, rng: &rng)))
        if let tt = SynthText.transposeDigits(t, rng: &rng) { wrong.append(text(h, r, tt)) }
        return SynthDraft(
            key: "add:\(a):\(b)", prompt: question(a, "+", "plus", b, &rng), correct: text(h, r, t),
            wrong: wrong)
    }

    /// `a - b` for 3-digit numbers, a > b: hundreds and the rest subtracted separately.
    static func subtraction(_ rng: inout SeededRandom) -> SynthDraft {
        var a = rng.int(201...999), b = rng.int(101...989)
        if a < b { swap(&a, &b) }
        if a / 100 == b / 100 { a = min(999, a + 100) }
        let (ah, ar, bh, br) = (a / 100 * 100, a % 100, b / 100 * 100, b % 100)
        let style = rng.nextInt(3)
        func text(_ h: Int, _ r: Int, _ t: Int) -> String {
            let step = r >= 0 ? "\(h) + \(r)" : "\(h) - \(-r)"
            return "Split each number into hundreds and the rest: \(a) - \(b) = (\(ah) - \(bh)) + (\(ar) - \(br)) "
                + "= \(step) = \(t). " + closing(t, style)
        }
        let h = ah - bh, r = ar - br, t = a - b
        var wrong: [String] = []
        // Borrow error: the smaller part subtracted from the larger whatever their order.
        if r < 0 {
            wrong.append(text(h, -r, h - r))
        } else {
            let rBad = r + (rng.chance(0.5) ? 10 : -10)
            wrong.append(text(h, rBad, h + rBad))
        }
        let hBad = h + (rng.chance(0.5) || h <= 100 ? 100 : -100)
        wrong.append(text(hBad, r, hBad + r))
        wrong.append(text(h, r, SynthText.slipDigit(t, rng: &rng)))
        if let tt = SynthText.transposeDigits(t, rng: &rng) { wrong.append(text(h, r, tt)) }
        return SynthDraft(
            key: "sub:\(a):\(b)", prompt: question(a, "-", "minus", b, &rng), correct: text(h, r, t),
            wrong: wrong)
    }

    /// `a × b` for 2-digit numbers: a times b's tens plus a times b's ones.
    static func multiplication(_ rng: inout SeededRandom) -> SynthDraft {
        let a = rng.int(12...98)
        let bt = rng.int(1...9), bo = rng.int(1...9)
        let b = bt * 10 + bo
        let style = rng.nextInt(3)
        func text(_ p1: Int, _ p2: Int, _ t: Int) -> String {
            "Split the second factor into tens and ones: \(a) × \(b) = \(a) × \(bt * 10) + \(a) × \(bo) "
                + "= \(p1) + \(p2) = \(t). " + closing(t, style)
        }
        let p1 = a * bt * 10, p2 = a * bo, t = a * b
        var wrong: [String] = []
        // A carry slip in the ones product, carried through.
        let p2Bad = p2 + (rng.chance(0.5) || p2 < 20 ? 10 : -10)
        wrong.append(text(p1, p2Bad, p1 + p2Bad))
        // A slipped digit in the tens product, carried through.
        let p1Bad = SynthText.slipDigit(p1 / 10, rng: &rng) * 10
        wrong.append(text(p1Bad, p2, p1Bad + p2))
        wrong.append(text(p1, p2, SynthText.slipDigit(t, rng: &rng)))
        if let tt = SynthText.transposeDigits(t, rng: &rng) { wrong.append(text(p1, p2, tt)) }
        return SynthDraft(
            key: "mul:\(a):\(b)", prompt: question(a, "×", "times", b, &rng), correct: text(p1, p2, t),
            wrong: wrong)
    }
}
