/// Concatenation along an axis.
extension Tensor {
    public static func concat(_ parts: [Tensor], axis a: Int) throws -> Tensor {
        guard let first = parts.first else {
            throw TensorError.invalidShape(op: "concat", shape: [], reason: "needs at least one tensor")
        }
        let ax = try first.axis(a, op: "concat")
        var total = 0
        for p in parts {
            guard p.dtype == first.dtype else {
                throw TensorError.unsupportedType(op: "concat", dtype: p.dtype, reason: "all parts must be \(first.dtype)")
            }
            guard p.rank == first.rank,
                (0..<p.rank).allSatisfy({ $0 == ax || p.shape[$0] == first.shape[$0] })
            else {
                throw TensorError.shapeMismatch(
                    op: "concat", lhs: first.shape, rhs: p.shape,
                    reason: "all axes but \(ax) must agree")
            }
            total += p.shape[ax]
        }
        var shape = first.shape
        shape[ax] = total
        let out = Tensor.uninitialized(shape, dtype: first.dtype)
        var start = 0
        for p in parts where p.shape[ax] > 0 {
            let dst = try out.sliced(axis: ax, start..<(start + p.shape[ax]))
            Copy.strided(from: p, into: dst)
            start += p.shape[ax]
        }
        return out
    }
}
