import XCTest
@testable import Transformer

/// Byte-level BPE on a vocabulary built here: merge order by rank, leftmost ties, merge results
/// that are not tokens, llama.cpp's byte fallback, special-token partition rules, BOS/EOS flags,
/// and the detokeniser's space clean-up.
final class TokenizerTinyVocabTests: XCTestCase {
    // ids:          0          1       2               3    4    5    6    7     8     9      10    11    12    13
    static let tokens = ["<|end|>", "<sep>", "<sep><sep>", "a", "b", "c", "Ġ", "ab", "bc", "abc", "aa", "ccc", "Ġa", "cab"]
    static let types: [Int32] = [3, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    static let merges = ["a b", "b c", "ab c", "a a", "c c", "cc c", "Ġ a", "Ġ Ġ"]

    func make(pre: String = "gpt-2", extra: [(String, GGUFValue)] = []) throws -> Tokenizer {
        var m = GGUFMetadata([
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string(Self.tokens))),
            ("tokenizer.ggml.token_type", .array(.int32(Self.types))),
            ("tokenizer.ggml.merges", .array(.string(Self.merges))),
            ("tokenizer.ggml.eos_token_id", .uint32(0))
        ])
        for (k, v) in extra { m[k] = v }
        return try Tokenizer(metadata: m)
    }

    func testMergesFollowRank() throws {
        let t = try make()
        XCTAssertEqual(t.encode("abc"), [9])  // a b (0), then ab c (2)
        XCTAssertEqual(t.encode("bcab"), [8, 7])  // a b (0) first, then b c (1); bc+ab is no merge
        XCTAssertEqual(t.encode("ab"), [7])
        XCTAssertEqual(t.encode(" a"), [12])
    }

    func testEqualRanksMergeLeftmostFirst() throws {
        let t = try make()
        XCTAssertEqual(t.encode("aaa"), [10, 3])  // (aa)a, not a(aa)
        XCTAssertEqual(t.encode("aaaa"), [10, 10])
    }

    func testLlama3LooksUpWholeWordsBeforeMerging() throws {
        // "cab" is a token no merge reaches: Llama 3 (ignore_merges) finds it, GPT-2 does not.
        XCTAssertEqual(try make(pre: "gpt-2").encode("cab"), [5, 7])
        XCTAssertEqual(try make(pre: "llama-bpe").encode("cab"), [13])
        XCTAssertEqual(try make(pre: "qwen2").encode("cab"), [5, 7])
    }

    func testMergeResultsThatAreNotTokensStillMerge() throws {
        let t = try make()
        // "cc" is no token, but "cc c" is a merge giving the token "ccc".
        XCTAssertEqual(t.encode("ccc"), [11])
        // A final "cc" falls back to its bytes looked up one by one: "c", "c".
        XCTAssertEqual(t.encode("cc"), [5, 5])
        // ... and a non-ASCII one ("ĠĠ" = C4 A0 C4 A0) finds no single-byte tokens: llama.cpp drops it.
        XCTAssertEqual(t.encode("  "), [])
    }

    func testSpecialTokenPartition() throws {
        let t = try make()
        // User-defined tokens are always matched, the longest first.
        XCTAssertEqual(t.encode("a<sep>b"), [3, 1, 4])
        XCTAssertEqual(t.encode("a<sep><sep>b"), [3, 2, 4])
        XCTAssertEqual(t.encode("<sep><sep><sep>"), [2, 1])
        // Control tokens only with special parsing.
        XCTAssertEqual(t.encode("a<|end|>b", parseSpecial: true), [3, 0, 4])
        XCTAssertFalse(t.encode("a<|end|>b").contains(0))
    }

    func testBOSAndEOSFlags() throws {
        let plain = try make()
        XCTAssertEqual(plain.encode("ab", addSpecial: true), [7])
        let both = try make(extra: [
            ("tokenizer.ggml.bos_token_id", .uint32(1)),
            ("tokenizer.ggml.add_bos_token", .bool(true)),
            ("tokenizer.ggml.add_eos_token", .bool(true))
        ])
        XCTAssertEqual(both.encode("ab", addSpecial: true), [1, 7, 0])
        XCTAssertEqual(both.encode("ab"), [7])
        // Llama 3's pre-tokenizer turns add_bos on unless the file says otherwise.
        XCTAssertTrue(try make(pre: "llama-bpe", extra: [("tokenizer.ggml.bos_token_id", .uint32(1))]).addBOS)
    }

    func testDecodePieces() throws {
        let t = try make()
        XCTAssertEqual(t.decodeText([12, 9]), " aabc")
        XCTAssertEqual(t.decodeText([3, 0, 4]), "ab")
        XCTAssertEqual(t.decodeText([3, 0, 4], special: true), "a<|end|>b")
        XCTAssertEqual(t.decodeText([3, 1, 4]), "a<sep>b")  // user-defined tokens always render
    }

    func testUnsupportedInputsAreErrors() {
        XCTAssertThrowsError(try make(pre: "unknown-pre"))
        var m = GGUFMetadata([
            ("tokenizer.ggml.model", .string("bert")),
            ("tokenizer.ggml.tokens", .array(.string(["a"])))
        ])
        XCTAssertThrowsError(try Tokenizer(metadata: m))
        m["tokenizer.ggml.model"] = .string("gpt2")
        XCTAssertThrowsError(try Tokenizer(metadata: m))  // no merges
    }

    func testCleanSpacesAsLlamaCpp() {
        func clean(_ s: String) -> String { String(decoding: Tokenizer.cleanSpaces(Array(s.utf8)), as: UTF8.self) }
        XCTAssertEqual(clean("Hello , world ! Yes ? No ."), "Hello, world! Yes? No.")
        XCTAssertEqual(clean("it 's I 'm we 're you 've"), "it's I'm we're you've")
        XCTAssertEqual(clean("don 't I 'd we 'll"), "don 't I 'd we 'll")
        XCTAssertEqual(clean("rock ' n roll"), "rock'n roll")
        XCTAssertEqual(clean(""), "")
    }

    func testStreamingPrefix() {
        // 😀 = F0 9F 98 80
        XCTAssertEqual(StreamingDecoder.completePrefix([0x61, 0xF0, 0x9F]), 1)
        XCTAssertEqual(StreamingDecoder.completePrefix([0x61, 0xF0, 0x9F, 0x98, 0x80]), 5)
        XCTAssertEqual(StreamingDecoder.completePrefix([0x61, 0xE6]), 1)
        XCTAssertEqual(StreamingDecoder.completePrefix([0x61, 0xFF]), 2)  // invalid: nothing to wait for
        XCTAssertEqual(StreamingDecoder.completePrefix([0x61, 0xE0, 0x80]), 3)  // E0 80 can never complete
        XCTAssertEqual(StreamingDecoder.completePrefix([0x80, 0x80, 0x80]), 3)
    }
}
