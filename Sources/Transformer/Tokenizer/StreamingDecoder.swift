/// Turns ids into text one at a time (generation), never cutting a UTF-8 character: bytes that
/// start a character whose remaining bytes have not arrived yet are held back until they do.
/// Bytes that can never form a character are emitted as U+FFFD at once.
///
/// The output is the concatenation of the tokens' pieces; unlike `Tokenizer.decode` it does not
/// apply llama.cpp's `clean_spaces` (which looks at neighbouring tokens).
public struct StreamingDecoder {
    public let tokenizer: Tokenizer
    public let special: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, special: Bool = false) {
        self.tokenizer = tokenizer
        self.special = special
    }

    /// The complete text available after `id` (possibly empty).
    public mutating func push(_ id: TokenID) -> String {
        pending += tokenizer.piece(id, special: special)
        return String(decoding: take(StreamingDecoder.completePrefix(pending)), as: UTF8.self)
    }

    /// Whatever is still held back (an unfinished character becomes U+FFFD).
    public mutating func finish() -> String {
        String(decoding: take(pending.count), as: UTF8.self)
    }

    private mutating func take(_ n: Int) -> [UInt8] {
        let out = Array(pending[..<n])
        pending.removeFirst(n)
        return out
    }

    /// Length of the longest prefix of `b` that does not end inside a character that could still
    /// be completed: an incomplete but so-far valid sequence at the end is excluded.
    static func completePrefix(_ b: [UInt8]) -> Int {
        let n = b.count
        // A character is at most 4 bytes: look at the last 3 for an unfinished lead.
        var i = n - 1
        while i >= 0 && i >= n - 3 {
            let c = b[i]
            if c & 0xC0 == 0x80 {
                i -= 1
                continue
            }  // continuation: keep looking for its lead
            let need: Int
            switch c {
            case 0xC2...0xDF: need = 2
            case 0xE0...0xEF: need = 3
            case 0xF0...0xF4: need = 4
            default: return n  // ASCII or an invalid lead: nothing to wait for
            }
            let have = n - i
            if have >= need { return n }
            // Still valid so far? (second-byte limits of E0, ED, F0, F4)
            if have >= 2 {
                let c1 = b[i + 1]
                let ok: Bool
                switch c {
                case 0xE0: ok = c1 >= 0xA0
                case 0xED: ok = c1 <= 0x9F
                case 0xF0: ok = c1 >= 0x90
                case 0xF4: ok = c1 <= 0x8F
                default: ok = true
                }
                if !ok { return n }
            }
            return i
        }
        return n
    }
}
