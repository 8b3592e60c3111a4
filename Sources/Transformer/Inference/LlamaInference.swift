import Foundation
import Tensor

/// Which positions of a request get logits.
public enum LogitsSelection: Sendable, Equatable {
    case none
    /// The last position of the request (the next-token distribution).
    case last
    /// Every position of the request (scoring a given continuation).
    case all
}

/// What a forward pass returns for the positions a request selects.
public enum ForwardOutput: Sendable, Equatable {
    case logits
    /// The final-norm hidden states (before the output projection).
    case hiddenStates
}

/// One sequence's part of a batched forward pass: new tokens appended to its cache.
public struct ForwardRequest {
    public var sequence: KVSequence
    public var tokens: [Int32]
    public var logits: LogitsSelection
    public init(sequence: KVSequence, tokens: [Int32], logits: LogitsSelection = .last) {
        self.sequence = sequence
        self.tokens = tokens
        self.logits = logits
    }
}

/// A Llama-family decoder (llama, qwen2, gemma3) for inference: no tape, weights in their stored type
/// (quantised weights are multiplied by the quantised kernels, never expanded), a key/value cache
/// per sequence, and batched forward passes over several sequences at once. Gemma 3's additions
/// (`GemmaSettings`) apply where the config has them: scaled embeddings, q/k norms per head, post
/// norms, GeGLU, and on local layers a sliding window with their own RoPE table.
///
/// A forward pass stacks the new tokens of every request into one matrix, so the projections and
/// the MLP are matrix-matrix products over all of them (prefill, or k sequences decoding together
/// read each weight once per step), while attention runs per sequence against its own cache
/// (including prefixes shared with other sequences, see `KVSequence.fork`).
///
/// An optional LoRA adapter is applied without merging: each adapted projection adds
/// `adapterScale x alpha / r x B (A x)` to its quantised product (see `LoRADeltas`). Without an
/// adapter (or at scale 0) the forward pass is exactly the base model's. With `.bf16`
/// activations, products that run on bf16 tiles read panels of W + the delta instead
/// (`mergedLayers`), since the adapter is fixed for the engine's life.
public final class LlamaInference: @unchecked Sendable {
    public let config: LlamaConfig
    public let weights: LlamaWeights
    /// The file the weights map, kept alive with the model.
    public let file: GGUFFile?
    public let kvType: KVCacheType
    /// The LoRA adapter applied beside the weights, if any, and the user's factor on its scale.
    public let adapter: LoRAAdapter?
    public let adapterScale: Float
    private let lora: LoRADeltas?
    /// With `.bf16` activations, the adapted projections with the adapter's deltas added to
    /// their bf16 panels (made on the first product that reads panels, then kept): prompt
    /// products then cost what the base model's do. Decoding rows still read the base weights
    /// and add each delta's product.
    private(set) var mergedLayers: [LlamaWeights.Layer]?
    private let mergedLock = NSLock()
    private let ropeTable: RoPETable
    /// Gemma 3's local layers rotate with their own base.
    private let localRopeTable: RoPETable?

    /// The adapter, if given, must fit `config` (architecture, projection shapes; only the
    /// projections `LoRATarget` names are applied, others are refused).
    public init(
        config: LlamaConfig, weights: LlamaWeights, file: GGUFFile? = nil, kvType: KVCacheType = .f32,
        adapter: LoRAAdapter? = nil, adapterScale: Float = 1
    ) throws {
        try config.validate()
        try weights.validate(config)
        self.config = config
        self.weights = weights
        self.file = file
        self.kvType = kvType
        self.adapter = adapter
        self.adapterScale = adapterScale
        lora = try adapter.map { try LoRADeltas(adapter: $0, scale: adapterScale, config: config) }
        ropeTable = RoPETable(
            rope: RoPE(base: config.ropeBase, dims: config.headDim, layout: config.ropeLayout),
            positions: config.contextLength)
        localRopeTable = config.gemma.map {
            RoPETable(
                rope: RoPE(base: $0.localRopeBase, dims: config.headDim, layout: config.ropeLayout),
                positions: config.contextLength)
        }
        try preparePanels()
    }

