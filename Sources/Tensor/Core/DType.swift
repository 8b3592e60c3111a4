/// Element types a tensor can hold.
///
/// `f32` is the compute type: every arithmetic kernel reads and writes it. `f16` and `bf16` are
/// storage types (weights, KV caches), converted to f32 by SIMD kernels on the way in and out.
/// `i32` holds token ids and indices. Quantised block types (Q4_0, Q8_0, Q4_K, ...) join as
/// further cases; a block type stores `blockElements` values in `blockBytes` bytes, and views over
/// it may only split whole rows, which `Tensor` checks through `isBlockQuantised`.
public enum DType: Hashable, Sendable, CustomStringConvertible {
    case f32
    case f16
    case bf16
    case i32

    /// Values per storage block (1 for plain types).
    public var blockElements: Int { 1 }

    /// Bytes per storage block.
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        }
    }

    public var isBlockQuantised: Bool { blockElements > 1 }

    /// Bytes that `count` elements occupy (count must be a multiple of `blockElements`).
    public func byteCount(elements count: Int) -> Int { count / blockElements * blockBytes }

    public var isFloatingPoint: Bool { self != .i32 }

    public var description: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .bf16: return "bf16"
        case .i32: return "i32"
        }
    }
}
