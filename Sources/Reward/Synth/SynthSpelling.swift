import Foundation
import Tensor

/// Letter-level tasks: spelling a commonly misspelled word (against its usual misspellings),
/// counting a letter, and reversing a word or the order of words (against near misses of the
/// same length).
enum SynthSpelling {
    /// Words with their common misspellings.
    static let misspelled: [(String, [String])] = [
        ("necessary", ["neccessary", "necesary", "neccesary"]), ("separate", ["seperate", "separete", "seperete"]),
        ("definitely", ["definately", "definitly", "defenitely"]), ("receive", ["recieve", "receve", "receeve"]),
        ("occurrence", ["occurence", "ocurrence", "occurrance"]), ("accommodate", ["accomodate", "acommodate", "accommadate"]),
        ("embarrass", ["embarass", "embarras", "embaress"]), ("rhythm", ["rythm", "rhythem", "rhytm"]),
        ("conscience", ["concience", "conscence", "consience"]), ("millennium", ["millenium", "milennium", "millenium"]),
        ("privilege", ["priviledge", "privelege", "privilige"]), ("calendar", ["calender", "calandar", "callendar"]),
        ("cemetery", ["cemetary", "cematery", "semetery"]), ("maintenance", ["maintainance", "maintenence", "maintanance"]),
        ("pronunciation", ["pronounciation", "pronunciacion", "prononciation"]), ("questionnaire", ["questionaire", "questionnare", "qestionnaire"]),
        ("environment", ["enviroment", "environmant", "envirnment"]), ("government", ["goverment", "governmant", "govermant"]),
        ("recommend", ["reccomend", "recomend", "reccommend"]), ("tomorrow", ["tommorow", "tomorow", "tommorrow"]),
        ("beginning", ["begining", "beggining", "beginnig"]), ("believe", ["beleive", "belive", "beleave"]),
        ("committee", ["commitee", "comittee", "committe"]), ("existence", ["existance", "existense", "exsistence"]),
        ("guarantee", ["garantee", "guarentee", "gaurantee"]), ("harass", ["harrass", "haras", "harras"]),
        ("independent", ["independant", "indepedent", "independint"]), ("library", ["libary", "liberry", "librery"]),
        ("occasion", ["occassion", "ocasion", "ocassion"]), ("restaurant", ["restaraunt", "resturant", "restarant"])
    ]

    static let words = [
        "planet", "garden", "silver", "window", "market", "pencil", "rocket", "bottle", "candle",
        "dragon", "forest", "guitar", "hammer", "island", "jacket", "kitten", "lemon", "mirror",
        "orange", "parrot", "rabbit", "sunset", "tunnel", "velvet", "wizard", "yogurt", "strawberry",
        "banana", "committee", "mississippi", "bookkeeper", "balloon", "coffee", "assessment"
    ]

    static func draft(_ rng: inout SeededRandom) -> SynthDraft {
        switch rng.nextInt(4) {
        case 0: return spell(&rng)
        case 1: return countLetter(&rng)
        case 2: return reverseWord(&rng)
        default: return reverseWords(&rng)
        }
    }

    static func spell(_ rng: inout SeededRandom) -> SynthDraft {
        let (word, wrongs) = rng.pick(misspelled)
        func text(_ w: String) -> String { "Letter by letter: " + w.map(String.init).joined(separator: "-") + "." }
        let prompt = rng.pick([
            "Spell the word \"\(word)\" letter by letter, separating the letters with hyphens.",
            "Write out \"\(word)\" one letter at a time, joined by hyphens."
        ])
        return SynthDraft(
            key: "spell:\(word)", prompt: prompt, correct: text(word),
            wrong: Array(Set(wrongs)).sorted().map(text))
    }

    static func countLetter(_ rng: inout SeededRandom) -> SynthDraft {
        let word = rng.pick(words)
        let letter = rng.pick(Array(Set(word)).sorted())
        let count = word.filter { $0 == letter }.count
        func text(_ n: Int) -> String { "Occurrences of \"\(letter)\" in \"\(word)\": \(n)." }
        let wrongCounts = [count - 1, count + 1, count + 2].filter { $0 >= 1 && $0 != count }
        let prompt = rng.pick([
            "How many times does the letter \"\(letter)\" appear in \"\(word)\"?",
            "Count the occurrences of \"\(letter)\" in the word \"\(word)\"."
        ])
        return SynthDraft(key: "count:\(word):\(letter)", prompt: prompt, correct: text(count), wrong: wrongCounts.map(text))
    }

    /// `items` with two adjacent unequal items swapped, for each of up to three positions.
    static func adjacentSwaps<T: Equatable>(_ items: [T], _ rng: inout SeededRandom) -> [[T]] {
        let spots = (0..<(items.count - 1)).filter { items[$0] != items[$0 + 1] }
        return rng.sample(spots, 3).map { i in
            var s = items
            s.swapAt(i, i + 1)
            return s
        }
    }

    static func reverseWord(_ rng: inout SeededRandom) -> SynthDraft {
        let word = rng.pick(words + misspelled.map(\.0))
        let right = Array(word.reversed())
        var wrong = adjacentSwaps(right, &rng).map { String($0) }
        // Reversed all but the first letter: a frequent slip.
        let partial = String(word.prefix(1)) + String(word.dropFirst().reversed())
        if partial != String(right) { wrong.append(partial) }
        func text(_ w: String) -> String { "Reversed, \"\(word)\" becomes \"\(w)\"." }
        let prompt = rng.pick(["Reverse the letters of the word \"\(word)\".", "Write \"\(word)\" backwards."])
        return SynthDraft(key: "reverse:\(word)", prompt: prompt, correct: text(String(right)), wrong: wrong.map(text))
    }

    static func reverseWords(_ rng: inout SeededRandom) -> SynthDraft {
        let n = rng.int(5...7)
        let sentence = SynthInstructions.sentence(n, &rng).dropLast().lowercased()
        let tokens = sentence.split(separator: " ").map(String.init)
        let right = Array(tokens.reversed())
        var wrong = adjacentSwaps(right, &rng)
        // Each word reversed instead of the word order.
        wrong.append(tokens.map { String($0.reversed()) })
        func text(_ t: [String]) -> String { "Reversed word order: " + t.joined(separator: " ") }
        let prompt = "Reverse the order of the words in this sentence: \"\(sentence)\""
        return SynthDraft(key: "reverse-words:\(sentence)", prompt: prompt, correct: text(right), wrong: wrong.map(text))
    }
}
