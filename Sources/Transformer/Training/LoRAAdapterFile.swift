import Foundation
import Tensor

/// LoRA adapters as llama.cpp's adapter GGUF files: what convert_lora_to_gguf.py writes and
/// llama.cpp's adapter loader (`--lora FILE`) reads.
///
/// Layout:
/// * metadata: `general.architecture` (the base model's), `general.type` = "adapter",
///   `general.name`, `general.file_type` (0 for f32 factors, 1 for f16), `adapter.type` = "lora",
///   `adapter.lora.alpha` (float32: llama.cpp reads it as f32 and aborts on any other type), and
///   this package's string metadata under `grm.adapter.<key>` (base file name, SHA-256, ...).
/// * tensors, per adapted weight W (ggml ne [in, out]): `<W>.lora_a` with ne [in, r] (row-major
///   [r, in], A as held in memory) and `<W>.lora_b` with ne [r, out] (row-major [out, r]), e.g.
///   "blk.0.attn_q.weight.lora_a". llama.cpp pairs them by name and checks W.ne[0] == A.ne[0],
///   W.ne[1] == B.ne[1] and A.ne[1] == B.ne[0]; its rank is A.ne[1] and its scale
///   `user_scale * alpha / r` (just `user_scale` when alpha is 0 or missing).
///
/// Reading widens the factors to f32 (f16, bf16 and block types alike) and copies them out of
/// the mapping; every problem is reported with the file's path and the tensor or key at fault.
extension LoRAAdapter {
    /// Metadata keys "grm.adapter.<key>" hold `metadata[key]`.
    public static let metadataPrefix = "grm.adapter."
    public static let suffixA = ".lora_a"
    public static let suffixB = ".lora_b"

    /// Writes the adapter to `path` as a llama.cpp LoRA GGUF, atomically, with the factors
    /// stored as `type` (.f32 or .f16). `name` becomes `general.name`.
    public func write(gguf path: String, type: DType = .f32, name: String = "swift-grm LoRA adapter") throws {
        let writer = try ggufWriter(type: type, name: name, path: path)
        do { try writer.write(to: path) } catch let e as GGUFError { throw LoRAAdapterError(path: path, e.description) }
    }

