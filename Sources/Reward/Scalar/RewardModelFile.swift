import Foundation
import Tensor
import Transformer

/// A trained scalar or semi-scalar reward model as one GGUF file: the head's tensors
/// (`cls.output.weight`, optional `cls.output.bias`), the LoRA factors of the backbone if it was
/// adapted (llama.cpp's adapter names, `adapter.lora.alpha`), and metadata naming the base file
/// (name and SHA-256), the kind (`grm.reward.kind`), the pooling (`<arch>.pooling_type` = 3, the
/// last token) and, for a semi-scalar model, the judge template its critiques were written with.
///
/// llama.cpp cannot run a llama-architecture model with a classification head, so the file is
/// read by this project only.
public struct RewardModelFile {
    /// `meta`: a meta reward model, a pointwise head that rates a judge's sampled judgements
    /// (`MetaRewardModel`).
    public enum Kind: String, Sendable { case scalar, semiScalar = "semi-scalar", meta }

    public var kind: Kind
    public var architecture: String
    public var head: ScalarHead
    public var adapter: LoRAAdapter?
    public var baseName: String
    public var baseSHA256: String
    /// The judge prompt template used for critiques (semi-scalar): the single-response template
    /// of `JudgePromptTemplates`.
    public var judgeTemplate: String?
    /// Generated tokens per critique at most (semi-scalar).
    public var critiqueTokens: Int?
    /// Free-form string metadata (training settings, data, measured accuracy).
    public var metadata: [String: String]

    public init(
        kind: Kind, architecture: String, head: ScalarHead, adapter: LoRAAdapter? = nil, baseName: String,
        baseSHA256: String, judgeTemplate: String? = nil, critiqueTokens: Int? = nil, metadata: [String: String] = [:]
    ) {
        self.kind = kind
        self.architecture = architecture
        self.head = head
        self.adapter = adapter
        self.baseName = baseName
        self.baseSHA256 = baseSHA256
        self.judgeTemplate = judgeTemplate
        self.critiqueTokens = critiqueTokens
        self.metadata = metadata
    }

    static let prefix = "grm.reward."

    /// Writes the file atomically, the LoRA factors as `adapterType` (.f32, or .f16 for a frozen
    /// copy of an adapter stored in f16, which keeps it exact and the file half the size).
    public func write(gguf path: String, adapterType: DType = .f32) throws {
        guard adapterType == .f32 || adapterType == .f16 else {
            throw RewardDataError(file: path, "LoRA factors are written as f32 or f16, not \(adapterType)")
        }
        var meta = GGUFMetadata()
        meta["general.architecture"] = .string(architecture)
        meta["general.type"] = .string("model")
        meta["general.name"] = .string("\(baseName) \(kind.rawValue) reward model")
        meta["\(architecture).pooling_type"] = .uint32(3)
        meta[Self.prefix + "kind"] = .string(kind.rawValue)
        meta[Self.prefix + "base.name"] = .string(baseName)
        meta[Self.prefix + "base.sha256"] = .string(baseSHA256)
        if let judgeTemplate { meta[Self.prefix + "judge_template"] = .string(judgeTemplate) }
        if let critiqueTokens { meta[Self.prefix + "critique_tokens"] = .uint32(UInt32(critiqueTokens)) }
        if let adapter { meta["adapter.lora.alpha"] = .float32(adapter.alpha) }
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { meta[Self.prefix + "meta." + k] = .string(v) }
        var writer = GGUFWriter(metadata: meta)
        try writer.add(ScalarHead.weightName, head.weight.value)
        if let b = head.bias { try writer.add(ScalarHead.biasName, b.value) }
        for (name, pair) in (adapter?.pairs ?? [:]).sorted(by: { $0.key < $1.key }) {
            try writer.add(name + ".lora_a", pair.a.converted(to: adapterType))
            try writer.add(name + ".lora_b", pair.b.converted(to: adapterType))
        }
        try writer.write(to: path)
    }

