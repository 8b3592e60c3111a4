/// Which pre-tokeniser each `tokenizer.ggml.pre` name selects, with the per-name flags llama.cpp
/// attaches (whole-word lookup before merging, space clean-up when detokenising).
public struct PreTokenizerConfig: Sendable {
    public let preTokenizer: PreTokenizer
    /// Llama 3 style: a pre-token that is itself a token is emitted without merging.
    public let ignoreMerges: Bool
    /// llama.cpp's `clean_spaces` (detokenising removes spaces before . , ! ? and some contractions).
    public let cleanSpaces: Bool

    static let gpt2Names: Set<String> = [
        "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
        "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4", "jina-v1-en",
        "jina-v2-code", "roberta-bpe"
    ]
    static let digitsThenGPT2Names: Set<String> = [
        "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"
    ]
    static let llama3Names: Set<String> = [
        "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"
    ]
    static let llama3RegexNames: Set<String> = ["dbrx", "smaug-bpe", "glm4", "chatglm-bpe"]
    static let qwen2Names: Set<String> = [
        "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "megrez", "hunyuan", "solar-open", "grok-2"
    ]
    /// Names whose llama.cpp entry sets clean_spaces = false.
    static let noCleanSpaces: Set<String> = [
        "deepseek-llm", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "smollm", "command-r", "hunyuan",
        "solar-open", "grok-2", "trillion", "granite-docling"
    ]

    /// Written with escapes where the original has characters that Unicode normalisation (NFC)
    /// would silently change (U+1F7D, U+1FBE, U+1FD3, U+1FDB, U+2126, U+212A).
    static let deepseekLatin = ClassRanges(
        "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u{1F7D}ᾀ-ᾴᾶ-ᾼ\u{1FBE}ῂ-ῄῆ-ῌῐ-\u{1FD3}ῖ-\u{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u{2126}ℨ\u{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃"
    )
    static let deepseekPunct = ClassRanges("!-/:-~！-／：-～‘-‟　-。")
    static let deepseekCJK = ClassRanges("一-龥ࠀ-一가-퟿")

    /// The configuration for `pre` ("" or "default" gives llama.cpp's default list).
    public init(pre: String) throws {
        var ignore = false
        let passes: [PreTokenizer.Pass]
        if pre.isEmpty || pre == "default" {
            passes = [.punctuationRuns(backtick: false), .gpt2, .numberRuns, .asciiDigitTriples]
        } else if PreTokenizerConfig.gpt2Names.contains(pre) {
            passes = [.gpt2]
        } else if PreTokenizerConfig.digitsThenGPT2Names.contains(pre) {
            passes = [.eachNumber, .gpt2]
        } else if PreTokenizerConfig.llama3Names.contains(pre) {
            passes = [.llama3(maxDigits: 3)]
            ignore = true
        } else if PreTokenizerConfig.llama3RegexNames.contains(pre) {
            passes = [.llama3(maxDigits: 3)]
        } else if PreTokenizerConfig.qwen2Names.contains(pre) {
            passes = [.llama3(maxDigits: 1)]
        } else if pre == "falcon" {
            passes = [.punctuationRuns(backtick: true), .gpt2, .asciiDigitTriples]
        } else if pre == "deepseek-llm" {
            passes = [
                .lineBreaks, .optionalSpaceThenRuns(PreTokenizerConfig.deepseekLatin),
                .optionalSpaceThenRuns(PreTokenizerConfig.deepseekPunct), .trailingWhitespace,
                .runs(PreTokenizerConfig.deepseekCJK), .numberRuns
            ]
        } else {
            throw GGUFError(.invalidValue, "unsupported pre-tokenizer '\(pre)' (tokenizer.ggml.pre)")
        }
        preTokenizer = PreTokenizer(passes: passes)
        ignoreMerges = ignore
        cleanSpaces = !PreTokenizerConfig.noCleanSpaces.contains(pre)
    }
}
