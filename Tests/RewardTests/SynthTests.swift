import Foundation
import XCTest
@testable import Reward

/// Synthetic data: determinism, labels checked by independent solvers, no length or position
/// give-aways, disjoint splits.
final class SynthTests: XCTestCase {
    static let many: [RewardItem] = {
        var s = try! RewardSynthesizer(seed: 2024)
        return try! s.generate(3000)
    }()

    func testDeterministic() throws {
        var a = try RewardSynthesizer(seed: 5, categories: [.arithmetic, .instructions])
        var b = try RewardSynthesizer(seed: 5, categories: [.arithmetic, .instructions])
        var c = try RewardSynthesizer(seed: 6, categories: [.arithmetic, .instructions])
        let x = try a.generate(200), y = try b.generate(200), z = try c.generate(200)
        XCTAssertEqual(x, y)
        XCTAssertNotEqual(x.map(\.responses), z.map(\.responses))
        XCTAssertEqual(Set(x.compactMap(\.category)), ["arithmetic", "instructions"])
    }

    func testShapeAndPositions() throws {
        let items = SynthTests.many
        var byCount: [Int: [Int]] = [:]
        for item in items {
            XCTAssertTrue((2...4).contains(item.responses.count))
            XCTAssertEqual(Set(item.responses).count, item.responses.count, "responses must differ: \(item.responses)")
            XCTAssertNotNil(item.id)
            XCTAssertEqual(item.format, .listwise)
            byCount[item.responses.count, default: [0, 0, 0, 0]][item.bestIndex!] += 1
        }
        XCTAssertEqual(Set(items.map(\.id)).count, items.count, "ids are unique")
        XCTAssertEqual(Set(items.compactMap(\.category)), Set(SynthCategory.allCases.map(\.rawValue)))
        for (n, counts) in byCount {
            let total = counts.reduce(0, +)
            XCTAssertGreaterThan(total, 400, "n = \(n) too rare")
            let expected = Double(total) / Double(n)
            let sd = (Double(total) * (1 / Double(n)) * (1 - 1 / Double(n))).squareRoot()
            for j in 0..<n {
                XCTAssertEqual(Double(counts[j]), expected, accuracy: 4 * sd, "best position \(j) of \(n): \(counts)")
            }
        }
    }

    /// The longest (or shortest) response should be the best no more often than chance.
    func testLengthDoesNotGiveItAway() throws {
        func check(_ items: [RewardItem], _ label: String) {
            for extreme in ["longest", "shortest"] {
                var hits = 0.0, expected = 0.0, variance = 0.0
                for item in items {
                    let lengths = item.responses.map(\.count)
                    let target = extreme == "longest" ? lengths.max()! : lengths.min()!
                    let at = lengths.indices.filter { lengths[$0] == target }
                    guard at.count == 1 else { continue }
                    let p = 1 / Double(item.responses.count)
                    expected += p
                    variance += p * (1 - p)
                    if at[0] == item.bestIndex { hits += 1 }
                }
                XCTAssertLessThanOrEqual(
                    hits, expected + 3 * variance.squareRoot(),
                    "\(label): the \(extreme) response is best \(hits) times, chance \(expected)")
            }
        }
        check(SynthTests.many, "all")
        for c in SynthCategory.allCases {
            var s = try RewardSynthesizer(seed: 77, categories: [c])
            check(try s.generate(c == .facts ? 120 : 600), c.rawValue)
        }
    }

    /// Every best response is right and every other wrong, by solvers that share no code with the generators.
    func testLabelsAreRight() throws {
        var checked = 0
        for item in SynthTests.many {
            let q = item.query
            guard let verdicts = Self.verify(q, item.responses) else { continue }
            checked += 1
            XCTAssertEqual(verdicts.indices.filter { verdicts[$0] }, [item.bestIndex!], "\(q)\n\(item.responses)")
        }
        XCTAssertGreaterThan(checked, 1500)
    }

    static func numbers(_ s: String) -> [Int] {
        s.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }

