import Foundation
#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel
#endif

/// Causal grouped-query attention of new query rows against a key/value cache, for inference
/// (no tape). One call serves a whole batch: several sequences, each with any number of new rows
/// (a prompt being prefilled, or one token being decoded), their rows stacked in one matrix.
///
/// For every item the call first stores its new keys and values in the item's `KVSequence` (as
/// pending positions; the caller commits them after the last layer), then computes, for each new
/// row at position p and each query head h reading KV head g = h / (heads / kvHeads),
/// `softmax(scale * q_h . K_g[lo...p]) V_g[lo...p]` over the sequence's shared prefixes and its own
/// positions, where lo = 0, or with a sliding `window` lo = max(0, p - window + 1) (the key at
/// position p0 is seen from p when p - p0 < window, as ggml's standard sliding-window mask). Each
/// decode row, for each KV head, reads each cached key once for all the query heads of its group,
/// and each value once per three of them (heads of 64 values without a window; the generic kernel
/// once per head); rows whose sequences share a cached prefix run one after another in one task per
/// KV head (`sharingPieces`). The result does not depend on how rows are grouped or tasks fall on
/// threads.
public enum CachedAttention {
    /// Rows `row ..< row + count` of the stacked matrices belong to `sequence`.
    public struct Item {
        public var sequence: KVSequence
        public var row: Int
        public var count: Int
        public init(sequence: KVSequence, row: Int, count: Int) {
            self.sequence = sequence
            self.row = row
            self.count = count
        }
    }