    /// With `.bf16` activations, the layers' bf16 panels (with an adapter, its merged ones) made
    /// now, when the model loads, as llama.cpp repacks weights for its AMX and ARM kernels at
    /// load: the first prompt then does not pay for them (SmolLM2-135M: 214 MB, about 60 ms on
    /// two threads, most of it the kernel faulting fresh pages in). Otherwise nothing.
    private func preparePanels() throws {
        let rows = QuantMatmul.bf16MinRows
        for l in try mergedWeights(rows: rows) ?? weights.layers {
            for w in [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown] { w.prepareBF16Panels(rows: rows) }
        }
    }

    /// Loads a GGUF model (memory-mapped).
    public convenience init(
        gguf file: GGUFFile, kvType: KVCacheType = .f32, contextLength: Int? = nil,
        adapter: LoRAAdapter? = nil, adapterScale: Float = 1
    ) throws {
        var config = try LlamaConfig(gguf: file)
        if let c = contextLength { config.contextLength = min(c, config.contextLength) }
        try self.init(
            config: config, weights: try LlamaWeights(gguf: file, config: config), file: file, kvType: kvType,
            adapter: adapter, adapterScale: adapterScale)
    }

    public convenience init(
        path: String, kvType: KVCacheType = .f32, contextLength: Int? = nil,
        adapter: LoRAAdapter? = nil, adapterScale: Float = 1
    ) throws {
        try self.init(
            gguf: try GGUFFile(path: path), kvType: kvType, contextLength: contextLength,
            adapter: adapter, adapterScale: adapterScale)
    }

    /// The same model (weights shared, not copied) with another adapter, or none.
    public func with(adapter: LoRAAdapter?, scale: Float = 1) throws -> LlamaInference {
        try LlamaInference(config: config, weights: weights, file: file, kvType: kvType, adapter: adapter, adapterScale: scale)
    }

    /// A new empty sequence with room for `capacity` tokens (default: the whole context).
    public func newSequence(capacity: Int? = nil) throws -> KVSequence {
        try KVSequence(
            layers: config.layers, kvDim: config.kvDim, context: config.contextLength,
            capacity: capacity, type: kvType)
    }

    /// Runs one forward pass over every request's new tokens and appends them to the requests'
    /// caches. Returns, per request, its logits [positions, vocab] (nil for `.none`).
    ///
    /// Errors (a token outside the vocabulary, a sequence that would exceed the context, a sequence
    /// twice in one batch) are raised before any cache changes.
    public func forward(_ requests: [ForwardRequest]) throws -> [Tensor?] {
        try forward(requests, output: .logits)
    }

