/// Views: new shapes and strides over the same storage, never a copy (except `reshaped` of a
/// layout that cannot be viewed, which copies, as PyTorch's `reshape` does).
extension Tensor {
    /// The same elements in a new shape. One dimension may be -1 (inferred).
    /// A view when the strides allow it, else a contiguous copy.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let target = try resolveShape(newShape)
        if dtype.isBlockQuantised, let last = target.last, last % dtype.blockElements != 0 {
            throw TensorError.shapeMismatch(
                op: "reshape", lhs: shape, rhs: newShape,
                reason: "\(dtype) rows must stay multiples of \(dtype.blockElements) values")
        }
        if let s = viewStrides(for: target) {
            return Tensor(storage: storage, dtype: dtype, shape: target, strides: s, offset: offset)
        }
        let c = contiguous()
        return Tensor(
            storage: c.storage, dtype: dtype, shape: target,
            strides: Tensor.contiguousStrides(target), offset: c.offset)
    }

    private func resolveShape(_ newShape: [Int]) throws -> [Int] {
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        guard inferred.count <= 1, newShape.allSatisfy({ $0 >= -1 }) else {
            throw TensorError.shapeMismatch(
                op: "reshape", lhs: shape, rhs: newShape,
                reason: "at most one -1 and no other negative size")
        }
        var target = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let i = inferred.first {
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(
                    op: "reshape", lhs: shape, rhs: newShape,
                    reason: "\(count) elements cannot be split by \(known)")
            }
            target[i] = count / known
        }
        guard target.reduce(1, *) == count else {
            throw TensorError.shapeMismatch(
                op: "reshape", lhs: shape, rhs: newShape,
                reason: "\(count) elements cannot take a shape of \(target.reduce(1, *))")
        }
        return target
    }

    /// Strides that view this tensor's elements in `target` order, if any exist (the algorithm
    /// of PyTorch's `view`: split or merge runs of dimensions that are contiguous with each other).
    private func viewStrides(for target: [Int]) -> [Int]? {
        if count == 0 { return Tensor.contiguousStrides(target) }
        // Chunks of old dims that are mutually contiguous.
        var oldDims: [(size: Int, stride: Int)] = []
        for (n, s) in zip(shape, strides) where n != 1 {
            if let last = oldDims.last, last.stride == s * n {
                oldDims[oldDims.count - 1] = (last.size * n, s)
            } else {
                oldDims.append((n, s))
            }
        }
        var result = [Int](repeating: 0, count: target.count)
        var chunk = 0
        var remaining = oldDims.first?.size ?? 1
        var currentStride = oldDims.first?.stride ?? 1
        for i in target.indices {
            let n = target[i]
            if n == 1 {
                result[i] = currentStride
                continue
            }
            while remaining == 1 && chunk + 1 < oldDims.count {
                chunk += 1
                remaining = oldDims[chunk].size
                currentStride = oldDims[chunk].stride
            }
            guard remaining % n == 0 else { return nil }
            remaining /= n
            result[i] = currentStride * remaining
        }
        return result
    }

    /// Swaps two axes (default: the last two).
    public func transposed(_ a: Int = -2, _ b: Int = -1) throws -> Tensor {
        let x = try axis(a, op: "transpose"), y = try axis(b, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(x, y)
        return try permuted(order)
    }

    /// Reorders the axes: result axis i is this tensor's axis `order[i]`.
    public func permuted(_ order: [Int]) throws -> Tensor {
        guard order.count == rank, Set(order) == Set(0..<rank) else {
            throw TensorError.invalidShape(
                op: "permute", shape: shape,
                reason: "\(order) is not a permutation of 0..<\(rank)")
        }
        try requireWholeBlocks(op: "permute", keepsLastAxis: order.last == rank - 1)
        return Tensor(
            storage: storage, dtype: dtype, shape: order.map { shape[$0] },
            strides: order.map { strides[$0] }, offset: offset)
    }

    /// Elements `range` (stepping by `step`) along `axis`.
    public func sliced(axis a: Int, _ range: Range<Int>, step: Int = 1) throws -> Tensor {
        let x = try axis(a, op: "slice")
        guard range.lowerBound >= 0, range.upperBound <= shape[x], step >= 1 else {
            throw TensorError.invalidShape(
                op: "slice", shape: shape,
                reason: "range \(range) step \(step) on axis \(x) of size \(shape[x])")
        }
        try requireWholeBlocks(
            op: "slice",
            keepsLastAxis: x != rank - 1
                || (step == 1
                    && range.lowerBound % dtype.blockElements == 0 && range.count % dtype.blockElements == 0)
        )
        var newShape = shape, newStrides = strides
        newShape[x] = (range.count + step - 1) / step
        newStrides[x] = strides[x] * step
        return Tensor(
            storage: storage, dtype: dtype, shape: newShape, strides: newStrides,
            offset: offset + range.lowerBound * strides[x])
    }

    /// Selects index `i` along `axis`, removing that axis.
    public func selected(axis a: Int, _ i: Int) throws -> Tensor {
        let x = try axis(a, op: "select")
        guard i >= 0 && i < shape[x] else {
            throw TensorError.invalidShape(op: "select", shape: shape, reason: "index \(i) on axis \(x) of size \(shape[x])")
        }
        try requireWholeBlocks(op: "select", keepsLastAxis: x != rank - 1)
        var newShape = shape, newStrides = strides
        newShape.remove(at: x)
        newStrides.remove(at: x)
        return Tensor(
            storage: storage, dtype: dtype, shape: newShape, strides: newStrides,
            offset: offset + i * strides[x])
    }

    /// Inserts an axis of size 1 at `axis` (which may equal rank).
    public func unsqueezed(axis a: Int) throws -> Tensor {
        let x = a < 0 ? a + rank + 1 : a
        guard x >= 0 && x <= rank else {
            throw TensorError.invalidShape(op: "unsqueeze", shape: shape, reason: "axis \(a) for rank \(rank)")
        }
        try requireWholeBlocks(op: "unsqueeze", keepsLastAxis: x < rank)
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: x)
        newStrides.insert(x < rank ? strides[x] * shape[x] : 1, at: x)
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset)
    }

    /// A view of this tensor repeated along size-1 (or missing leading) axes, with stride 0.
    public func broadcast(to target: [Int]) throws -> Tensor {
        guard target.count >= rank else {
            throw TensorError.shapeMismatch(op: "broadcast", lhs: shape, rhs: target, reason: "target has fewer axes")
        }
        let lead = target.count - rank
        try requireWholeBlocks(op: "broadcast", keepsLastAxis: rank > 0 && target.last == shape.last)
        var newStrides = [Int](repeating: 0, count: target.count)
        for i in 0..<rank {
            if shape[i] == target[lead + i] {
                newStrides[lead + i] = strides[i]
            } else if shape[i] == 1 {
                newStrides[lead + i] = 0
            } else {
                throw TensorError.shapeMismatch(
                    op: "broadcast", lhs: shape, rhs: target,
                    reason: "axis \(i) has size \(shape[i]), neither 1 nor \(target[lead + i])")
            }
        }
        return Tensor(storage: storage, dtype: dtype, shape: target, strides: newStrides, offset: offset)
    }

    /// The shape two operands broadcast to (NumPy rules), or an error naming both.
    public static func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let n = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            guard x == y || x == 1 || y == 1 else {
                throw TensorError.shapeMismatch(
                    op: op, lhs: a, rhs: b,
                    reason: "axis \(i) of the broadcast shape has sizes \(x) and \(y)")
            }
            out[i] = x == 1 ? y : x
        }
        return out
    }

    /// Block-quantised tensors store runs of `blockElements` values of a row together, so a view
    /// may move, split or broadcast any axis but the last, which must stay whole and unit-stride.
    func requireWholeBlocks(op: String, keepsLastAxis: Bool) throws {
        guard dtype.isBlockQuantised, !keepsLastAxis else { return }
        throw TensorError.unsupportedType(
            op: op, dtype: dtype,
            reason: "views of block-quantised tensors must keep whole rows of \(dtype.blockElements)-value blocks along the last axis")
    }

    /// This tensor if contiguous, else a contiguous copy.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = Tensor.uninitialized(shape, dtype: dtype)
        Copy.strided(from: self, into: out)
        return out
    }
}