    /// - q: [rows, heads * headDim]; k, v: [rows, kvHeads * headDim] (f32, rotated already);
    ///   out: [rows, heads * headDim], written. `window`: nil (every earlier position) or positive.
    public static func run(
        q: Tensor, k: Tensor, v: Tensor, items: [Item], layer: Int, heads: Int, kvHeads: Int,
        headDim: Int, scale: Float, window: Int? = nil, out: Tensor
    ) throws {
        if let window, window <= 0 {
            throw TensorError.invalidShape(op: "attention", shape: [window], reason: "the sliding window must be positive")
        }
        let rows = q.shape.first ?? 0
        let qDim = heads * headDim, kvDim = kvHeads * headDim
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0, headDim > 0 else {
            throw TensorError.invalidShape(
                op: "attention", shape: [heads, kvHeads, headDim],
                reason: "heads must be a positive multiple of kvHeads")
        }
        for (t, name) in [(q, "q"), (out, "out")] where t.shape != [rows, qDim] || !t.isContiguous || t.dtype != .f32 {
            throw TensorError.invalidShape(op: "attention", shape: t.shape, reason: "\(name) must be contiguous f32 [\(rows), \(qDim)]")
        }
        for (t, name) in [(k, "k"), (v, "v")] where t.shape != [rows, kvDim] || !t.isContiguous || t.dtype != .f32 {
            throw TensorError.invalidShape(op: "attention", shape: t.shape, reason: "\(name) must be contiguous f32 [\(rows), \(kvDim)]")
        }
        var covered = 0
        for item in items {
            let s = item.sequence
            guard s.kvDim == kvDim, layer >= 0, layer < s.layers else {
                throw KVCacheError.invalid("sequence has kvDim \(s.kvDim) and \(s.layers) layers; attention needs kvDim \(kvDim), layer \(layer)")
            }
            guard item.row == covered, item.count > 0 else {
                throw KVCacheError.invalid("items must cover rows 0..<\(rows) in order, each with at least one row")
            }
            try s.reserve(item.count)
            guard s.pending == 0 || s.pending == item.count else {
                throw KVCacheError.invalid("a sequence's layers disagree on the pending rows (\(s.pending) vs \(item.count))")
            }
            covered += item.count
        }
        guard covered == rows else { throw KVCacheError.invalid("items cover \(covered) rows of \(rows)") }
        guard Set(items.map { ObjectIdentifier($0.sequence) }).count == items.count else {
            throw KVCacheError.invalid("a sequence appears twice in one batch")
        }

        let qp = q.floatPointer, kp = k.floatPointer, vp = v.floatPointer, op = out.floatPointer
        for item in items {
            for r in 0..<item.count {
                let row = item.row + r
                item.sequence.write(layer: layer, row: r, key: kp + row * kvDim, value: vp + row * kvDim)
            }
            item.sequence.pending = item.count
        }

        // Items with many new rows (prefill) take the matrix path; the others one task per
        // (row, KV head) over the stacked rows.
        let parts = items.map { $0.sequence.parts(layer: layer, extra: $0.count) }
        let type = items.first?.sequence.type ?? .f32
        let big = items.indices.filter { items[$0].count >= matrixRows }
        // With bf16 activations, items of a few new rows run as small blocked products: rows of
        // items below `rowsBelow` go row by row.
        let rowsBelow =
            EngineSettings.current.activations == .bf16 && blockRowsFrom > 0 && blockPathFits(headDim: headDim)
            ? min(blockRowsFrom, matrixRows) : matrixRows
        let blocked = items.indices.filter { items[$0].count >= rowsBelow && items[$0].count < matrixRows }
        var rowItem = [Int](repeating: -1, count: rows)
        for (i, item) in items.enumerated() where item.count < rowsBelow {
            for r in 0..<item.count { rowItem[item.row + r] = i }
        }
        let smallRows = (0..<rows).filter { rowItem[$0] >= 0 }
        let maxLength = items.map { $0.sequence.length + $0.count }.max() ?? 0
        let group = heads / kvHeads
        if !smallRows.isEmpty {
            let pieces = sharingPieces(smallRows, rowItem: rowItem, items: items, kvHeads: kvHeads)
            rowItem.withUnsafeBufferPointer { rowItem in
                ThreadPool.shared.parallelFor(pieces.count * kvHeads) { task in
                    let piece = pieces[task / kvHeads], g = task % kvHeads
                    let buffer = Workspace.shared.acquire(floats: group * maxLength + 16)
                    defer { Workspace.shared.release(buffer) }
                    for row in piece {
                        let item = items[rowItem[row]]
                        let visible = item.sequence.length + (row - item.row) + 1
                        let job = Job(
                            q: qp + row * qDim + g * group * headDim, out: op + row * qDim + g * group * headDim,
                            group: group, headDim: headDim, kvDim: kvDim, offset: g * headDim, scale: scale,
                            first: window.map { max(0, visible - $0) } ?? 0, visible: visible, scores: buffer.floats,
                            stride: maxLength)
                        switch type {
                        case .f32: job.run(parts[rowItem[row]], F32Row.self)
                        case .f16: job.run(parts[rowItem[row]], F16Row.self)
                        }
                    }
                }
            }
        }
        if !blocked.isEmpty {
            ThreadPool.shared.parallelFor(blocked.count * kvHeads) { task in
                let i = blocked[task / kvHeads]
                blockPath(
                    items[i], parts: parts[i], g: task % kvHeads, q: qp, out: op, heads: heads, kvHeads: kvHeads,
                    headDim: headDim, scale: scale, window: window, type: type)
            }
        }
        for i in big {
            matrixPath(
                items[i], parts: parts[i], q: qp, out: op, heads: heads, kvHeads: kvHeads, headDim: headDim,
                scale: scale, window: window, type: type)
        }
    }