    /// The file's contents (`path` only names the file in errors).
    func ggufWriter(type: DType, name: String, path: String) throws -> GGUFWriter {
        func fail(_ message: String, tensor: String? = nil) -> LoRAAdapterError {
            LoRAAdapterError(path: path, message, tensor: tensor)
        }
        guard type == .f32 || type == .f16 else { throw fail("factors are written as f32 or f16, not \(type)") }
        guard !architecture.isEmpty else { throw fail("the adapter has no architecture") }
        guard alpha.isFinite else { throw fail("alpha \(alpha) is not finite") }
        guard !pairs.isEmpty else { throw fail("the adapter has no LoRA pairs") }
        var meta = GGUFMetadata()
        meta["general.architecture"] = .string(architecture)
        meta["general.type"] = .string("adapter")
        meta["general.name"] = .string(name)
        meta["general.file_type"] = .uint32(type == .f16 ? 1 : 0)
        meta["adapter.type"] = .string("lora")
        meta["adapter.lora.alpha"] = .float32(alpha)
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            guard !k.isEmpty else { throw fail("a metadata key is empty") }
            meta[LoRAAdapter.metadataPrefix + k] = .string(v)
        }
        var writer = GGUFWriter(metadata: meta)
        for (weight, p) in pairs.sorted(by: { Checkpoint.naturalOrder($0.key, $1.key) }) {
            guard p.a.rank == 2, p.b.rank == 2, p.a.dtype == .f32, p.b.dtype == .f32 else {
                throw fail("LoRA factors must be f32 matrices (A \(p.a.shape) \(p.a.dtype), B \(p.b.shape) \(p.b.dtype))", tensor: weight)
            }
            guard p.a.shape[0] > 0, p.a.shape[0] == p.b.shape[1] else {
                throw fail("A \(p.a.shape) and B \(p.b.shape) have different ranks", tensor: weight)
            }
            do {
                try writer.add(weight + LoRAAdapter.suffixA, p.a.converted(to: type))
                try writer.add(weight + LoRAAdapter.suffixB, p.b.converted(to: type))
            } catch let e as GGUFError { throw fail(e.description, tensor: weight) }
        }
        return writer
    }

    /// Reads a llama.cpp LoRA adapter file. With `base`, also checks it against that model
    /// (architecture, and every adapted weight's shape: `validate(against:)`).
    public init(gguf path: String, base: GGUFFile? = nil) throws {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch let e as GGUFError { throw LoRAAdapterError(path: path, e.description) }
        try self.init(gguf: file, path: path, base: base)
    }

    /// Reads an adapter from an opened GGUF file (`path` names it in errors).
    public init(gguf file: GGUFFile, path: String, base: GGUFFile? = nil) throws {
        func fail(_ message: String, tensor: String? = nil) -> LoRAAdapterError {
            LoRAAdapterError(path: path, message, tensor: tensor)
        }
        let m = file.metadata
        func string(_ key: String) throws -> String? {
            guard let v = m[key] else { return nil }
            guard let s = v.stringValue else { throw fail("\(key) is \(v.summary), not a string") }
            return s
        }
        guard let type = try string("general.type") else {
            throw fail("not a LoRA adapter: no general.type (a model file? adapters have general.type = adapter)")
        }
        guard type == "adapter" else { throw fail("not a LoRA adapter: general.type is '\(type)', expected 'adapter'") }
        guard let adapterType = try string("adapter.type") else { throw fail("not a LoRA adapter: no adapter.type") }
        guard adapterType == "lora" else {
            throw fail("adapter.type is '\(adapterType)'; only 'lora' adapters are supported")
        }
        guard let arch = try string("general.architecture"), !arch.isEmpty else {
            throw fail("missing general.architecture")
        }
        var alpha: Float = 0
        if let v = m["adapter.lora.alpha"] {
            guard case let .float32(a) = v else {
                throw fail("adapter.lora.alpha is \(v.summary) (\(v.type)); llama.cpp requires a float32")
            }
            guard a.isFinite else { throw fail("adapter.lora.alpha \(a) is not finite") }
            alpha = a
        }
        var meta: [String: String] = [:]
        for (key, value) in m.entries where key.hasPrefix(LoRAAdapter.metadataPrefix) {
            guard let s = value.stringValue else { throw fail("\(key) is \(value.summary), not a string") }
            meta[String(key.dropFirst(LoRAAdapter.metadataPrefix.count))] = s
        }

        var halves: [String: (a: Tensor?, b: Tensor?)] = [:]
        for info in file.tensors {
            let isA = info.name.hasSuffix(LoRAAdapter.suffixA), isB = info.name.hasSuffix(LoRAAdapter.suffixB)
            guard isA || isB else {
                throw fail("unexpected tensor in a LoRA adapter (names end in .lora_a or .lora_b)", tensor: info.name)
            }
            guard info.dtype.isFloatingPoint else { throw fail("type \(info.dtype) cannot hold LoRA factors", tensor: info.name) }
            guard info.dims.count == 2, info.elementCount > 0 else {
                throw fail("ne \(info.dims) is not a non-empty matrix", tensor: info.name)
            }
            let weight = String(info.name.dropLast(LoRAAdapter.suffixA.count))
            let t = LoRAAdapter.f32Copy(file, info)
            if isA { halves[weight, default: (nil, nil)].a = t } else { halves[weight, default: (nil, nil)].b = t }
        }
        var pairs: [String: Pair] = [:]
        for (weight, h) in halves.sorted(by: { Checkpoint.naturalOrder($0.key, $1.key) }) {
            guard let a = h.a else { throw fail("LoRA pair has \(LoRAAdapter.suffixB) but no \(LoRAAdapter.suffixA)", tensor: weight) }
            guard let b = h.b else { throw fail("LoRA pair has \(LoRAAdapter.suffixA) but no \(LoRAAdapter.suffixB)", tensor: weight) }
            guard a.shape[0] == b.shape[1] else {
                throw fail(
                    "lora_a ne [\(a.shape[1]), \(a.shape[0])] and lora_b ne [\(b.shape[1]), \(b.shape[0])] disagree on the rank "
                        + "(lora_a must be stored as ne [in, r] and lora_b as ne [r, out])", tensor: weight)
            }
            pairs[weight] = Pair(a: a, b: b)
        }
        guard !pairs.isEmpty else { throw fail("the adapter has no LoRA tensors") }
        self.init(architecture: arch, alpha: alpha, pairs: pairs, metadata: meta)
        if let base {
            do { try validate(against: base) } catch { throw fail("does not fit the base model: \(error)") }
        }
    }

    /// A tensor of the file as a fresh f32 copy (widened from any floating type).
    static func f32Copy(_ file: GGUFFile, _ info: GGUFTensorInfo) -> Tensor {
        if info.dtype != .f32 { return file.tensor(info).converted(to: .f32) }
        let t = Tensor.uninitialized(info.shape)
        UnsafeMutableRawPointer(t.floatPointer).copyMemory(from: file.data(info).baseAddress!, byteCount: info.byteCount)
        return t
    }

    /// Checks the adapter against a base model file: the same `general.architecture`, and every
    /// adapted weight a matrix of the base that the factors fit.
    public func validate(against base: GGUFFile) throws {
        let arch = base.metadata.string("general.architecture") ?? ""
        guard arch == architecture else {
            throw ModelError.badValue("general.architecture", "the adapter is for '\(architecture)' but the model is '\(arch)'")
        }
        try validate { base.info($0)?.shape }
    }

    /// Checks the adapter against a decoder config: the same architecture, only the projections
    /// `LoRATarget` names (what inference applies), each of the shape the config gives it.
    public func validate(against config: LlamaConfig) throws {
        guard config.architecture == architecture else {
            throw ModelError.badValue("general.architecture", "the adapter is for '\(architecture)' but the model is '\(config.architecture)'")
        }
        for name in pairs.keys.sorted(by: Checkpoint.naturalOrder) where LoRATarget.parse(weightName: name, layers: config.layers) == nil {
            throw ModelError.badTensor(
                name,
                "LoRA on this weight is not applied at inference (only blk.N.{\(LoRATarget.allCases.map(\.ggufName).joined(separator: ","))}.weight); merge the adapter instead"
            )
        }
        try validate { name in LoRATarget.parse(weightName: name, layers: config.layers).map { $0.target.shape(config) } }
    }

    /// The ranks of the pairs (smallest, largest), or nil without pairs.
    public var rankRange: (min: Int, max: Int)? {
        let ranks = pairs.values.map(\.rank)
        guard let lo = ranks.min(), let hi = ranks.max() else { return nil }
        return (lo, hi)
    }
}

