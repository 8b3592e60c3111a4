import Tensor

/// A Llama-style decoder (llama, qwen2, gemma3) on the autograd tape, for training: from random
/// initialisation, or from a GGUF model (`LlamaModel+GGUF.swift`) fine-tuned in full or through
/// LoRA adapters over its frozen weights.
///
/// Weights are stored [out, in] (as GGUF and PyTorch keep them) and applied as x W^T. Every
/// variable is named as its GGUF tensor ("token_embd.weight", "blk.0.attn_q.weight", ...,
/// "output_norm.weight", "output.weight"; LoRA factors "blk.0.attn_q.weight.lora_a" / "lora_b"),
/// so checkpoints of a full model are loadable GGUF models. A frozen weight may keep any stored
/// element type (a quantised base stays quantised and mapped): its products run the quantised
/// kernels forwards (`Tensor.linear`) and backwards (`Tensor.linearTransposed`), and only the
/// input gets a gradient. Activations run on [B*T, dim] rows; attention is the fused causal GQA
/// kernel.
public final class LlamaModel {
    /// A LoRA adapter on one projection: `W x + scale * B (A x)`, A [r, in], B [out, r].
    public final class LoRAFactors {
        public let a: Variable, b: Variable
        public let alpha: Float
        /// alpha / r.
        public let scale: Float
        public init(a: Variable, b: Variable, alpha: Float) {
            self.a = a
            self.b = b
            self.alpha = alpha
            scale = alpha / Float(a.shape[0])
        }
    }

    public struct Layer {
        public let attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown: Variable
        /// q/k/v biases (qwen2).
        public let bq, bk, bv: Variable?
        /// Gemma 3's q/k norms per head and post-attention / post-MLP norms (nil otherwise).
        public var qNorm, kNorm, postAttnNorm, postFFNNorm: Variable?
        /// LoRA factors of the adapted projections.
        public var lora: [LoRATarget: LoRAFactors] = [:]

        public func weight(_ t: LoRATarget) -> Variable {
            switch t {
            case .q: return wq
            case .k: return wk
            case .v: return wv
            case .o: return wo
            case .gate: return wGate
            case .up: return wUp
            case .down: return wDown
            }
        }

        /// Every variable of the layer, trainable or not, in a fixed order (base weights, biases,
        /// then LoRA factors in `LoRATarget` order).
        public var variables: [Variable] {
            [attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown] + [bq, bk, bv, qNorm, kNorm, postAttnNorm, postFFNNorm].compactMap { $0 }
                + LoRATarget.allCases.flatMap { t in lora[t].map { [$0.a, $0.b] } ?? [] }
        }
    }

    public let config: LlamaConfig
    public let tokenEmbedding: Variable
    public let layers: [Layer]
    public let finalNorm: Variable
    /// The output projection [vocab, dim]: the token embedding when tied.
    public let output: Variable
    public let rope: RoPE
    /// Gemma 3's local layers rotate with their own base.
    public let localRope: RoPE?
    /// Recompute each block's activations in the backward instead of keeping them (PyTorch's
    /// activation checkpointing, TRL's `gradient_checkpointing`): the tape then holds one
    /// [rows, dim] tensor per block, at the cost of a second forward through the blocks. Same
    /// gradients, bit for bit.
    public var gradientCheckpointing = false
    /// Frozen weights' int8 transposed copies (`QuantMatmul.int8TransposedCopy`), made on first
    /// use by a forward with int8 activations: their input gradients then run the int8 kernels
    /// too. Keyed by the weight variable; nil where the int8 kernels would not run.
    private var int8Transposed: [ObjectIdentifier: Tensor?] = [:]

    /// A model from its variables (names as above); `init(config:seed:)` and the GGUF
    /// initialisers build them.
    public init(config: LlamaConfig, tokenEmbedding: Variable, layers: [Layer], finalNorm: Variable, output: Variable) throws {
        try config.validate()
        self.config = config
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.output = output
        rope = RoPE(base: config.ropeBase, dims: config.headDim, layout: config.ropeLayout)
        localRope = config.gemma.map { RoPE(base: $0.localRopeBase, dims: config.headDim, layout: config.ropeLayout) }
        try LlamaWeights(config: config) { name in variablesByName[name]?.value }.validate(config)
    }

