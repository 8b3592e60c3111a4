import XCTest
@testable import Tensor

/// Cached attention of items with a few new rows each, in bf16 mode (`CachedAttention.blockPath`:
/// small blocked products), against a naive causal reference in Double and against the row path
/// of the exact mode: forked sequences with a shared prefix and rows of their own, several items
/// of 4 to 63 new rows beside 1- and 2-row items in one call, f32 and f16 caches, group sizes 1,
/// 3 and 4, heads of 64 and 32 values (and 24, which falls back to the row path), with and without
/// a sliding window.
final class CachedAttentionBlockTests: XCTestCase {
    func testBlockedItemsAgainstReference() throws {
        for (headDim, group, type, window) in [
            (64, 3, KVCacheType.f32, nil), (64, 3, .f16, nil), (64, 1, .f32, 7), (32, 4, .f32, nil), (24, 3, .f32, nil),
            (64, 4, .f16, 20)
        ] as [(Int, Int, KVCacheType, Int?)] {
            try check(headDim: headDim, group: group, kvHeads: 2, type: type, window: window)
        }
    }

    func check(headDim: Int, group: Int, kvHeads: Int, type: KVCacheType, window: Int?) throws {
        let heads = group * kvHeads, qDim = heads * headDim, kvDim = kvHeads * headDim
        let label = "headDim \(headDim) group \(group) \(type) window \(window.map(String.init) ?? "none")"
        func stored(_ t: Tensor) -> [Float] { cachedScalars(t, type) }
        var seed: UInt64 = UInt64(headDim * 100 + group * 10) + (type == .f32 ? 0 : 1)
        func next() -> UInt64 {
            seed += 1
            return seed
        }
        // A shared prefix of 29 positions; forks with 0 or 6 of their own.
        let root = try KVSequence(layers: 1, kvDim: kvDim, context: 512, capacity: 29, type: type)
        func append(_ s: KVSequence, rows: Int) throws -> (keys: [Float], values: [Float]) {
            let k = randomTensor([rows, kvDim], seed: next()), v = randomTensor([rows, kvDim], seed: next())
            let q = randomTensor([rows, qDim], seed: next()), out = Tensor.uninitialized([rows, qDim])
            try CachedAttention.run(
                q: q, k: k, v: v, items: [.init(sequence: s, row: 0, count: rows)], layer: 0, heads: heads,
                kvHeads: kvHeads, headDim: headDim, scale: 0.3, window: window, out: out)
            s.commit(rows)
            return (stored(k), stored(v))
        }
        let shared = try append(root, rows: 29)
        let counts = [5, 1, 17, 63, 2, 4, 33]
        func sequences() throws -> (seqs: [KVSequence], keys: [[Float]], values: [[Float]]) {
            var seqs: [KVSequence] = [], keys: [[Float]] = [], values: [[Float]] = []
            for (i, count) in counts.enumerated() {
                let s = try root.fork(capacity: 6 + count)
                var k = shared.keys, v = shared.values
                if i % 2 == 1 {
                    let t = try append(s, rows: 6)
                    k += t.keys
                    v += t.values
                }
                seqs.append(s)
                keys.append(k)
                values.append(v)
            }
            return (seqs, keys, values)
        }
        let rows = counts.reduce(0, +)
        let q = randomTensor([rows, qDim], seed: next())
        let k = randomTensor([rows, kvDim], seed: next()), v = randomTensor([rows, kvDim], seed: next())
        // The same sequences twice (same seeds): once in bf16 mode, once exact.
        let seedBefore = seed
        var outs: [Tensor] = []
        var cached: (keys: [[Float]], values: [[Float]]) = ([], [])
        for mode in [QuantMatmul.ActivationMode.bf16, .exact] {
            seed = seedBefore
            let (seqs, keys, values) = try sequences()
            cached = (keys, values)
            var row = 0
            let items = zip(seqs, counts).map { s, c -> CachedAttention.Item in
                defer { row += c }
                return .init(sequence: s, row: row, count: c)
            }
            let out = Tensor.uninitialized([rows, qDim])
            try EngineSettings.with({ $0.activations = mode }) {
                try CachedAttention.run(
                    q: q, k: k, v: v, items: items, layer: 0, heads: heads, kvHeads: kvHeads, headDim: headDim,
                    scale: 0.3, window: window, out: out)
            }
            outs.append(out)
        }
        let qs = q.scalars(), ks = stored(k), vs = stored(v), got = outs[0].scalars(), rowPath = outs[1].scalars()
        var r0 = 0
        for (i, count) in counts.enumerated() {
            let own = cached.keys[i].count / kvDim
            let kr = cached.keys[i] + Array(ks[(r0 * kvDim)..<((r0 + count) * kvDim)])
            let vr = cached.values[i] + Array(vs[(r0 * kvDim)..<((r0 + count) * kvDim)])
            for r in 0..<count {
                let row = r0 + r, visible = own + r + 1
                let first = window.map { max(0, visible - $0) } ?? 0
                let reference = attentionReference(
                    qs: qs, row: row, keys: kr, values: vr, positions: first..<visible, heads: heads, group: group,
                    headDim: headDim, scale: 0.3)
                for h in 0..<heads {
                    for e in 0..<headDim {
                        let (want, mag) = reference[h][e]
                        let at = row * qDim + h * headDim + e
                        XCTAssertEqual(Double(got[at]), want, accuracy: 1e-5 * (mag + 1), "\(label) item \(i) row \(r) head \(h) value \(e)")
                        XCTAssertEqual(got[at], rowPath[at], accuracy: 2e-5 * Float(mag + 1), "\(label): against the row path")
                    }
                }
            }
            r0 += count
        }
    }
}
