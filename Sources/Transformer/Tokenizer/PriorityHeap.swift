/// An order for heap entries: `before(x, y)` is true when x must come out first.
protocol HeapOrdered {
    static func before(_ x: Self, _ y: Self) -> Bool
}

/// A binary heap that pops the entry that comes first under `Entry.before`; both BPE variants
/// keep their candidate merges in one.
struct PriorityHeap<Entry: HeapOrdered> {
    private var a: [Entry] = []

    mutating func removeAll() { a.removeAll(keepingCapacity: true) }

    mutating func push(_ e: Entry) {
        a.append(e)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) >> 1
            if !Entry.before(e, a[p]) { break }
            a[i] = a[p]
            i = p
        }
        a[i] = e
    }

    mutating func pop() -> Entry? {
        guard let top = a.first else { return nil }
        let last = a.removeLast()
        if a.isEmpty { return top }
        var i = 0
        let n = a.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let c = r < n && Entry.before(a[r], a[l]) ? r : l
            if !Entry.before(a[c], last) { break }
            a[i] = a[c]
            i = c
        }
        a[i] = last
        return top
    }
}
