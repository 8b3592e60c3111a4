/// Conversion between f32 and ggml's quantised block types (`DType.q4_0` ... `.q6_K`).
///
/// Dequantisation reproduces ggml's reference dequantisers bit for bit for every block type.
/// Quantisation follows ggml's reference `quantize_row_*_ref` (no importance matrix) for Q4_0,
/// Q4_1, Q5_0, Q5_1, Q8_0 (bit-exact with gguf-py, tested) and Q2_K, Q4_K, Q5_K, Q6_K (same
/// algorithm, tested against error bounds); Q3_K can be read but not written.
public enum Quant {
    /// Block types `quantize` can write (besides f32, f16 and bf16, which `converted(to:)` handles).
    public static func canQuantize(_ type: DType) -> Bool { type.traits.canQuantize }

    /// Dequantises `count` values (a multiple of `type.blockElements`) of block type `type` stored
    /// at `src` into `dst`. Parallel over blocks for large counts; the result does not depend on
    /// the thread count.
    public static func dequantize(
        _ type: DType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        precondition(
            type.isBlockQuantised && count % type.blockElements == 0,
            "dequantize: \(count) values of \(type)")
        let qk = type.blockElements, bytes = type.blockBytes
        guard let block = type.traits.dequantizeBlock else { preconditionFailure("dequantize: \(type) is not a block type") }
        forBlocks(count / qk, grain: (1 << 15) / qk) { range in
            for i in range { block(src + i * bytes, dst + i * qk) }
        }
    }

    /// Quantises `count` f32 values (a multiple of `type.blockElements`) into block type `type`
    /// at `dst` (`type.byteCount(elements: count)` bytes). `canQuantize(type)` must hold.
    public static func quantize(
        _ type: DType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer,
        count: Int
    ) {
        precondition(canQuantize(type) && count % type.blockElements == 0, "quantize: \(count) values to \(type)")
        let qk = type.blockElements, bytes = type.blockBytes
        guard let block = type.traits.quantizeBlock else { preconditionFailure("quantize: cannot write \(type)") }
        forBlocks(count / qk, grain: (type.blockElements == 256 ? 1 << 11 : 1 << 14) / qk) { range in
            for i in range { block(src + i * qk, dst + i * bytes) }
        }
    }

    static func forBlocks(_ blocks: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let tasks = taskCount(work: blocks, grain: grain, limit: ThreadPool.shared.threadCount)
        if tasks == 1 {
            body(0..<blocks)
            return
        }
        ThreadPool.shared.parallelRanges(blocks, parts: tasks, body)
    }
}

extension Tensor {
    /// Pointer to the first byte of element [0, 0, ...] (for block types, of its block).
    public var rawPointer: UnsafeMutableRawPointer {
        storage.base + dtype.byteCount(elements: offset)
    }

    /// A contiguous f32 copy of a block-quantised tensor.
    func dequantizedContiguous() -> Tensor {
        precondition(dtype.isBlockQuantised && isContiguous, "dequantize: needs a contiguous block-quantised tensor")
        let out = Tensor.uninitialized(shape)
        Quant.dequantize(dtype, rawPointer, out.floatPointer, count: count)
        return out
    }

    /// This f32 tensor quantised to block type `type`; the last dimension must be a multiple of
    /// the type's block size.
    public func quantized(to type: DType) throws -> Tensor {
        guard Quant.canQuantize(type) else {
            throw TensorError.unsupportedType(op: "quantized(to:)", dtype: type, reason: "no quantiser for this type")
        }
        guard rank >= 1, shape[rank - 1] % type.blockElements == 0 else {
            throw TensorError.invalidShape(
                op: "quantized(to: \(type))", shape: shape,
                reason: "the last dimension must be a multiple of \(type.blockElements)")
        }
        let src = converted(to: .f32).contiguous()
        let out = Tensor.uninitialized(shape, dtype: type)
        Quant.quantize(type, src.floatPointer, out.rawPointer, count: count)
        return out
    }
}
