import Tensor

/// The weights of a Llama-family decoder as inference reads them: tensors of any element type
/// (f32, f16, bf16 or a ggml block type), stored [out, in] as GGUF keeps them. Loaded from a
/// GGUF file they are zero-copy views over its mapping: no f32 copy of the model is made.
public struct LlamaWeights {
    public struct Layer {
        public var attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown: Tensor
        public var bq, bk, bv: Tensor?
        /// Gemma 3: RMSNorm weights of q and k per head ([headDim]) and of the attention and MLP
        /// outputs ([dim]); nil for llama and qwen2.
        public var qNorm, kNorm, postAttnNorm, postFFNNorm: Tensor?
        public init(
            attnNorm: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor, ffnNorm: Tensor,
            wGate: Tensor, wUp: Tensor, wDown: Tensor, bq: Tensor? = nil, bk: Tensor? = nil, bv: Tensor? = nil,
            qNorm: Tensor? = nil, kNorm: Tensor? = nil, postAttnNorm: Tensor? = nil, postFFNNorm: Tensor? = nil
        ) {
            self.attnNorm = attnNorm
            self.wq = wq
            self.wk = wk
            self.wv = wv
            self.wo = wo
            self.ffnNorm = ffnNorm
            self.wGate = wGate
            self.wUp = wUp
            self.wDown = wDown
            self.bq = bq
            self.bk = bk
            self.bv = bv
            self.qNorm = qNorm
            self.kNorm = kNorm
            self.postAttnNorm = postAttnNorm
            self.postFFNNorm = postFFNNorm
        }
    }

    public var tokenEmbedding: Tensor
    public var layers: [Layer]
    public var outputNorm: Tensor
    /// [vocab, dim]; the token embedding when tied.
    public var output: Tensor

    public init(tokenEmbedding: Tensor, layers: [Layer], outputNorm: Tensor, output: Tensor) {
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.output = output
    }

    /// Checks every tensor's shape and type against `config`; errors name the tensor.
    public func validate(_ config: LlamaConfig) throws {
        let d = config.dim, kv = config.kvDim, f = config.ffnDim, qd = config.qDim
        func check(_ t: Tensor, _ name: String, _ shape: [Int], matrix: Bool) throws {
            guard t.shape == shape else {
                throw ModelError.badTensor(name, "shape \(t.shape), expected \(shape)")
            }
            if matrix {
                guard t.dtype != .i32 else { throw ModelError.badTensor(name, "type i32 cannot be a weight") }
            } else {
                guard t.dtype == .f32 else { throw ModelError.badTensor(name, "type \(t.dtype); norms and biases must be f32") }
            }
        }
        try check(tokenEmbedding, "token_embd.weight", [config.vocabSize, d], matrix: true)
        try check(outputNorm, "output_norm.weight", [d], matrix: false)
        try check(output, "output.weight", [config.vocabSize, d], matrix: true)
        guard layers.count == config.layers else {
            throw ModelError.badTensor("blk.*", "\(layers.count) layers, expected \(config.layers)")
        }
        for (i, l) in layers.enumerated() {
            let p = "blk.\(i)."
            try check(l.attnNorm, p + "attn_norm.weight", [d], matrix: false)
            try check(l.wq, p + "attn_q.weight", [qd, d], matrix: true)
            try check(l.wk, p + "attn_k.weight", [kv, d], matrix: true)
            try check(l.wv, p + "attn_v.weight", [kv, d], matrix: true)
            try check(l.wo, p + "attn_output.weight", [d, qd], matrix: true)
            try check(l.ffnNorm, p + "ffn_norm.weight", [d], matrix: false)
            try check(l.wGate, p + "ffn_gate.weight", [f, d], matrix: true)
            try check(l.wUp, p + "ffn_up.weight", [f, d], matrix: true)
            try check(l.wDown, p + "ffn_down.weight", [d, f], matrix: true)
            if config.attentionBias {
                for (b, name, n) in [(l.bq, "attn_q.bias", d), (l.bk, "attn_k.bias", kv), (l.bv, "attn_v.bias", kv)] {
                    guard let b else { throw ModelError.missingTensor(p + name) }
                    try check(b, p + name, [n], matrix: false)
                }
            }
            let gemmaNorms = [
                (l.qNorm, "attn_q_norm.weight", config.headDim), (l.kNorm, "attn_k_norm.weight", config.headDim),
                (l.postAttnNorm, "post_attention_norm.weight", d), (l.postFFNNorm, "post_ffw_norm.weight", d)
            ]
            for (w, name, n) in gemmaNorms {
                if config.gemma != nil {
                    guard let w else { throw ModelError.missingTensor(p + name) }
                    try check(w, p + name, [n], matrix: false)
                } else if w != nil {
                    throw ModelError.badTensor(p + name, "only gemma3 layers have this norm")
                }
            }
        }
    }
}

