/// Element types a tensor can hold.
///
/// `f32` is the compute type: every arithmetic kernel reads and writes it. `f16` and `bf16` are
/// storage types (weights, KV caches), converted to f32 by SIMD kernels on the way in and out.
/// `i32` holds token ids and indices. The quantised block types are ggml's: a block type stores
/// `blockElements` consecutive values of a row in `blockBytes` bytes (layouts in Quant/), so a
/// row's length must be a multiple of `blockElements` and views over it may only split whole rows.
public enum DType: Hashable, Sendable, CustomStringConvertible, CaseIterable {
    case f32
    case f16
    case bf16
    case i32
    case q4_0
    case q4_1
    case q5_0
    case q5_1
    case q8_0
    case q2_K
    case q3_K
    case q4_K
    case q5_K
    case q6_K

    /// Values per storage block (1 for plain types).
    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16, .i32: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per storage block.
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        }
    }

    public var isBlockQuantised: Bool { blockElements > 1 }

    /// Bytes that `count` elements occupy (count must be a multiple of `blockElements`).
    public func byteCount(elements count: Int) -> Int { count / blockElements * blockBytes }

    public var isFloatingPoint: Bool { self != .i32 }

    /// The type's id in ggml and GGUF files (`enum ggml_type`).
    public var ggmlType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q5_0: return 6
        case .q5_1: return 7
        case .q8_0: return 8
        case .q2_K: return 10
        case .q3_K: return 11
        case .q4_K: return 12
        case .q5_K: return 13
        case .q6_K: return 14
        case .i32: return 26
        case .bf16: return 30
        }
    }

    /// The type with ggml id `id`, or nil for ids this engine does not support.
    public init?(ggmlType id: UInt32) {
        guard let t = DType.allCases.first(where: { $0.ggmlType == id }) else { return nil }
        self = t
    }

    /// ggml's name of the type ("F32", "Q4_K", ...).
    public var ggmlName: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .i32: return "I32"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        }
    }

    public var description: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .bf16: return "bf16"
        case .i32: return "i32"
        default: return ggmlName.lowercased()
        }
    }
}
