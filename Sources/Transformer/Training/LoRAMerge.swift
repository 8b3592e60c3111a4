import Foundation
import Tensor

/// Merging a LoRA adapter into its base model: a new GGUF model file in which every adapted
/// weight is `W + s B A` (s = user scale x alpha / r) and which needs no adapter at run time.
///
/// * Metadata: all of the base's entries in their order (tokenizer, chat template, hyper-
///   parameters, ...), with `general.file_type` set for the output type, `general.name` replaced
///   (default: the base's name + " (LoRA merged)"), and the merge recorded under `grm.merge.*`
///   (the user scale, the adapter's alpha and its `grm.adapter.*` strings).
/// * Tensors, in the base's order: an adapted weight is dequantised to f32, the f32 delta added,
///   and the sum stored in the requested type with this package's quantisers (bit-exact with
///   ggml's reference quantisers). Other matrices are converted to the requested type (kept
///   byte for byte when already in it). A row length the type's block cannot hold falls back as
///   llama.cpp's quantiser does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; Q2_K -> Q4_0, as this
///   package has no IQ4_NL), and to f16 when no 32-block fits either; the report lists those.
///   Vectors (norms, biases) are stored f32.
///
/// Memory: one tensor at a time is expanded to f32; the converted outputs are held until the
/// file is written, atomically, by `GGUFWriter` (unchanged tensors stay views of the base's
/// mapping).
public enum LoRAMerge {
    /// The types a merged model can be stored in.
    public static let outputTypes: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q4_K, .q5_K, .q6_K]

    public struct Report: Sendable {
        /// The requested type.
        public var type: DType
        /// The weights that received a delta (scale 0 adds none).
        public var adapted: [String]
        /// Matrices stored in another type than requested, because their rows do not fit its blocks.
        public var fallbacks: [(name: String, type: DType)]
        public var tensorCount: Int
    }

    /// Merges `adapter` (times `scale`) into `base` and writes the model to `path` as `type`.
    /// The adapter must fit the base (architecture, shapes); nothing is written otherwise.
    /// Without an adapter the base is only converted (`general.name` kept unless given, no
    /// `grm.merge.*` keys): `type` f32 gives the exact dequantised model.
    @discardableResult
    public static func merge(
        base: GGUFFile, adapter: LoRAAdapter?, scale: Float = 1, type: DType, to path: String,
        name: String? = nil
    ) throws -> Report {
        guard outputTypes.contains(type) else {
            throw ModelError.badValue(
                "type", "cannot store a merged model as \(type) (types: \(outputTypes.map(\.description).joined(separator: ", ")))")
        }
        guard scale.isFinite else { throw ModelError.badValue("LoRA scale", "\(scale) is not finite") }
        try adapter?.validate(against: base)

        var meta = base.metadata
        let baseName = base.metadata.string("general.name") ?? "model"
        meta["general.file_type"] = .uint32(fileType(type))
        if let adapter {
            meta["general.name"] = .string(name ?? baseName + " (LoRA merged)")
            meta["grm.merge.lora_scale"] = .float32(scale)
            meta["grm.merge.lora_alpha"] = .float32(adapter.alpha)
            for (k, v) in adapter.metadata.sorted(by: { $0.key < $1.key }) { meta["grm.merge.adapter." + k] = .string(v) }
        } else if let name {
            meta["general.name"] = .string(name)
        }

        var writer = GGUFWriter(metadata: meta)
        var report = Report(type: type, adapted: [], fallbacks: [], tensorCount: base.tensors.count)
        for info in base.tensors {
            let w = base.tensor(info)
            var out: Tensor
            if info.dims.count <= 1 || w.dtype == .i32 {
                out = w.dtype == .i32 ? w : w.converted(to: .f32)
            } else {
                let target = storageType(type, rowLength: info.dims[0])
                if target != type { report.fallbacks.append((info.name, target)) }
                if let adapter, let pair = adapter.pairs[info.name], let s = adapter.scale(for: info.name), s * scale != 0 {
                    out = try mergedWeight(w, pair, scale: s * scale).converted(to: target)
                    report.adapted.append(info.name)
                } else {
                    out = w.converted(to: target)
                }
            }
            try writer.add(info.name, out)
        }
        try writer.write(to: path)
        return report
    }

    /// `W + scale x B A` in f32 for a weight W [out, in] of any floating type and a pair
    /// A [r, in], B [out, r] (the delta is the f32 product B A, then scaled, then added).
    public static func mergedWeight(_ w: Tensor, _ pair: LoRAAdapter.Pair, scale: Float) throws -> Tensor {
        let delta = try pair.b.matmul(pair.a).scaled(by: scale)
        return try Tensor.binary(Add.self, w.converted(to: .f32), delta)
    }

    /// The type a matrix with rows of `n` values is stored in when `type` is asked for.
    public static func storageType(_ type: DType, rowLength n: Int) -> DType {
        if n % type.blockElements == 0 { return type }
        let second: DType
        switch type {
        case .q2_K: second = .q4_0
        case .q4_K: second = .q5_0
        case .q5_K: second = .q5_1
        case .q6_K: second = .q8_0
        default: second = .f16
        }
        return n % second.blockElements == 0 ? second : .f16
    }

    /// llama.cpp's `general.file_type` (enum llama_ftype) of a model stored as `type`; the K
    /// types give their "S" variants (ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q4_1 3, Q8_0 7, Q5_0 8,
    /// Q5_1 9, Q2_K 10, Q4_K_S 14, Q5_K_S 16, Q6_K 18, BF16 32).
    public static func fileType(_ type: DType) -> UInt32 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .q5_0: return 8
        case .q5_1: return 9
        case .q2_K: return 10
        case .q3_K: return 12
        case .q4_K: return 14
        case .q5_K: return 16
        case .q6_K: return 18
        case .bf16: return 32
        case .i32: return 0
        }
    }

    /// The type named on a command line ("f16", "q4_K", "Q8_0", ...), if a merged model can use it.
    public static func outputType(named name: String) -> DType? {
        outputTypes.first { $0.description.lowercased() == name.lowercased() }
    }
}