/// Errors loading or running a model; each names the tensor, key or limit at fault.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(String)
    case missingKey(String)
    case missingTensor(String)
    case badTensor(String, String)
    case badValue(String, String)
    case contextExceeded(tokens: Int, context: Int)
    case tokenOutOfRange(id: Int32, vocab: Int, index: Int)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a):
            return "unsupported architecture '\(a)' (supported: llama, qwen2, gemma3)"
        case .missingKey(let k): return "missing metadata key '\(k)'"
        case .missingTensor(let t): return "missing tensor '\(t)'"
        case .badTensor(let t, let why): return "tensor '\(t)': \(why)"
        case .badValue(let k, let why): return "metadata '\(k)': \(why)"
        case .contextExceeded(let n, let c):
            return "the sequence would hold \(n) tokens but the context is \(c)"
        case .tokenOutOfRange(let id, let vocab, let i):
            return "token id \(id) at index \(i) is outside the vocabulary (0..<\(vocab))"
        }
    }
}

extension LlamaConfig {
    /// The architecture as a GGUF file's metadata describes it (`llama` or `qwen2`).
    public init(gguf file: GGUFFile) throws {
        let m = file.metadata
        guard let arch = m.string("general.architecture") else { throw ModelError.missingKey("general.architecture") }
        if arch == "gemma3" {
            try self.init(gemma3: file)
            return
        }
        guard arch == "llama" || arch == "qwen2" else { throw ModelError.unsupportedArchitecture(arch) }
        func int(_ key: String) throws -> Int {
            guard let v = m.int("\(arch).\(key)") else { throw ModelError.missingKey("\(arch).\(key)") }
            guard v > 0 else { throw ModelError.badValue("\(arch).\(key)", "\(v) must be positive") }
            return v
        }
        let dim = try int("embedding_length"), heads = try int("attention.head_count")
        let kvHeads = m.int("\(arch).attention.head_count_kv") ?? heads
        guard let embd = file.info("token_embd.weight") else { throw ModelError.missingTensor("token_embd.weight") }
        guard embd.shape.count == 2 else { throw ModelError.badTensor("token_embd.weight", "shape \(embd.shape) is not a matrix") }
        let vocab = embd.shape[0]
        if let keyLength = m.int("\(arch).attention.key_length"), keyLength * heads != dim {
            throw ModelError.badValue(
                "\(arch).attention.key_length", "head size \(keyLength) x \(heads) heads differs from width \(dim) (not supported)")
        }
        let ropeDims = m.int("\(arch).rope.dimension_count") ?? dim / heads
        guard ropeDims == dim / heads else {
            throw ModelError.badValue("\(arch).rope.dimension_count", "partial rotary embeddings (\(ropeDims) of \(dim / heads)) are not supported")
        }
        self.init(
            vocabSize: vocab, dim: dim, layers: try int("block_count"), heads: heads, kvHeads: kvHeads,
            ffnDim: try int("feed_forward_length"),
            ropeBase: m.float("\(arch).rope.freq_base") ?? 10_000,
            normEps: m.float("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5,
            tiedEmbeddings: file.info("output.weight") == nil,
            architecture: arch, ropeLayout: arch == "qwen2" ? .halves : .adjacentPairs,
            attentionBias: arch == "qwen2", contextLength: m.int("\(arch).context_length") ?? 2048)
        do { try validate() } catch { throw ModelError.badValue("\(arch).*", "\(error)") }
    }
}

extension LlamaConfig {
    /// The architecture metadata a GGUF model file carries (the inverse of `init(gguf:)`):
    /// `general.architecture`, `general.name`, `general.file_type` 0 (all f32) and the `<arch>.*`
    /// shape keys. The vocabulary size and tied embeddings are told by the tensors (the shape of
    /// `token_embd.weight`, the absence of `output.weight`); `initStd` is training-only.
    public func ggufMetadata(name: String) throws -> GGUFMetadata {
        try validate()
        let arch = architecture
        switch arch {
        case "llama":
            guard ropeLayout == .adjacentPairs, !attentionBias else {
                throw ConfigError.invalid("a llama GGUF model rotates adjacent pairs and has no q/k/v biases")
            }
        case "qwen2":
            guard ropeLayout == .halves, attentionBias else {
                throw ConfigError.invalid("a qwen2 GGUF model rotates halves and has q/k/v biases")
            }
        case "gemma3": break  // validate() checked the layout
        default: throw ModelError.unsupportedArchitecture(arch)
        }
        func u32(_ v: Int) throws -> GGUFValue {
            guard let x = UInt32(exactly: v) else { throw ConfigError.invalid("\(v) does not fit GGUF's uint32") }
            return .uint32(x)
        }
        return try GGUFMetadata(
            [
                ("general.architecture", .string(arch)),
                ("general.name", .string(name)),
                ("general.file_type", .uint32(0)),
                ("\(arch).vocab_size", u32(vocabSize)),
                ("\(arch).context_length", u32(contextLength)),
                ("\(arch).embedding_length", u32(dim)),
                ("\(arch).block_count", u32(layers)),
                ("\(arch).feed_forward_length", u32(ffnDim)),
                ("\(arch).attention.head_count", u32(heads)),
                ("\(arch).attention.head_count_kv", u32(kvHeads)),
                ("\(arch).rope.dimension_count", u32(headDim)),
                ("\(arch).rope.freq_base", .float32(ropeBase)),
                ("\(arch).attention.layer_norm_rms_epsilon", .float32(normEps))
            ] + (try gemma.map { try gemmaMetadata($0) } ?? []))
    }
}

extension LlamaWeights {
    /// Zero-copy views of a GGUF file's tensors, checked against `config`.
    public init(gguf file: GGUFFile, config: LlamaConfig) throws {
        try self.init(config: config) { name in file.info(name) == nil ? nil : try file.tensor(name) }
    }

