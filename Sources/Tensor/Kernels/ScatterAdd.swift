/// Scatter-add: the backward of an embedding gather.
extension Tensor {
    /// A [rows, dim] tensor of zeros into which row i of `source` ([ids.count, dim]) has been added
    /// at row ids[i]. Threads split the columns, and each column sums its ids in order, so repeated
    /// ids accumulate in a fixed order whatever the thread count.
    public static func scatterAddRows(_ source: Tensor, ids: [Int32], rows: Int) throws -> Tensor {
        try source.requireFloat32("scatterAddRows")
        let dim = source.shape.last ?? 0
        guard source.count == ids.count * dim else {
            throw TensorError.shapeMismatch(
                op: "scatterAddRows", lhs: source.shape, rhs: [ids.count],
                reason: "one source row per id is needed")
        }
        for (i, id) in ids.enumerated() where id < 0 || Int(id) >= rows {
            throw TensorError.invalidShape(op: "scatterAddRows", shape: [rows, dim], reason: "id \(id) at \(i) is out of range")
        }
        let out = Tensor(zeros: [rows, dim])
        let src = source.contiguous()
        let ps = src.floatPointer, po = out.floatPointer
        let block = 64
        let blocks = (dim + block - 1) / block
        let tasks = taskCount(work: ids.count * dim, grain: 1 << 14, limit: ThreadPool.shared.threadCount * 4)
        ids.withUnsafeBufferPointer { idp in
            ThreadPool.shared.parallelRanges(blocks, parts: tasks) { range in
                for b in range {
                    let lo = b * block, n = Swift.min(block, dim - lo)
                    for i in 0..<idp.count {
                        RowGrad.axpy(po + Int(idp[i]) * dim + lo, 1, ps + i * dim + lo, n)
                    }
                }
            }
        }
        return out
    }
}
