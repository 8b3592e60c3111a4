/// A tokenizer vocabulary as stored in GGUF metadata (`tokenizer.ggml.*`): token texts, their
/// types, optional scores, and the special ids, with llama.cpp's defaults and auto-detection.
public typealias TokenID = Int32

/// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
public enum TokenType: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

public struct Vocabulary: Sendable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece BPE), ...
    public let model: String
    /// `tokenizer.ggml.pre` ("" when absent).
    public let pre: String
    /// The text of every id (texts may repeat).
    public let tokens: [String]
    public private(set) var types: [TokenType]
    /// Scores (SentencePiece); zeros when absent.
    public let scores: [Float]
    /// One id per text (bytes, not canonical equivalence: `TokenText`): the last id with that
    /// text (llama.cpp's rule).
    public let idsByText: [TokenText: TokenID]

    public var bos: TokenID?
    public var eos: TokenID?
    public var eot: TokenID?
    public var eom: TokenID?
    public var unk: TokenID?
    public var sep: TokenID?
    public var pad: TokenID?
    public var addBOS: Bool
    public var addEOS: Bool
    public var addSpacePrefix: Bool
    /// Ids that end generation (EOS, EOT and the usual end-of-turn texts).
    public private(set) var endOfGeneration: Set<TokenID>

    public var count: Int { tokens.count }

    static let eotTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
        "<end_of_utterance>"
    ]
    static let eogTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>"
    ]

    public init(metadata m: GGUFMetadata) throws {
        model = try m.requireString("tokenizer.ggml.model")
        pre = m.string("tokenizer.ggml.pre") ?? ""
        let list = try m.requireStrings("tokenizer.ggml.tokens")
        guard !list.isEmpty else {
            throw GGUFError(.invalidValue, "tokenizer.ggml.tokens is empty")
        }
        var texts = list
        var byText: [TokenText: TokenID] = [:]
        byText.reserveCapacity(texts.count)
        // Texts may repeat: every id keeps its text, and the text maps to the LAST id that has
        // it, as llama.cpp's `token_to_id[word] = i` in id order.
        for i in texts.indices {
            if texts[i].isEmpty { texts[i] = "[EMPTY_\(i)]" }
            byText[TokenText(texts[i])] = TokenID(i)
        }
        tokens = texts
        idsByText = byText
        let n = texts.count

        if let raw = m.ints("tokenizer.ggml.token_type") {
            guard raw.count >= n else {
                throw GGUFError(.invalidValue, "tokenizer.ggml.token_type has \(raw.count) entries for \(n) tokens")
            }
            types = raw.prefix(n).map { TokenType(rawValue: $0) ?? .undefined }
        } else {
            types = Array(repeating: .normal, count: n)
        }
        if let s = m.floats("tokenizer.ggml.scores") {
            guard s.count >= n else {
                throw GGUFError(.invalidValue, "tokenizer.ggml.scores has \(s.count) entries for \(n) tokens")
            }
            scores = Array(s.prefix(n))
        } else {
            scores = Array(repeating: 0, count: n)
        }

        // llama.cpp's defaults per model type, then the file's keys.
        var bos: TokenID?, eos: TokenID?, unk: TokenID?
        switch model {
        case "llama":
            bos = 1
            eos = 2
            unk = 0
            addBOS = true
            addSpacePrefix = true
        case "gpt2":
            bos = 11
            eos = 11
            unk = nil
            addBOS = false
            addSpacePrefix = false
        default:
            throw GGUFError(.invalidValue, "unsupported tokenizer model '\(model)' (supported: gpt2, llama)")
        }
        if model == "gpt2",
            [
                "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                "lfm2", "jina-v5-nano", "tekken", "chameleon"
            ].contains(pre)
        {
            addBOS = true
        }
        addEOS = false
        func id(_ key: String, _ fallback: TokenID?) -> TokenID? {
            let f = fallback.flatMap { $0 >= 0 && Int($0) < n ? $0 : nil }
            guard let v = m.int("tokenizer.ggml." + key) else { return f }
            return v >= 0 && v < n ? TokenID(v) : f
        }
        self.bos = id("bos_token_id", bos)
        self.eos = id("eos_token_id", eos)
        self.unk = id("unknown_token_id", unk)
        eot = id("eot_token_id", nil)
        eom = id("eom_token_id", nil)
        sep = id("seperator_token_id", nil) ?? id("separator_token_id", nil)
        pad = id("padding_token_id", nil)
        if let v = m.bool("tokenizer.ggml.add_bos_token") { addBOS = v }
        if let v = m.bool("tokenizer.ggml.add_eos_token") { addEOS = v }
        if let v = m.bool("tokenizer.ggml.add_space_prefix") { addSpacePrefix = v }

        // Auto-detection by text, as llama.cpp does (its hash-map order made deterministic: the
        // first text of the list that is present wins).
        if eot == nil, let t = Vocabulary.eotTexts.lazy.compactMap({ byText[TokenText($0)] }).first {
            eot = t
            if types[Int(t)] != .control { types[Int(t)] = .control }
        }
        if eom == nil, let t = byText[TokenText("<|eom_id|>")] {
            eom = t
            types[Int(t)] = .control
        }
        var eog = Set<TokenID>()
        for text in Vocabulary.eogTexts {
            if let t = byText[TokenText(text)] {
                eog.insert(t)
                types[Int(t)] = .control
            }
        }
        for t in [self.eos, eot, eom] { if let t { eog.insert(t) } }
        endOfGeneration = eog
    }

    public func type(_ id: TokenID) -> TokenType { types[Int(id)] }
    /// The id of exactly these UTF-8 bytes (the last id with them), if any.
    public func id(of text: String) -> TokenID? { idsByText[TokenText(text)] }

    /// Control, unknown and user-defined tokens, longest text first: the ones whose text can be
    /// matched in the input (user-defined always, the others only with special parsing on).
    public var specialTokens: [TokenID] {
        let ids = (0..<count).filter { [.control, .unknown, .userDefined].contains(types[$0]) }
        return ids.sorted { a, b in
            let la = tokens[a].utf8.count, lb = tokens[b].utf8.count
            return la != lb ? la > lb : a < b
        }.map { TokenID($0) }
    }
}