    /// Random initialisation from `seed`: the same seed gives the same weights on every machine.
    public convenience init(config: LlamaConfig, seed: UInt64) throws {
        try config.validate()
        guard !config.attentionBias else {
            throw ConfigError.invalid("random initialisation of a model with q/k/v biases (qwen2) is not supported; fine-tune one from GGUF")
        }
        var rng = SeededRandom(seed: seed)
        let std = config.initStd, residualStd = config.initStd / Float(2 * Swift.max(config.layers, 1)).squareRoot()
        func weight(_ shape: [Int], _ name: String, std: Float) -> Variable {
            Variable(Tensor.randomNormal(shape, std: std, rng: &rng), requiresGrad: true, name: name)
        }
        func ones(_ n: Int, _ name: String) -> Variable {
            Variable(Tensor(shape: [n], repeating: 1), requiresGrad: true, name: name)
        }
        let d = config.dim, kv = config.kvDim, qd = config.qDim
        let embedding = weight([config.vocabSize, d], "token_embd.weight", std: std)
        let layers = (0..<config.layers).map { i in
            var l = Layer(
                attnNorm: ones(d, "blk.\(i).attn_norm.weight"),
                wq: weight([qd, d], "blk.\(i).attn_q.weight", std: std),
                wk: weight([kv, d], "blk.\(i).attn_k.weight", std: std),
                wv: weight([kv, d], "blk.\(i).attn_v.weight", std: std),
                wo: weight([d, qd], "blk.\(i).attn_output.weight", std: residualStd),
                ffnNorm: ones(d, "blk.\(i).ffn_norm.weight"),
                wGate: weight([config.ffnDim, d], "blk.\(i).ffn_gate.weight", std: std),
                wUp: weight([config.ffnDim, d], "blk.\(i).ffn_up.weight", std: std),
                wDown: weight([d, config.ffnDim], "blk.\(i).ffn_down.weight", std: residualStd),
                bq: nil, bk: nil, bv: nil)
            if config.gemma != nil {
                // Stored norms are 1 + Gemma's w, which starts at 0.
                l.qNorm = ones(config.headDim, "blk.\(i).attn_q_norm.weight")
                l.kNorm = ones(config.headDim, "blk.\(i).attn_k_norm.weight")
                l.postAttnNorm = ones(d, "blk.\(i).post_attention_norm.weight")
                l.postFFNNorm = ones(d, "blk.\(i).post_ffw_norm.weight")
            }
            return l
        }
        let finalNorm = ones(d, "output_norm.weight")
        let output = config.tiedEmbeddings ? embedding : weight([config.vocabSize, d], "output.weight", std: std)
        try self.init(config: config, tokenEmbedding: embedding, layers: layers, finalNorm: finalNorm, output: output)
    }

    /// Every variable once (a tied output is not repeated), trainable or frozen, in a fixed order.
    public var variables: [Variable] {
        [tokenEmbedding] + layers.flatMap(\.variables) + [finalNorm] + (config.tiedEmbeddings ? [] : [output])
    }

