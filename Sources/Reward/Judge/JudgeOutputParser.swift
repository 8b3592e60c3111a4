import Foundation

/// Why scores could not be read from a judge's output (any of these counts as wrong).
public enum ScoreParseError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Neither a complete `\boxed{...}` nor a `[...]` in the text.
    case noScores
    /// The scores do not give exactly one per response.
    case wrongCount(expected: Int, found: Int)
    /// An entry is not an integer.
    case notAnInteger(String)
    /// An integer outside the allowed range.
    case outOfRange(Int, ClosedRange<Int>)

    public var description: String {
        switch self {
        case .noScores: return "no \\boxed{...} or [...] with scores"
        case let .wrongCount(e, f): return "expected \(e) scores, found \(f)"
        case let .notAnInteger(s): return "\"\(s)\" is not an integer"
        case let .outOfRange(v, r): return "\(v) is outside \(r.lowerBound)-\(r.upperBound)"
        }
    }

    /// A short stable name for counting failures by kind.
    public var kind: String {
        switch self {
        case .noScores: return "no-scores"
        case .wrongCount: return "wrong-count"
        case .notAnInteger: return "not-an-integer"
        case .outOfRange: return "out-of-range"
        }
    }
}

/// One principle ("specific criterion") the judge wrote, with its weight when one was given.
public struct Principle: Equatable, Codable, Sendable {
    public var name: String
    /// The weight as a fraction (`30%` and `0.3` both give 0.3), nil when none was written.
    public var weight: Double?
    /// Text after the weight (often a description), possibly empty.
    public var detail: String

    public init(name: String, weight: Double?, detail: String = "") {
        self.name = name
        self.weight = weight
        self.detail = detail
    }
}

/// A judge output split into its parts.
public struct JudgeOutput: Equatable, Sendable {
    /// The `Specific Criteria:` section as written (nil when absent).
    public var criteriaText: String?
    public var principles: [Principle]
    /// The `Analysis:` section (nil when absent).
    public var analysis: String?
    /// Scores in the order the responses were shown, or why there are none.
    public var scores: Result<[Int], ScoreParseError>
}

/// Reads the pointwise GRM's output: `Specific Criteria: ... Analysis: ... Scores: \boxed{a, b}`.
public enum JudgeOutputParser {
    /// Scores 1-10 for n >= 2 responses, 0/1 for a single response.
    public static func scoreRange(responses n: Int) -> ClosedRange<Int> { n == 1 ? 0...1 : 1...10 }

    public static func parse(_ text: String, responses n: Int) -> JudgeOutput {
        let (criteriaText, principles) = self.principles(in: text)
        return JudgeOutput(
            criteriaText: criteriaText, principles: principles, analysis: analysis(in: text),
            scores: scores(in: text, count: n, range: scoreRange(responses: n)))
    }

    /// The scores in the last complete `\boxed{...}` (else the last `[...]`): exactly `count`
    /// comma-separated integers within `range`.
    public static func scores(in text: String, count: Int, range: ClosedRange<Int>) -> Result<[Int], ScoreParseError> {
        guard let inside = lastBoxed(text) ?? lastBracketed(text) else { return .failure(.noScores) }
        let parts = inside.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let found = parts.count == 1 && parts[0].isEmpty ? 0 : parts.count
        guard found == count else { return .failure(.wrongCount(expected: count, found: found)) }
        var scores: [Int] = []
        for p in parts {
            guard let v = integer(p) else { return .failure(.notAnInteger(p)) }
            guard range.contains(v) else { return .failure(.outOfRange(v, range)) }
            scores.append(v)
        }
        return .success(scores)
    }

    /// An optionally signed run of ASCII digits (nothing else).
    static func integer(_ s: String) -> Int? {
        var digits = Substring(s)
        var negative = false
        if let f = digits.first, f == "-" || f == "+" {
            negative = f == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits).map { negative ? -$0 : $0 }
    }

    /// The content of the last `\boxed{...}` whose braces close.
    static func lastBoxed(_ text: String) -> String? {
        var result: String?
        var search = text.startIndex
        while let r = text.range(of: "\\boxed{", range: search..<text.endIndex) {
            var depth = 1
            var i = r.upperBound
            while i < text.endIndex {
                let c = text[i]
                if c == "{" {
                    depth += 1
                } else if c == "}" {
                    depth -= 1
                    if depth == 0 { break }
                }
                i = text.index(after: i)
            }
            if depth == 0 { result = String(text[r.upperBound..<i]) }
            search = r.upperBound
        }
        return result
    }

    /// The content of the last `[...]` (innermost at the end of the text).
    static func lastBracketed(_ text: String) -> String? {
        guard let close = text.lastIndex(of: "]"),
            let open = text[..<close].lastIndex(of: "[")
        else { return nil }
        return String(text[text.index(after: open)..<close])
    }

