import Foundation
import Tensor

/// How a model loaded from GGUF is trained.
public enum FineTuningMode: Sendable, Equatable {
    /// Every weight as f32 master weights (norms and embeddings included).
    case full
    /// Frozen base weights in their stored type; LoRA factors on the chosen projections.
    case lora(LoRASettings)
}

/// LoRA's hyper-parameters, with PEFT's conventions: A initialised Kaiming-uniform (a = sqrt(5),
/// so U(-1/sqrt(in), 1/sqrt(in))), B zero, scale alpha / rank.
public struct LoRASettings: Sendable, Equatable {
    public var rank: Int
    public var alpha: Float
    public var targets: [LoRATarget]
    /// Seeds A's initialisation.
    public var seed: UInt64

    public init(rank: Int = 16, alpha: Float = 32, targets: [LoRATarget] = LoRATarget.allCases, seed: UInt64 = 1) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
        self.seed = seed
    }

    public var scale: Float { alpha / Float(rank) }

    func validate() throws {
        guard rank > 0 else { throw ConfigError.invalid("LoRA rank \(rank) must be positive") }
        guard alpha.isFinite, alpha > 0 else { throw ConfigError.invalid("LoRA alpha \(alpha) must be positive") }
        guard !targets.isEmpty else { throw ConfigError.invalid("no LoRA target given") }
    }
}

extension LlamaModel {
    /// A trainable model from a GGUF file's weights (llama, qwen2 or gemma3; gemma3 sequences no
    /// longer than its sliding window).
    ///
    /// `.full`: every tensor becomes an f32 copy that trains (quantised weights dequantised, as
    /// ggml dequantises them). `.lora`: the file's tensors stay as they are (zero-copy views of
    /// the mapping, quantised or not) and frozen; each targeted projection of each layer gets
    /// trainable factors A [r, in] (Kaiming-uniform from the settings' seed, layer by layer and
    /// target by target) and B [out, r] = 0, so the adapted model starts equal to the base.
    /// `contextLength` caps the model's context.
    public convenience init(gguf file: GGUFFile, mode: FineTuningMode, contextLength: Int? = nil) throws {
        var config = try LlamaConfig(gguf: file)
        if let c = contextLength { config.contextLength = Swift.min(c, config.contextLength) }
        let weights = try LlamaWeights(gguf: file, config: config)
        try self.init(config: config, weights: weights, mode: mode)
    }

    /// A trainable model from inference weights (see `init(gguf:mode:contextLength:)`).
    public convenience init(config: LlamaConfig, weights: LlamaWeights, mode: FineTuningMode) throws {
        try weights.validate(config)
        let full = mode == .full
        func variable(_ t: Tensor, _ name: String) -> Variable {
            guard full else { return Variable(t, requiresGrad: false, name: name) }
            // A fresh f32 copy: the file's mapping is read-only and shared.
            return Variable(t.dtype == .f32 ? t.copied() : t.converted(to: .f32).contiguous(), requiresGrad: true, name: name)
        }
        let embedding = variable(weights.tokenEmbedding, "token_embd.weight")
        var layers: [Layer] = []
        for (i, w) in weights.layers.enumerated() {
            let p = "blk.\(i)."
            layers.append(
                Layer(
                    attnNorm: variable(w.attnNorm, p + "attn_norm.weight"), wq: variable(w.wq, p + "attn_q.weight"),
                    wk: variable(w.wk, p + "attn_k.weight"), wv: variable(w.wv, p + "attn_v.weight"),
                    wo: variable(w.wo, p + "attn_output.weight"), ffnNorm: variable(w.ffnNorm, p + "ffn_norm.weight"),
                    wGate: variable(w.wGate, p + "ffn_gate.weight"), wUp: variable(w.wUp, p + "ffn_up.weight"),
                    wDown: variable(w.wDown, p + "ffn_down.weight"),
                    bq: w.bq.map { variable($0, p + "attn_q.bias") }, bk: w.bk.map { variable($0, p + "attn_k.bias") },
                    bv: w.bv.map { variable($0, p + "attn_v.bias") },
                    qNorm: w.qNorm.map { variable($0, p + "attn_q_norm.weight") },
                    kNorm: w.kNorm.map { variable($0, p + "attn_k_norm.weight") },
                    postAttnNorm: w.postAttnNorm.map { variable($0, p + "post_attention_norm.weight") },
                    postFFNNorm: w.postFFNNorm.map { variable($0, p + "post_ffw_norm.weight") }))
        }
        if case .lora(let s) = mode {
            try s.validate()
            var rng = SeededRandom(seed: s.seed)
            for i in layers.indices {
                // In a fixed order whatever the order the targets were given in.
                for t in LoRATarget.allCases where s.targets.contains(t) {
                    let w = layers[i].weight(t), out = w.shape[0], inp = w.shape[1]
                    let bound = 1 / Float(inp).squareRoot()
                    let a = Variable(
                        Tensor.randomUniform([s.rank, inp], low: -bound, high: bound, rng: &rng),
                        requiresGrad: true, name: t.weightName(layer: i) + ".lora_a")
                    let b = Variable(Tensor(zeros: [out, s.rank]), requiresGrad: true, name: t.weightName(layer: i) + ".lora_b")
                    layers[i].lora[t] = LoRAFactors(a: a, b: b, alpha: s.alpha)
                }
            }
        }
        let output = config.tiedEmbeddings ? embedding : variable(weights.output, "output.weight")
        try self.init(
            config: config, tokenEmbedding: embedding, layers: layers,
            finalNorm: variable(weights.outputNorm, "output_norm.weight"), output: output)
    }

