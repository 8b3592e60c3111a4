import Foundation
@testable import Tensor
@testable import Transformer

/// Gemma 3's decoder written out plainly in Double precision, from the description of the
/// architecture (Hugging Face's Gemma3ForCausalLM with llama.cpp's conventions: norm weights as
/// stored, i.e. already 1 + w; embeddings times sqrt(dim); rotation by halves), for checking
/// `LlamaInference` on tiny models. Weights are read as f32 values (dequantise first).
struct Gemma3Reference {
    let config: LlamaConfig
    let tensors: [String: Tensor]

    func values(_ name: String) -> [Double] { tensors[name]!.converted(to: .f32).contiguous().scalars().map(Double.init) }

    /// y = W x for W [out, in] stored row-major.
    func matvec(_ w: [Double], _ x: [Double], out: Int) -> [Double] {
        let n = x.count
        return (0..<out).map { r in
            var s = 0.0
            for i in 0..<n { s += w[r * n + i] * x[i] }
            return s
        }
    }

    func rmsNorm(_ x: [Double], _ w: [Double]) -> [Double] {
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let r = 1 / (ms + Double(config.normEps)).squareRoot()
        return zip(x, w).map { $0 * r * $1 }
    }

    /// NEOX rotation: pairs (i, i + d/2) by angle pos * base^(-2i/d).
    func rope(_ x: [Double], position: Int, base: Double) -> [Double] {
        let d = x.count, half = d / 2
        var y = x
        for i in 0..<half {
            let theta = Double(position) * pow(base, -2 * Double(i) / Double(d))
            let c = cos(theta), s = sin(theta)
            y[i] = x[i] * c - x[i + half] * s
            y[i + half] = x[i] * s + x[i + half] * c
        }
        return y
    }

    func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh(0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x))) }

    /// Logits [position][vocab] for every position of `tokens`.
    func logits(_ tokens: [Int32]) -> [[Double]] {
        let c = config, g = c.gemma!, hd = g.headDim, dim = c.dim, group = c.heads / c.kvHeads
        let embd = values("token_embd.weight")
        var h = tokens.map { t in (0..<dim).map { embd[Int(t) * dim + $0] * Double(dim).squareRoot() } }
        for l in 0..<c.layers {
            let p = "blk.\(l)."
            let local = l % 6 < 5
            let base = Double(local ? g.localRopeBase : c.ropeBase)
            let wq = values(p + "attn_q.weight"), wk = values(p + "attn_k.weight"), wv = values(p + "attn_v.weight")
            let qn = values(p + "attn_q_norm.weight"), kn = values(p + "attn_k_norm.weight")
            var qs: [[[Double]]] = [], ks: [[[Double]]] = [], vs: [[[Double]]] = []
            for (pos, x) in h.enumerated() {
                let xn = rmsNorm(x, values(p + "attn_norm.weight"))
                let q = matvec(wq, xn, out: c.qDim), k = matvec(wk, xn, out: c.kvDim), v = matvec(wv, xn, out: c.kvDim)
                qs.append((0..<c.heads).map { rope(rmsNorm(Array(q[($0 * hd)..<(($0 + 1) * hd)]), qn), position: pos, base: base) })
                ks.append((0..<c.kvHeads).map { rope(rmsNorm(Array(k[($0 * hd)..<(($0 + 1) * hd)]), kn), position: pos, base: base) })
                vs.append((0..<c.kvHeads).map { Array(v[($0 * hd)..<(($0 + 1) * hd)]) })
            }
            for pos in h.indices {
                var attn: [Double] = []
                for head in 0..<c.heads {
                    let kv = head / group
                    let keys = (0...pos).filter { !local || pos - $0 < g.slidingWindow }
                    let scores = keys.map { j in zip(qs[pos][head], ks[j][kv]).reduce(0) { $0 + $1.0 * $1.1 } * Double(g.attentionScale) }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let sum = e.reduce(0, +)
                    var o = [Double](repeating: 0, count: hd)
                    for (n, j) in keys.enumerated() { for i in 0..<hd { o[i] += e[n] / sum * vs[j][kv][i] } }
                    attn += o
                }
                let o = rmsNorm(matvec(values(p + "attn_output.weight"), attn, out: dim), values(p + "post_attention_norm.weight"))
                h[pos] = zip(h[pos], o).map { $0 + $1 }
                let xn = rmsNorm(h[pos], values(p + "ffn_norm.weight"))
                let gate = matvec(values(p + "ffn_gate.weight"), xn, out: c.ffnDim)
                let up = matvec(values(p + "ffn_up.weight"), xn, out: c.ffnDim)
                let act = zip(gate, up).map { gelu($0) * $1 }
                let down = rmsNorm(matvec(values(p + "ffn_down.weight"), act, out: dim), values(p + "post_ffw_norm.weight"))
                h[pos] = zip(h[pos], down).map { $0 + $1 }
            }
        }
        let out = values("output_norm.weight")
        return h.map { matvec(embd, rmsNorm($0, out), out: c.vocabSize) }
    }
}