    /// Reads a file written by `write`; errors name the file and the missing or bad part.
    public init(gguf path: String) throws {
        let file = try GGUFFile(path: path)
        let m = file.metadata
        func fail(_ why: String) -> RewardDataError { RewardDataError(file: path, "not a swift-grm reward model: \(why)") }
        guard let kindText = m.string(Self.prefix + "kind") else { throw fail("no \(Self.prefix)kind") }
        guard let kind = Kind(rawValue: kindText) else { throw fail("unknown kind '\(kindText)' (scalar, semi-scalar or meta)") }
        guard let arch = m.string("general.architecture") else { throw fail("no general.architecture") }
        guard let baseName = m.string(Self.prefix + "base.name"), let sha = m.string(Self.prefix + "base.sha256") else {
            throw fail("no base file name or SHA-256")
        }
        func tensor(_ name: String, allowF16: Bool = false) throws -> Tensor? {
            guard let info = file.info(name) else { return nil }
            guard info.dtype == .f32 || (allowF16 && info.dtype == .f16) else {
                throw fail("tensor \(name) is \(info.dtype), expected f32\(allowF16 ? " or f16" : "")")
            }
            return try file.tensor(name).converted(to: .f32).copied()
        }
        guard let w = try tensor(ScalarHead.weightName) else { throw fail("no \(ScalarHead.weightName)") }
        let head = try ScalarHead(weight: w, bias: try tensor(ScalarHead.biasName))
        var pairs: [String: LoRAAdapter.Pair] = [:]
        for info in file.tensors where info.name.hasSuffix(".lora_a") {
            let stem = String(info.name.dropLast(".lora_a".count))
            guard let a = try tensor(info.name, allowF16: true), let b = try tensor(stem + ".lora_b", allowF16: true) else {
                throw fail("\(stem).lora_b is missing")
            }
            pairs[stem] = LoRAAdapter.Pair(a: a, b: b)
        }
        for info in file.tensors where info.name.hasSuffix(".lora_b") && pairs[String(info.name.dropLast(".lora_b".count))] == nil {
            throw fail("\(info.name) has no matching .lora_a")
        }
        var adapter: LoRAAdapter?
        if !pairs.isEmpty {
            guard let alpha = m.float("adapter.lora.alpha") else { throw fail("LoRA factors without adapter.lora.alpha") }
            adapter = LoRAAdapter(architecture: arch, alpha: alpha, pairs: pairs)
        }
        let template = m.string(Self.prefix + "judge_template")
        let critiqueTokens = m.int(Self.prefix + "critique_tokens")
        if kind == .semiScalar && (template == nil || critiqueTokens == nil) {
            throw fail("a semi-scalar model needs \(Self.prefix)judge_template and \(Self.prefix)critique_tokens")
        }
        var extra: [String: String] = [:]
        for (k, v) in m.entries where k.hasPrefix(Self.prefix + "meta.") { extra[String(k.dropFirst((Self.prefix + "meta.").count))] = v.stringValue }
        self.init(
            kind: kind, architecture: arch, head: head, adapter: adapter, baseName: baseName, baseSHA256: sha,
            judgeTemplate: template, critiqueTokens: critiqueTokens, metadata: extra)
    }

    /// Checks that `base` is the file this model was trained on (by SHA-256) and fits its head.
    public func validate(base path: String, config: LlamaConfig) throws {
        guard head.dim == config.dim else {
            throw RewardDataError(file: path, "the reward head reads width \(head.dim), the model has \(config.dim)")
        }
        let sha = try SHA256.file(path)
        guard sha == baseSHA256 else {
            throw RewardDataError(
                file: path, "this reward model was trained on \(baseName) (SHA-256 \(baseSHA256.prefix(12))...), not this file (\(sha.prefix(12))...)"
            )
        }
    }
}
