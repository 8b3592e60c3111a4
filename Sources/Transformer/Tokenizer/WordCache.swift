/// A bounded cache from a pre-token's bytes to its token ids (repeated words skip merging).
/// Open addressing over flat arenas, so a lookup hashes the bytes once and allocates nothing;
/// when it holds `maxEntries` words it is emptied, which bounds memory on long inputs.
struct WordCache {
    static let maxEntries = 1 << 15
    static let maxWordLength = 64
    private static let slotCount = maxEntries * 2

    /// Allocated on the first insert, so short encodes pay nothing.
    private var slots: [Int32] = []
    private var hashes: [UInt64] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var valueStart: [Int32] = []
    private var valueLength: [Int32] = []
    private var keyBytes: [UInt8] = []
    private var values: [TokenID] = []

    @inline(__always)
    static func hash(_ w: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in w { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h ^ (h >> 32)
    }

    /// Appends the cached ids of `w` to `out` and returns true, or returns false.
    @inline(__always)
    func lookup(_ w: UnsafeBufferPointer<UInt8>, hash h: UInt64, into out: inout [TokenID]) -> Bool {
        if slots.isEmpty { return false }
        let mask = WordCache.slotCount - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[i])
            if e < 0 { return false }
            if hashes[e] == h && Int(keyLength[e]) == w.count {
                let s = Int(keyStart[e])
                var same = true
                for k in 0..<w.count where keyBytes[s + k] != w[k] {
                    same = false
                    break
                }
                if same {
                    let vs = Int(valueStart[e])
                    out.append(contentsOf: values[vs..<(vs + Int(valueLength[e]))])
                    return true
                }
            }
            i = (i + 1) & mask
        }
    }

    mutating func insert(_ w: UnsafeBufferPointer<UInt8>, hash h: UInt64, ids: ArraySlice<TokenID>) {
        if slots.isEmpty { slots = [Int32](repeating: -1, count: WordCache.slotCount) }
        if hashes.count >= WordCache.maxEntries { removeAll() }
        let mask = WordCache.slotCount - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = Int32(hashes.count)
        hashes.append(h)
        keyStart.append(Int32(keyBytes.count))
        keyLength.append(Int32(w.count))
        keyBytes.append(contentsOf: w)
        valueStart.append(Int32(values.count))
        valueLength.append(Int32(ids.count))
        values.append(contentsOf: ids)
    }

    mutating func removeAll() {
        for i in slots.indices { slots[i] = -1 }
        hashes.removeAll(keepingCapacity: true)
        keyStart.removeAll(keepingCapacity: true)
        keyLength.removeAll(keepingCapacity: true)
        valueStart.removeAll(keepingCapacity: true)
        valueLength.removeAll(keepingCapacity: true)
        keyBytes.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
    }
}