    /// The decode rows as pieces that run one after another on one thread, per KV head: rows
    /// whose sequences share their first cached block go together (the k samples of one prompt,
    /// and the response orders of one judge prompt, which fork its instructions), ordered so that
    /// rows sharing more blocks are next to each other. A piece's shared positions come from memory
    /// once and from the core's L2 cache for its other rows (a 600-position prompt is 300 KB per
    /// layer and KV head in f32, and read from memory per row it cost more than the weights: 8
    /// samples read 220 MB per step). A large group is cut into pieces so that there are about two
    /// tasks per thread. Each row's arithmetic is the same whatever piece it is in.
    static func sharingPieces(_ rows: [Int], rowItem: [Int], items: [Item], kvHeads: Int) -> [[Int]] {
        // Blocks numbered by first appearance, so that the pieces are the same every run.
        var number: [ObjectIdentifier: Int] = [:]
        var chains: [Int: [Int]] = [:]
        var roots: [Int] = [], members: [Int: [Int]] = [:]
        for row in rows {
            let s = items[rowItem[row]].sequence
            // A sequence with no shared prefix shares nothing: its own group.
            let blocks = s.prefix.isEmpty ? [ObjectIdentifier(s)] : s.prefix.map { ObjectIdentifier($0.block) }
            let chain = blocks.map { id in
                if let n = number[id] { return n }
                number[id] = number.count
                return number.count - 1
            }
            chains[row] = chain
            if members[chain[0]] == nil { roots.append(chain[0]) }
            members[chain[0], default: []].append(row)
        }
        let target = 2 * ThreadPool.shared.threadCount
        let size = max(1, (rows.count * kvHeads + target - 1) / target)
        var pieces: [[Int]] = []
        for root in roots {
            let m = members[root]!.sorted { a, b in
                let ca = chains[a]!, cb = chains[b]!
                return ca == cb ? a < b : ca.lexicographicallyPrecedes(cb)
            }
            let n = (m.count + size - 1) / size
            for p in 0..<n { pieces.append(Array(m[(m.count * p / n)..<(m.count * (p + 1) / n)])) }
        }
        return pieces
    }

    /// New rows from which an item's attention runs as matrix products (scores of a block of rows
    /// against all its keys by GEMM, masked softmax, then GEMM with the values).
    /// (`EngineSettings.current.attentionMatrixRows`)
    static var matrixRows: Int { EngineSettings.current.attentionMatrixRows }
    static let blockRows = 64

