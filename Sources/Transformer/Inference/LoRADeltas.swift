import Tensor

/// A LoRA adapter laid out for inference without merging: per layer, per adapted projection, the
/// factor A [r, in] and B transposed [r, out] with the whole scale (user scale x alpha / r)
/// folded in once, so that each forward pass adds `(x A^T) (s B^T)` to the projection's output
/// `x W^T` (`Tensor.addLowRank`): f32 arithmetic through a rank-r bottleneck beside the
/// stored-type product.
///
/// A projection whose scale is 0 gets no delta at all, so a zero scale runs exactly the base
/// model's arithmetic (the same bits as no adapter).
struct LoRADeltas {
    struct Delta {
        /// [r, in], f16 when that holds every value exactly (an f16 adapter), else f32.
        let a: Tensor
        /// [r, out]: s B^T, f16 when that holds every value exactly, else f32.
        let bt: Tensor
        /// The factors as given, in f32 (`a` and `bt` themselves when those stayed f32), for
        /// products of `wideRows` rows or more.
        let aWide: Tensor, btWide: Tensor

        /// From this many rows on, a product reads the f32 copies: widening f16 on every load
        /// then costs more than the extra bytes (at 8 and 512 rows the f16 kernel runs at 65-80% and
        /// 40-55% of the f32 one's speed, `grm bench kernels --only lowrank`); below it, f16 halves
        /// the bytes a decoding step reads.
        static let wideRows = 4

        /// The factors kept for inference: in f16 where that loses nothing (half the bytes each
        /// token reads, and the same bits, since f16 widens to f32 exactly), else in f32. `a` and
        /// `bt` are f32, as `LoRAAdapter` holds its factors.
        init(a: Tensor, bt: Tensor) {
            self.a = Delta.compact(a)
            self.bt = Delta.compact(bt)
            aWide = a
            btWide = bt
        }

        static func compact(_ t: Tensor) -> Tensor {
            let half = t.converted(to: .f16)
            let back = half.converted(to: .f32).scalars(), original = t.scalars()
            return zip(back, original).allSatisfy({ $0.bitPattern == $1.bitPattern }) ? half : t
        }

        /// The delta as one matrix [out, in], (s B^T)^T A in f32: what `merged` adds to a weight.
        func matrix() throws -> Tensor { try btWide.matmul(aWide, transposeA: true) }

        /// The weight `w` [out, in] with this delta added to its bf16 panels
        /// (`Tensor.addingToBF16Panels`): products on those panels need no `apply`.
        func merged(into w: Tensor) throws -> Tensor { try w.addingToBF16Panels(try matrix()) }

        /// y [rows, out] += (x [rows, in] A^T) (s B^T); the same bits from either copy.
        func apply(_ x: Tensor, into y: Tensor) throws {
            let rows = x.count / Swift.max(a.shape[1], 1)
            if rows >= Delta.wideRows {
                try Tensor.addLowRank(x, a: aWide, bt: btWide, into: y)
            } else {
                try Tensor.addLowRank(x, a: a, bt: bt, into: y)
            }
        }
    }

    struct Layer {
        var q, k, v, o, gate, up, down: Delta?

        /// The deltas still to add when running `merged` in place of `base`: those whose
        /// projection was not merged into its panels (a merged one is a weight on a storage of
        /// its own). All of them without `merged`.
        func unmerged(base: LlamaWeights.Layer, merged: LlamaWeights.Layer?) -> Layer {
            guard let merged else { return self }
            func keep(_ d: Delta?, _ b: Tensor, _ m: Tensor) -> Delta? { b.storage === m.storage ? d : nil }
            return Layer(
                q: keep(q, base.wq, merged.wq), k: keep(k, base.wk, merged.wk), v: keep(v, base.wv, merged.wv),
                o: keep(o, base.wo, merged.wo), gate: keep(gate, base.wGate, merged.wGate), up: keep(up, base.wUp, merged.wUp),
                down: keep(down, base.wDown, merged.wDown))
        }
    }

    let layers: [Layer]

    /// The adapter's deltas for a decoder of `config`, after checking that it fits (architecture,
    /// only projections inference applies, shapes).
    init(adapter: LoRAAdapter, scale userScale: Float, config: LlamaConfig) throws {
        guard userScale.isFinite else { throw ModelError.badValue("LoRA scale", "\(userScale) is not finite") }
        try adapter.validate(against: config)
        var layers = [Layer](repeating: Layer(), count: config.layers)
        for (name, pair) in adapter.pairs {
            guard let (layer, target) = LoRATarget.parse(weightName: name, layers: config.layers),
                let scale = adapter.scale(for: name)
            else { continue }
            let s = userScale * scale
            if s == 0 { continue }
            let delta = Delta(a: pair.a.contiguous(), bt: try pair.b.transposed().scaled(by: s).contiguous())
            switch target {
            case .q: layers[layer].q = delta
            case .k: layers[layer].k = delta
            case .v: layers[layer].v = delta
            case .o: layers[layer].o = delta
            case .gate: layers[layer].gate = delta
            case .up: layers[layer].up = delta
            case .down: layers[layer].down = delta
            }
        }
        self.layers = layers
    }
}
