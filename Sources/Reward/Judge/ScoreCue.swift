import Foundation

/// Budget forcing for judgements without scores: a sample that ran out of tokens or looped (or
/// ended) before writing any scores gets its text cued with the scores line, and the judge
/// continues from there for a few tokens. The scores are still the judge's own; the cue only
/// spends the tokens it lacked. The repeated tail of a loop is cut to one copy first, so the judge
/// reads its analysis, not the loop, just before the cue.
public enum ScoreCue {
    /// The line every judging prompt asks the judgement to end with.
    public static let cue = "Scores: \\boxed{"

    /// Whether a sample gets the cue: it has no complete scores at all (a wrong count or an out of
    /// range score is the judge's answer and stays as it is).
    public static func applies(to sample: JudgeSample) -> Bool {
        sample.parseError == .noScores
    }

    /// The text to continue: `text` without its loop, then a new line and the cue.
    public static func prefix(_ text: String) -> String {
        var kept = withoutLoop(text)
        while let last = kept.last, last.isWhitespace { kept.removeLast() }
        return kept + (kept.isEmpty ? "" : "\n") + cue
    }

    /// Tokens the continuation may take: up to four per score (two digits, a comma, a space) and
    /// the closing brace, with room to spare.
    public static func maxTokens(responses n: Int) -> Int { 4 * n + 4 }

    /// The continuation up to and including the first closing brace (what follows it is dropped).
    public static func completion(_ continuation: String) -> String {
        guard let close = continuation.firstIndex(of: "}") else { return continuation }
        return String(continuation[...close])
    }

    /// `text` with a repeated tail cut to its first copy: the shortest period p (at most
    /// `maxPeriod` characters) whose repetition ends the text over at least three copies and
    /// `minLength` characters. Text without such a tail comes back unchanged.
    public static func withoutLoop(_ text: String, maxPeriod: Int = 400, minLength: Int = 24) -> String {
        let c = Array(text)
        let n = c.count
        guard n >= max(3, minLength), maxPeriod >= 1 else { return text }
        for p in 1...min(maxPeriod, n / 3) {
            var j = n - 1
            while j >= p && c[j] == c[j - p] { j -= 1 }
            // c[j+1..<n] matches the p characters before it: the periodic tail is c[j+1-p..<n].
            let length = n - 1 - j + p
            if length >= max(3 * p, minLength) { return String(c[0..<(n - length + p)]) }
        }
        return text
    }
}
