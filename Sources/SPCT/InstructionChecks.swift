import Foundation
import Reward

/// Verifiable instructions (`instructions` category): the constraint the query sets is read from
/// its wording and checked on every response, so a wrong one is named by the rule it breaks.
extension ReferenceChecks {
    static func instructions(_ item: RewardItem) -> ItemCheck {
        let q = item.query
        let check: (String) -> (ok: Bool, reason: String)
        let fact: String
        if let m = matches("exactly (\\d+) words", q).first, let n = Int(m[1]) {
            let word = matches("the word \"([^\"]+)\"", q).first?[1]
            fact = "The sentence needs exactly \(n) words" + (word.map { " and the word \"\($0)\"." } ?? ".")
            check = { r in
                let words = r.split(whereSeparator: { $0 == " " || $0 == "\n" }).map {
                    $0.trimmingCharacters(in: .punctuationCharacters).lowercased()
                }.filter { !$0.isEmpty }
                if words.count != n { return (false, "has \(words.count) words, not \(n)") }
                if let word, !words.contains(word.lowercased()) { return (false, "does not include \"\(word)\"") }
                return (true, "has \(n) words" + (word.map { " and includes \"\($0)\"" } ?? ""))
            }
        } else if q.contains("capital letters") || q.contains("uppercase") {
            fact = "Every letter must be a capital."
            check = { r in
                if let w = r.split(separator: " ").first(where: { $0 != $0.uppercased() }) {
                    return (false, "writes \"\(ReferenceChecks.trimmedEnd(String(w)))\" in lower case")
                }
                return (true, "is all in capitals")
            }
        } else if let m = matches("(?:without using|Do not use) the word \"([^\"]+)\"", q).first {
            let banned = m[1].lowercased()
            fact = "The word \"\(banned)\" must not appear."
            check = { r in
                let words = r.split(separator: " ").map { $0.trimmingCharacters(in: .punctuationCharacters).lowercased() }
                return words.contains(banned) ? (false, "uses the banned word \"\(banned)\"") : (true, "avoids \"\(banned)\"")
            }
        } else if let m = matches("List exactly (\\d+) ", q).first, let n = Int(m[1]) {
            fact = "The list needs exactly \(n) lines, each starting with \"- \"."
            check = { r in
                let lines = r.split(separator: "\n").map(String.init)
                if let bad = lines.first(where: { !$0.hasPrefix("- ") }) {
                    let marker = bad.split(separator: " ").first.map(String.init) ?? bad
                    return (false, "starts its lines with \"\(marker)\" instead of \"-\"")
                }
                if lines.count != n { return (false, "lists \(lines.count) items, not \(n)") }
                return (true, "lists \(n) items, each starting with \"-\"")
            }
        } else if q.contains("JSON") {
            let numberKey = matches("\"([a-z]+)\" (?:set to|is) the number", q).first?[1]
            fact = "The output must be valid JSON" + (numberKey.map { " with \"\($0)\" as a number." } ?? ".")
            check = { r in ReferenceChecks.jsonProblem(r, numberKey: numberKey).map { (false, $0) } ?? (true, "is valid JSON with the right types") }
        } else {
            return fromLabel(item)
        }
        let verdicts = item.responses.map { r -> ResponseVerdict in
            let (ok, reason) = check(r)
            return ResponseVerdict(claim: nil, correct: ok, reason: reason)
        }
        return ItemCheck(fact: fact, verdicts: verdicts)
    }

    /// Why `text` is not the JSON object asked for, or nil when it is.
    static func jsonProblem(_ text: String, numberKey: String?) -> String? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // Foundation's parser accepts trailing commas; JSON does not.
        if t.range(of: ",\\s*[}\\]]", options: .regularExpression) != nil { return "has a trailing comma" }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(t.utf8))) as? [String: Any] else {
            if t.contains("'") { return "uses single quotes, which JSON does not allow" }
            if !t.hasSuffix("}") { return "is missing the closing brace" }
            if t.range(of: "[{,]\\s*[A-Za-z_]+\\s*:", options: .regularExpression) != nil { return "leaves the keys unquoted" }
            return "is not valid JSON"
        }
        if let key = numberKey, object[key] is String { return "gives \"\(key)\" as a string, not a number" }
        return nil
    }
}
