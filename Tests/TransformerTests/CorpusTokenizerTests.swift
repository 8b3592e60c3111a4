import Foundation
import XCTest
@testable import Transformer

/// Gemma 3's and the default model's tokenizers against llama.cpp on a multilingual corpus
/// (Fixtures/corpus-tokens-llamacpp.json, written by Benchmarks/anchors/llamacpp_gemma_reference.py):
/// scripts, emoji, code, whitespace runs and special-token texts, each tokenised with special
/// parsing off and on, with and without BOS, and the special-parsed ids detokenised with and
/// without control tokens rendered. The Gemma file (250 MB, `weights/fetch.sh gemma3`) may be
/// absent: its tests are then skipped.
final class CorpusTokenizerTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let ids_special: [Int32]
        let ids_bos: [Int32]
        let ids_bos_special: [Int32]
        let text_from_special_ids: String
        let text_from_special_ids_plain: String
    }
    struct File: Decodable {
        let gemma3: [Case]
        let smollm2: [Case]
    }

    static func corpus() throws -> File {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: fixturePath("corpus-tokens-llamacpp.json")))
        return try JSONDecoder().decode(File.self, from: data)
    }

    /// Every case in all four encodings and both decodings; returns the matches out of the total.
    func check(_ tok: Tokenizer, _ cases: [Case], _ model: String) -> (matched: Int, total: Int) {
        var matched = 0, total = 0
        func same<T: Equatable>(_ a: T, _ b: T, _ what: String, _ text: String) {
            total += 1
            if a == b { matched += 1 } else { XCTFail("\(model) \(what) of \(text.debugDescription): \(a) vs llama.cpp \(b)") }
        }
        for c in cases {
            same(tok.encode(c.text), c.ids, "ids", c.text)
            same(tok.encode(c.text, parseSpecial: true), c.ids_special, "ids (special)", c.text)
            same(tok.encode(c.text, addSpecial: true), c.ids_bos, "ids (BOS)", c.text)
            same(tok.encode(c.text, addSpecial: true, parseSpecial: true), c.ids_bos_special, "ids (BOS, special)", c.text)
            same(tok.decodeText(c.ids_special, special: true), c.text_from_special_ids, "detokenised (special)", c.text)
            same(tok.decodeText(c.ids_special), c.text_from_special_ids_plain, "detokenised", c.text)
        }
        return (matched, total)
    }

    func testGemma3CorpusMatchesLlamaCpp() throws {
        let tok = try gemma3Tokenizer()
        let cases = try Self.corpus().gemma3
        XCTAssertEqual(cases.count, 46)
        let r = check(tok, cases, "gemma3")
        XCTAssertEqual(r.matched, r.total)
        XCTAssertEqual(r.total, 46 * 6)
    }

    func testSmolLM2CorpusMatchesLlamaCpp() throws {
        let tok = try smolLM2Tokenizer()
        let cases = try Self.corpus().smollm2
        XCTAssertEqual(cases.count, 46)
        let r = check(tok, cases, "smollm2")
        XCTAssertEqual(r.matched, r.total)
    }

    func testGemma3Vocabulary() throws {
        let tok = try gemma3Tokenizer()
        let v = tok.vocabulary
        XCTAssertEqual(v.count, 262_144)
        XCTAssertEqual(v.model, "llama")
        XCTAssertEqual(tok.bos, 2)
        XCTAssertEqual(tok.eos, 1)
        XCTAssertTrue(tok.addBOS)
        XCTAssertFalse(v.addSpacePrefix)
        // Texts that Swift's String calls equal (canonically equivalent) but whose bytes differ
        // are different tokens: য় precomposed (U+09DF) and decomposed (U+09AF U+09BC), and the two
        // semicolons. The file has no byte-identical texts.
        let precomposed = "\u{09BE}\u{09DF}", decomposed = "\u{09BE}\u{09AF}\u{09BC}"
        XCTAssertEqual(precomposed, decomposed)  // as Swift compares Strings
        XCTAssertEqual(v.id(of: precomposed), 3082)
        XCTAssertEqual(v.id(of: decomposed), 4388)
        XCTAssertEqual(Array(v.tokens[3082].utf8), Array(precomposed.utf8))
        XCTAssertEqual(v.id(of: ";"), 236793)
        XCTAssertEqual(v.id(of: "\u{037E}"), 248374)
        XCTAssertEqual(Set(v.idsByText.values).count, v.count)
        // End of generation: <eos> and <end_of_turn> (106).
        XCTAssertTrue(tok.isEndOfGeneration(1))
        XCTAssertTrue(tok.isEndOfGeneration(106))
        XCTAssertEqual(tok.encode("<start_of_turn>", parseSpecial: true), [105])
    }
}