    static func decimals(_ s: String) -> [Double] {
        s.matches(of: try! Regex(#"[0-9]+(?:\.[0-9]+)?"#)).compactMap { Double(s[$0.range]) }
    }

    static let unitFactors: [(String, String, Int)] = [
        ("kilometres", "metres", 1000), ("metres", "centimetres", 100), ("centimetres", "millimetres", 10),
        ("metres", "millimetres", 1000), ("kilograms", "grams", 1000), ("litres", "millilitres", 1000),
        ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24), ("weeks", "days", 7),
        ("feet", "inches", 12), ("yards", "feet", 3), ("US gallons", "quarts", 4), ("pounds", "ounces", 16),
        ("years", "months", 12), ("dozen", "eggs", 12)
    ]

    /// Which responses are right, for the kinds of question this solver knows (nil otherwise).
    static func verify(_ q: String, _ responses: [String]) -> [Bool]? {
        let qn = numbers(q)
        let last = { (r: String) in numbers(r).last }
        for (symbol, op) in [
            (" + ", { (a: Int, b: Int) in a + b }), (" plus ", { $0 + $1 }), (" - ", { $0 - $1 }),
            (" minus ", { $0 - $1 }), (" × ", { $0 * $1 }), (" times ", { $0 * $1 })
        ]
        where q.contains(symbol) && qn.count == 2 && !q.contains("order") {
            return responses.map { last($0) == op(qn[0], qn[1]) }
        }
        if q.hasPrefix("Sort these numbers") || q.hasPrefix("Put the following numbers") || q.hasPrefix("Arrange in") {
            let want = q.contains("ascending") ? qn.sorted() : qn.sorted(by: >)
            return responses.map { numbers($0) == want }
        }
        if q.contains("exactly") && q.contains("words") && q.contains("\"") {
            let n = qn[0]
            let word = q.split(separator: "\"")[1]
            return responses.map { r in
                let words = r.dropLast().split(separator: " ")
                return words.count == n && words.contains(word)
            }
        }
        if q.contains("capital letters") || q.contains("uppercase") {
            return responses.map { $0 == $0.uppercased() }
        }
        if q.contains("without using the word") || q.contains("Do not use the word") {
            let word = q.split(separator: "\"")[1]
            return responses.map { !$0.lowercased().dropLast().split(separator: " ").contains(word) }
        }
        if q.hasPrefix("List exactly") {
            return responses.map { r in
                let lines = r.split(separator: "\n")
                return lines.count == qn[0] && lines.allSatisfy { $0.hasPrefix("- ") }
            }
        }
        if q.contains("JSON") {
            let quoted = q.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            return responses.map { r in
                // Foundation's parsers accept trailing commas; RFC 8259 does not.
                guard StrictJSON.isValid(r), let o = try? JSONValue.parse(r), case let .object(pairs) = o,
                    pairs.count == 2
                else { return false }
                return o[quoted[0]] == .string(quoted[1]) && o[quoted[2]] == .integer(qn.last!)
            }
        }
        if q.contains("capital of") || q.contains("capital city of") {
            let capitals = [
                "France": "Paris", "Japan": "Tokyo", "Australia": "Canberra", "Canada": "Ottawa",
                "Turkey": "Ankara", "Brazil": "Brasília", "Nigeria": "Abuja", "Switzerland": "Bern"
            ]
            guard let (country, capital) = capitals.first(where: { q.contains($0.key) }) else { return nil }
            _ = country
            return responses.map { $0.contains(" \(capital) ") || $0.hasPrefix(capital + " ") || $0.hasSuffix(" \(capital).") }
        }
        if q.contains("letter \"") || q.hasPrefix("Count the occurrences") {
            let parts = q.split(separator: "\"")
            let letter = parts[1].first!, word = parts[3]
            return responses.map { numbers($0).last == word.filter { $0 == letter }.count }
        }
        if q.hasPrefix("Spell the word") || q.hasPrefix("Write out \"") {
            let word = q.split(separator: "\"")[1]
            return responses.map { $0 == "Letter by letter: " + word.map(String.init).joined(separator: "-") + "." }
        }
        if let v = decimals(q).first {
            let text = v == v.rounded() ? String(Int(v)) : String(v)
            for (from, to, factor) in unitFactors
            where q.contains("\(text) \(from) to \(to)")
                || q.contains("\(to) are in \(text) \(from)") || q.contains("\(text) \(from) in \(to)")
            {
                let want = (v * Double(factor) * 10).rounded() / 10
                return responses.map { decimals($0).last == want }
            }
        }
        if q.hasPrefix("Reverse the letters") || q.hasSuffix("backwards.") {
            let word = q.split(separator: "\"")[1]
            return responses.map { $0.split(separator: "\"")[3] == String(word.reversed()) }
        }
        if q.hasPrefix("Reverse the order of the words") {
            let sentence = q.split(separator: "\"")[1]
            return responses.map { $0.hasSuffix(": " + sentence.split(separator: " ").reversed().joined(separator: " ")) }
        }
        return nil
    }

    func testSplitsAreDisjoint() throws {
        var train = try RewardSynthesizer(seed: 1, split: .train)
        var test = try RewardSynthesizer(seed: 2, split: .test)
        var validation = try RewardSynthesizer(seed: 1, split: .validation)
        let a = try train.generate(2000), b = try test.generate(300), c = try validation.generate(300)
        XCTAssertTrue(Set(a.map(\.id)).isDisjoint(with: b.map(\.id)))
        XCTAssertTrue(Set(a.map(\.query)).isDisjoint(with: b.map(\.query)))
        XCTAssertTrue(Set(a.map(\.query)).isDisjoint(with: c.map(\.query)))
        XCTAssertTrue(Set(b.map(\.query)).isDisjoint(with: c.map(\.query)))
        // The same question (same key) always falls in the same split.
        for key in ["x", "capital:France", "add:100:200"] {
            XCTAssertEqual(SynthSplit.position(ofKey: key), SynthSplit.position(ofKey: key))
        }
        // About 80% of random questions fall in train.
        var all = try RewardSynthesizer(seed: 3, categories: [.arithmetic])
        let positions = try all.generate(1000).map { item -> Double in
            let qn = Self.numbers(item.query)
            let kind =
                item.query.contains("+") || item.query.contains("plus")
                ? "add"
                : item.query.contains("×") || item.query.contains("times") ? "mul" : "sub"
            return SynthSplit.position(ofKey: "arithmetic/\(kind):\(qn[0]):\(qn[1])")
        }
        XCTAssertEqual(Double(positions.filter { SynthSplit.train.range.contains($0) }.count), 800, accuracy: 60)
    }

    func testRunsOutClearly() throws {
        var s = try RewardSynthesizer(seed: 1, categories: [.facts], split: .test)
        s.maxConsecutiveRejects = 2000
        XCTAssertThrowsError(try s.generate(500)) { error in
            XCTAssertTrue("\(error)".contains("ran out of distinct questions"), "\(error)")
        }
    }

    func testSingleResponseFraction() throws {
        var s = try RewardSynthesizer(seed: 4, singleFraction: 0.5)
        let items = try s.generate(600)
        let singles = items.filter { $0.responses.count == 1 }
        XCTAssertEqual(Double(singles.count), 300, accuracy: 60)
        let positives = singles.filter { $0.label == .binary(1) }.count
        XCTAssertEqual(Double(positives), Double(singles.count) / 2, accuracy: 50)
        for item in singles {
            if let v = Self.verify(item.query, item.responses) { XCTAssertEqual(v[0], item.label == .binary(1)) }
        }
    }

    func testOptionsValidated() {
        XCTAssertThrowsError(try SynthCategory.parseList("arithmetic,nope")) { XCTAssertTrue("\($0)".contains("nope")) }
        XCTAssertEqual(try SynthCategory.parseList(" facts , units"), [.facts, .units])
        XCTAssertThrowsError(try SynthSplit.named("holdout"))
        XCTAssertThrowsError(try RewardSynthesizer(seed: 1, categories: []))
        XCTAssertThrowsError(try RewardSynthesizer(seed: 1, singleFraction: 2))
    }
}

/// A strict RFC 8259 syntax check (recursive descent), independent of Foundation's lenient parsers.
enum StrictJSON {
    static func isValid(_ text: String) -> Bool {
        var p = Array(text.utf8)[...]
        guard value(&p) else { return false }
        skip(&p)
        return p.isEmpty
    }

