/// Numerically stable softmax and log-softmax: the row maximum is subtracted before exp.
public enum Softmax {
    /// out = softmax(x) over `n` contiguous values (out may alias x). Returns the row maximum and
    /// the sum of exp(x - max), from which callers get the log-sum-exp (max + log(sum)).
    @discardableResult
    @inline(always) public static func row(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        count n: Int
    ) -> (max: Float, sum: Float) {
        let m = Reduction.max(x, count: n)
        var acc = Vec()
        var i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            let e = VectorMath.exp(VectorMath.load(x + i, stride: 1, count: c, fill: -.infinity) - m)
            acc += e
            VectorMath.store(e, out + i, count: c)
            i += c
        }
        let total = VectorMath.sum(acc)
        let inv = 1 / total
        i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            VectorMath.store(VectorMath.load(out + i, stride: 1, count: c) * inv, out + i, count: c)
            i += c
        }
        return (m, total)
    }

    /// out = log_softmax(x) = x - max - log(sum(exp(x - max))) over `n` contiguous values.
    @inline(always) public static func logRow(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int) {
        let m = Reduction.max(x, count: n)
        var acc = Vec()
        var i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            acc += VectorMath.exp(VectorMath.load(x + i, stride: 1, count: c, fill: -.infinity) - m)
            i += c
        }
        // (x - max) - log(sum): subtracting the max first keeps large logits exact.
        let lse = VectorMath.log(Vec(repeating: VectorMath.sum(acc)))[0]
        i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            VectorMath.store((VectorMath.load(x + i, stride: 1, count: c) - m) - lse, out + i, count: c)
            i += c
        }
    }
}

extension Tensor {
    public func softmax(axis: Int = -1) throws -> Tensor {
        try rowwise(axis: axis, op: "softmax") { Softmax.row($0, $1, count: $2) }
    }

    /// Softmax over the last axis into `out` (contiguous, same shape; may be self).
    public func softmax(into out: Tensor) throws {
        try rowwise(into: out, op: "softmax") { Softmax.row($0, $1, count: $2) }
    }

    public func logSoftmax(axis: Int = -1) throws -> Tensor {
        try rowwise(axis: axis, op: "logSoftmax") { Softmax.logRow($0, $1, count: $2) }
    }

    /// Applies a row kernel to every run along `axis` (moved last, made contiguous, moved back).
    func rowwise(
        axis a: Int, op: String,
        _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    ) throws -> Tensor {
        try requireFloat32(op)
        let ax = try axis(a, op: op)
        if ax != rank - 1 {
            var order = Array(0..<rank)
            order.remove(at: ax)
            order.append(ax)
            var back = [Int](repeating: 0, count: rank)
            for (i, o) in order.enumerated() { back[o] = i }
            return try permuted(order).rowwise(axis: -1, op: op, kernel).permuted(back).contiguous()
        }
        let out = Tensor.uninitialized(shape)
        try rowwise(into: out, op: op, kernel)
        return out
    }

    /// Applies a row kernel to every run along the last axis, writing into `out`.
    func rowwise(
        into out: Tensor, op: String,
        _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    ) throws {
        try requireFloat32(op)
        try out.requireOutput(shape: shape, op: op)
        guard rank >= 1 else { throw TensorError.invalidShape(op: op, shape: shape, reason: "needs at least one axis") }
        let x = contiguous()
        let n = shape[rank - 1], rows = n == 0 ? 0 : count / n
        let px = x.floatPointer, po = out.floatPointer
        let tasks = taskCount(work: count, grain: 1 << 13, limit: ThreadPool.shared.threadCount * 4)
        ThreadPool.shared.parallelRanges(rows, parts: tasks) { range in
            for row in range { kernel(px + row * n, po + row * n, n) }
        }
    }
}
