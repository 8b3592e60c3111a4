import Foundation
import Tensor

/// Verifiable instruction following: exact word counts, a word to include or avoid, all capitals,
/// a number of bullet points, valid JSON. Each wrong response breaks exactly one constraint.
/// Sentences are drawn independently per response where the constraint allows, so their lengths
/// vary at random rather than with correctness.
enum SynthInstructions {
    static let nouns = [
        "farmer", "teacher", "child", "river", "cat", "robot", "painter", "sailor", "garden", "lamp",
        "letter", "window", "horse", "baker", "doctor", "book", "bicycle", "kite", "violin", "boat",
        "village", "mountain", "student", "engine", "forest", "singer", "bridge", "clock"
    ]
    static let verbs = [
        "found", "painted", "carried", "watched", "cleaned", "repaired", "followed", "noticed",
        "opened", "described", "visited", "admired", "moved", "borrowed"
    ]
    static let adjectives = [
        "old", "quiet", "bright", "small", "curious", "heavy", "gentle", "tired", "clever",
        "green", "busy", "friendly", "strange", "famous"
    ]
    static let phrases = [
        "today", "again", "slowly", "carefully", "near the river", "after lunch", "in the morning",
        "with great care", "before dark", "every day", "at the market", "without a sound",
        "for a while", "quite happily", "on a cold evening", "yesterday", "once more"
    ]

    static func draft(_ rng: inout SeededRandom) -> SynthDraft {
        switch rng.nextInt(5) {
        case 0: return wordCount(&rng)
        case 1: return capitals(&rng)
        case 2: return avoidWord(&rng)
        case 3: return bullets(&rng)
        default: return json(&rng)
        }
    }

    /// A sentence of exactly `n` words (n >= 5 + forced adjectives), with `noun` as its subject or
    /// object when given, `adjective` before a noun when given, and no word in `avoid`.
    static func sentence(
        _ n: Int, noun: String? = nil, adjective: String? = nil, avoid: Set<String> = [],
        pair: (String, String)? = nil, _ rng: inout SeededRandom
    ) -> String {
        func pick(_ list: [String]) -> String { rng.pick(list.filter { !avoid.contains($0) }) }
        var first = pick(nouns), second = pick(nouns.filter { $0 != first })
        if let pair {
            (first, second) = pair
        } else if let noun {
            if rng.chance(0.5) { first = noun } else { second = noun }
            if first == second { second = pick(nouns.filter { $0 != noun }) }
        }
        var adjFirst: String?, adjSecond: String?
        var remaining = n - 5
        if let adjective {
            if rng.chance(0.5) { adjFirst = adjective } else { adjSecond = adjective }
            remaining -= 1
        }
        if remaining > 0, adjFirst == nil, rng.chance(0.5) {
            adjFirst = pick(adjectives)
            remaining -= 1
        }
        if remaining > 0, adjSecond == nil, rng.chance(0.5) {
            adjSecond = pick(adjectives)
            remaining -= 1
        }
        var tail: [String] = []
        let usable = phrases.filter { p in !p.split(separator: " ").contains { avoid.contains(String($0)) } }
        while remaining > 0 {
            let fits = usable.filter { $0.split(separator: " ").count <= remaining && !tail.contains($0) }
            let p = fits.isEmpty ? usable.filter { !$0.contains(" ") }.first! : rng.pick(fits)
            tail.append(p)
            remaining -= p.split(separator: " ").count
        }
        var words =
            ["The"] + [adjFirst, first].compactMap { $0 } + [pick(verbs), "the"]
            + [adjSecond, second].compactMap { $0 }
        words += tail.flatMap { $0.split(separator: " ").map(String.init) }
        return words.joined(separator: " ") + "."
    }

    static func wordCount(_ rng: inout SeededRandom) -> SynthDraft {
        let n = rng.int(7...12)
        let word = rng.pick(nouns)
        let correct = sentence(n, noun: word, &rng)
        let off1 = rng.chance(0.5) ? 1 : -1
        var wrong = [sentence(n, avoid: [word], &rng), sentence(n + off1, noun: word, &rng)]
        if rng.chance(0.5) {
            wrong.append(sentence(n, avoid: [word], &rng))
        } else {
            let off2 = rng.chance(0.5) ? 2 : -2
            wrong.append(sentence(n + off2, noun: word, &rng))
        }
        let prompt = rng.pick([
            "Write one sentence of exactly \(n) words that includes the word \"\(word)\".",
            "Give me a single sentence with exactly \(n) words; it must contain the word \"\(word)\"."
        ])
        return SynthDraft(key: "count:\(n):\(word)", prompt: prompt, correct: correct, wrong: wrong)
    }

