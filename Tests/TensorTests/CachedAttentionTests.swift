import XCTest
@testable import Tensor

/// Decode-time attention against a cache (`CachedAttention.run`) against a naive reference in
/// Double, for the head sizes with their own kernel (64) and the generic one, every group size the
/// supported models have (1-7 query heads per KV head: the 64-value kernel takes them three at a
/// time), f32 and f16 caches, sequences forked from a shared prefix with tails of their own.
/// (The 64-value kernel is the AVX2 path's, `KernelISA.level` avx2 and up; the generic path runs
/// the generic one for both sizes.)
final class CachedAttentionTests: XCTestCase {
    /// The same checks with the kernels held to each path (skipped by name where not available).
    func testDecodeRowsOnGenericPath() throws { try onKernelPath(.generic) { try testDecodeRowsAgainstReference() } }
    func testDecodeRowsOnAVX2Path() throws { try onKernelPath(.avx2) { try testDecodeRowsAgainstReference() } }

    func testDecodeRowsAgainstReference() throws {
        let kvHeads = 2
        for headDim in [64, 24] {
            for group in [1, 2, 3, 4, 7] {
                for type in KVCacheType.allCases {
                    try check(headDim: headDim, group: group, kvHeads: kvHeads, type: type)
                }
            }
        }
    }

    func check(headDim: Int, group: Int, kvHeads: Int, type: KVCacheType) throws {
        let heads = group * kvHeads, qDim = heads * headDim, kvDim = kvHeads * headDim
        let layers = 2, layer = 1, prefix = 37
        let label = "headDim \(headDim) group \(group) \(type)"
        func stored(_ t: Tensor) -> [Float] { cachedScalars(t, type) }
        var seed: UInt64 = UInt64(headDim * 100 + group * 10) + (type == .f32 ? 0 : 1)
        func next() -> UInt64 {
            seed += 1
            return seed
        }
        // Appends `rows` random positions (on both layers) to `s` through the attention call itself.
        func append(_ s: KVSequence, rows: Int) throws -> (keys: [Float], values: [Float]) {
            let k = randomTensor([rows, kvDim], seed: next()), v = randomTensor([rows, kvDim], seed: next())
            let q = randomTensor([rows, qDim], seed: next()), out = Tensor.uninitialized([rows, qDim])
            for l in 0..<layers {
                try CachedAttention.run(
                    q: q, k: k, v: v, items: [.init(sequence: s, row: 0, count: rows)], layer: l,
                    heads: heads, kvHeads: kvHeads, headDim: headDim, scale: 0.3, out: out)
            }
            s.commit(rows)
            return (stored(k), stored(v))
        }
        let root = try KVSequence(layers: layers, kvDim: kvDim, context: 512, capacity: prefix, type: type)
        let shared = try append(root, rows: prefix)
        // Three forks with 0, 5 and 9 positions of their own, then one new row each, in one call.
        var keys: [[Float]] = [], values: [[Float]] = []
        var seqs: [KVSequence] = []
        for own in [0, 5, 9] {
            let s = try root.fork(capacity: own + 1)
            var k = shared.keys, v = shared.values
            if own > 0 {
                let t = try append(s, rows: own)
                k += t.keys
                v += t.values
            }
            seqs.append(s)
            keys.append(k)
            values.append(v)
        }
        let rows = seqs.count
        let q = randomTensor([rows, qDim], seed: next())
        let k = randomTensor([rows, kvDim], seed: next()), v = randomTensor([rows, kvDim], seed: next())
        let out = Tensor.uninitialized([rows, qDim])
        let items = seqs.enumerated().map { CachedAttention.Item(sequence: $0.element, row: $0.offset, count: 1) }
        try CachedAttention.run(
            q: q, k: k, v: v, items: items, layer: layer, heads: heads, kvHeads: kvHeads,
            headDim: headDim, scale: 0.3, out: out)
        let qs = q.scalars(), ks = stored(k), vs = stored(v), got = out.scalars()
        for r in 0..<rows {
            let kr = keys[r] + Array(ks[(r * kvDim)..<((r + 1) * kvDim)])
            let vr = values[r] + Array(vs[(r * kvDim)..<((r + 1) * kvDim)])
            let reference = attentionReference(
                qs: qs, row: r, keys: kr, values: vr, positions: 0..<(kr.count / kvDim), heads: heads, group: group,
                headDim: headDim, scale: 0.3)
            for h in 0..<heads {
                for i in 0..<headDim {
                    let (want, mag) = reference[h][i]
                    let e = Double(got[r * qDim + h * headDim + i])
                    XCTAssertEqual(e, want, accuracy: 1e-5 * (mag + 1), "\(label) row \(r) head \(h) value \(i)")
                }
            }
        }
        // The same rows, one call each: the bits of the batched call.
        for (r, s) in seqs.enumerated() {
            let one = Tensor.uninitialized([1, qDim])
            try CachedAttention.run(
                q: try q.sliced(axis: 0, r..<(r + 1)).contiguous(),
                k: try k.sliced(axis: 0, r..<(r + 1)).contiguous(),
                v: try v.sliced(axis: 0, r..<(r + 1)).contiguous(),
                items: [.init(sequence: s, row: 0, count: 1)], layer: layer, heads: heads,
                kvHeads: kvHeads, headDim: headDim, scale: 0.3, out: one)
            XCTAssertEqual(
                one.scalars().map(\.bitPattern), Array(got[(r * qDim)..<((r + 1) * qDim)]).map(\.bitPattern),
                "\(label) row \(r) alone")
        }
        // The AVX2 path's 64-value kernel (values in four passes of 16) gives the bits of the
        // AVX-512 one (one pass), where the build and the CPU have both.
        if KernelISA.level >= .avx512 && headDim == 64 {
            let narrow = Tensor.uninitialized([rows, qDim])
            try EngineSettings.with({ $0.isa = .avx2 }) {
                try CachedAttention.run(
                    q: q, k: k, v: v, items: items, layer: layer, heads: heads, kvHeads: kvHeads,
                    headDim: headDim, scale: 0.3, out: narrow)
            }
            XCTAssertEqual(narrow.scalars().map(\.bitPattern), got.map(\.bitPattern), "\(label): AVX2 path")
        }
    }