extension LoRATarget {
    /// The layer and projection of a weight name "blk.N.<stem>.weight" with N < `layers`, or nil.
    public static func parse(weightName name: String, layers: Int) -> (layer: Int, target: LoRATarget)? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", parts[3] == "weight", let layer = Int(parts[1]), layer >= 0, layer < layers,
            String(layer) == parts[1], let target = allCases.first(where: { $0.ggufName == parts[2] })
        else { return nil }
        return (layer, target)
    }

    /// The projection's weight shape [out, in] in a decoder of `config`.
    public func shape(_ config: LlamaConfig) -> [Int] {
        let d = config.dim, kv = config.kvDim, f = config.ffnDim
        switch self {
        case .q: return [config.qDim, d]
        case .o: return [d, config.qDim]
        case .k, .v: return [kv, d]
        case .gate, .up: return [f, d]
        case .down: return [d, f]
        }
    }
}

/// Why a LoRA adapter file could not be read or written: names the file, and the tensor (the
/// adapted weight or one of its factors) when one is at fault.
public struct LoRAAdapterError: Error, CustomStringConvertible {
    public let path: String
    public let tensor: String?
    public let message: String

    public init(path: String, _ message: String, tensor: String? = nil) {
        self.path = path
        self.message = message
        self.tensor = tensor
    }

    public var description: String {
        "LoRA adapter \(path): " + (tensor.map { "tensor '\($0)': " } ?? "") + message
    }
}
