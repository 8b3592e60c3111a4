import Foundation

/// Rotary position embedding.
///
/// Dimension pairs are rotated by angle pos * base^(-2i/dims). `adjacentPairs` rotates (x[2i],
/// x[2i+1]) as Llama does (ggml's normal mode); `halves` rotates (x[i], x[i + dims/2]) as GPT-NeoX
/// and Qwen2 do. Angles follow ggml exactly: theta_0 = pos * freqScale, theta_{i+1} = theta_i *
/// base^(-2/dims) in Float, so positions far into a long context agree with llama.cpp too.
/// Dimensions from `dims` to the head size pass through unchanged.
public struct RoPE: Sendable {
    public enum Layout: String, Sendable, Codable { case adjacentPairs, halves }

    public var base: Float
    public var dims: Int
    public var layout: Layout
    public var freqScale: Float

    public init(base: Float = 10000, dims: Int, layout: Layout, freqScale: Float = 1) {
        self.base = base
        self.dims = dims
        self.layout = layout
        self.freqScale = freqScale
    }

    /// cos and sin tables, [positions.count, dims/2] each.
    public func tables(positions: [Int32]) -> (cos: [Float], sin: [Float]) {
        let half = dims / 2
        let thetaScale = powf(base, -2 / Float(dims))
        var c = [Float](repeating: 0, count: positions.count * half)
        var s = c
        for (t, p) in positions.enumerated() {
            var theta = Float(p) * freqScale
            for i in 0..<half {
                c[t * half + i] = cosf(theta)
                s[t * half + i] = sinf(theta)
                theta *= thetaScale
            }
        }
        return (c, s)
    }

    /// Rotates one head vector of `headSize` floats in place with the tables' row for its position.
    @inline(__always) public func rotate(
        _ x: UnsafeMutablePointer<Float>, cos c: UnsafePointer<Float>,
        sin s: UnsafePointer<Float>
    ) {
        let half = dims / 2
        switch layout {
        case .adjacentPairs:
            for i in 0..<half {
                let a = x[2 * i], b = x[2 * i + 1]
                x[2 * i] = a * c[i] - b * s[i]
                x[2 * i + 1] = a * s[i] + b * c[i]
            }
        case .halves:
            for i in 0..<half {
                let a = x[i], b = x[i + half]
                x[i] = a * c[i] - b * s[i]
                x[i + half] = a * s[i] + b * c[i]
            }
        }
    }
}

extension Tensor {
    /// Applies `rope` to a tensor [..., T, heads, headSize] at the given T positions.
    public func rope(_ rope: RoPE, positions: [Int32]) throws -> Tensor {
        try requireFloat32("rope")
        guard rank >= 3 else {
            throw TensorError.invalidShape(op: "rope", shape: shape, reason: "expected [..., tokens, heads, headSize]")
        }
        let t = shape[rank - 3], heads = shape[rank - 2], d = shape[rank - 1]
        guard positions.count == t else {
            throw TensorError.shapeMismatch(
                op: "rope", lhs: shape, rhs: [positions.count],
                reason: "one position per token (axis -3) is needed")
        }
        guard rope.dims > 0, rope.dims % 2 == 0, rope.dims <= d else {
            throw TensorError.invalidShape(
                op: "rope", shape: shape,
                reason: "rotary dims \(rope.dims) must be even and at most the head size \(d)")
        }
        let out = Tensor.uninitialized(shape)
        Copy.strided(from: self, into: out)
        let (c, s) = rope.tables(positions: positions)
        let half = rope.dims / 2
        let rows = count / d
        let p = out.floatPointer
        c.withUnsafeBufferPointer { cb in
            s.withUnsafeBufferPointer { sb in
                let tasks = taskCount(work: count, grain: 1 << 14, limit: ThreadPool.shared.threadCount * 4)
                ThreadPool.shared.parallelRanges(rows, parts: tasks) { range in
                    for row in range {
                        let pos = (row / heads) % t
                        rope.rotate(p + row * d, cos: cb.baseAddress! + pos * half, sin: sb.baseAddress! + pos * half)
                    }
                }
            }
        }
        return out
    }
}
