import Tensor

/// A Llama-style decoder whose parameters are autograd variables, for training from scratch.
///
/// Weights are stored [out, in] (as GGUF and PyTorch keep them) and applied as x W^T. Each
/// variable is named as its GGUF tensor ("token_embd.weight", "blk.0.attn_q.weight", ...,
/// "output_norm.weight", "output.weight"), so checkpoints of the model are loadable GGUF models.
/// Activations run on [B*T, dim] rows; attention is the fused causal GQA kernel.
public final class LlamaModel {
    public struct Layer {
        public let attnNorm, wq, wk, wv, wo, mlpNorm, wGate, wUp, wDown: Variable
        public var parameters: [Variable] { [attnNorm, wq, wk, wv, wo, mlpNorm, wGate, wUp, wDown] }
    }

    public let config: LlamaConfig
    public let tokenEmbedding: Variable
    public let layers: [Layer]
    public let finalNorm: Variable
    /// The output projection [vocab, dim]: the token embedding when tied.
    public let output: Variable
    public let rope: RoPE

    /// Random initialisation from `seed`: the same seed gives the same weights on every machine.
    public init(config: LlamaConfig, seed: UInt64) throws {
        try config.validate()
        guard !config.attentionBias else {
            throw ConfigError.invalid("training a model with q/k/v biases (qwen2) is not supported yet")
        }
        self.config = config
        var rng = SeededRandom(seed: seed)
        let std = config.initStd, residualStd = config.initStd / Float(2 * Swift.max(config.layers, 1)).squareRoot()
        func weight(_ shape: [Int], _ name: String, std: Float) -> Variable {
            Variable(Tensor.randomNormal(shape, std: std, rng: &rng), requiresGrad: true, name: name)
        }
        func ones(_ n: Int, _ name: String) -> Variable {
            Variable(Tensor(shape: [n], repeating: 1), requiresGrad: true, name: name)
        }
        let d = config.dim, kv = config.kvHeads * config.headDim
        tokenEmbedding = weight([config.vocabSize, d], "token_embd.weight", std: std)
        layers = (0..<config.layers).map { i in
            Layer(attnNorm: ones(d, "blk.\(i).attn_norm.weight"),
                  wq: weight([d, d], "blk.\(i).attn_q.weight", std: std),
                  wk: weight([kv, d], "blk.\(i).attn_k.weight", std: std),
                  wv: weight([kv, d], "blk.\(i).attn_v.weight", std: std),
                  wo: weight([d, d], "blk.\(i).attn_output.weight", std: residualStd),
                  mlpNorm: ones(d, "blk.\(i).ffn_norm.weight"),
                  wGate: weight([config.ffnDim, d], "blk.\(i).ffn_gate.weight", std: std),
                  wUp: weight([config.ffnDim, d], "blk.\(i).ffn_up.weight", std: std),
                  wDown: weight([d, config.ffnDim], "blk.\(i).ffn_down.weight", std: residualStd))
        }
        finalNorm = ones(d, "output_norm.weight")
        output = config.tiedEmbeddings ? tokenEmbedding : weight([config.vocabSize, d], "output.weight", std: std)
        rope = RoPE(base: config.ropeBase, dims: config.headDim, layout: config.ropeLayout)
    }

    /// Every trainable parameter once (a tied output is not repeated), in a fixed order.
    public var parameters: [Variable] {
        [tokenEmbedding] + layers.flatMap(\.parameters) + [finalNorm] + (config.tiedEmbeddings ? [] : [output])
    }

    /// Indices into `parameters` of the norm weights (conventionally exempt from weight decay).
    public var normParameterIndices: Set<Int> {
        Set(parameters.enumerated().filter { $0.element.rank == 1 }.map(\.offset))
    }

    /// Logits [batch * length, vocab] for token ids [batch, length] (row-major), positions 0..<length.
    public func logits(_ ids: [Int32], batch: Int, length: Int) throws -> Variable {
        precondition(ids.count == batch * length, "ids must hold batch * length tokens")
        let c = config, rows = batch * length
        let positions = (0..<length).map(Int32.init)
        var h = try tokenEmbedding.embedding(ids)
        for l in layers {
            let x = try h.rmsNorm(weight: l.attnNorm, eps: c.normEps)
            let q = try x.matmul(l.wq, transposeB: true).reshaped([batch, length, c.heads, c.headDim]).rope(rope, positions: positions)
            let k = try x.matmul(l.wk, transposeB: true).reshaped([batch, length, c.kvHeads, c.headDim]).rope(rope, positions: positions)
            let v = try x.matmul(l.wv, transposeB: true).reshaped([batch, length, c.kvHeads, c.headDim])
            let a = try Variable.causalAttention(q: q, k: k, v: v).reshaped([rows, c.dim])
            h = try h + a.matmul(l.wo, transposeB: true)
            let y = try h.rmsNorm(weight: l.mlpNorm, eps: c.normEps)
            let m = try Variable.swiglu(gate: y.matmul(l.wGate, transposeB: true), up: y.matmul(l.wUp, transposeB: true))
            h = try h + m.matmul(l.wDown, transposeB: true)
        }
        return try h.rmsNorm(weight: finalNorm, eps: c.normEps).matmul(output, transposeB: true)
    }
}
