import Foundation
import Tensor

/// Sorting numbers or words. Wrong answers list the same elements (so lengths match exactly) in a
/// nearly right order: two neighbours swapped, one element misplaced, the opposite direction, or
/// numbers sorted as text ("100" before "23").
enum SynthOrdering {
    static let words = [
        "apple", "bridge", "candle", "dolphin", "engine", "falcon", "garden", "harbor", "island", "jacket",
        "kettle", "lantern", "marble", "needle", "orchard", "pepper", "quartz", "river", "saddle", "timber",
        "umbrella", "velvet", "walnut", "yellow", "zephyr", "anchor", "basket", "castle", "desert", "feather",
        "glacier", "helmet", "insect", "jungle", "ladder", "meadow", "napkin", "oyster", "pillow", "rocket",
        "silver", "tunnel", "violin", "window", "almond", "banner", "cotton", "dragon", "ember", "forest"
    ]

    static func draft(_ rng: inout SeededRandom) -> SynthDraft {
        rng.chance(0.5) ? numbers(&rng) : wordList(&rng)
    }

    /// Orders that differ from `right` by a small mistake (excluding `right` itself).
    static func nearMisses<T: Equatable>(_ right: [T], _ rng: inout SeededRandom) -> [[T]] {
        var out: [[T]] = []
        let n = right.count
        // Two neighbours swapped.
        let i = rng.nextInt(n - 1)
        var swapped = right
        swapped.swapAt(i, i + 1)
        out.append(swapped)
        // One element moved two or more places.
        let from = rng.nextInt(n)
        var to = rng.nextInt(n)
        if abs(to - from) < 2 { to = from + 2 < n ? from + 2 : max(0, from - 2) }
        var moved = right
        let e = moved.remove(at: from)
        moved.insert(e, at: to)
        out.append(moved)
        // The opposite direction.
        out.append(right.reversed())
        return out.filter { $0 != right }
    }

    static func numbers(_ rng: inout SeededRandom) -> SynthDraft {
        let n = rng.int(5...7)
        var values: [Int] = []
        while values.count < n {
            // Mixed magnitudes, so sorting as text would go wrong.
            let v = rng.chance(0.3) ? rng.int(1...9) : (rng.chance(0.5) ? rng.int(10...99) : rng.int(100...250))
            if !values.contains(v) { values.append(v) }
        }
        let ascending = rng.chance(0.5)
        let right = ascending ? values.sorted() : values.sorted(by: >)
        let direction = ascending ? "ascending" : "descending"
        let style = rng.nextInt(2)
        func text(_ list: [Int]) -> String {
            let joined = list.map(String.init).joined(separator: ", ")
            return style == 0
                ? "In \(direction) order: \(joined)." : "Sorted from \(ascending ? "smallest to largest" : "largest to smallest"): \(joined)."
        }
        var wrong = nearMisses(right, &rng).map(text)
        let asText = values.sorted { ascending ? String($0) < String($1) : String($0) > String($1) }
        if asText != right { wrong.append(text(asText)) }
        let listed = values.map(String.init).joined(separator: ", ")
        let prompt = rng.pick([
            "Sort these numbers in \(direction) order: \(listed).",
            "Put the following numbers in \(direction) order: \(listed)",
            "Arrange in \(direction) order: \(listed)."
        ])
        return SynthDraft(key: "numbers:\(direction):\(listed)", prompt: prompt, correct: text(right), wrong: wrong)
    }

    static func wordList(_ rng: inout SeededRandom) -> SynthDraft {
        let n = rng.int(5...6)
        let chosen = rng.sample(words, n)
        let right = chosen.sorted()
        let style = rng.nextInt(2)
        func text(_ list: [String]) -> String {
            let joined = list.joined(separator: ", ")
            return style == 0 ? "In alphabetical order: \(joined)." : "Alphabetically sorted, the words are: \(joined)."
        }
        var wrong = nearMisses(right, &rng).map(text)
        // Sorted by length (then alphabetically): a plausible misreading of "sort".
        let byLength = chosen.sorted { $0.count != $1.count ? $0.count < $1.count : $0 < $1 }
        if byLength != right { wrong.append(text(byLength)) }
        let listed = chosen.joined(separator: ", ")
        let prompt = rng.pick([
            "Sort these words alphabetically: \(listed).",
            "Put these words in alphabetical order: \(listed)",
            "Alphabetise the following list: \(listed)."
        ])
        return SynthDraft(key: "words:\(listed)", prompt: prompt, correct: text(right), wrong: wrong)
    }
}
