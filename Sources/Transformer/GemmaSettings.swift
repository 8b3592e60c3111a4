import Tensor

/// What a `gemma3` decoder adds to the Llama-style block (`LlamaConfig.gemma`), as llama.cpp
/// runs Gemma 3 GGUF files:
///
/// * token embeddings multiplied by sqrt(dim) (f32, as llama.cpp; not Hugging Face's bf16-rounded
///   normaliser);
/// * RMSNorm of q and k per head (`attn_q_norm`, `attn_k_norm`, [headDim]) before the rotation,
///   and RMSNorm of the attention output and of the MLP output (`post_attention_norm`,
///   `post_ffw_norm`) before each is added to the residual. Gemma's norms compute
///   `x / rms * (1 + w)`; llama.cpp's converter stores `1 + w` in the file, so the weights are used
///   as stored, like every other RMSNorm here;
/// * the MLP gated by GELU (tanh approximation) instead of SiLU (GeGLU);
/// * heads of `headDim` values independent of the width (`key_length`, 256 for every Gemma 3),
///   rotated by halves (ggml's NEOX mode);
/// * scores scaled by `attentionScale`;
/// * local layers: attention to the last `slidingWindow` positions only (a key at position p0 is
///   seen from position p1 when p1 - p0 < window) and rotary angles of base `localRopeBase`;
///   every `globalEvery`-th layer (5, 11, ... for 6) attends to everything with `ropeBase`.
public struct GemmaSettings: Sendable, Equatable, Codable {
    public var headDim: Int
    public var slidingWindow: Int
    public var globalEvery: Int
    public var localRopeBase: Float
    public var attentionScale: Float

    public init(headDim: Int, slidingWindow: Int, globalEvery: Int = 6, localRopeBase: Float = 10_000, attentionScale: Float? = nil) {
        self.headDim = headDim
        self.slidingWindow = slidingWindow
        self.globalEvery = globalEvery
        self.localRopeBase = localRopeBase
        self.attentionScale = attentionScale ?? 1 / Float(headDim).squareRoot()
    }

    /// Whether `layer` attends through the sliding window (llama.cpp's swa pattern: layer % n < n - 1).
    public func isLocal(layer: Int) -> Bool { layer % globalEvery < globalEvery - 1 }

    func validate() throws {
        guard headDim > 0, headDim % 2 == 0 else { throw ConfigError.invalid("gemma3 head size \(headDim) must be positive and even") }
        guard slidingWindow > 0 else { throw ConfigError.invalid("gemma3 sliding window \(slidingWindow) must be positive") }
        guard globalEvery > 0 else { throw ConfigError.invalid("gemma3 global-layer period \(globalEvery) must be positive") }
        guard localRopeBase > 0, attentionScale.isFinite, attentionScale > 0 else {
            throw ConfigError.invalid("gemma3 local RoPE base \(localRopeBase) and attention scale \(attentionScale) must be positive")
        }
    }
}

extension LlamaConfig {
    /// A `gemma3` file's architecture (keys `gemma3.*`). Keys that would change the maths in a way
    /// this decoder does not implement (rope scaling, logit soft-capping, value heads of another
    /// size, partial rotation) are refused by name rather than ignored.
    init(gemma3 file: GGUFFile) throws {
        let m = file.metadata, arch = "gemma3"
        func int(_ key: String) throws -> Int {
            guard let v = m.int("\(arch).\(key)") else { throw ModelError.missingKey("\(arch).\(key)") }
            guard v > 0 else { throw ModelError.badValue("\(arch).\(key)", "\(v) must be positive") }
            return v
        }
        let dim = try int("embedding_length"), heads = try int("attention.head_count"), layers = try int("block_count")
        let kvHeads = m.int("\(arch).attention.head_count_kv") ?? heads
        let headDim = try int("attention.key_length")
        if let v = m.int("\(arch).attention.value_length"), v != headDim {
            throw ModelError.badValue("\(arch).attention.value_length", "value heads of \(v) differ from key heads of \(headDim) (not supported)")
        }
        if let r = m.int("\(arch).rope.dimension_count"), r != headDim {
            throw ModelError.badValue("\(arch).rope.dimension_count", "partial rotary embeddings (\(r) of \(headDim)) are not supported")
        }
        if let t = m.string("\(arch).rope.scaling.type"), t != "none" {
            throw ModelError.badValue("\(arch).rope.scaling.type", "rope scaling '\(t)' is not supported (Gemma 3 4B and larger use it)")
        }
        if let f = m.float("\(arch).rope.scaling.factor"), f != 1 {
            throw ModelError.badValue("\(arch).rope.scaling.factor", "rope scaling by \(f) is not supported")
        }
        for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
            if let v = m.float("\(arch).\(key)"), v != 0 {
                throw ModelError.badValue("\(arch).\(key)", "logit soft-capping (\(v)) is Gemma 2's; not supported for gemma3")
            }
        }
        guard let embd = file.info("token_embd.weight"), embd.shape.count == 2 else {
            throw ModelError.missingTensor("token_embd.weight")
        }
        // llama.cpp: 1/sqrt(n_embd / n_head) for the 27B model (62 layers), else 1/sqrt(head size);
        // both are Hugging Face's query_pre_attn_scalar^-1/2, which GGUF files do not carry.
        let scalar = m.int("\(arch).attention.query_pre_attn_scalar") ?? (layers == 62 ? dim / heads : headDim)
        let gemma = GemmaSettings(
            headDim: headDim, slidingWindow: try int("attention.sliding_window"),
            localRopeBase: m.float("\(arch).rope.freq_base_swa") ?? 10_000,
            attentionScale: 1 / Float(scalar).squareRoot())
        self.init(
            vocabSize: embd.shape[0], dim: dim, layers: layers, heads: heads, kvHeads: kvHeads,
            ffnDim: try int("feed_forward_length"),
            ropeBase: m.float("\(arch).rope.freq_base") ?? 10_000,
            normEps: m.float("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-6,
            tiedEmbeddings: file.info("output.weight") == nil,
            architecture: arch, ropeLayout: .halves, attentionBias: false,
            contextLength: m.int("\(arch).context_length") ?? 2048, gemma: gemma)
        do { try validate() } catch { throw ModelError.badValue("\(arch).*", "\(error)") }
    }

    /// The `gemma3.*` keys beyond the shared ones (`ggufMetadata` writes them).
    func gemmaMetadata(_ g: GemmaSettings) throws -> [(String, GGUFValue)] {
        guard let hd = UInt32(exactly: g.headDim), let w = UInt32(exactly: g.slidingWindow) else {
            throw ConfigError.invalid("gemma3 head size and window must fit GGUF's uint32")
        }
        guard g.globalEvery == 6 else { throw ConfigError.invalid("gemma3 files imply a global layer every 6; \(g.globalEvery) cannot be written") }
        guard g.attentionScale == 1 / Float(g.headDim).squareRoot() else {
            throw ConfigError.invalid("gemma3 files imply the attention scale 1/sqrt(head size); \(g.attentionScale) cannot be written")
        }
        return [
            ("gemma3.attention.key_length", .uint32(hd)),
            ("gemma3.attention.value_length", .uint32(hd)),
            ("gemma3.attention.sliding_window", .uint32(w)),
            ("gemma3.rope.freq_base_swa", .float32(g.localRopeBase))
        ]
    }
}
