/// Embedding lookup: rows of a table gathered by id, converted to f32.
extension Tensor {
    /// Rows `ids` of this [vocab, dim] table (f32, f16 or bf16), shape ids.shape + [dim].
    public func embedding(_ ids: Tensor) throws -> Tensor {
        guard ids.dtype == .i32 else {
            throw TensorError.unsupportedType(op: "embedding", dtype: ids.dtype, reason: "ids must be i32")
        }
        return try embedding(ids.int32s(), idsShape: ids.shape)
    }

    /// Rows `ids` of this [vocab, dim] table, shape [ids.count, dim] (or idsShape + [dim]).
    public func embedding(_ ids: [Int32], idsShape: [Int]? = nil) throws -> Tensor {
        guard rank == 2 else {
            throw TensorError.invalidShape(op: "embedding", shape: shape, reason: "the table must be [vocab, dim]")
        }
        guard dtype.isFloatingPoint else {
            throw TensorError.unsupportedType(op: "embedding", dtype: dtype, reason: "the table must hold f32, f16, bf16 or a block type")
        }
        let vocab = shape[0], dim = shape[1]
        for (i, id) in ids.enumerated() where id < 0 || Int(id) >= vocab {
            throw TensorError.invalidShape(
                op: "embedding", shape: shape,
                reason: "id \(id) at position \(i) is outside the vocabulary 0..<\(vocab)")
        }
        let table = strides[1] == 1 ? self : contiguous()
        let out = Tensor.uninitialized((idsShape ?? [ids.count]) + [dim])
        let po = out.floatPointer, rowStride = table.strides[0]
        let tasks = taskCount(work: ids.count * dim, grain: 1 << 14, limit: ThreadPool.shared.threadCount)
        ids.withUnsafeBufferPointer { idp in
            ThreadPool.shared.parallelRanges(ids.count, parts: tasks) { range in
                for i in range {
                    let r = Int(idp[i]) * rowStride
                    switch table.dtype {
                    case .f32: (po + i * dim).update(from: table.floatPointer + r, count: dim)
                    case .f16: Half.toFloat(table.uint16Pointer + r, po + i * dim, count: dim)
                    case .bf16: BFloat.toFloat(table.uint16Pointer + r, po + i * dim, count: dim)
                    case .i32: break
                    default:
                        Quant.dequantize(
                            table.dtype, table.storage.base + table.dtype.byteCount(elements: table.offset + r),
                            po + i * dim, count: dim)
                    }
                }
            }
        }
        return out
    }
}