    /// Decode rows are grouped by the first cached block their sequences share (each group's
    /// prefix is then read once per piece): samples of one prompt and samples of a second prompt
    /// that forked the first at a common prefix (another response order of a judge prompt) in one
    /// group, each prompt's samples next to each other; sequences without a shared prefix alone; a
    /// group larger than the piece size is cut; every row is in exactly one piece.
    func testDecodeRowsGroupedBySharedPrefix() throws {
        let kvHeads = 3
        let a = try KVSequence(layers: 1, kvDim: 8, context: 64)
        a.commit(10)
        let b = try a.fork(at: 6)
        b.commit(4)
        let lone = try KVSequence(layers: 1, kvDim: 8, context: 64)
        lone.commit(3)
        // Rows: a-samples 0, 2, 4 (row 4 is an item of two rows: 4, 5), b-samples 1, 3, the lone one 6.
        let seqs = [try a.fork(), try b.fork(), try a.fork(), try b.fork(), try a.fork(), lone]
        var items: [CachedAttention.Item] = [], rowItem: [Int] = []
        for (i, s) in seqs.enumerated() {
            let count = i == 4 ? 2 : 1
            items.append(.init(sequence: s, row: rowItem.count, count: count))
            rowItem += Array(repeating: i, count: count)
        }
        let rows = Array(0..<rowItem.count)
        let pieces = CachedAttention.sharingPieces(rows, rowItem: rowItem, items: items, kvHeads: kvHeads)
        XCTAssertEqual(pieces.flatMap { $0 }.sorted(), rows, "every row once")
        let groupOf = [0: "a", 2: "a", 4: "a", 5: "a", 1: "a", 3: "a", 6: "lone"]
        for p in pieces { XCTAssertEqual(Set(p.map { groupOf[$0]! }).count, 1, "piece \(p) mixes groups") }
        // Within the group, a's samples first (their chain [a] precedes b's [a, b]), each in row order.
        XCTAssertEqual(pieces.filter { groupOf[$0[0]] == "a" }.flatMap { $0 }, [0, 2, 4, 5, 1, 3])
        // Pieces of at most ceil(rows * kvHeads / (2 * threads)) rows, groups cut into equal pieces
        // (2 threads: 6, the group whole; 4 threads: 3, the group in two pieces of three).
        let size = max(1, (rows.count * kvHeads + 2 * ThreadPool.shared.threadCount - 1) / (2 * ThreadPool.shared.threadCount))
        let aPieces = pieces.filter { groupOf[$0[0]] == "a" }
        XCTAssertEqual(aPieces.count, (6 + size - 1) / size)
        XCTAssertTrue(pieces.allSatisfy { $0.count <= size })
        XCTAssertEqual(pieces.filter { groupOf[$0[0]] == "lone" }, [[6]])
    }
}
