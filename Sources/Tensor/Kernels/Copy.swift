/// Strided copies between layouts of the same element type, parallel over rows.
enum Copy {
    /// Copies `src` into `dst` (same shape and type; `dst` may have any strides).
    static func strided(from src: Tensor, into dst: Tensor) {
        precondition(src.shape == dst.shape && src.dtype == dst.dtype)
        let layout = Layout(shape: src.shape, strides: [dst.strides, src.strides])
        switch src.dtype.blockBytes {
        case 4:
            run(
                layout, UnsafeMutableRawPointer(dst.storage.base).assumingMemoryBound(to: UInt32.self) + dst.offset,
                UnsafeMutableRawPointer(src.storage.base).assumingMemoryBound(to: UInt32.self) + src.offset)
        case 2:
            run(layout, dst.uint16Pointer, src.uint16Pointer)
        default:
            // Block types: views never split the last axis (Views.swift checks), so rows of whole
            // blocks are copied as bytes.
            precondition(
                layout.innerStride(0) == 1 && layout.innerStride(1) == 1 && layout.inner % src.dtype.blockElements == 0,
                "strided copy of \(src.dtype) needs whole contiguous rows")
            let qk = src.dtype.blockElements, bytes = src.dtype.blockBytes
            let dstBase = dst.storage.base.assumingMemoryBound(to: UInt8.self)
            let srcBase = src.storage.base.assumingMemoryBound(to: UInt8.self)
            ThreadPool.shared.parallelRanges(
                layout.rows,
                parts: taskCount(
                    work: layout.rows * layout.inner, grain: 1 << 16,
                    limit: ThreadPool.shared.threadCount * 4)
            ) { range in
                for row in range {
                    let d = (dst.offset + layout.rowOffset(row, operand: 0)) / qk * bytes
                    let s = (src.offset + layout.rowOffset(row, operand: 1)) / qk * bytes
                    (dstBase + d).update(from: srcBase + s, count: layout.inner / qk * bytes)
                }
            }
        }
    }

    private static func run<T>(_ layout: Layout, _ dst: UnsafeMutablePointer<T>, _ src: UnsafeMutablePointer<T>) {
        let rows = layout.rows, inner = layout.inner
        let ds = layout.innerStride(0), ss = layout.innerStride(1)
        let tasks = taskCount(work: rows * inner, grain: 1 << 16, limit: ThreadPool.shared.threadCount * 4)
        ThreadPool.shared.parallelRanges(rows, parts: tasks) { range in
            for row in range {
                let d = dst + layout.rowOffset(row, operand: 0)
                let s = src + layout.rowOffset(row, operand: 1)
                if ds == 1 && ss == 1 {
                    d.update(from: s, count: inner)
                } else {
                    for i in 0..<inner { d[i * ds] = s[i * ss] }
                }
            }
        }
    }
}

extension Tensor {
    /// A contiguous copy in fresh storage (never a view of this tensor's storage, which may be a
    /// read-only file mapping or shared with other tensors).
    public func copied() -> Tensor {
        let out = Tensor.uninitialized(shape, dtype: dtype)
        if count > 0 { Copy.strided(from: self, into: out) }
        return out
    }
}