    static func matrixPath(
        _ item: Item, parts: [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)],
        q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, heads: Int, kvHeads: Int,
        headDim: Int, scale: Float, window: Int?, type: KVCacheType
    ) {
        let kvDim = kvHeads * headDim, qDim = heads * headDim
        let start = item.sequence.length, total = start + item.count
        // Keys and values as one f32 matrix each: the cache itself when it is one f32 part.
        var gathered: (Workspace.Buffer, Workspace.Buffer)?
        let keys: UnsafePointer<Float>, values: UnsafePointer<Float>
        if parts.count == 1, type == .f32 {
            keys = parts[0].keys.assumingMemoryBound(to: Float.self)
            values = parts[0].values.assumingMemoryBound(to: Float.self)
        } else {
            let kb = Workspace.shared.acquire(floats: total * kvDim + 16), vb = Workspace.shared.acquire(floats: total * kvDim + 16)
            var base = 0
            for part in parts {
                let n = part.count * kvDim
                switch type {
                case .f32:
                    (kb.floats + base).update(from: part.keys.assumingMemoryBound(to: Float.self), count: n)
                    (vb.floats + base).update(from: part.values.assumingMemoryBound(to: Float.self), count: n)
                case .f16:
                    Half.toFloat(part.keys.assumingMemoryBound(to: UInt16.self), kb.floats + base, count: n)
                    Half.toFloat(part.values.assumingMemoryBound(to: UInt16.self), vb.floats + base, count: n)
                }
                base += n
            }
            gathered = (kb, vb)
            keys = UnsafePointer(kb.floats)
            values = UnsafePointer(vb.floats)
        }
        defer {
            if let (kb, vb) = gathered {
                Workspace.shared.release(kb)
                Workspace.shared.release(vb)
            }
        }
        let blocks = (item.count + blockRows - 1) / blockRows
        let group = heads / kvHeads
        // With bf16 activations the two products run on AMX bf16 tiles (GEMMBF16.swift).
        #if arch(x86_64) && GRM_AMX
        let tiles = EngineSettings.current.activations == .bf16 && QuantMatmul.hasBF16Tiles
        #else
        let tiles = false
        #endif
        @inline(__always) func product(
            transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
            ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
        ) {
            #if arch(x86_64) && GRM_AMX
            if tiles {
                return GEMM.bf16Tiles(
                    transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
            }
            #endif
            GEMM.ownSgemm(
                transA: false, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: 0,
                c: c, ldc: ldc)
        }
        // Tasks (head, block of rows); GEMMs inside run on the task's thread.
        ThreadPool.shared.parallelFor(heads * blocks) { task in
            let h = task / blocks, b = task % blocks, g = h / group
            let r0 = b * blockRows, r1 = min(item.count, r0 + blockRows), rb = r1 - r0
            let columns = start + r1
            let buffer = Workspace.shared.acquire(floats: rb * columns + 16)
            defer { Workspace.shared.release(buffer) }
            let scores = buffer.floats
            let rowsQ = q + (item.row + r0) * qDim + h * headDim
            product(
                transB: true, m: rb, n: columns, k: headDim, alpha: scale, a: rowsQ, lda: qDim, b: keys + g * headDim,
                ldb: kvDim, c: scores, ldc: columns)
            for i in 0..<rb {
                let visible = start + r0 + i + 1
                let first = window.map { max(0, visible - $0) } ?? 0
                let row = scores + i * columns
                Softmax.row(row + first, row + first, count: visible - first)
                row.update(repeating: 0, count: first)
                if visible < columns { (row + visible).update(repeating: 0, count: columns - visible) }
            }
            product(
                transB: false, m: rb, n: headDim, k: columns, alpha: 1, a: scores, lda: columns, b: values + g * headDim,
                ldb: kvDim, c: out + (item.row + r0) * qDim + h * headDim, ldc: qDim)
        }
    }

    /// One (row, KV head) task: `group` query heads at `q` (consecutive, headDim apart).
    struct Job {
        let q: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let group, headDim, kvDim, offset: Int
        let scale: Float
        /// Positions first..<visible are attended (first > 0 only with a sliding window).
        let first: Int
        let visible: Int
        let scores: UnsafeMutablePointer<Float>
        let stride: Int

        @inline(__always) func run<E: KVRow>(_ parts: [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)], _: E.Type) {
            #if arch(x86_64) && GRM_AVX2
            if headDim == 64 && first == 0 && KernelISA.level >= .avx2 { return run64(parts, E.self) }
            #endif
            // Scores, part by part, over the attended positions.
            var base = 0
            for part in parts where base < visible {
                let n = min(part.count, visible - base)
                for j in min(n, max(0, first - base))..<n {
                    let key = part.keys + ((j * kvDim) + offset) * E.bytes
                    for h in 0..<group {
                        scores[h * stride + base + j] = scale * E.dot(q + h * headDim, key, headDim)
                    }
                }
                base += n
            }
            for h in 0..<group {
                Softmax.row(scores + h * stride + first, scores + h * stride + first, count: visible - first)
                (out + h * headDim).update(repeating: 0, count: headDim)
            }
            base = 0
            for part in parts where base < visible {
                let n = min(part.count, visible - base)
                for j in min(n, max(0, first - base))..<n {
                    let value = part.values + ((j * kvDim) + offset) * E.bytes
                    for h in 0..<group {
                        E.axpy(scores[h * stride + base + j], value, out + h * headDim, headDim)
                    }
                }
                base += n
            }
        }
    }
}

#if arch(x86_64) && GRM_AVX2
extension CachedAttention.Job {
    typealias V8 = SIMD8<Float>

