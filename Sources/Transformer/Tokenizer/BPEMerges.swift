/// Byte-level BPE merges over symbol ids, with llama.cpp's exact semantics.
///
/// llama.cpp merges strings: a word starts as one symbol per byte (its GPT-2 mapped character),
/// then repeatedly the adjacent pair with the lowest merge rank is joined (ties: leftmost), and
/// each final symbol is looked up as a token. Here every string that can occur is given an id up
/// front: the vocabulary's token ids, then "synthetic" ids for merge parts and results that are
/// not tokens. Merging ids is then the same computation without building strings. A final symbol
/// with a synthetic id falls back as llama.cpp does: each byte of its text looked up alone.
public struct BPEMerges: Sendable {
    /// Rank and result of merging a pair of symbol ids, keyed by `left << 32 | right`.
    let pairs: PairTable
    /// The symbol of each input byte (its mapped one-character string).
    let byteSymbol: [TokenID]
    /// Vocabulary size: symbols below it are token ids.
    let tokenCount: Int
    /// For each synthetic symbol (id - tokenCount): the tokens llama.cpp falls back to.
    let fallback: [[TokenID]]

    public init(vocabulary v: Vocabulary, merges: [String]) {
        tokenCount = v.count
        var synthetic: [TokenText: TokenID] = [:]  // by bytes, as the vocabulary
        var syntheticTexts: [String] = []
        func symbol(_ text: String) -> TokenID {
            if let t = v.id(of: text) { return t }
            if let t = synthetic[TokenText(text)] { return t }
            let t = TokenID(v.count + syntheticTexts.count)
            synthetic[TokenText(text)] = t
            syntheticTexts.append(text)
            return t
        }
        byteSymbol = (0..<256).map { b in
            symbol(String(Character(Unicode.Scalar(ByteLevel.byteToScalar[b])!)))
        }
        var table = PairTable(capacity: merges.count)
        for (rank, merge) in merges.enumerated() {
            // llama.cpp splits at the first space after the first byte.
            let u = Array(merge.utf8)
            guard u.count >= 3, let sp = u[1...].firstIndex(of: 0x20) else { continue }
            let left = String(decoding: u[..<sp], as: UTF8.self)
            let right = String(decoding: u[(sp + 1)...], as: UTF8.self)
            guard !right.isEmpty else { continue }
            let l = symbol(left), r = symbol(right)
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table.find(key) == nil {  // the first (lowest) rank wins, as with emplace
                table.insert(key, rank: Int32(rank), merged: symbol(left + right))
            }
        }
        pairs = table
        fallback = syntheticTexts.map { text in
            text.utf8.compactMap { b in b < 0x80 ? v.id(of: String(UnicodeScalar(b))) : nil }
        }
    }

    /// Appends the tokens of one pre-tokenised word (its raw bytes) to `out`.
    func encode(_ word: UnsafeBufferPointer<UInt8>, _ scratch: inout BPEScratch, into out: inout [TokenID]) {
        let n = word.count
        if n == 0 { return }
        if n == 1 {
            emit(byteSymbol[Int(word[0])], into: &out)
            return
        }
        scratch.reset(n)
        for i in 0..<n {
            scratch.sym[i] = byteSymbol[Int(word[i])]
            scratch.prev[i] = Int32(i - 1)
            scratch.next[i] = i + 1 < n ? Int32(i + 1) : -1
        }
        for i in 0..<(n - 1) { push(i, i + 1, &scratch) }
        while let top = scratch.heap.pop() {
            let l = Int(top.left), r = Int(top.right)
            // Skip stale pairs: a side was merged away or changed since the pair was queued.
            guard scratch.sym[l] == top.leftSym, scratch.sym[r] == top.rightSym, scratch.next[l] == top.right else {
                continue
            }
            scratch.sym[l] = top.merged
            scratch.sym[r] = -1
            let rn = scratch.next[r]
            scratch.next[l] = rn
            if rn >= 0 { scratch.prev[Int(rn)] = Int32(l) }
            let lp = scratch.prev[l]
            if lp >= 0 { push(Int(lp), l, &scratch) }
            if rn >= 0 { push(l, Int(rn), &scratch) }
        }
        var i = 0
        while i >= 0 {
            emit(scratch.sym[i], into: &out)
            i = Int(scratch.next[i])
        }
    }

    @inline(__always)
    private func push(_ l: Int, _ r: Int, _ s: inout BPEScratch) {
        let a = s.sym[l], b = s.sym[r]
        let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
        guard let hit = pairs.find(key) else { return }
        s.heap.push(
            MergeCandidate(
                order: UInt64(UInt32(hit.rank)) << 32 | UInt64(UInt32(l)),
                left: Int32(l), right: Int32(r), leftSym: a, rightSym: b, merged: hit.merged))
    }

    @inline(__always)
    private func emit(_ sym: TokenID, into out: inout [TokenID]) {
        if Int(sym) < tokenCount { out.append(sym) } else { out.append(contentsOf: fallback[Int(sym) - tokenCount]) }
    }
}

/// Reusable buffers for one word's merge (a doubly linked list of symbols and a heap of pairs).
struct BPEScratch {
    var sym: [TokenID] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap = BPEHeap()

    mutating func reset(_ n: Int) {
        if sym.count < n {
            sym = Array(repeating: 0, count: n)
            prev = Array(repeating: 0, count: n)
            next = Array(repeating: 0, count: n)
        }
        heap.removeAll()
    }
}

/// A candidate merge of byte-level BPE, ordered by (rank, left position).
struct MergeCandidate: HeapOrdered {
    var order: UInt64
    var left: Int32
    var right: Int32
    var leftSym: TokenID
    var rightSym: TokenID
    var merged: TokenID

    @inline(__always) static func before(_ x: MergeCandidate, _ y: MergeCandidate) -> Bool { x.order < y.order }
}

typealias BPEHeap = PriorityHeap<MergeCandidate>

/// Open-addressing hash table from a packed symbol pair to (rank, merged symbol).
struct PairTable: Sendable {
    private var keys: [UInt64]
    private var ranks: [Int32]
    private var merged: [TokenID]
    private let mask: Int
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: PairTable.empty, count: size)
        ranks = Array(repeating: 0, count: size)
        merged = Array(repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) private static func hash(_ k: UInt64) -> Int {
        var h = k &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }

    @inline(__always)
    func find(_ key: UInt64) -> (rank: Int32, merged: TokenID)? {
        var i = PairTable.hash(key) & mask
        while true {
            let k = keys[i]
            if k == key { return (ranks[i], merged[i]) }
            if k == PairTable.empty { return nil }
            i = (i + 1) & mask
        }
    }

    mutating func insert(_ key: UInt64, rank: Int32, merged m: TokenID) {
        var i = PairTable.hash(key) & mask
        while keys[i] != PairTable.empty && keys[i] != key { i = (i + 1) & mask }
        keys[i] = key
        ranks[i] = rank
        merged[i] = m
    }
}