/// Vocabularies whose texts repeat load as llama.cpp loads them (built here, no model file).
final class DuplicateTokenTests: XCTestCase {
    func testLastIdOfARepeatedTextWinsAndEveryIdKeepsItsText() throws {
        // ids: 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 ab, 7 ab (again, higher score), 8 ▁ab, 9 a (again).
        let tokens = ["<unk>", "<s>", "</s>", "\u{2581}", "a", "b", "ab", "ab", "\u{2581}ab", "a"]
        let types: [Int32] = [2, 3, 3, 1, 1, 1, 1, 1, 1, 1]
        let scores: [Float] = [0, 0, 0, -1, -2, -3, -9, -1, -5, -2]
        let tok = try Tokenizer(
            metadata: GGUFMetadata([
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.tokens", .array(.string(tokens))),
                ("tokenizer.ggml.token_type", .array(.int32(types))),
                ("tokenizer.ggml.scores", .array(.float32(scores))),
                ("tokenizer.ggml.add_space_prefix", .bool(false))
            ]))
        let v = tok.vocabulary
        XCTAssertEqual(v.tokens, tokens)
        XCTAssertEqual(v.id(of: "ab"), 7)
        XCTAssertEqual(v.id(of: "a"), 9)
        // Merges look texts up: "ab" is id 7, scored -1 (the score of id 6, -9, is never used),
        // so "ab" merges before "▁a" could; single characters become their last id.
        XCTAssertEqual(tok.encode("ab"), [7])
        XCTAssertEqual(tok.encode("ba"), [5, 9])
        XCTAssertEqual(tok.encode(" ab"), [8])
        // Both ids of a text decode to it.
        XCTAssertEqual(tok.decodeText([6, 7, 4, 9]), "ababaa")
    }

    func testCanonicallyEquivalentTextsAreDifferentTokens() throws {
        // 3 é (U+00E9), 4 e, 5 U+0301, 6 e + U+0301 (equal to 3 as Swift Strings), 7 ;, 8 U+037E.
        let tokens = ["<unk>", "<s>", "</s>", "\u{E9}", "e", "\u{301}", "e\u{301}", ";", "\u{37E}"]
        let tok = try Tokenizer(
            metadata: GGUFMetadata([
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.tokens", .array(.string(tokens))),
                ("tokenizer.ggml.token_type", .array(.int32([2, 3, 3, 1, 1, 1, 1, 1, 1]))),
                ("tokenizer.ggml.scores", .array(.float32([0, 0, 0, -1, -1, -1, -1, -1, -1]))),
                ("tokenizer.ggml.add_space_prefix", .bool(false))
            ]))
        XCTAssertEqual(tok.vocabulary.id(of: "\u{E9}"), 3)
        XCTAssertEqual(tok.vocabulary.id(of: "e\u{301}"), 6)
        XCTAssertEqual(tok.encode("\u{E9}"), [3])
        XCTAssertEqual(tok.encode("e\u{301}"), [6])
        XCTAssertEqual(tok.encode(";\u{37E}"), [7, 8])
        XCTAssertEqual(tok.decode([6, 8]), Array("e\u{301}\u{37E}".utf8))
    }

    func testRepeatedSpecialTextStillSplitsText() throws {
        let tokens = ["<unk>", "<s>", "</s>", "<x>", "a", "<x>"]
        let types: [Int32] = [2, 3, 3, 4, 1, 4]
        let tok = try Tokenizer(
            metadata: GGUFMetadata([
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.tokens", .array(.string(tokens))),
                ("tokenizer.ggml.token_type", .array(.int32(types))),
                ("tokenizer.ggml.add_space_prefix", .bool(false))
            ]))
        // A user-defined text matched in the input: llama.cpp tries special tokens longest first
        // (std::sort, so equal lengths in no specified order); here equal lengths go by id.
        let ids = tok.encode("a<x>a")
        XCTAssertEqual(ids, [4, 3, 4])
        XCTAssertEqual(tok.decodeText(ids), "a<x>a")
        XCTAssertEqual(tok.decodeText([5]), "<x>")
    }
}

/// weights/gemma-3-270m-q4_k_m.gguf (from this file's location), if fetched.
enum Gemma3 {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("weights/gemma-3-270m-q4_k_m.gguf").path
    nonisolated(unsafe) static var tokenizer: Tokenizer?
    nonisolated(unsafe) static var engine: LlamaInference?

    static func requireFile() throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("Gemma 3 270M is not in weights/ (250 MB; `bash weights/fetch.sh gemma3` fetches it)")
        }
    }
}

func gemma3Tokenizer() throws -> Tokenizer {
    try Gemma3.requireFile()
    if let t = Gemma3.tokenizer { return t }
    let t = try Tokenizer(path: Gemma3.path)
    Gemma3.tokenizer = t
    return t
}