    static func skip(_ p: inout ArraySlice<UInt8>) {
        while let c = p.first, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { p.removeFirst() }
    }

    static func eat(_ c: UInt8, _ p: inout ArraySlice<UInt8>) -> Bool {
        skip(&p)
        guard p.first == c else { return false }
        p.removeFirst()
        return true
    }

    static func value(_ p: inout ArraySlice<UInt8>) -> Bool {
        skip(&p)
        guard let c = p.first else { return false }
        switch c {
        case UInt8(ascii: "{"):
            p.removeFirst()
            if eat(UInt8(ascii: "}"), &p) { return true }
            repeat {
                skip(&p)
                guard string(&p), eat(UInt8(ascii: ":"), &p), value(&p) else { return false }
            } while eat(UInt8(ascii: ","), &p)
            return eat(UInt8(ascii: "}"), &p)
        case UInt8(ascii: "["):
            p.removeFirst()
            if eat(UInt8(ascii: "]"), &p) { return true }
            repeat { guard value(&p) else { return false } } while eat(UInt8(ascii: ","), &p)
            return eat(UInt8(ascii: "]"), &p)
        case UInt8(ascii: "\""): return string(&p)
        default:
            for word in ["true", "false", "null"] where p.starts(with: word.utf8) {
                p.removeFirst(word.utf8.count)
                return true
            }
            var n = 0
            while let d = p.first, d == UInt8(ascii: "-") || d == UInt8(ascii: ".") || (0x30...0x39).contains(d) {
                p.removeFirst()
                n += 1
            }
            return n > 0
        }
    }

    static func string(_ p: inout ArraySlice<UInt8>) -> Bool {
        guard p.first == UInt8(ascii: "\"") else { return false }
        p.removeFirst()
        while let c = p.first {
            p.removeFirst()
            if c == UInt8(ascii: "\\") {
                guard !p.isEmpty else { return false }
                p.removeFirst()
            } else if c == UInt8(ascii: "\"") {
                return true
            }
        }
        return false
    }
}