    /// `forward`, returning for the selected positions either the logits [positions, vocab] or
    /// the final-norm hidden states [positions, dim] that the output projection (and reward
    /// heads) read.
    public func forward(_ requests: [ForwardRequest], output: ForwardOutput) throws -> [Tensor?] {
        let c = config
        var ids: [Int32] = []
        var positions: [Int32] = []
        var items: [CachedAttention.Item] = []
        for r in requests {
            guard !r.tokens.isEmpty else { throw ModelError.badValue("tokens", "a request has no tokens") }
            r.sequence.discardPending()
            guard r.sequence.kvDim == c.kvDim, r.sequence.layers == c.layers else {
                throw ModelError.badValue("sequence", "the sequence was made for another model shape")
            }
            let end = r.sequence.length + r.tokens.count
            guard end <= c.contextLength else { throw ModelError.contextExceeded(tokens: end, context: c.contextLength) }
            try r.sequence.reserve(r.tokens.count)
            for (i, t) in r.tokens.enumerated() where t < 0 || Int(t) >= c.vocabSize {
                throw ModelError.tokenOutOfRange(id: t, vocab: c.vocabSize, index: i)
            }
            items.append(.init(sequence: r.sequence, row: ids.count, count: r.tokens.count))
            positions += (0..<r.tokens.count).map { Int32(r.sequence.length + $0) }
            ids += r.tokens
        }
        guard Set(requests.map { ObjectIdentifier($0.sequence) }).count == requests.count else {
            throw ModelError.badValue("sequence", "a sequence appears twice in one batch")
        }
        let rows = ids.count
        if rows == 0 { return [] }

        // The rows whose outputs are asked for (the last layer's output projection and MLP run
        // on these alone: every other row only needs its keys and values cached).
        var wanted: [Int32] = []
        var spans: [Range<Int>?] = []
        for (item, r) in zip(items, requests) {
            switch r.logits {
            case .none: spans.append(nil)
            case .last:
                spans.append(wanted.count..<wanted.count + 1)
                wanted.append(Int32(item.row + item.count - 1))
            case .all:
                spans.append(wanted.count..<wanted.count + item.count)
                wanted += (item.row..<item.row + item.count).map { Int32($0) }
            }
        }
        // The rows the last layer's output projection and MLP run on (nil: all): the wanted rows
        // alone (none for a cached prefix), padded with copies of the last one where so few would
        // round their activations otherwise than the whole batch does (bf16 tiles against int8;
        // int8 against exact on AVX2, where q8 rounds only up to `q8MaxRows` rows). A reward head
        // reads these rows, and mixing the two roundings cost it accuracy.
        let lastRows: [Int32]? = {
            guard wanted.count < rows, let l = weights.layers.last else { return nil }
            if wanted.isEmpty { return [] }
            let ws = [l.wo, l.wGate, l.wUp, l.wDown]
            let batch = ws.map { ($0.productRounding(rows: rows), $0.productUsesBF16Panels(rows: rows)) }
            func asBatch(_ r: Int) -> Bool {
                zip(ws, batch).allSatisfy { w, b in w.productRounding(rows: r) == b.0 && w.productUsesBF16Panels(rows: r) == b.1 }
            }
            guard let r = (wanted.count..<rows).first(where: asBatch) else { return nil }
            return wanted + Array(repeating: wanted[wanted.count - 1], count: r - wanted.count)
        }()
        var h = try weights.tokenEmbedding.embedding(ids)  // [rows, dim] f32
        if c.gemma != nil { try h.map(Scale(Float(c.dim).squareRoot()), into: h) }
        let x = Tensor.uninitialized([rows, c.dim])
        let attn = Tensor.uninitialized([rows, c.qDim])
        let scale = c.gemma?.attentionScale ?? 1 / Float(c.headDim).squareRoot()
        do {
            let merged = try mergedWeights(rows: rows)
            for (li, base) in weights.layers.enumerated() {
                // Merged projections carry their deltas; the others (all, when nothing merged) add them.
                let l = merged?[li] ?? base
                let d = lora?.layers[li].unmerged(base: base, merged: merged?[li])
                try h.rmsNorm(weight: l.attnNorm, eps: c.normEps, into: x)
                // q, k and v (then gate and up) as one grouped product: for decoding steps and short
                // prompts (the fused and int8 kernels) one parallel pass per weight type.
                let qkv = try x.linear([l.wq, l.wk, l.wv])
                if let d {
                    try d.q?.apply(x, into: qkv[0])
                    try d.k?.apply(x, into: qkv[1])
                    try d.v?.apply(x, into: qkv[2])
                }
                let q = try addBias(qkv[0], l.bq), k = try addBias(qkv[1], l.bk), v = try addBias(qkv[2], l.bv)
                try headNorm(q, l.qNorm, heads: c.heads)
                try headNorm(k, l.kNorm, heads: c.kvHeads)
                let local = c.gemma?.isLocal(layer: li) == true
                let table = local ? localRopeTable ?? ropeTable : ropeTable
                try table.apply(q, heads: c.heads, positions: positions)
                try table.apply(k, heads: c.kvHeads, positions: positions)
                try CachedAttention.run(
                    q: q, k: k, v: v, items: items, layer: li, heads: c.heads, kvHeads: c.kvHeads,
                    headDim: c.headDim, scale: scale, window: local ? c.gemma?.slidingWindow : nil, out: attn)
                if li == weights.layers.count - 1, let keep = lastRows {
                    if keep.isEmpty { break }
                    h = try h.embedding(keep)
                    try outputAndMLP(l, d, attn: try attn.embedding(keep), h: h, x: Tensor.uninitialized([keep.count, c.dim]))
                    if keep.count > wanted.count { h = try h.sliced(axis: 0, 0..<wanted.count) }
                } else {
                    try outputAndMLP(l, d, attn: attn, h: h, x: x)
                }
            }
        } catch {
            for r in requests { r.sequence.discardPending() }
            throw error
        }
        for (r, item) in zip(requests, items) { r.sequence.commit(item.count) }

        if wanted.isEmpty { return spans.map { _ in nil } }
        // h holds the wanted rows alone when the last layer ran on them alone.
        let picked = h.shape[0] == wanted.count ? h : try h.embedding(wanted)
        let normed = try picked.rmsNorm(weight: weights.outputNorm, eps: c.normEps)
        let result = output == .logits ? try normed.linear(weights.output) : normed
        return try spans.map { span in try span.map { try result.sliced(axis: 0, $0) } }
    }