    static func capitals(_ rng: inout SeededRandom) -> SynthDraft {
        let topic = rng.pick(nouns)
        let other = rng.pick(nouns.filter { $0 != topic })
        let length = rng.int(7...11)
        let base = sentence(length, pair: (topic, other), &rng)
        var words = base.uppercased().split(separator: " ").map(String.init)
        let lower = rng.int(1...(words.count - 1))
        words[lower] = words[lower].lowercased()
        let title = base.split(separator: " ").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
        let prompt = rng.pick([
            "Write one sentence about a \(topic) and a \(other), using only capital letters.",
            "Describe a \(topic) and a \(other) in one sentence written entirely in uppercase."
        ])
        return SynthDraft(
            key: "caps:\(topic):\(other)", prompt: prompt, correct: base.uppercased(),
            wrong: [base, words.joined(separator: " "), title])
    }

    static func avoidWord(_ rng: inout SeededRandom) -> SynthDraft {
        let topic = rng.pick(nouns)
        let banned = rng.pick(adjectives)
        let length = rng.int(8...11)
        let correct = sentence(length, noun: topic, avoid: [banned], &rng)
        var wrong: [String] = []
        for _ in 0..<3 {
            let length = rng.int(8...11)
            wrong.append(sentence(length, noun: topic, adjective: banned, &rng))
        }
        let prompt = rng.pick([
            "Write one sentence about a \(topic) without using the word \"\(banned)\".",
            "Describe a \(topic) in a single sentence. Do not use the word \"\(banned)\"."
        ])
        return SynthDraft(key: "avoid:\(topic):\(banned)", prompt: prompt, correct: correct, wrong: wrong)
    }

    static let lists: [(String, [String])] = [
        ("fruits", ["apple", "banana", "cherry", "mango", "pear", "plum", "kiwi", "orange", "grape", "apricot", "lemon", "papaya"]),
        ("colours", ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "brown", "pink", "grey"]),
        ("animals", ["lion", "zebra", "otter", "eagle", "badger", "dolphin", "rabbit", "wolf", "camel", "tiger", "koala"]),
        ("countries", ["France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "Peru", "India", "Egypt", "Chile", "Spain"]),
        ("musical instruments", ["piano", "violin", "flute", "guitar", "drum", "cello", "trumpet", "harp", "oboe", "banjo"])
    ]

    static func bullets(_ rng: inout SeededRandom) -> SynthDraft {
        let (name, items) = rng.pick(lists)
        let n = rng.int(3...6)
        func list(_ count: Int, _ marker: (Int) -> String) -> String {
            rng.sample(items, count).enumerated().map { marker($0) + $1 }.joined(separator: "\n")
        }
        let correct = list(n) { _ in "- " }
        let wrong = [list(n + (rng.chance(0.5) ? 1 : -1)) { _ in "- " }, list(n) { "\($0 + 1). " }, list(n) { _ in "* " }]
        let prompt = "List exactly \(n) \(name), one per line, each line starting with \"- \". Write nothing else."
        return SynthDraft(key: "bullets:\(name):\(n)", prompt: prompt, correct: correct, wrong: wrong)
    }

    static let records: [(String, [String], String, ClosedRange<Int>)] = [
        ("name", ["Ana", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana"], "age", 18...80),
        ("city", ["Lyon", "Osaka", "Quito", "Accra", "Perth", "Tromso", "Porto"], "population", 10_000...999_999),
        ("title", ["Blue Harbor", "The Long Road", "Paper Moons", "Quiet Hours", "Salt and Iron"], "year", 1900...2024),
        ("product", ["kettle", "backpack", "desk lamp", "headphones", "umbrella"], "price", 2...500)
    ]

    static func json(_ rng: inout SeededRandom) -> SynthDraft {
        let (k1, values, k2, range) = rng.pick(records)
        let v1 = rng.pick(values), v2 = rng.int(range)
        let correct = "{\"\(k1)\": \"\(v1)\", \"\(k2)\": \(v2)}"
        let wrong = [
            "{'\(k1)': '\(v1)', '\(k2)': \(v2)}",
            "{\"\(k1)\": \"\(v1)\", \"\(k2)\": \(v2),}",
            "{\"\(k1)\": \"\(v1)\", \"\(k2)\": \"\(v2)\"}",
            "{\(k1): \"\(v1)\", \(k2): \(v2)}",
            "{\"\(k1)\": \"\(v1)\", \"\(k2)\": \(v2)"
        ]
        let prompt = rng.pick([
            "Return only a valid JSON object with two keys: \"\(k1)\" set to the string \"\(v1)\" and \"\(k2)\" set to the number \(v2).",
            "Output strict JSON (nothing else): an object whose \"\(k1)\" is \"\(v1)\" and whose \"\(k2)\" is the number \(v2)."
        ])
        return SynthDraft(key: "json:\(k1):\(v1):\(v2)", prompt: prompt, correct: correct, wrong: wrong)
    }
}
