/// Text to token ids and back, built from a GGUF file's metadata alone, matching llama.cpp's
/// `llama_tokenize` / `llama_detokenize`: byte-level BPE (`tokenizer.ggml.model = "gpt2"`) and
/// SentencePiece BPE with scores (`"llama"`).
///
///     let tok = try Tokenizer(path: "weights/SmolLM2-135M-Instruct.Q4_1.gguf")
///     let ids = tok.encode("<|im_start|>user\nHi<|im_end|>\n", parseSpecial: true)
///     let text = tok.decodeText(ids, special: true)
///
/// A `Tokenizer` is immutable and safe to share between threads; each call uses its own buffers.
public final class Tokenizer: Sendable {
    public let vocabulary: Vocabulary
    /// The pre-tokeniser and its flags (byte-level BPE only).
    public let config: PreTokenizerConfig?
    let merges: BPEMerges?
    let sentencePiece: SentencePieceBPE?
    let splitter: SpecialTokenSplitter
    /// Each token's bytes when rendered (control and unknown tokens as their text).
    let pieces: [[UInt8]]
    /// Tokens rendered only when special tokens are asked for (control, unknown).
    let hiddenUnlessSpecial: [Bool]

    public convenience init(path: String) throws {
        try self.init(metadata: GGUFFile(path: path).metadata)
    }

    public convenience init(file: GGUFFile) throws {
        try self.init(metadata: file.metadata)
    }

    public init(metadata: GGUFMetadata) throws {
        let v = try Vocabulary(metadata: metadata)
        vocabulary = v
        if v.model == "gpt2" {
            config = try PreTokenizerConfig(pre: v.pre)
            merges = BPEMerges(vocabulary: v, merges: try metadata.requireStrings("tokenizer.ggml.merges"))
            sentencePiece = nil
        } else {  // "llama" (Vocabulary accepts no other)
            config = nil
            merges = nil
            sentencePiece = SentencePieceBPE(vocabulary: v)
        }
        splitter = SpecialTokenSplitter(vocabulary: v)
        var ps: [[UInt8]] = []
        var hidden: [Bool] = []
        ps.reserveCapacity(v.count)
        for i in 0..<v.count {
            let text = v.tokens[i]
            switch v.types[i] {
            case .control, .unknown:
                ps.append(Array(text.utf8))
                hidden.append(true)
            case .userDefined:
                ps.append(Array(text.utf8))
                hidden.append(false)
            case .normal:
                ps.append(
                    v.model == "gpt2"
                        ? Tokenizer.decodeByteLevel(text)
                        : Array(text.replacingOccurrences(of: "\u{2581}", with: " ").utf8))
                hidden.append(false)
            case .byte:
                ps.append(Tokenizer.parseByteToken(text).map { [$0] } ?? [])
                hidden.append(false)
            case .unused, .undefined:
                ps.append([])
                hidden.append(false)
            }
        }
        pieces = ps
        hiddenUnlessSpecial = hidden
    }

    // MARK: special ids

    public var bos: TokenID? { vocabulary.bos }
    public var eos: TokenID? { vocabulary.eos }
    public var eot: TokenID? { vocabulary.eot }
    public var pad: TokenID? { vocabulary.pad }
    public var addBOS: Bool { vocabulary.addBOS }
    public func isEndOfGeneration(_ id: TokenID) -> Bool { vocabulary.endOfGeneration.contains(id) }

    // MARK: encoding