    /// The LoRA settings the model was built with, read off its factors (nil without LoRA).
    public var loraAlpha: Float? {
        for l in layers { for (_, f) in l.lora { return f.alpha } }
        return nil
    }

    /// A fingerprint of every LoRA factor's scale (alpha / r) by layer and target, for checkpoint
    /// identities: another alpha changes no shape but trains another function.
    public var loraScalesDigest: String {
        layers.enumerated().flatMap { i, l in
            LoRATarget.allCases.compactMap { t in l.lora[t].map { "\(i).\(t.rawValue)=\($0.scale)" } }
        }.joined(separator: ",").stableDigest
    }

    /// The model's LoRA factors as an adapter (sharing storage with the variables: write it out
    /// before the next step changes them). Empty pairs without LoRA.
    public func loraAdapter(metadata: [String: String] = [:]) -> LoRAAdapter {
        var adapter = LoRAAdapter(architecture: config.architecture, alpha: loraAlpha ?? 1, metadata: metadata)
        for (i, l) in layers.enumerated() {
            for (t, f) in l.lora { adapter.pairs[t.weightName(layer: i)] = .init(a: f.a.value, b: f.b.value) }
        }
        return adapter
    }

    /// Writes the model's weights as a GGUF model file carrying all of `base`'s metadata
    /// (tokenizer, chat template, ...), 2-D weights in `type` (f32 or f16; norms and biases f32),
    /// atomically. LoRA factors are not part of it (merge them with `LoRAMerge`).
    public func writeModel(to path: String, base: GGUFMetadata, type: DType = .f32, name: String? = nil) throws {
        guard type == .f32 || type == .f16 else {
            throw ConfigError.invalid("a fully trained model is written as f32 or f16 (quantise it with grm merge), not \(type)")
        }
        var meta = base
        meta["general.file_type"] = .uint32(type == .f32 ? 0 : 1)
        if let name { meta["general.name"] = .string(name) }
        var writer = GGUFWriter(metadata: meta)
        let named = variablesByName
        let order = variables.map(\.name).filter { !$0.hasSuffix(".lora_a") && !$0.hasSuffix(".lora_b") }
        for n in order {
            guard let v = named[n] else { continue }
            let t = v.value.rank == 2 ? v.value.converted(to: type) : v.value.converted(to: .f32)
            try writer.add(n, t)
        }
        try writer.write(to: path)
    }
}

extension LoRASettings {
    /// The rank, alpha and targets of `adapter` (to build a model that `loadLoRA` can start from it).
    /// Throws when its pairs differ in rank or adapt a weight that is not a LoRA target.
    public init(matching adapter: LoRAAdapter, layers: Int) throws {
        var targets: Set<LoRATarget> = []
        var ranks: Set<Int> = []
        for (name, pair) in adapter.pairs {
            guard let (_, t) = LoRATarget.parse(weightName: name, layers: layers) else {
                throw ConfigError.invalid("the adapter adapts \(name), which is not a projection LoRA can train")
            }
            targets.insert(t)
            ranks.insert(pair.rank)
        }
        guard ranks.count == 1, let rank = ranks.first else {
            throw ConfigError.invalid(
                ranks.isEmpty ? "the adapter has no LoRA pairs" : "the adapter's pairs have ranks \(ranks.sorted()); one rank is needed")
        }
        self.init(rank: rank, alpha: adapter.alpha, targets: LoRATarget.allCases.filter(targets.contains))
    }
}

extension LlamaModel {
    /// Sets the LoRA factors to an adapter's (training continues from it, as PEFT's
    /// `is_trainable=True` load does). The model must adapt exactly the adapter's weights, with its
    /// rank and alpha (build it with `LoRASettings(matching:layers:)`).
    public func loadLoRA(_ adapter: LoRAAdapter) throws {
        var expected = Set(adapter.pairs.keys)
        for (i, l) in layers.enumerated() {
            for (t, f) in l.lora {
                let name = t.weightName(layer: i)
                guard let p = adapter.pairs[name] else {
                    throw ConfigError.invalid("the adapter has no factors for \(name), which the model adapts")
                }
                guard p.a.shape == f.a.shape, p.b.shape == f.b.shape else {
                    throw ConfigError.invalid(
                        "\(name): the adapter's A \(p.a.shape), B \(p.b.shape) differ from the model's A \(f.a.shape), B \(f.b.shape)")
                }
                guard f.alpha == adapter.alpha || (adapter.alpha == 0 && f.scale == 1) else {
                    throw ConfigError.invalid("the adapter's alpha \(adapter.alpha) differs from the model's \(f.alpha)")
                }
                f.a.value = p.a.converted(to: .f32).contiguous().copied()
                f.b.value = p.b.converted(to: .f32).contiguous().copied()
                expected.remove(name)
            }
        }
        if let extra = expected.sorted().first {
            throw ConfigError.invalid("the adapter adapts \(extra), which the model does not (\(expected.count) such weights)")
        }
    }
}
