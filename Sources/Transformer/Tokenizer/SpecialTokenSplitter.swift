/// Splits input text around the written forms of special tokens, as llama.cpp's
/// `tokenizer_st_partition`: for each special token, longest text first, every occurrence in
/// every remaining text fragment (left to right) becomes that token. User-defined tokens are
/// always matched; control and unknown tokens only with special parsing on (`parse_special`).
struct SpecialTokenSplitter: Sendable {
    enum Fragment: Equatable {
        case token(TokenID)
        case text(Range<Int>)
    }

    /// (id, text bytes, matched even without special parsing)
    let specials: [(id: TokenID, text: [UInt8], always: Bool)]

    init(vocabulary v: Vocabulary) {
        specials = v.specialTokens.map { id in
            (id, Array(v.tokens[Int(id)].utf8), v.type(id) == .userDefined)
        }
    }

    func split(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        guard bytes.count > 0 else { return [] }
        var fragments: [Fragment] = [.text(0..<bytes.count)]
        for special in specials where parseSpecial || special.always {
            let needle = special.text
            guard !needle.isEmpty else { continue }
            var out: [Fragment] = []
            out.reserveCapacity(fragments.count)
            var changed = false
            for f in fragments {
                guard case let .text(range) = f else {
                    out.append(f)
                    continue
                }
                var start = range.lowerBound
                while let m = SpecialTokenSplitter.find(needle, in: bytes, from: start, to: range.upperBound) {
                    if m > start { out.append(.text(start..<m)) }
                    out.append(.token(special.id))
                    start = m + needle.count
                    changed = true
                }
                if start < range.upperBound { out.append(.text(start..<range.upperBound)) }
            }
            if changed { fragments = out }
        }
        return fragments
    }

    /// First occurrence of `needle` in bytes[from..<to].
    static func find(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        let n = needle.count
        guard to - from >= n else { return nil }
        let first = needle[0]
        var i = from
        let last = to - n
        while i <= last {
            if bytes[i] == first {
                var k = 1
                while k < n && bytes[i + k] == needle[k] { k += 1 }
                if k == n { return i }
            }
            i += 1
        }
        return nil
    }
}