    /// The ids of `text`. `addSpecial` adds BOS (and EOS) where the model asks for them
    /// (`add_bos_token`); `parseSpecial` turns written control tokens (`<|im_start|>`) into their ids.
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = false) -> [TokenID] {
        var s = text
        return s.withUTF8 { encode(bytes: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    /// The ids of raw bytes (invalid UTF-8 is read as llama.cpp reads it: U+FFFD per bad byte).
    public func encode(bytes: [UInt8], addSpecial: Bool = false, parseSpecial: Bool = false) -> [TokenID] {
        bytes.withUnsafeBufferPointer { encode(bytes: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    public func encode(
        bytes: UnsafeBufferPointer<UInt8>, addSpecial: Bool = false,
        parseSpecial: Bool = false
    ) -> [TokenID] {
        var out: [TokenID] = []
        out.reserveCapacity(bytes.count / 3 + 4)
        if addSpecial && vocabulary.addBOS, let b = vocabulary.bos { out.append(b) }
        var session = EncodeSession()
        var afterSpecial = true
        encodePart(bytes, parseSpecial: parseSpecial, &session, afterSpecial: &afterSpecial, into: &out)
        if addSpecial && vocabulary.addEOS, let e = vocabulary.eos { out.append(e) }
        return out
    }

    /// The ids of consecutive parts of one text, each part tokenised on its own (no merge crosses
    /// a boundary, so each part's ids are exactly its own), with SentencePiece's space prefix put
    /// where encoding the joined text would put it: at the very start and after special tokens,
    /// not at the start of a part that continues plain text. No BOS/EOS is added.
    /// Used for training data, where a completion must start on a token boundary.
    public func encode(parts: [[UInt8]], parseSpecial: Bool = false) -> [[TokenID]] {
        var session = EncodeSession()
        var afterSpecial = true
        return parts.map { part in
            var out: [TokenID] = []
            part.withUnsafeBufferPointer {
                encodePart($0, parseSpecial: parseSpecial, &session, afterSpecial: &afterSpecial, into: &out)
            }
            return out
        }
    }

    /// Splits off special tokens and encodes the text between them. `afterSpecial` (SentencePiece:
    /// a space is prefixed at the start and after special tokens) carries over between parts.
    func encodePart(
        _ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, _ session: inout EncodeSession,
        afterSpecial: inout Bool, into out: inout [TokenID]
    ) {
        for fragment in splitter.split(bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case let .token(id):
                out.append(id)
                afterSpecial = true
            case let .text(range):
                if let spm = sentencePiece {
                    let prefix: [UInt8] = vocabulary.addSpacePrefix && afterSpecial ? [0x20] : []
                    spm.encode(prefix + Array(bytes[range]), into: &out)
                } else {
                    encodeText(UnsafeBufferPointer(rebasing: bytes[range]), &session, into: &out)
                }
                afterSpecial = false
            }
        }
    }

    /// Pre-tokenises and merges one fragment of plain text.
    func encodeText(_ bytes: UnsafeBufferPointer<UInt8>, _ s: inout EncodeSession, into out: inout [TokenID]) {
        guard let config else { return }
        s.cps.removeAll(keepingCapacity: true)
        UTF8Lenient.decode(bytes, into: &s.cps)
        s.cps.withUnsafeBufferPointer { cps in
            config.preTokenizer.split(cps, 0..<cps.count) { r in
                s.word.removeAll(keepingCapacity: true)
                for i in r { UTF8Lenient.append(cps[i], to: &s.word) }
                encodeWord(&s, into: &out)
            }
        }
    }

    /// Merges the word in `s.word`, through the session's cache.
    @inline(__always)
    func encodeWord(_ s: inout EncodeSession, into out: inout [TokenID]) {
        let cacheable = s.word.count <= WordCache.maxWordLength
        let hash = cacheable ? s.word.withUnsafeBufferPointer { WordCache.hash($0) } : 0
        if cacheable, s.word.withUnsafeBufferPointer({ s.cache.lookup($0, hash: hash, into: &out) }) {
            return
        }
        let start = out.count
        if config?.ignoreMerges == true, let id = vocabulary.id(of: String(decoding: ByteLevel.encode(s.word), as: UTF8.self)) {
            out.append(id)
        } else {
            s.word.withUnsafeBufferPointer { merges?.encode($0, &s.scratch, into: &out) }
        }
        if cacheable {
            s.word.withUnsafeBufferPointer { s.cache.insert($0, hash: hash, ids: out[start...]) }
        }
    }

    // MARK: decoding

    /// The bytes of one token. Control and unknown tokens give their text only with `special`.
    public func piece(_ id: TokenID, special: Bool = true) -> [UInt8] {
        guard id >= 0 && Int(id) < pieces.count else { return [] }
        if !special && hiddenUnlessSpecial[Int(id)] { return [] }
        return pieces[Int(id)]
    }

    /// The bytes of `ids` as llama.cpp's `llama_detokenize(remove_special: false, unparse_special:
    /// special)` gives them, including its space clean-up where the model asks for it.
    /// With `add_space_prefix` (SentencePiece) one leading space of the first token is removed.
    public func decode(_ ids: [TokenID], special: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        for (i, id) in ids.enumerated() {
            let p = piece(id, special: special)
            if i == 0 && vocabulary.addSpacePrefix && p.first == 0x20 {
                out.append(contentsOf: p.dropFirst())
            } else {
                out.append(contentsOf: p)
            }
        }
        return config?.cleanSpaces == true ? Tokenizer.cleanSpaces(out) : out
    }

    /// `decode` as a String (invalid UTF-8 replaced by U+FFFD).
    public func decodeText(_ ids: [TokenID], special: Bool = false) -> String {
        String(decoding: decode(ids, special: special), as: UTF8.self)
    }

    /// A byte-level token text back to bytes; code points outside the table are rendered as
    /// llama.cpp does ("[UNK_BYTE_0x..<text>]").
    static func decodeByteLevel(_ text: String) -> [UInt8] {
        if let b = ByteLevel.decode(text) { return b }
        var out: [UInt8] = []
        for s in text.unicodeScalars {
            let v = Int(s.value)
            if v < ByteLevel.scalarToByte.count, ByteLevel.scalarToByte[v] >= 0 {
                out.append(UInt8(ByteLevel.scalarToByte[v]))
            } else {
                var utf8: [UInt8] = []
                UTF8Lenient.append(s.value, to: &utf8)
                out += Array("[UNK_BYTE_0x".utf8)
                for b in utf8 { out += Array(hex2(b).utf8) }
                out += Array(text.utf8) + [0x5D]
            }
        }
        return out
    }

    static func hex2(_ b: UInt8) -> String {
        let d = Array("0123456789abcdef".utf8)
        return String(decoding: [d[Int(b >> 4)], d[Int(b & 15)]], as: UTF8.self)
    }

    /// "<0xNN>" -> NN.
    static func parseByteToken(_ text: String) -> UInt8? {
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    /// llama.cpp's `clean_spaces` passes, in place as it does them: drop the space before ? ! . , ;
    /// drop both spaces around a lone apostrophe; drop the space before 's 'm 're 've.
    static func cleanSpaces(_ text: [UInt8]) -> [UInt8] {
        let sp: UInt8 = 0x20, ap: UInt8 = 0x27
        var t = text
        var total = t.count
        // first pass
        let total1 = total
        total = total > 0 ? 1 : 0
        var i = 1
        while i < total1 {
            let x = t[i]
            if t[i - 1] == sp && (x == 0x3F || x == 0x21 || x == 0x2E || x == 0x2C) { total -= 1 }
            t[total] = x
            total += 1
            i += 1
        }
        // second pass
        let total2 = total
        total = total > 0 ? 1 : 0
        i = 1
        while i < total2 {
            let x = t[i]
            if x == ap && i + 1 < total2 && t[i - 1] == sp && t[i + 1] == sp {
                total -= 1
                i += 1
                t[i] = 0
            }
            t[total] = x
            total += 1
            i += 1
        }
        // third pass
        let total3 = total
        total = total > 0 ? 1 : 0
        i = 1
        while i < total3 {
            let x = t[i]
            if t[i - 1] == sp && x == ap && i + 1 < total3 {
                let x1 = t[i + 1]
                if x1 == 0x73 || x1 == 0x6D {
                    total -= 1
                } else if x1 != 0x74 && x1 != 0x64 && i + 2 < total3 {
                    let x2 = t[i + 2]
                    if (x1 == 0x72 && x2 == 0x65) || (x1 == 0x76 && x2 == 0x65) { total -= 1 }
                }
            }
            t[total] = x
            total += 1
            i += 1
        }
        return Array(t[..<total])
    }
}

/// Per-call buffers: code points, the current word, merge scratch and a bounded word cache.
struct EncodeSession {
    var cps: [UInt32] = []
    var word: [UInt8] = []
    var scratch = BPEScratch()
    var cache = WordCache()
}
