/// Arg-max and top-k along the last axis (ties go to the lower index; NaN ranks below everything).
extension Tensor {
    /// Index of the largest value in each row of the last axis, as i32 with the last axis removed.
    public func argmax() throws -> Tensor {
        try requireFloat32("argmax")
        guard rank >= 1, shape[rank - 1] > 0 else {
            throw TensorError.invalidShape(op: "argmax", shape: shape, reason: "the last axis must be non-empty")
        }
        let x = contiguous(), n = shape[rank - 1], rows = count / n
        let out = Tensor.uninitialized(Array(shape.dropLast()), dtype: .i32)
        for row in 0..<rows { out.int32Pointer[row] = Int32(Tensor.argmax(x.floatPointer + row * n, count: n)) }
        return out
    }

    /// Index of the largest of `n` floats (first one on ties; NaNs are skipped unless all are NaN).
    public static func argmax(_ p: UnsafePointer<Float>, count n: Int) -> Int {
        let m = Reduction.max(p, count: n)
        for i in 0..<n where p[i] == m { return i }
        return 0
    }

    /// The k largest values of each row of the last axis, best first, and their indices.
    public func topK(_ k: Int) throws -> (values: Tensor, indices: Tensor) {
        try requireFloat32("topK")
        guard rank >= 1, k >= 0, k <= shape[rank - 1] else {
            throw TensorError.invalidShape(op: "topK", shape: shape, reason: "k = \(k) must be in 0...\(rank >= 1 ? shape[rank - 1] : 0)")
        }
        let x = contiguous(), n = shape[rank - 1], rows = n == 0 ? 0 : count / n
        let outShape = Array(shape.dropLast()) + [k]
        let values = Tensor.uninitialized(outShape), indices = Tensor.uninitialized(outShape, dtype: .i32)
        for row in 0..<rows {
            let best = Tensor.topK(x.floatPointer + row * n, count: n, k: k)
            for (j, i) in best.enumerated() {
                values.floatPointer[row * k + j] = x.floatPointer[row * n + i]
                indices.int32Pointer[row * k + j] = Int32(i)
            }
        }
        return (values, indices)
    }

    /// Indices of the k largest of `n` floats, best first, ties to the lower index.
    public static func topK(_ p: UnsafePointer<Float>, count n: Int, k: Int) -> [Int] {
        if k == 0 { return [] }
        @inline(__always) func better(_ i: Int, _ j: Int) -> Bool {
            let a = p[i], b = p[j]
            if a.isNaN || b.isNaN { return !a.isNaN && b.isNaN || (a.isNaN == b.isNaN && i < j) }
            return a > b || (a == b && i < j)
        }
        if k > 64 || k * 8 > n {
            return Array((0..<n).sorted(by: better).prefix(k))
        }
        // Keep a sorted buffer of the best k; most candidates are rejected by one comparison.
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for i in 0..<n {
            if best.count == k && !better(i, best[k - 1]) { continue }
            var pos = best.count
            while pos > 0 && better(i, best[pos - 1]) { pos -= 1 }
            best.insert(i, at: pos)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
