import Foundation
import Tensor

/// Decode-time attention (`CachedAttention.run`, one new row per sequence) at the SmolLM2 shape
/// (9 query heads, 3 KV heads of 64 values, 30 layers): B sequences forked from a shared prompt of
/// `prefix` positions, each with `tail` positions of its own. Calls cycle through the 30 layers,
/// so the caches are as far from the core as in a model's step. GFLOP/s (2 x 2 x heads x visible
/// x 64 per row) and GB/s of distinct cache bytes read (the shared prefix once, every tail).
public enum AttentionBench {
    public static func run(
        batches: [Int] = [1, 8], prefix: Int = 256, tail: Int = 64, repeats: Int = 5,
        seconds: Double = 0.2, log: ((String) -> Void)? = nil
    ) -> [Measurement] {
        let layers = 30, heads = 9, kvHeads = 3, headDim = 64
        let qDim = heads * headDim, kvDim = kvHeads * headDim
        var out: [Measurement] = []
        for type in [KVCacheType.f32, .f16] {
            for b in batches {
                do {
                    let root = try KVSequence(layers: layers, kvDim: kvDim, context: 4096, capacity: prefix, type: type)
                    try fill(root, rows: prefix, layers: layers, heads: heads, kvHeads: kvHeads, headDim: headDim)
                    let seqs = try (0..<b).map { _ in try root.fork(capacity: tail + 1) }
                    for s in seqs { try fill(s, rows: tail, layers: layers, heads: heads, kvHeads: kvHeads, headDim: headDim) }
                    let q = values([b, qDim], seed: 3), k = values([b, kvDim], seed: 4), v = values([b, kvDim], seed: 5)
                    let o = Tensor.uninitialized([b, qDim])
                    let items = seqs.enumerated().map { CachedAttention.Item(sequence: $0.element, row: $0.offset, count: 1) }
                    let visible = Double(prefix + tail + 1)
                    let flops = 4 * Double(b * heads) * visible * Double(headDim)
                    var layer = 0
                    let r = Bench.measure(
                        "attention \(type)", shape: "\(b)x\(prefix)+\(tail)", unit: "GFLOP/s",
                        work: flops, repeats: repeats, seconds: seconds
                    ) {
                        try! CachedAttention.run(
                            q: q, k: k, v: v, items: items, layer: layer, heads: heads, kvHeads: kvHeads,
                            headDim: headDim, scale: 0.125, out: o)
                        for s in seqs { s.discardPending() }
                        layer = (layer + 1) % layers
                    }
                    out.append(r)
                    let bytes = Double(2 * (prefix + b * (tail + 1)) * kvDim * type.bytes)
                    func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
                    log?(
                        pad(r.shape, 16) + pad(r.name, 18)
                            + String(
                                format: "%7.1f GFLOP/s  = %.1f GB/s of cache (%.1f..%.1f GFLOP/s)",
                                r.median, r.median / flops * bytes, r.min, r.max))
                } catch {
                    log?("attention \(type) batch \(b): \(error)")
                }
            }
        }
        return out
    }

    /// Appends `rows` positions of random keys and values to every layer of `s`.
    static func fill(_ s: KVSequence, rows: Int, layers: Int, heads: Int, kvHeads: Int, headDim: Int) throws {
        if rows == 0 { return }
        let q = values([rows, heads * headDim], seed: 1), kv = values([rows, kvHeads * headDim], seed: 2)
        let o = Tensor.uninitialized([rows, heads * headDim])
        let item = CachedAttention.Item(sequence: s, row: 0, count: rows)
        for l in 0..<layers {
            try CachedAttention.run(
                q: q, k: kv, v: kv, items: [item], layer: l, heads: heads, kvHeads: kvHeads,
                headDim: headDim, scale: 0.125, out: o)
        }
        s.commit(rows)
    }

    static func values(_ shape: [Int], seed: UInt32) -> Tensor {
        let t = Tensor.uninitialized(shape)
        var s = seed
        for i in 0..<shape.reduce(1, *) {
            s = s &* 1_664_525 &+ 1_013_904_223
            t.floatPointer[i] = Float(s >> 8) / Float(1 << 24) - 0.5
        }
        return t
    }
}
