/// A token candidate packed into one UInt64 whose unsigned order is the sampling order: the
/// logit (made order-preserving as an unsigned integer) in the high half, the complement of the
/// id in the low half, so that a larger key is a larger logit and, for equal logits, a lower id.
/// Sorting keys therefore sorts candidates with ties going to the lowest id, deterministically.
enum CandidateKey {
    @inline(__always) static func make(_ value: Float, _ id: Int) -> UInt64 {
        let b = (value + 0).bitPattern  // + 0 turns -0 into +0 so both zeros tie on the id
        let u = b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
        return UInt64(u) << 32 | UInt64(UInt32.max - UInt32(truncatingIfNeeded: id))
    }

    @inline(__always) static func value(_ key: UInt64) -> Float {
        let u = UInt32(truncatingIfNeeded: key >> 32)
        return Float(bitPattern: u & 0x8000_0000 != 0 ? u & 0x7FFF_FFFF : ~u)
    }

    @inline(__always) static func id(_ key: UInt64) -> Int32 {
        Int32(bitPattern: UInt32.max - UInt32(truncatingIfNeeded: key))
    }
}

/// Min-heap operations on a buffer of keys (no allocation), for partial selection and sorting.
enum KeyHeap {
    @inline(__always) static func siftDown(_ h: UnsafeMutablePointer<UInt64>, count n: Int, from start: Int) {
        var i = start
        let x = h[i]
        while true {
            var c = 2 * i + 1
            if c >= n { break }
            if c + 1 < n && h[c + 1] < h[c] { c += 1 }
            if h[c] >= x { break }
            h[i] = h[c]
            i = c
        }
        h[i] = x
    }

    static func heapify(_ h: UnsafeMutablePointer<UInt64>, count n: Int) {
        var i = n / 2 - 1
        while i >= 0 {
            siftDown(h, count: n, from: i)
            i -= 1
        }
    }

    /// Sorts `n` keys into descending order (heapsort on a min-heap: each minimum goes to the end).
    static func sortDescending(_ h: UnsafeMutablePointer<UInt64>, count n: Int) {
        heapify(h, count: n)
        var m = n
        while m > 1 {
            m -= 1
            let top = h[0]
            h[0] = h[m]
            h[m] = top
            siftDown(h, count: m, from: 0)
        }
    }

    /// Writes the keys of the `k` largest of `values[0..<n]` (ties to the lowest id) into `h`,
    /// sorted in descending order. One pass over the values: once the heap is full, a value
    /// enters only if it beats the smallest kept one, so the pass is mostly compare-and-skip.
    /// NaN never enters (callers reject NaN logits beforehand).
    static func selectTop(
        _ k: Int, of values: UnsafePointer<Float>, count n: Int,
        into h: UnsafeMutablePointer<UInt64>
    ) {
        precondition(k >= 1 && k <= n)
        for i in 0..<k { h[i] = CandidateKey.make(values[i], i) }
        heapify(h, count: k)
        var threshold = CandidateKey.value(h[0])
        var i = k
        while i < n {
            let v = values[i]
            // Equal values lose: every id in the heap is lower than i.
            if v > threshold {
                h[0] = CandidateKey.make(v, i)
                siftDown(h, count: k, from: 0)
                threshold = CandidateKey.value(h[0])
            }
            i += 1
        }
        sortDescending(h, count: k)
    }

    /// Writes the keys of every value in [low, high) into `h` (in id order); returns how many.
    static func collect(
        atLeast low: Float, below high: Float, of values: UnsafePointer<Float>, count n: Int,
        into h: UnsafeMutablePointer<UInt64>
    ) -> Int {
        var c = 0
        for i in 0..<n where values[i] >= low && values[i] < high {
            h[c] = CandidateKey.make(values[i], i)
            c += 1
        }
        return c
    }
}
