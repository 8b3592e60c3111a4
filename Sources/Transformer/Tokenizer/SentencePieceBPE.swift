/// SentencePiece-style BPE (`tokenizer.ggml.model = "llama"`), as llama.cpp's SPM tokenizer:
/// spaces are written U+2581 ('▁'), a space is prefixed to the text (and after each special
/// token) when `add_space_prefix` is set, and the text starts as one symbol per UTF-8 character.
/// Then the adjacent pair whose concatenation is the token with the highest score is merged
/// (ties: leftmost), until no pair forms a token. A final symbol that is no token falls back to
/// its bytes as `<0xNN>` tokens.
struct SentencePieceBPE: Sendable {
    let vocabulary: Vocabulary
    /// The `<0xNN>` token of each byte (or the one-byte text token, or UNK).
    let byteTokens: [TokenID?]

    init(vocabulary v: Vocabulary) {
        vocabulary = v
        let hex = Array("0123456789ABCDEF")
        byteTokens = (0..<256).map { b in
            v.id(of: "<0x\(hex[b >> 4])\(hex[b & 15])>")
                ?? (b < 0x80 ? v.id(of: String(UnicodeScalar(UInt8(b)))) : nil)
                ?? v.unk
        }
    }

    /// The token whose text is exactly `bytes` (never matching through a U+FFFD substitution).
    private func token(_ bytes: ArraySlice<UInt8>) -> TokenID? {
        let s = String(decoding: bytes, as: UTF8.self)
        guard s.utf8.count == bytes.count, s.utf8.elementsEqual(bytes) else { return nil }
        return vocabulary.id(of: s)
    }

    /// Escapes spaces and appends the tokens of `text` (one fragment between special tokens).
    func encode(_ text: [UInt8], into out: inout [TokenID]) {
        var t: [UInt8] = []
        t.reserveCapacity(text.count + 8)
        for b in text {
            if b == 0x20 { t += [0xE2, 0x96, 0x81] } else { t.append(b) }
        }
        let n = t.count
        guard n > 0 else { return }
        // Symbols: [start, start + len) into t, linked list, one per UTF-8 character.
        var start: [Int] = [], len: [Int] = [], prev: [Int] = [], next: [Int] = []
        var o = 0
        while o < n {
            let lead = t[o]
            let l = min(n - o, lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4)
            start.append(o)
            len.append(l)
            prev.append(start.count - 2)
            o += l
            next.append(o == n ? -1 : start.count)
        }
        var heap = PriorityHeap<ScoredCandidate>()
        func tryAdd(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let size = len[l] + len[r]
            guard let id = token(t[start[l]..<(start[l] + size)]) else { return }
            heap.push(.init(score: vocabulary.scores[Int(id)], left: l, right: r, size: size))
        }
        for i in 1..<start.count { tryAdd(i - 1, i) }
        while let b = heap.pop() {
            let l = b.left, r = b.right
            // Stale if either side was merged away or changed size (llama.cpp checks sizes).
            guard len[l] > 0, len[r] > 0, len[l] + len[r] == b.size else { continue }
            len[l] += len[r]
            len[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            tryAdd(prev[l], l)
            tryAdd(l, next[l])
        }
        var i = 0
        while i != -1 {
            let bytes = t[start[i]..<(start[i] + len[i])]
            if let id = token(bytes) {
                out.append(id)
            } else {
                for b in bytes { if let id = byteTokens[Int(b)] { out.append(id) } }
            }
            i = next[i]
        }
    }
}

/// A candidate merge of SentencePiece BPE: the highest score first; equal scores, the leftmost.
struct ScoredCandidate: HeapOrdered {
    var score: Float
    var left: Int
    var right: Int
    var size: Int

    @inline(__always) static func before(_ x: ScoredCandidate, _ y: ScoredCandidate) -> Bool {
        x.score > y.score || (x.score == y.score && x.left < y.left)
    }
}
