import XCTest
@testable import Transformer

/// Pre-tokeniser scanners against the pieces of the original regexes (computed with Python's
/// `regex` module, pass by pass, text between matches kept), on hard cases: contractions in both
/// cases, digit runs, CR/LF and whitespace runs, non-ASCII whitespace, marks, CJK, emoji.
/// Where llama.cpp's std::regex path differs from Python's regex the llama.cpp result is expected
/// and the case says why.
final class PreTokenizerTests: XCTestCase {
    func testAgainstReferencePieces() throws {
        for (name, cases) in PreTokenizerCases.expected {
            let pre = try PreTokenizerConfig(pre: name).preTokenizer
            for (text, want) in zip(PreTokenizerCases.texts, cases) {
                XCTAssertEqual(pre.pieces(text), want, "\(name): \(text.debugDescription)")
            }
        }
    }

    func testPiecesTileTheText() throws {
        for name in ["smollm", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm", "default", "falcon"] {
            let pre = try PreTokenizerConfig(pre: name).preTokenizer
            for text in PreTokenizerCases.texts {
                XCTAssertEqual(pre.pieces(text).joined(), text, name)
                XCTAssertFalse(pre.pieces(text).contains(""), name)
            }
        }
    }

    func testUnknownPreTokenizerIsAnError() {
        XCTAssertThrowsError(try PreTokenizerConfig(pre: "no-such-pre"))
    }

    func testDigitsAreUnicodeNumbers() throws {
        let pre = try PreTokenizerConfig(pre: "smollm").preTokenizer
        // Arabic-Indic digits and superscripts are \p{N}: split one by one like ASCII digits.
        XCTAssertEqual(pre.pieces("x٣٤²"), ["x", "٣", "٤", "²"])
        let llama3 = try PreTokenizerConfig(pre: "llama-bpe").preTokenizer
        XCTAssertEqual(llama3.pieces("1234567"), ["123", "456", "7"])
        XCTAssertEqual(try PreTokenizerConfig(pre: "qwen2").preTokenizer.pieces("123"), ["1", "2", "3"])
    }

    func testCodepointFlags() {
        XCTAssertTrue(CodepointFlags.of(0x41).contains(.letter))
        XCTAssertTrue(CodepointFlags.of(0x65E5).contains(.letter))  // 日
        XCTAssertTrue(CodepointFlags.of(0x0663).contains(.number))  // ٣
        XCTAssertTrue(CodepointFlags.of(0x3000).contains(.whitespace))  // ideographic space
        XCTAssertTrue(CodepointFlags.of(0x0085).contains(.whitespace))  // NEL
        XCTAssertFalse(CodepointFlags.of(0x200B).contains(.whitespace))  // zero-width space is Cf
        XCTAssertTrue(CodepointFlags.of(0x0301).contains(.mark))
        XCTAssertTrue(CodepointFlags.of(0x1F600).contains(.symbol))  // 😀
        XCTAssertTrue(CodepointFlags.of(0x2C).contains(.punctuation))
        XCTAssertTrue(CodepointFlags.of(0x24).contains(.symbol))  // $
    }
}

enum PreTokenizerCases {
    static let texts: [String] = [
        "Hello world",
        "I'm sure they're fine; it's what we'd've done.",
        "DON'T SHOUT, It'S ok",
        "x = 12345 + 3.14159",
        "  leading\tand trailing   ",
        "line one\r\n\r\n  line two\n\n\n",
        "café naïve résumé",
        "日本語のテキスト 中文分词测试",
        "Привет, мир! 2024年",
        "😀 emoji 🎉 party!!",
        "def f(a, b):\n    return a+b\n",
        "a\u{A0}b\u{3000}c  \u{2003}d",
        "①②③ ½ x²",
        "$100 + <tag> ^_^ ~|~ `code`",
        "   "
    ]

