import XCTest
@testable import Transformer

/// SentencePiece BPE (`tokenizer.ggml.model = "llama"`) on a vocabulary built here: score order,
/// leftmost ties, the U+2581 space and its prefix, byte fallback, special tokens, and decoding.
final class SentencePieceTests: XCTestCase {
    static let normal: [(String, Float)] = [
        ("\u{2581}", -1), ("a", -2), ("b", -3), ("c", -4), ("\u{2581}a", -5), ("ab", -1.5), ("bc", -1.5),
        ("\u{2581}ab", -6), ("abc", -7)
    ]
    // ids: 0 <unk>, 1 <s>, 2 </s>, 3 <0xC3>, 4 <0xA9>, 5 <0x21>, then the normal tokens from 6.
    static let tokens = ["<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", "<0x21>"] + normal.map(\.0)
    static let types: [Int32] = [2, 3, 3, 6, 6, 6] + normal.map { _ in 1 }
    static let scores: [Float] = [0, 0, 0, 0, 0, 0] + normal.map(\.1)

    func make() throws -> Tokenizer {
        try Tokenizer(
            metadata: GGUFMetadata([
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.tokens", .array(.string(Self.tokens))),
                ("tokenizer.ggml.token_type", .array(.int32(Self.types))),
                ("tokenizer.ggml.scores", .array(.float32(Self.scores)))
            ]))
    }

    func id(_ text: String) -> TokenID { TokenID(Self.tokens.firstIndex(of: text)!) }

    func testHighestScoreMergesFirst() throws {
        let t = try make()
        XCTAssertEqual(t.encode("ab"), [id("▁ab")])  // ab (-1.5) before ▁a (-5)
        XCTAssertEqual(t.encode("abc"), [id("▁ab"), id("c")])  // tie ab/bc: leftmost; then ▁ab (-6) beats abc (-7)
        XCTAssertEqual(t.encode("bca"), [id("▁"), id("bc"), id("a")])
        XCTAssertEqual(t.encode("a b"), [id("▁a"), id("▁"), id("b")])
    }

    func testByteFallback() throws {
        let t = try make()
        XCTAssertEqual(t.encode("é!"), [id("▁"), 3, 4, 5])
        XCTAssertEqual(t.decodeText([id("▁"), 3, 4, 5]), "é!")
    }

    func testSpecialTokensAndSpacePrefix() throws {
        let t = try make()
        XCTAssertTrue(t.addBOS)
        XCTAssertEqual(t.encode("ab", addSpecial: true), [1, id("▁ab")])
        XCTAssertEqual(t.encode("<s>ab", parseSpecial: true), [1, id("▁ab")])  // prefix after a special token
        XCTAssertEqual(t.encode("ab</s>ab", parseSpecial: true), [id("▁ab"), 2, id("▁ab")])
    }

    func testDecodeRemovesTheFirstSpaceOnly() throws {
        let t = try make()
        XCTAssertEqual(t.decodeText([id("▁ab"), id("▁ab")]), "ab ab")
        // As llama.cpp (remove_special off): a leading BOS renders empty and the space stays.
        XCTAssertEqual(t.decodeText([1, id("▁ab")]), " ab")
        XCTAssertEqual(t.decodeText([1, id("▁ab")], special: true), "<s> ab")
    }
}