    /// Heads of 64 values (SmolLM2, Llama 3.2 1B, Qwen2 0.5B). The group's query heads share
    /// every read of the cache: scores are taken four keys at a time for each head in turn (the
    /// four keys, 1 KB in f32, stay in L1 for the group's heads instead of streaming from L2 once
    /// per head), and values are accumulated for up to three heads at once, a quarter of a head (16
    /// values, six register accumulators) per pass. Per head the arithmetic is the same as one head at a
    /// time: its query in eight registers, four FMA chains per key summed by one horizontal-add
    /// tree, and the output accumulated in position order.
    @inline(__always) func run64<E: KVRow>(_ parts: [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)], _: E.Type) {
        var base = 0
        #if GRM_AVX512
        let wide = KernelISA.level >= .avx512
        #endif
        for part in parts where base < visible {
            let n = min(part.count, visible - base)
            let row = kvDim * E.bytes, first = part.keys + offset * E.bytes
            var j = 0
            while j + 4 <= n {
                let k = first + j * row
                #if GRM_AVX512
                if wide {
                    scores4Wide(k, row: row, E.self, at: base + j)
                    j += 4
                    continue
                }
                #endif
                for h in 0..<group {
                    let qh = Query64(q + h * headDim)
                    let t0 = _mm256_hadd_ps(m(qh.dot(k, E.self)), m(qh.dot(k + row, E.self)))
                    let t1 = _mm256_hadd_ps(m(qh.dot(k + 2 * row, E.self)), m(qh.dot(k + 3 * row, E.self)))
                    let u = unsafeBitCast(_mm256_hadd_ps(t0, t1), to: V8.self)
                    UnsafeMutableRawPointer(scores + h * stride + base + j)
                        .storeBytes(of: (u.lowHalf + u.highHalf) * scale, as: SIMD4<Float>.self)
                }
                j += 4
            }
            while j < n {
                for h in 0..<group { scores[h * stride + base + j] = scale * Query64(q + h * headDim).dot(first + j * row, E.self).sum() }
                j += 1
            }
            base += n
        }
        for h in 0..<group { Softmax.row(scores + h * stride, scores + h * stride, count: visible) }
        var h0 = 0
        while h0 < group {
            let heads = min(3, group - h0)
            #if GRM_AVX512
            if KernelISA.level >= .avx512 {
                values64(parts, E.self, h0, heads)
                h0 += heads
                continue
            }
            #endif
            for d0 in Swift.stride(from: 0, to: 64, by: 16) { values16(parts, E.self, h0, heads, d0) }
            h0 += heads
        }
    }

    #if GRM_AVX512
    /// `values16` for all 64 values at once, on AVX-512's 32 registers (twelve accumulators of 16):
    /// each value row is read once, in order, rather than a quarter per pass. Per element the same
    /// FMAs in the same order, so the same bits.
    @inline(__always) func values64<E: KVRow>(
        _ parts: [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)],
        _: E.Type, _ h0: Int, _ heads: Int
    ) {
        @inline(__always) func fma16(_ a: __m512, _ b: Vec, _ c: __m512) -> __m512 {
            _mm512_fmadd_ps(a, unsafeBitCast(b, to: __m512.self), c)
        }
        let z = _mm512_setzero_ps()
        var a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z, c0 = z, c1 = z, c2 = z, c3 = z
        let s0 = scores + h0 * stride, s1 = s0 + stride, s2 = s1 + stride
        var base = 0
        for part in parts where base < visible {
            let n = min(part.count, visible - base)
            let row = kvDim * E.bytes
            var v = part.values + offset * E.bytes
            for j in base..<(base + n) {
                let v0 = E.load(v, 0), v1 = E.load(v, 16), v2 = E.load(v, 32), v3 = E.load(v, 48)
                // One head's four accumulators take its score times the row's 64 values.
                @inline(__always) func add(_ score: Float, _ x0: inout __m512, _ x1: inout __m512, _ x2: inout __m512, _ x3: inout __m512) {
                    let p = _mm512_set1_ps(score)
                    x0 = fma16(p, v0, x0)
                    x1 = fma16(p, v1, x1)
                    x2 = fma16(p, v2, x2)
                    x3 = fma16(p, v3, x3)
                }
                add(s0[j], &a0, &a1, &a2, &a3)
                if heads > 1 { add(s1[j], &b0, &b1, &b2, &b3) }
                if heads > 2 { add(s2[j], &c0, &c1, &c2, &c3) }
                v += row
            }
            base += n
        }
        @inline(__always) func store(_ h: Int, _ x0: __m512, _ x1: __m512, _ x2: __m512, _ x3: __m512) {
            let o = out + (h0 + h) * headDim
            _mm512_storeu_ps(o, x0)
            _mm512_storeu_ps(o + 16, x1)
            _mm512_storeu_ps(o + 32, x2)
            _mm512_storeu_ps(o + 48, x3)
        }
        store(0, a0, a1, a2, a3)
        if heads > 1 { store(1, b0, b1, b2, b3) }
        if heads > 2 { store(2, c0, c1, c2, c3) }
    }
    #endif

    /// One head's query of 64 values in eight registers.
    struct Query64 {
        let q0, q1, q2, q3, q4, q5, q6, q7: V8
        @inline(__always) init(_ qh: UnsafePointer<Float>) {
            @inline(__always) func load(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
            q0 = load(qh)
            q1 = load(qh + 8)
            q2 = load(qh + 16)
            q3 = load(qh + 24)
            q4 = load(qh + 32)
            q5 = load(qh + 40)
            q6 = load(qh + 48)
            q7 = load(qh + 56)
        }
        /// The dot product with a key, as 8 lanes: two chains of four FMAs, summed.
        @inline(__always) func dot<E: KVRow>(_ k: UnsafeRawPointer, _: E.Type) -> V8 {
            let a = fma(q3, E.load8(k, 24), fma(q2, E.load8(k, 16), fma(q1, E.load8(k, 8), q0 * E.load8(k, 0))))
            let b = fma(q7, E.load8(k, 56), fma(q6, E.load8(k, 48), fma(q5, E.load8(k, 40), q4 * E.load8(k, 32))))
            return a + b
        }
    }

    /// Output values d0..<d0+16 of heads h0..<h0+heads (heads <= 3): sum over positions of
    /// probability times value, FMAs in position order, each value row read once for the heads.
    /// Six accumulators: with 32 values (twelve) the accumulators, the value vectors and the
    /// probabilities did not fit AVX2's sixteen registers and the loop spilled accumulators to the
    /// stack every position. The quarters after the first read the values from L1 or L2.
    @inline(__always) func values16<E: KVRow>(
        _ parts: [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)],
        _: E.Type, _ h0: Int, _ heads: Int, _ d0: Int
    ) {
        var a0 = V8(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0
        let s0 = scores + h0 * stride, s1 = s0 + stride, s2 = s1 + stride
        var base = 0
        for part in parts where base < visible {
            let n = min(part.count, visible - base)
            let row = kvDim * E.bytes
            var v = part.values + (offset + d0) * E.bytes
            for j in base..<(base + n) {
                let v0 = E.load8(v, 0), v1 = E.load8(v, 8)
                let p = V8(repeating: s0[j])
                a0 = fma(p, v0, a0)
                a1 = fma(p, v1, a1)
                if heads > 1 {
                    let p = V8(repeating: s1[j])
                    b0 = fma(p, v0, b0)
                    b1 = fma(p, v1, b1)
                }
                if heads > 2 {
                    let p = V8(repeating: s2[j])
                    c0 = fma(p, v0, c0)
                    c1 = fma(p, v1, c1)
                }
                v += row
            }
            base += n
        }
        @inline(__always) func store(_ h: Int, _ x0: V8, _ x1: V8) {
            let o = UnsafeMutableRawPointer(out + (h0 + h) * headDim + d0)
            o.storeBytes(of: x0, as: V8.self)
            o.storeBytes(of: x1, toByteOffset: 32, as: V8.self)
        }
        store(0, a0, a1)
        if heads > 1 { store(1, b0, b1) }
        if heads > 2 { store(2, c0, c1) }
    }

    @inline(__always) func m(_ v: V8) -> __m256 { unsafeBitCast(v, to: __m256.self) }
}

