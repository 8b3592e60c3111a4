/// Reductions (sum, max, mean) over one axis.
///
/// The input is viewed as [outer, R, inner] and reduced over R. With inner == 1 each output is a
/// run of R contiguous values, summed with four vector accumulators in chunks of fixed size; with
/// inner > 1 the output is accumulated a vector of inner positions at a time. The order of every
/// sum depends only on the shape, never on the thread count.
public enum Reduction: Sendable {
    case sum, max, mean

    var name: String {
        switch self {
        case .sum: return "sum"
        case .max: return "max"
        case .mean: return "mean"
        }
    }

    /// Elements per independently reduced chunk of a long run.
    static let chunk = 1 << 14

    /// Sum of `n` contiguous floats: four vector accumulators, then a fixed pairwise combine.
    @inline(always) public static func sum(_ p: UnsafePointer<Float>, count n: Int) -> Float {
        var a0 = Vec(), a1 = a0, a2 = a0, a3 = a0
        let w = Vec.scalarCount
        var i = 0
        while i + 4 * w <= n {
            a0 += UnsafeRawPointer(p + i).loadUnaligned(as: Vec.self)
            a1 += UnsafeRawPointer(p + i + w).loadUnaligned(as: Vec.self)
            a2 += UnsafeRawPointer(p + i + 2 * w).loadUnaligned(as: Vec.self)
            a3 += UnsafeRawPointer(p + i + 3 * w).loadUnaligned(as: Vec.self)
            i += 4 * w
        }
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            a0 += VectorMath.load(p + i, stride: 1, count: c)
            i += c
        }
        return VectorMath.sum((a0 + a1) + (a2 + a3))
    }

    /// Maximum of `n` contiguous floats (-inf for n == 0).
    @inline(always) public static func max(_ p: UnsafePointer<Float>, count n: Int) -> Float {
        var a0 = Vec(repeating: -.infinity), a1 = a0
        let w = Vec.scalarCount
        var i = 0
        while i + 2 * w <= n {
            a0 = VectorMath.maximum(a0, UnsafeRawPointer(p + i).loadUnaligned(as: Vec.self))
            a1 = VectorMath.maximum(a1, UnsafeRawPointer(p + i + w).loadUnaligned(as: Vec.self))
            i += 2 * w
        }
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            a0 = VectorMath.maximum(a0, VectorMath.load(p + i, stride: 1, count: c, fill: -.infinity))
            i += c
        }
        return VectorMath.max(VectorMath.maximum(a0, a1))
    }
}

extension Tensor {
    public func sum(axis: Int, keepingAxis: Bool = false) throws -> Tensor {
        try reduce(.sum, axis: axis, keepingAxis: keepingAxis)
    }
    public func max(axis: Int, keepingAxis: Bool = false) throws -> Tensor {
        try reduce(.max, axis: axis, keepingAxis: keepingAxis)
    }
    public func mean(axis: Int, keepingAxis: Bool = false) throws -> Tensor {
        try reduce(.mean, axis: axis, keepingAxis: keepingAxis)
    }
    /// Sum of all elements, as a rank-0 tensor.
    public func sum() throws -> Tensor { try reshaped([count]).sum(axis: 0) }
    /// Mean of all elements, as a rank-0 tensor.
    public func mean() throws -> Tensor { try reshaped([count]).mean(axis: 0) }

    public func reduce(_ kind: Reduction, axis a: Int, keepingAxis: Bool = false) throws -> Tensor {
        try requireFloat32(kind.name)
        let ax = try axis(a, op: kind.name)
        let r = shape[ax]
        if r == 0 && kind != .sum {
            throw TensorError.invalidShape(op: kind.name, shape: shape, reason: "axis \(ax) is empty")
        }
        let x = contiguous()
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape
        if keepingAxis { outShape[ax] = 1 } else { outShape.remove(at: ax) }
        let out = Tensor.uninitialized(outShape)
        let px = x.floatPointer, po = out.floatPointer
        let threads = ThreadPool.shared.threadCount
        if inner == 1 {
            let chunks = Swift.max(1, (r + Reduction.chunk - 1) / Reduction.chunk)
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: outer * chunks)
            defer { partial.deallocate() }
            let tasks = taskCount(work: outer * r, grain: 1 << 15, limit: threads * 4)
            ThreadPool.shared.parallelRanges(outer * chunks, parts: tasks) { range in
                for item in range {
                    let o = item / chunks, c = item % chunks
                    let lo = c * Reduction.chunk, hi = Swift.min(r, lo + Reduction.chunk)
                    let p = px + o * r + lo
                    partial[item] = kind == .max ? Reduction.max(p, count: hi - lo) : Reduction.sum(p, count: hi - lo)
                }
            }
            for o in 0..<outer {
                var acc = partial[o * chunks]
                for c in 1..<chunks {
                    acc = kind == .max ? Swift.max(acc, partial[o * chunks + c]) : acc + partial[o * chunks + c]
                }
                po[o] = kind == .mean ? acc / Float(r) : acc
            }
        } else {
            let w = Vec.scalarCount
            let blocks = (inner + w - 1) / w
            let tasks = taskCount(work: outer * r * inner, grain: 1 << 15, limit: threads * 4)
            ThreadPool.shared.parallelRanges(outer * blocks, parts: tasks) { range in
                for item in range {
                    let o = item / blocks, i = (item % blocks) * w
                    let n = Swift.min(w, inner - i)
                    let base = px + o * r * inner + i
                    var acc = Vec(repeating: kind == .max ? -.infinity : 0)
                    for j in 0..<r {
                        let v = VectorMath.load(base + j * inner, stride: 1, count: n)
                        acc = kind == .max ? VectorMath.maximum(acc, v) : acc + v
                    }
                    if kind == .mean { acc /= Float(r) }
                    VectorMath.store(acc, po + o * inner + i, count: n)
                }
            }
        }
        return out
    }
}