    var variablesByName: [String: Variable] {
        Dictionary(variables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The trainable variables (those that require a gradient) in `variables`' order: every
    /// weight of a fully trained model, only the LoRA factors of an adapted one.
    public var parameters: [Variable] { variables.filter(\.requiresGrad) }

    /// Indices into `parameters` of the norm weights and biases (exempt from weight decay, as
    /// Hugging Face's trainers exempt them).
    public var normParameterIndices: Set<Int> {
        Set(parameters.enumerated().filter { $0.element.rank == 1 }.map(\.offset))
    }

    /// Logits [batch * length, vocab] for token ids [batch, length] (row-major), positions 0..<length.
    public func logits(_ ids: [Int32], batch: Int, length: Int) throws -> Variable {
        try outputLogits(hiddenStates(ids, batch: batch, length: length))
    }

    /// The output projection of final-norm hidden states [..., dim] -> [..., vocab].
    public func outputLogits(_ hidden: Variable) throws -> Variable {
        try project(hidden, output)
    }

    /// The final-norm hidden states [batch * length, dim] (what the output projection and reward
    /// heads read).
    public func hiddenStates(_ ids: [Int32], batch: Int, length: Int) throws -> Variable {
        precondition(ids.count == batch * length, "ids must hold batch * length tokens")
        guard length <= config.contextLength else { throw ModelError.contextExceeded(tokens: length, context: config.contextLength) }
        let c = config
        // The tape's attention is causal over the whole sequence, which is Gemma's sliding window
        // exactly when no sequence is longer than the window.
        if let g = c.gemma, length > g.slidingWindow {
            throw ModelError.badValue(
                "gemma3.attention.sliding_window",
                "training sequences of \(length) tokens exceed the sliding window of \(g.slidingWindow) (not supported on the tape)")
        }
        let positions = (0..<length).map(Int32.init)
        var h = try tokenEmbedding.embedding(ids)
        if c.gemma != nil { h = try h.scaled(by: Float(c.dim).squareRoot()) }
        for (i, l) in layers.enumerated() {
            h =
                gradientCheckpointing
                ? try Autograd.checkpoint(h) { try self.block($0, l, index: i, batch: batch, length: length, positions: positions) }
                : try block(h, l, index: i, batch: batch, length: length, positions: positions)
        }
        return try h.rmsNorm(weight: finalNorm, eps: c.normEps)
    }

    /// One decoder block (layer `index`) on the residual stream h [batch * length, dim]. Gemma's
    /// additions (see `GemmaSettings`) where its norms are present.
    func block(_ input: Variable, _ l: Layer, index: Int, batch: Int, length: Int, positions: [Int32]) throws -> Variable {
        let c = config, rows = batch * length
        let r = c.gemma?.isLocal(layer: index) == true ? localRope ?? rope : rope
        let x = try input.rmsNorm(weight: l.attnNorm, eps: c.normEps)
        var q = try addBias(projection(x, l, .q), l.bq).reshaped([batch, length, c.heads, c.headDim])
        var k = try addBias(projection(x, l, .k), l.bk).reshaped([batch, length, c.kvHeads, c.headDim])
        if let n = l.qNorm { q = try q.rmsNorm(weight: n, eps: c.normEps) }
        if let n = l.kNorm { k = try k.rmsNorm(weight: n, eps: c.normEps) }
        q = try q.rope(r, positions: positions)
        k = try k.rope(r, positions: positions)
        // The fused kernel scales by 1/sqrt(headDim); another scale is folded into q.
        if let g = c.gemma, g.attentionScale != 1 / Float(c.headDim).squareRoot() {
            q = try q.scaled(by: g.attentionScale * Float(c.headDim).squareRoot())
        }
        let v = try addBias(projection(x, l, .v), l.bv).reshaped([batch, length, c.kvHeads, c.headDim])
        let a = try Variable.causalAttention(q: q, k: k, v: v).reshaped([rows, c.qDim])
        var o = try projection(a, l, .o)
        if let n = l.postAttnNorm { o = try o.rmsNorm(weight: n, eps: c.normEps) }
        let h = try input + o
        let y = try h.rmsNorm(weight: l.ffnNorm, eps: c.normEps)
        let m =
            c.gemma != nil
            ? try projection(y, l, .gate).gelu() * projection(y, l, .up)
            : try Variable.swiglu(gate: projection(y, l, .gate), up: projection(y, l, .up))
        var down = try projection(m, l, .down)
        if let n = l.postFFNNorm { down = try down.rmsNorm(weight: n, eps: c.normEps) }
        return try h + down
    }

    /// x W^T through a trainable f32 weight (both get gradients) or a frozen one of any type.
    func project(_ x: Variable, _ w: Variable) throws -> Variable {
        w.requiresGrad ? try x.matmul(w, transposeB: true) : try x.linear(frozen: w.value, transposed: backwardCopy(w))
    }

    /// A frozen weight's int8 transposed copy when this forward runs int8 activations and a
    /// gradient will flow (the backward then rounds as the forward does); otherwise nil.
    func backwardCopy(_ w: Variable) throws -> Tensor? {
        guard EngineSettings.current.activations.roundsToInt8, Autograd.isEnabled, !w.requiresGrad else { return nil }
        let key = ObjectIdentifier(w)
        if let made = int8Transposed[key] { return made }
        let made = try QuantMatmul.int8TransposedCopy(of: w.value)
        int8Transposed[key] = made
        return made
    }

    func projection(_ x: Variable, _ l: Layer, _ t: LoRATarget) throws -> Variable {
        let w = l.weight(t)
        guard let f = l.lora[t] else { return try project(x, w) }
        guard !w.requiresGrad else {
            return try project(x, w) + x.matmul(f.a, transposeB: true).matmul(f.b, transposeB: true).scaled(by: f.scale)
        }
        return try x.linear(frozen: w.value, transposed: backwardCopy(w), loraA: f.a, loraB: f.b, scale: f.scale)
    }

    private func addBias(_ y: Variable, _ b: Variable?) throws -> Variable {
        guard let b else { return y }
        return try y + b
    }
}