    /// A layer after its attention, in place on h (rows of the residual stream) with x as the MLP
    /// input's buffer (same shape): the output projection and its residual, then the MLP and its.
    private func outputAndMLP(_ l: LlamaWeights.Layer, _ d: LoRADeltas.Layer?, attn: Tensor, h: Tensor, x: Tensor) throws {
        let c = config
        let o = try attn.linear(l.wo)
        try d?.o?.apply(attn, into: o)
        if let n = l.postAttnNorm { try o.rmsNorm(weight: n, eps: c.normEps, into: o) }
        try Tensor.binary(Add.self, h, o, into: h)
        try h.rmsNorm(weight: l.ffnNorm, eps: c.normEps, into: x)
        let gate: Tensor
        if d?.gate == nil && d?.up == nil {
            gate = c.gemma != nil ? try x.gatedLinear(l.wGate, l.wUp, GeGLU.self) : try x.gatedLinear(l.wGate, l.wUp, SwiGLU.self)
        } else {
            let gateUp = try x.linear([l.wGate, l.wUp])
            try d?.gate?.apply(x, into: gateUp[0])
            try d?.up?.apply(x, into: gateUp[1])
            gate = gateUp[0]
            if c.gemma != nil {
                try Tensor.binary(GeGLU.self, gate, gateUp[1], into: gate)
            } else {
                try Tensor.binary(SwiGLU.self, gate, gateUp[1], into: gate)
            }
        }
        let down = try gate.linear(l.wDown)
        try d?.down?.apply(gate, into: down)
        if let n = l.postFFNNorm { try down.rmsNorm(weight: n, eps: c.normEps, into: down) }
        try Tensor.binary(Add.self, h, down, into: h)
    }

    /// The layers with merged projections, when a product of `rows` rows reads bf16 panels and
    /// there is an adapter; nil otherwise (made once, on the first such call).
    private func mergedWeights(rows: Int) throws -> [LlamaWeights.Layer]? {
        guard let lora, weights.layers.first?.wq.productUsesBF16Panels(rows: rows) == true else { return nil }
        mergedLock.lock()
        defer { mergedLock.unlock() }
        if let mergedLayers { return mergedLayers }
        var layers = weights.layers
        for (li, d) in lora.layers.enumerated() {
            func merge(_ w: inout Tensor, _ delta: LoRADeltas.Delta?) throws {
                if let delta, w.productUsesBF16Panels(rows: rows) { w = try delta.merged(into: w) }
            }
            try merge(&layers[li].wq, d.q)
            try merge(&layers[li].wk, d.k)
            try merge(&layers[li].wv, d.v)
            try merge(&layers[li].wo, d.o)
            try merge(&layers[li].wGate, d.gate)
            try merge(&layers[li].wUp, d.up)
            try merge(&layers[li].wDown, d.down)
        }
        mergedLayers = layers
        return layers
    }

    /// Convenience: logits [tokens.count or 1, vocab] for a fresh sequence holding `tokens`.
    public func logits(_ tokens: [Int32], allPositions: Bool = false) throws -> Tensor {
        let s = try newSequence(capacity: tokens.count)
        return try forward([ForwardRequest(sequence: s, tokens: tokens, logits: allPositions ? .all : .last)])[0]!
    }

    /// RMSNorm of each head of `y` ([rows, heads * headDim], contiguous) in place (Gemma's q/k norms).
    private func headNorm(_ y: Tensor, _ w: Tensor?, heads: Int) throws {
        guard let w else { return }
        let perHead = try y.reshaped([y.shape[0] * heads, config.headDim])
        try perHead.rmsNorm(weight: w, eps: config.normEps, into: perHead)
    }

    private func addBias(_ y: Tensor, _ b: Tensor?) throws -> Tensor {
        if let b { try Tensor.binary(Add.self, y, b, into: y) }
        return y
    }
}