    /// Where a section marker (`Analysis:`, ...) starts and its text begins, case-insensitively.
    static func marker(_ name: String, in text: String, from: String.Index? = nil, last: Bool = false)
        -> (start: String.Index, body: String.Index)?
    {
        let range = (from ?? text.startIndex)..<text.endIndex
        var options: String.CompareOptions = [.caseInsensitive]
        if last { options.insert(.backwards) }
        guard let r = text.range(of: name + ":", options: options, range: range) else { return nil }
        // A markdown-bold marker (`**Analysis:**`): start at the asterisks, skip the closing ones.
        var start = r.lowerBound
        while start > text.startIndex, text[text.index(before: start)] == "*" { start = text.index(before: start) }
        var body = r.upperBound
        while body < text.endIndex, text[body] == "*" { body = text.index(after: body) }
        return (start, body)
    }

    static func clean(_ s: Substring) -> String {
        s.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "*#")))
    }

    /// The `Analysis:` section: up to the last `Scores:` (or the scores themselves) after it.
    public static func analysis(in text: String) -> String? {
        guard let a = marker("Analysis", in: text) else { return nil }
        var end = text.endIndex
        if let s = marker("Scores", in: text, from: a.body, last: true) {
            end = s.start
        } else if let b = text.range(of: "\\boxed{", options: .backwards, range: a.body..<text.endIndex) {
            end = b.lowerBound
        }
        let body = clean(text[a.body..<end])
        return body.isEmpty ? nil : body
    }

    /// The `Specific Criteria:` section and the principles in it (one per line or per weight).
    public static func principles(in text: String) -> (text: String?, principles: [Principle]) {
        guard let c = marker("Specific Criteria", in: text) else { return (nil, []) }
        var end = text.endIndex
        if let a = marker("Analysis", in: text, from: c.body) {
            end = a.start
        } else if let s = marker("Scores", in: text, from: c.body) {
            end = s.start
        }
        let section = clean(text[c.body..<end])
        if section.isEmpty { return (nil, []) }
        var out: [Principle] = []
        for rawLine in section.split(whereSeparator: \.isNewline) {
            let line = stripBullet(String(rawLine))
            if line.isEmpty { continue }
            out += principles(inLine: line)
        }
        return (section, out)
    }

    static func stripBullet(_ line: String) -> String {
        var s = Substring(line.trimmingCharacters(in: .whitespaces))
        if let f = s.first, "-*•".contains(f) {
            s = s.dropFirst()
        } else {
            let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
            if !digits.isEmpty, digits.count <= 2 {
                let after = s.dropFirst(digits.count)
                if let f = after.first, f == "." || f == ")" { s = after.dropFirst() }
            }
        }
        return s.trimmingCharacters(in: .whitespaces)
    }

    /// `(Weight: 30%)`, `(weight 0.3)`, `Weight: 30%`, `(30%)`.
    nonisolated(unsafe) static let weightPattern = try! Regex(
        #"\(?\s*(?:[Ww]eight\s*[:=]?\s*)?([0-9]+(?:\.[0-9]+)?)\s*(%)?\s*\)?"#)

    static func weightMatches(_ line: String) -> [(range: Range<String.Index>, weight: Double)] {
        line.matches(of: weightPattern).compactMap { m in
            let text = line[m.range]
            let hasWord = text.lowercased().contains("weight")
            let hasPercent = m.output[2].substring != nil
            let hasParen = text.contains("(")
            // A bare number is part of the principle's text, not a weight.
            guard hasWord || (hasPercent && hasParen), let number = m.output[1].substring,
                let v = Double(number)
            else { return nil }
            let weight = hasPercent || v > 1 ? v / 100 : v
            return (m.range, weight)
        }
    }

    static func principles(inLine line: String) -> [Principle] {
        let trim = CharacterSet.whitespaces.union(CharacterSet(charactersIn: ":-–,;.*"))
        let matches = weightMatches(line)
        if matches.isEmpty {
            let name = line.trimmingCharacters(in: trim)
            return name.isEmpty ? [] : [Principle(name: name, weight: nil)]
        }
        if matches.count == 1 {
            let m = matches[0]
            let name = line[..<m.range.lowerBound].trimmingCharacters(in: trim)
            let detail = line[m.range.upperBound...].trimmingCharacters(in: trim)
            return [Principle(name: name, weight: m.weight, detail: detail)]
        }
        // Several weighted principles on one line: each name runs from the previous weight.
        var out: [Principle] = []
        var from = line.startIndex
        for m in matches {
            let name = line[from..<m.range.lowerBound].trimmingCharacters(in: trim)
            out.append(Principle(name: name, weight: m.weight))
            from = m.range.upperBound
        }
        let tail = line[from...].trimmingCharacters(in: trim)
        if !tail.isEmpty, !out.isEmpty { out[out.count - 1].detail = tail }
        return out
    }
}