    /// The tensors `named` returns under their GGUF names ("token_embd.weight", "blk.0.attn_q.weight",
    /// ...; nil if absent), checked against `config`.
    public init(config: LlamaConfig, named: (String) throws -> Tensor?) throws {
        func t(_ name: String) throws -> Tensor {
            guard let tensor = try named(name) else { throw ModelError.missingTensor(name) }
            return tensor
        }
        let embd = try t("token_embd.weight")
        let layers = try (0..<config.layers).map { i -> Layer in
            let p = "blk.\(i)."
            return Layer(
                attnNorm: try t(p + "attn_norm.weight"), wq: try t(p + "attn_q.weight"), wk: try t(p + "attn_k.weight"),
                wv: try t(p + "attn_v.weight"), wo: try t(p + "attn_output.weight"), ffnNorm: try t(p + "ffn_norm.weight"),
                wGate: try t(p + "ffn_gate.weight"), wUp: try t(p + "ffn_up.weight"), wDown: try t(p + "ffn_down.weight"),
                bq: config.attentionBias ? try t(p + "attn_q.bias") : nil,
                bk: config.attentionBias ? try t(p + "attn_k.bias") : nil,
                bv: config.attentionBias ? try t(p + "attn_v.bias") : nil,
                qNorm: config.gemma != nil ? try t(p + "attn_q_norm.weight") : nil,
                kNorm: config.gemma != nil ? try t(p + "attn_k_norm.weight") : nil,
                postAttnNorm: config.gemma != nil ? try t(p + "post_attention_norm.weight") : nil,
                postFFNNorm: config.gemma != nil ? try t(p + "post_ffw_norm.weight") : nil)
        }
        self.init(
            tokenEmbedding: embd, layers: layers, outputNorm: try t("output_norm.weight"),
            output: config.tiedEmbeddings ? embd : try t("output.weight"))
        try validate(config)
    }
}

extension LlamaModel {
    /// The training model's current weights as inference weights (sharing storage with the
    /// variables' values; LoRA factors are not included): the same architecture runs on the
    /// inference path.
    public var inferenceWeights: LlamaWeights {
        LlamaWeights(
            tokenEmbedding: tokenEmbedding.value,
            layers: layers.map { l in
                LlamaWeights.Layer(
                    attnNorm: l.attnNorm.value, wq: l.wq.value, wk: l.wk.value, wv: l.wv.value,
                    wo: l.wo.value, ffnNorm: l.ffnNorm.value, wGate: l.wGate.value,
                    wUp: l.wUp.value, wDown: l.wDown.value,
                    bq: l.bq?.value, bk: l.bk?.value, bv: l.bv?.value,
                    qNorm: l.qNorm?.value, kNorm: l.kNorm?.value, postAttnNorm: l.postAttnNorm?.value,
                    postFFNNorm: l.postFFNNorm?.value)
            },
            outputNorm: finalNorm.value, output: output.value)
    }
}