    /// Expected pieces per pre-tokenizer name, text by text.
    static let expected: [String: [[String]]] = [
        "gpt-2": [
            ["Hello", " world"],
            ["I", "'m", " sure", " they", "'re", " fine", ";", " it", "'s", " what", " we", "'d", "'ve", " done", "."],
            ["DON", "'", "T", " SHOUT", ",", " It", "'", "S", " ok"],
            ["x", " =", " 12345", " +", " 3", ".", "14159"],
            [" ", " leading", "\t", "and", " trailing", "   "],
            ["line", " one", "\r\n\r\n ", " line", " two", "\n\n\n"],
            ["café", " naïve", " résumé"],
            ["日本語のテキスト", " 中文分词测试"],
            ["Привет", ",", " мир", "!", " 2024", "年"],
            ["😀", " emoji", " 🎉", " party", "!!"],
            ["def", " f", "(", "a", ",", " b", "):", "\n   ", " return", " a", "+", "b", "\n"],
            ["a", "\u{A0}", "b", "\u{3000}", "c", "  ", "\u{2003}", "d"],
            ["①②③", " ½", " x", "²"],
            ["$", "100", " +", " <", "tag", ">", " ^_^", " ~|~", " `", "code", "`"],
            ["   "]
        ],
        "smollm": [
            ["Hello", " world"],
            ["I", "'m", " sure", " they", "'re", " fine", ";", " it", "'s", " what", " we", "'d", "'ve", " done", "."],
            ["DON", "'", "T", " SHOUT", ",", " It", "'", "S", " ok"],
            ["x", " =", " ", "1", "2", "3", "4", "5", " +", " ", "3", ".", "1", "4", "1", "5", "9"],
            [" ", " leading", "\t", "and", " trailing", "   "],
            ["line", " one", "\r\n\r\n ", " line", " two", "\n\n\n"],
            ["café", " naïve", " résumé"],
            ["日本語のテキスト", " 中文分词测试"],
            ["Привет", ",", " мир", "!", " ", "2", "0", "2", "4", "年"],
            ["😀", " emoji", " 🎉", " party", "!!"],
            ["def", " f", "(", "a", ",", " b", "):", "\n   ", " return", " a", "+", "b", "\n"],
            ["a", "\u{A0}", "b", "\u{3000}", "c", "  ", "\u{2003}", "d"],
            ["①", "②", "③", " ", "½", " x", "²"],
            ["$", "1", "0", "0", " +", " <", "tag", ">", " ^_^", " ~|~", " `", "code", "`"],
            ["   "]
        ],
        "llama-bpe": [
            ["Hello", " world"],
            ["I", "'m", " sure", " they", "'re", " fine", ";", " it", "'s", " what", " we", "'d", "'ve", " done", "."],
            ["DON", "'T", " SHOUT", ",", " It", "'S", " ok"],
            ["x", " =", " ", "123", "45", " +", " ", "3", ".", "141", "59"],
            [" ", " leading", "\tand", " trailing", "   "],
            ["line", " one", "\r\n\r\n", " ", " line", " two", "\n\n\n"],
            ["café", " naïve", " résumé"],
            ["日本語のテキスト", " 中文分词测试"],
            ["Привет", ",", " мир", "!", " ", "202", "4", "年"],
            ["😀", " emoji", " 🎉", " party", "!!"],
            ["def", " f", "(a", ",", " b", "):\n", "   ", " return", " a", "+b", "\n"],
            ["a", "\u{A0}b", "\u{3000}c", "  ", "\u{2003}d"],
            ["①②③", " ", "½", " x", "²"],
            ["$", "100", " +", " <", "tag", ">", " ^_^", " ~|~", " `", "code", "`"],
            ["   "]
        ],
        "qwen2": [
            ["Hello", " world"],
            ["I", "'m", " sure", " they", "'re", " fine", ";", " it", "'s", " what", " we", "'d", "'ve", " done", "."],
            ["DON", "'T", " SHOUT", ",", " It", "'S", " ok"],
            ["x", " =", " ", "1", "2", "3", "4", "5", " +", " ", "3", ".", "1", "4", "1", "5", "9"],
            [" ", " leading", "\tand", " trailing", "   "],
            ["line", " one", "\r\n\r\n", " ", " line", " two", "\n\n\n"],
            ["café", " naïve", " résumé"],
            ["日本語のテキスト", " 中文分词测试"],
            ["Привет", ",", " мир", "!", " ", "2", "0", "2", "4", "年"],
            ["😀", " emoji", " 🎉", " party", "!!"],
            ["def", " f", "(a", ",", " b", "):\n", "   ", " return", " a", "+b", "\n"],
            ["a", "\u{A0}b", "\u{3000}c", "  ", "\u{2003}d"],
            ["①", "②", "③", " ", "½", " x", "²"],
            ["$", "1", "0", "0", " +", " <", "tag", ">", " ^_^", " ~|~", " `", "code", "`"],
            ["   "]
        ],
        "deepseek-llm": [
            ["Hello", " world"],
            ["I", "'", "m", " sure", " they", "'", "re", " fine", ";", " it", "'", "s", " what", " we", "'", "d", "'", "ve", " done", "."],
            ["DON", "'", "T", " SHOUT", ",", " It", "'", "S", " ok"],
            ["x", " =", " ", "12345", " +", " ", "3", ".", "14159"],
            [" ", " leading", "\tand", " trailing", "   "],
            ["line", " one", "\r", "\n", "\r", "\n", " ", " line", " two", "\n", "\n", "\n"],
            ["caf", "é", " na", "ï", "ve", " r", "é", "sum", "é"],
            ["日本語のテキスト", " ", "中文分词测试"],
            ["Привет", ",", " мир", "!", " ", "2024", "年"],
            ["😀", " emoji", " 🎉", " party", "!!"],
            ["def", " f", "(", "a", ",", " b", "):", "\n", "   ", " return", " a", "+", "b", "\n"],
            // llama.cpp runs these regexes with std::wregex after turning non-ASCII whitespace into U+000B,
            // so U+3000 and U+2003 never fall in the classes "　-。" and "ࠀ-一" (Python's regex splits them).
            ["a", "\u{A0}b", "\u{3000}c", "  ", "\u{2003}d"],
            ["①②③", " ", "½", " x", "²"],
            ["$", "100", " +", " <", "tag", ">", " ^_^", " ~|~", " `", "code", "`"],
            ["   "]
        ],
        "default": [
            ["Hello", " world"],
            ["I", "'", "m", " sure", " they", "'", "re", " fine", ";", " it", "'", "s", " what", " we", "'", "d", "'", "ve", " done", "."],
            ["DON", "'", "T", " SHOUT", ",", " It", "'", "S", " ok"],
            ["x", " ", "=", " ", "123", "45", " ", "+", " ", "3", ".", "141", "59"],
            [" ", " leading", "\t", "and", " trailing", "   "],
            ["line", " one", "\r\n\r\n ", " line", " two", "\n\n\n"],
            ["café", " naïve", " résumé"],
            ["日本語のテキスト", " 中文分词测试"],
            ["Привет", ",", " мир", "!", " ", "202", "4", "年"],
            ["😀", " emoji", " 🎉", " party", "!!"],
            ["def", " f", "(", "a", ",", " b", "):", "\n   ", " return", " a", "+", "b", "\n"],
            ["a", "\u{A0}", "b", "\u{3000}", "c", "  ", "\u{2003}", "d"],
            ["①②③", " ", "½", " x", "²"],
            ["$", "100", " ", "+", " ", "<", "tag", ">", " ", "^_^", " ", "~|~", " `", "code", "`"],
            ["   "]
        ]
    ]
}
