import Foundation
import XCTest
@testable import Transformer

/// The default model's tokenizer against llama.cpp: the 35 reference texts with special parsing
/// off and on (Fixtures/smollm2-tokens.json, from /work/shared/reference), round trips, special
/// ids, and decode(encode(x)) == x on random valid UTF-8.
final class SmolLM2TokenizerTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let ids_special: [Int32]
    }

    static let cases: [Case] = {
        let data = FileManager.default.contents(atPath: fixturePath("smollm2-tokens.json")) ?? Data()
        return (try? JSONDecoder().decode([Case].self, from: data)) ?? []
    }()

    func testReferenceIDsWithSpecialParsingOffAndOn() throws {
        let tok = try smolLM2Tokenizer()
        XCTAssertEqual(SmolLM2TokenizerTests.cases.count, 35)
        var matched = 0
        for c in SmolLM2TokenizerTests.cases {
            let plain = tok.encode(c.text)
            let special = tok.encode(c.text, parseSpecial: true)
            XCTAssertEqual(plain, c.ids, "special parsing off: \(c.text.debugDescription)")
            XCTAssertEqual(special, c.ids_special, "special parsing on: \(c.text.debugDescription)")
            matched += (plain == c.ids ? 1 : 0) + (special == c.ids_special ? 1 : 0)
        }
        XCTAssertEqual(matched, 70)
    }

    func testReferenceRoundTrip() throws {
        let tok = try smolLM2Tokenizer()
        for c in SmolLM2TokenizerTests.cases {
            XCTAssertEqual(tok.decodeText(c.ids), c.text)
            XCTAssertEqual(tok.decodeText(c.ids_special, special: true), c.text)
        }
        // Without special rendering control tokens vanish.
        let chat = "<|im_start|>user\nHi<|im_end|>\n"
        XCTAssertEqual(tok.decodeText(tok.encode(chat, parseSpecial: true)), "user\nHi\n")
    }

    func testSpecialTokens() throws {
        let tok = try smolLM2Tokenizer()
        XCTAssertEqual(tok.vocabulary.count, 49152)
        XCTAssertEqual(tok.bos, 1)
        XCTAssertEqual(tok.eos, 2)
        XCTAssertEqual(tok.eot, 2)
        XCTAssertEqual(tok.pad, 2)
        XCTAssertFalse(tok.addBOS)
        XCTAssertTrue(tok.isEndOfGeneration(0))
        XCTAssertTrue(tok.isEndOfGeneration(2))
        XCTAssertFalse(tok.isEndOfGeneration(1))
        XCTAssertEqual(tok.encode("Hello world", addSpecial: true), [19556, 905])  // no BOS for SmolLM2
        XCTAssertEqual(tok.encode("<|im_start|>", parseSpecial: true), [1])
        XCTAssertEqual(tok.encode("<|im_start|><|im_end|><|endoftext|>", parseSpecial: true), [1, 2, 0])
        XCTAssertNotEqual(tok.encode("<|im_start|>"), [1])
        XCTAssertEqual(tok.piece(1), Array("<|im_start|>".utf8))
        XCTAssertEqual(tok.piece(1, special: false), [])
    }

    func testInvalidUTF8IsReadAsLlamaCppReadsIt() throws {
        let tok = try smolLM2Tokenizer()
        // Each bad byte becomes U+FFFD; a truncated sequence consumes only its lead byte.
        XCTAssertEqual(tok.encode(bytes: [0x61, 0xFF, 0x62]), tok.encode("a\u{FFFD}b"))
        XCTAssertEqual(tok.encode(bytes: [0xE6, 0x97, 0x20]), tok.encode("\u{FFFD}\u{FFFD} "))
    }

    func testRandomUTF8RoundTrips() throws {
        let tok = try smolLM2Tokenizer()
        // SmolLM2 has no token for 21 of the 256 bytes (e.g. the lead bytes F1..F7 and some
        // continuation bytes); text containing them cannot round-trip (llama.cpp and HF drop them too).
        let representable = (0..<256).map { b in
            tok.vocabulary.id(of: String(Character(Unicode.Scalar(ByteLevel.byteToScalar[b])!))) != nil
        }
        XCTAssertEqual(representable.filter { !$0 }.count, 21)
        var rng = SplitMix64(seed: 5)
        for _ in 0..<400 {
            let text = randomText(&rng, keep: { s in String(s).utf8.allSatisfy { representable[Int($0)] } })
            let ids = tok.encode(text)
            XCTAssertEqual(tok.decodeText(ids), text, text.debugDescription)
            // Streaming: same text, and every emitted chunk is whole characters.
            var stream = StreamingDecoder(tokenizer: tok)
            var joined = ""
            for id in ids {
                let chunk = stream.push(id)
                XCTAssertFalse(chunk.unicodeScalars.contains("\u{FFFD}"), text.debugDescription)
                joined += chunk
            }
            joined += stream.finish()
            XCTAssertEqual(joined, text)
        }
    }

    func testBytesWithoutTokensAreDropped() throws {
        let tok = try smolLM2Tokenizer()
        // U+5FAC7 = F1 9F AB 87: no token for F1, so llama.cpp (and HF) keep only the rest.
        XCTAssertEqual(tok.encode("\u{5FAC7}"), [249, 121, 225])
    }

    func testStreamingHoldsBackSplitCharacters() throws {
        let tok = try smolLM2Tokenizer()
        let ids = tok.encode("😀 emoji")  // the emoji is split over byte tokens
        XCTAssertEqual(Array(ids.prefix(3)), [10813, 242, 218])
        var stream = StreamingDecoder(tokenizer: tok)
        XCTAssertEqual(stream.push(ids[0]), "")
        XCTAssertEqual(stream.push(ids[1]), "")
        XCTAssertEqual(stream.push(ids[2]), "😀")
    }

    func testLongInputMatchesPiecewiseEncoding() throws {
        let tok = try smolLM2Tokenizer()
        // Pieces never cross a newline-followed-by-letter boundary here, so encoding the whole is
        // encoding the lines; the word cache is exercised (and cleared) along the way.
        var lines: [String] = []
        var rng = SplitMix64(seed: 9)
        for i in 0..<3000 { lines.append("line \(i) \(randomWord(&rng)) \(randomWord(&rng)).\n") }
        let whole = tok.encode(lines.joined())
        XCTAssertEqual(whole, lines.flatMap { tok.encode($0) })
    }
}

