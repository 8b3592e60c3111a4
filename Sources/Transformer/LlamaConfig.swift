import Tensor

/// The shape of a Llama-style decoder: RMSNorm, rotary embeddings, grouped-query attention,
/// SwiGLU MLP, and an output projection tied to the token embedding or separate. One definition
/// serves the `llama` family (adjacent-pair rotation), `qwen2` (q/k/v biases, rotated halves) and
/// `gemma3` (`gemma`: scaled embeddings, q/k and post norms, GeGLU, sliding-window layers);
/// training (`LlamaModel`; gemma3 only on sequences within its sliding window) and inference
/// (`LlamaInference`) both read it.
public struct LlamaConfig: Sendable, Equatable, Codable {
    public var vocabSize: Int
    public var dim: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var ffnDim: Int
    public var ropeBase: Float
    public var normEps: Float
    public var tiedEmbeddings: Bool
    /// Standard deviation of the random normal initialisation (the residual output projections
    /// use std / sqrt(2 * layers), as GPT-2 does).
    public var initStd: Float
    /// GGUF `general.architecture` ("llama" or "qwen2").
    public var architecture: String
    /// Which dimension pairs rotary embeddings rotate: adjacent pairs (llama GGUF files) or halves (qwen2).
    public var ropeLayout: RoPE.Layout
    /// Whether the q, k and v projections carry a bias (qwen2).
    public var attentionBias: Bool
    /// The longest sequence the model supports (positions 0..<contextLength).
    public var contextLength: Int
    /// Gemma 3's additions to the block (nil for llama and qwen2); see `GemmaSettings`.
    public var gemma: GemmaSettings?

    public init(
        vocabSize: Int, dim: Int, layers: Int, heads: Int, kvHeads: Int, ffnDim: Int,
        ropeBase: Float = 10_000, normEps: Float = 1e-5, tiedEmbeddings: Bool = true, initStd: Float = 0.02,
        architecture: String = "llama", ropeLayout: RoPE.Layout = .adjacentPairs, attentionBias: Bool = false,
        contextLength: Int = 2048, gemma: GemmaSettings? = nil
    ) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.ffnDim = ffnDim
        self.ropeBase = ropeBase
        self.normEps = normEps
        self.tiedEmbeddings = tiedEmbeddings
        self.initStd = initStd
        self.architecture = architecture
        self.ropeLayout = ropeLayout
        self.attentionBias = attentionBias
        self.contextLength = contextLength
        self.gemma = gemma
    }

    /// Values per attention head: width / heads, or Gemma's own head size.
    public var headDim: Int { gemma?.headDim ?? dim / heads }
    /// Width of the concatenated query heads (the width, except for Gemma).
    public var qDim: Int { heads * headDim }

    /// SmolLM2-135M's shapes (30 layers, width 576, 9 query / 3 key-value heads, FFN 1536, vocab 49152, tied).
    public static let smolLM2_135M = LlamaConfig(
        vocabSize: 49_152, dim: 576, layers: 30, heads: 9, kvHeads: 3,
        ffnDim: 1536, ropeBase: 100_000, normEps: 1e-5, tiedEmbeddings: true,
        contextLength: 8192)

    /// Parameter count.
    public var parameterCount: Int {
        let attn = dim * qDim * 2 + dim * kvHeads * headDim * 2 + (attentionBias ? qDim + 2 * kvHeads * headDim : 0)
        let mlp = 3 * dim * ffnDim
        let norms = gemma == nil ? 2 * dim : 4 * dim + 2 * headDim
        return vocabSize * dim * (tiedEmbeddings ? 1 : 2) + layers * (attn + mlp + norms) + dim
    }

    public var kvDim: Int { kvHeads * headDim }

    func validate() throws {
        guard contextLength > 0, ffnDim > 0 else {
            throw ConfigError.invalid("context length \(contextLength) and FFN size \(ffnDim) must be positive")
        }
        if let gemma {
            try gemma.validate()
            guard architecture == "gemma3", ropeLayout == .halves, !attentionBias else {
                throw ConfigError.invalid("Gemma settings need architecture gemma3, rotated halves and no q/k/v biases")
            }
        } else if architecture == "gemma3" {
            throw ConfigError.invalid("architecture gemma3 needs Gemma settings")
        }
        guard dim > 0, heads > 0, kvHeads > 0, gemma != nil || dim % heads == 0, heads % kvHeads == 0, headDim % 2 == 0, layers >= 0, vocabSize > 0
        else {
            throw ConfigError.invalid("dim \(dim) must split into \(heads) heads of even size, and heads be a multiple of kvHeads \(kvHeads)")
        }
    }
}

public enum ConfigError: Error, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let s): return "invalid model config: \(s)"
        }
    }
}
