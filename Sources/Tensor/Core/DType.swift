/// Element types a tensor can hold.
///
/// `f32` is the compute type: every arithmetic kernel reads and writes it. `f16` and `bf16` are
/// storage types (weights, KV caches), converted to f32 by SIMD kernels on the way in and out.
/// `i32` holds token ids and indices. The quantised block types are ggml's: a block type stores
/// `blockElements` consecutive values of a row in `blockBytes` bytes (layouts in Quant/), so a
/// row's length must be a multiple of `blockElements` and views over it may only split whole rows.
/// What each type is and which kernels it has is stated once, in `traits`.
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

    /// The type's row in the table of types (as ggml's `type_traits`).
    @inline(__always)
    public var traits: DTypeTraits {
        typealias T = DTypeTraits
        switch self {
        // name, ggml id, values and bytes per block, fused kernel, int8 kernel, block dequantiser, quantiser
        case .f32: return T(ggmlName: "F32", ggmlType: 0, blockElements: 1, blockBytes: 4, fused: false, int8: false, dequantize: nil, quantize: nil)
        case .f16: return T(ggmlName: "F16", ggmlType: 1, blockElements: 1, blockBytes: 2, fused: false, int8: false, dequantize: nil, quantize: nil)
        case .bf16:
            return T(ggmlName: "BF16", ggmlType: 30, blockElements: 1, blockBytes: 2, fused: false, int8: false, dequantize: nil, quantize: nil)
        case .i32: return T(ggmlName: "I32", ggmlType: 26, blockElements: 1, blockBytes: 4, fused: false, int8: false, dequantize: nil, quantize: nil)
        case .q4_0:
            return T(
                ggmlName: "Q4_0", ggmlType: 2, blockElements: 32, blockBytes: 18, fused: true, int8: true, dequantize: { Dequant.q4_0($0, $1) },
                quantize: { Quantize.q4_0($0, $1) })
        case .q4_1:
            return T(
                ggmlName: "Q4_1", ggmlType: 3, blockElements: 32, blockBytes: 20, fused: true, int8: true, dequantize: { Dequant.q4_1($0, $1) },
                quantize: { Quantize.q4_1($0, $1) })
        case .q5_0:
            return T(
                ggmlName: "Q5_0", ggmlType: 6, blockElements: 32, blockBytes: 22, fused: true, int8: false, dequantize: { Dequant.q5_0($0, $1) },
                quantize: { Quantize.q5_0($0, $1) })
        case .q5_1:
            return T(
                ggmlName: "Q5_1", ggmlType: 7, blockElements: 32, blockBytes: 24, fused: true, int8: false, dequantize: { Dequant.q5_1($0, $1) },
                quantize: { Quantize.q5_1($0, $1) })
        case .q8_0:
            return T(
                ggmlName: "Q8_0", ggmlType: 8, blockElements: 32, blockBytes: 34, fused: true, int8: true, dequantize: { Dequant.q8_0($0, $1) },
                quantize: { Quantize.q8_0($0, $1) })
        case .q2_K:
            return T(
                ggmlName: "Q2_K", ggmlType: 10, blockElements: 256, blockBytes: 84, fused: false, int8: false, dequantize: { Dequant.q2_K($0, $1) },
                quantize: { Quantize.q2_K($0, $1) })
        case .q3_K:
            return T(
                ggmlName: "Q3_K", ggmlType: 11, blockElements: 256, blockBytes: 110, fused: false, int8: false, dequantize: { Dequant.q3_K($0, $1) },
                quantize: nil)
        case .q4_K:
            return T(
                ggmlName: "Q4_K", ggmlType: 12, blockElements: 256, blockBytes: 144, fused: true, int8: false, dequantize: { Dequant.q4_K($0, $1) },
                quantize: { Quantize.q4_K($0, $1) })
        case .q5_K:
            return T(
                ggmlName: "Q5_K", ggmlType: 13, blockElements: 256, blockBytes: 176, fused: true, int8: false, dequantize: { Dequant.q5_K($0, $1) },
                quantize: { Quantize.q5_K($0, $1) })
        case .q6_K:
            return T(
                ggmlName: "Q6_K", ggmlType: 14, blockElements: 256, blockBytes: 210, fused: true, int8: false, dequantize: { Dequant.q6_K($0, $1) },
                quantize: { Quantize.q6_K($0, $1) })
        }
    }

    /// Values per storage block (1 for plain types).
    @inline(__always) public var blockElements: Int { traits.blockElements }

    /// Bytes per storage block.
    @inline(__always) public var blockBytes: Int { traits.blockBytes }

    public var isBlockQuantised: Bool { blockElements > 1 }

    /// Bytes that `count` elements occupy (count must be a multiple of `blockElements`).
    @inline(__always) public func byteCount(elements count: Int) -> Int { count / blockElements * blockBytes }

    public var isFloatingPoint: Bool { self != .i32 }

    /// The type's id in ggml and GGUF files (`enum ggml_type`).
    public var ggmlType: UInt32 { traits.ggmlType }

    /// The type with ggml id `id`, or nil for ids this engine does not support.
    public init?(ggmlType id: UInt32) {
        guard let t = DType.allCases.first(where: { $0.ggmlType == id }) else { return nil }
        self = t
    }

    /// ggml's name of the type ("F32", "Q4_K", ...).
    public var ggmlName: String { traits.ggmlName.description }

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

/// What an element type is and which kernels exist for it: one row per `DType` (`DType.traits`).
/// Plain data (names as static strings, functions as C function pointers), so that a row read
/// for a constant type folds to constants inside the kernels.
public struct DTypeTraits: @unchecked Sendable {
    /// ggml's name ("Q4_K").
    public let ggmlName: StaticString
    /// The id in ggml and GGUF files (`enum ggml_type`).
    public let ggmlType: UInt32
    /// Values per storage block (1 for plain types).
    public let blockElements: Int
    /// Bytes per storage block.
    public let blockBytes: Int
    /// Products with up to `QuantMatmul.fusedChunkMaxRows` rows can run the fused kernels
    /// (QuantMatmulFused*.swift: levels unpacked in registers, scales applied per block).
    public let hasFusedKernel: Bool
    /// An int8-activation kernel exists (QuantMatmulQ8.swift; built only with AVX2).
    public let hasInt8Kernel: Bool
    /// ggml's reference dequantiser for one block (Quant/Dequantize.swift), for block types.
    let dequantizeBlock: (@convention(c) (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void)?
    /// The reference quantiser for one block (Quant/Quantize*.swift); nil: readable, not writable.
    let quantizeBlock: (@convention(c) (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void)?

    /// Whether `Quant.quantize` can write the type.
    public var canQuantize: Bool { quantizeBlock != nil }

    @inline(__always)
    init(
        ggmlName: StaticString, ggmlType: UInt32, blockElements: Int, blockBytes: Int, fused: Bool, int8: Bool,
        dequantize: (@convention(c) (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void)?,
        quantize: (@convention(c) (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void)?
    ) {
        self.ggmlName = ggmlName
        self.ggmlType = ggmlType
        self.blockElements = blockElements
        self.blockBytes = blockBytes
        self.hasFusedKernel = fused
        #if arch(x86_64) && GRM_AVX2
        self.hasInt8Kernel = int8
        #else
        self.hasInt8Kernel = false
        #endif
        self.dequantizeBlock = dequantize
        self.quantizeBlock = quantize
    }
}
