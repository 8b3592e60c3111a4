import Foundation
import Reward

/// Verifiable instructions (`instructions` category): the constraint the query sets is read from
/// its wording and checked on every response, so a wrong one is named by the rule it breaks. Each
/// verdict also has a quoted form (`ResponseVerdict.quoted`): the response's text (its words
/// counted, for a word count) and then what decides it.
extension ReferenceChecks {
    static func instructions(_ item: RewardItem) -> ItemCheck {
        let q = item.query
        let check: (String) -> (ok: Bool, reason: String, quoted: String)
        let fact: String
        if let m = matches("exactly (\\d+) words", q).first, let n = Int(m[1]) {
            let word = matches("the word \"([^\"]+)\"", q).first?[1]
            fact = "The sentence needs exactly \(n) words" + (word.map { " and the word \"\($0)\"." } ?? ".")
            check = { r in
                let words = r.split(whereSeparator: { $0 == " " || $0 == "\n" }).map {
                    $0.trimmingCharacters(in: .punctuationCharacters).lowercased()
                }.filter { !$0.isEmpty }
                let counted = "counts " + ReferenceChecks.counted(r)
                if words.count != n { return (false, "has \(words.count) words, not \(n)", counted + ": \(words.count) words, not \(n)") }
                if let word, !words.contains(word.lowercased()) {
                    return (false, "does not include \"\(word)\"", counted + ": \(n) words, but no \"\(word)\"")
                }
                let with = word.map { " and includes \"\($0)\"" } ?? ""
                return (true, "has \(n) words" + with, counted + ": \(n) words" + (word.map { ", with \"\($0)\"" } ?? ""))
            }
        } else if q.contains("capital letters") || q.contains("uppercase") {
            fact = "Every letter must be a capital."
            check = { r in
                let reads = "reads \(ReferenceChecks.quote(r))"
                if let w = r.split(separator: " ").first(where: { $0 != $0.uppercased() }) {
                    let word = ReferenceChecks.trimmedEnd(String(w))
                    return (false, "writes \"\(word)\" in lower case", reads + ", where \"\(word)\" is in lower case")
                }
                return (true, "is all in capitals", reads + ", all in capitals")
            }
        } else if let m = matches("(?:without using|Do not use) the word \"([^\"]+)\"", q).first {
            let banned = m[1].lowercased()
            fact = "The word \"\(banned)\" must not appear."
            check = { r in
                let words = r.split(separator: " ").map { $0.trimmingCharacters(in: .punctuationCharacters).lowercased() }
                let reads = "reads \(ReferenceChecks.quote(r))"
                return words.contains(banned)
                    ? (false, "uses the banned word \"\(banned)\"", reads + ", which has \"\(banned)\"")
                    : (true, "avoids \"\(banned)\"", reads + ", without \"\(banned)\"")
            }
        } else if let m = matches("List exactly (\\d+) ", q).first, let n = Int(m[1]) {
            fact = "The list needs exactly \(n) lines, each starting with \"- \"."
            check = { r in
                let lines = r.split(separator: "\n").map(String.init)
                let reads = "reads \(ReferenceChecks.quote(lines.joined(separator: " / ")))"
                if let bad = lines.first(where: { !$0.hasPrefix("- ") }) {
                    let marker = bad.split(separator: " ").first.map(String.init) ?? bad
                    return (
                        false, "starts its lines with \"\(marker)\" instead of \"-\"", reads + ", lines starting with \"\(marker)\", not \"-\""
                    )
                }
                if lines.count != n { return (false, "lists \(lines.count) items, not \(n)", reads + ": \(lines.count) lines, not \(n)") }
                return (true, "lists \(n) items, each starting with \"-\"", reads + ": \(n) lines, each starting with \"-\"")
            }
        } else if q.contains("JSON") {
            let numberKey = matches("\"([a-z]+)\" (?:set to|is) the number", q).first?[1]
            fact = "The output must be valid JSON" + (numberKey.map { " with \"\($0)\" as a number." } ?? ".")
            check = { r in
                let reads = "reads \(r.trimmingCharacters(in: .whitespacesAndNewlines))"
                if let problem = ReferenceChecks.jsonProblem(r, numberKey: numberKey) { return (false, problem, reads + ", and it \(problem)") }
                return (true, "is valid JSON with the right types", reads + ", valid JSON with the right types")
            }
        } else {
            return fromLabel(item)
        }
        let verdicts = item.responses.map { r -> ResponseVerdict in
            let (ok, reason, quoted) = check(r)
            return ResponseVerdict(claim: nil, correct: ok, reason: reason, quoted: quoted)
        }
        return ItemCheck(fact: fact, verdicts: verdicts)
    }

    /// A response in quotation marks, on one line.
    static func quote(_ text: String) -> String {
        "\"" + text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " / ") + "\""
    }

    /// A sentence's words numbered in order ("The 1, cat 2, sat 3"), punctuation trimmed: a count
    /// a small judge can make one word at a time.
    static func counted(_ text: String) -> String {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { $0.trimmingCharacters(in: .punctuationCharacters) }
        return words.filter { !$0.isEmpty }.enumerated().map { "\($1) \($0 + 1)" }.joined(separator: ", ")
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
