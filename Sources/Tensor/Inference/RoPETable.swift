import Foundation

/// Rotary-embedding angles precomputed for positions 0..<positions (ggml's iterative angles, the
/// same values `RoPE.tables` gives), applied in place to stacked rows whose positions differ from
/// row to row (several sequences decoded together).
public final class RoPETable: @unchecked Sendable {
    public let rope: RoPE
    public let positions: Int
    private let cos: [Float]
    private let sin: [Float]

    public init(rope: RoPE, positions: Int) {
        self.rope = rope
        self.positions = positions
        (cos, sin) = rope.tables(positions: (0..<Int32(max(positions, 0))).map { $0 })
    }

    /// Rotates every head of every row of `x` ([rows, heads * headSize], contiguous f32) in place;
    /// row r is at position `positions[r]`.
    public func apply(_ x: Tensor, heads: Int, positions rowPositions: [Int32]) throws {
        try x.requireFloat32("rope")
        guard x.rank == 2, x.isContiguous, heads > 0, x.shape[1] % heads == 0 else {
            throw TensorError.invalidShape(op: "rope", shape: x.shape, reason: "expected contiguous [rows, \(heads) heads x headSize]")
        }
        let rows = x.shape[0], width = x.shape[1], d = width / heads
        guard rowPositions.count == rows else {
            throw TensorError.shapeMismatch(op: "rope", lhs: x.shape, rhs: [rowPositions.count], reason: "one position per row is needed")
        }
        guard rope.dims > 0, rope.dims % 2 == 0, rope.dims <= d else {
            throw TensorError.invalidShape(op: "rope", shape: x.shape, reason: "rotary dims \(rope.dims) must be even and at most the head size \(d)")
        }
        if let bad = rowPositions.first(where: { $0 < 0 || Int($0) >= positions }) {
            throw TensorError.invalidShape(op: "rope", shape: x.shape, reason: "position \(bad) is outside the table's 0..<\(positions)")
        }
        let half = rope.dims / 2
        let p = x.floatPointer
        let rope = self.rope
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in
                let tasks = taskCount(work: rows * width, grain: 1 << 14, limit: ThreadPool.shared.threadCount * 4)
                ThreadPool.shared.parallelRanges(rows, parts: tasks) { range in
                    for r in range {
                        let pos = Int(rowPositions[r])
                        for h in 0..<heads {
                            rope.rotate(p + r * width + h * d, cos: cb.baseAddress! + pos * half, sin: sb.baseAddress! + pos * half)
                        }
                    }
                }
            }
        }
    }
}