/// a * b + c with one rounding (`c.addingProduct(a, b)`), as one `vfmadd` (see `AVX2Q.fma`).
@inline(__always) private func fma(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> { AVX2Q.fma(a, b, c) }
#endif

/// How attention reads a cached row of f32 or f16 values.
protocol KVRow {
    static var bytes: Int { get }
    static func load(_ p: UnsafeRawPointer, _ i: Int) -> Vec
    static func load(_ p: UnsafeRawPointer, _ i: Int, count: Int) -> Vec
    /// Eight values from index i (the 64-wide kernel's vectors, whatever the build's `Vec`).
    static func load8(_ p: UnsafeRawPointer, _ i: Int) -> SIMD8<Float>
}

extension KVRow {
    /// sum q[i] * row[i] for i < n.
    @inline(__always) static func dot(_ q: UnsafePointer<Float>, _ row: UnsafeRawPointer, _ n: Int) -> Float {
        let w = Vec.scalarCount
        var a0 = Vec(), a1 = Vec()
        var i = 0
        while i + 2 * w <= n {
            a0 = a0.addingProduct(UnsafeRawPointer(q + i).loadUnaligned(as: Vec.self), load(row, i))
            a1 = a1.addingProduct(UnsafeRawPointer(q + i + w).loadUnaligned(as: Vec.self), load(row, i + w))
            i += 2 * w
        }
        while i < n {
            let c = min(w, n - i)
            a0 = a0.addingProduct(VectorMath.load(q + i, stride: 1, count: c), load(row, i, count: c))
            i += c
        }
        return VectorMath.sum(a0 + a1)
    }

    /// out[i] += a * row[i] for i < n.
    @inline(__always) static func axpy(_ a: Float, _ row: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        let w = Vec.scalarCount
        var i = 0
        while i + w <= n {
            let o = UnsafeRawPointer(out + i).loadUnaligned(as: Vec.self).addingProduct(Vec(repeating: a), load(row, i))
            UnsafeMutableRawPointer(out + i).storeBytes(of: o, as: Vec.self)
            i += w
        }
        while i < n {
            out[i] += a * load(row, i, count: 1)[0]
            i += 1
        }
    }
}

enum F32Row: KVRow {
    static var bytes: Int { 4 }
    @inline(__always) static func load(_ p: UnsafeRawPointer, _ i: Int) -> Vec {
        (p + 4 * i).loadUnaligned(as: Vec.self)
    }
    @inline(__always) static func load(_ p: UnsafeRawPointer, _ i: Int, count: Int) -> Vec {
        VectorMath.load(p.assumingMemoryBound(to: Float.self) + i, stride: 1, count: count)
    }
    @inline(__always) static func load8(_ p: UnsafeRawPointer, _ i: Int) -> SIMD8<Float> {
        (p + 4 * i).loadUnaligned(as: SIMD8<Float>.self)
    }
}

enum F16Row: KVRow {
    static var bytes: Int { 2 }
    @inline(__always) static func load(_ p: UnsafeRawPointer, _ i: Int) -> Vec {
        Half.load(p + 2 * i)
    }
    @inline(__always) static func load(_ p: UnsafeRawPointer, _ i: Int, count: Int) -> Vec {
        var v = Vec()
        let h = p.assumingMemoryBound(to: UInt16.self) + i
        for l in 0..<count { v[l] = Half.toFloat(h[l]) }
        return v
    }
    @inline(__always) static func load8(_ p: UnsafeRawPointer, _ i: Int) -> SIMD8<Float> {
        #if arch(x86_64) && GRM_AVX2
        unsafeBitCast(_mm256_cvtph_ps((p + 2 * i).loadUnaligned(as: __m128i.self)), to: SIMD8<Float>.self)
        #else
        SIMD8<Float>((p + 2 * i).loadUnaligned(as: SIMD8<Float16>.self))
        #endif
    }
}