/// The default model's tokenizer, loaded once; fails clearly when weights/ has not been fetched.
func smolLM2Tokenizer() throws -> Tokenizer {
    if let t = SmolLM2.tokenizer { return t }
    let path = SmolLM2.path
    guard FileManager.default.fileExists(atPath: path) else {
        XCTFail("model file missing: \(path). Run `bash weights/fetch.sh` (make test does).")
        throw XCTSkip("model missing")
    }
    let t = try Tokenizer(path: path)
    SmolLM2.tokenizer = t
    return t
}

enum SmolLM2 {
    /// <repo>/weights/SmolLM2-135M-Instruct.Q4_1.gguf, from this file's location.
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("weights/SmolLM2-135M-Instruct.Q4_1.gguf").path
    nonisolated(unsafe) static var tokenizer: Tokenizer?
}

private let textPools: [[String]] = [
    ["a", "b", "Z", "hello", "World", "the", "I'm", "it's", "'S", "x"],
    ["0", "7", "42", "3.14", "1,000"],
    [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u{A0}", "\u{3000}", "\u{2003}", "\u{85}"],
    [".", ",", "!", "?", "(", ")", "{", "}", "<|", "|>", "#", "$", "\\", "\"", "'"],
    ["é", "ñ", "ü", "ß", "e\u{301}", "Å", "ǅ"],
    ["日本", "語", "中文", "テキスト", "한국어", "ไทย"],
    ["Привет", "мир", "مرحبا", "שלום", "Ελλάδα"],
    ["😀", "🎉", "👍🏽", "🇫🇷", "👨‍👩‍👧", "\u{1F9EA}"],
    ["²", "½", "①", "٣"],
    ["\u{200B}", "\u{FEFF}", "\u{0}", "\u{1F}", "\u{7F}", "\u{E000}"]
]

private func randomWord(_ rng: inout SplitMix64) -> String {
    let pool = textPools[Int(rng.next() % 2)]
    return pool[Int(rng.next() % UInt64(pool.count))]
}

/// Random valid UTF-8 mixing scripts, emoji, whitespace runs, marks, controls and random scalars.
private func randomText(_ rng: inout SplitMix64, keep: (Unicode.Scalar) -> Bool) -> String {
    var s = ""
    let parts = Int(rng.next() % 24)
    for _ in 0..<parts {
        if rng.next() % 10 == 0 {
            // any Unicode scalar value (surrogates excluded)
            var v = UInt32(rng.next() % 0x110000)
            if (0xD800...0xDFFF).contains(v) { v = 0xE000 }
            let scalar = Unicode.Scalar(v)!
            if keep(scalar) { s.unicodeScalars.append(scalar) }
        } else {
            let pool = textPools[Int(rng.next() % UInt64(textPools.count))]
            s += pool[Int(rng.next() % UInt64(pool.count))]
        }
    }
    return s
}
