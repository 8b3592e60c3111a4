import Foundation

/// Products with a weight of any element type: `Y[m, n] = X[m, k] * W^T`, W stored as n rows of k
/// values of type f32, f16, bf16 or one of ggml's block types (a GGUF weight `{k, n}`).
///
/// Activations stay f32 (the exact path: no activation rounding, as reward scores need; the
/// int8-activation path of QuantMatmulQ8.swift is opt-in). The weight is never dequantised as a
/// whole:
/// - m <= 16 (decoding) with Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K or Q6_K: the fused kernels
///   (QuantMatmulFused*.swift) unpack each block's integer levels in registers and dot them with
///   up to 8 activation rows at a time (9-16 rows: two chunks); no f32 weight is written.
/// - m <= 8 with other types (f16, bf16, Q2_K, Q3_K), or with `useFused` off: tasks take groups
///   of W rows; each group (4-8 rows, L1/L2-resident) is decoded and immediately dotted with the
///   m activation rows by GEMM's unpacked small-M kernels.
/// - otherwise (prefill, compute-bound): GEMM's packed path, with W decoded straight into its
///   packed B panels (`packedDecode`).
///
/// Decoding (`decode`: AVX2 in QuantAVX2.swift, portable loops otherwise) is bit-for-bit ggml's
/// reference dequantisation (Quant/Dequantize.swift), and the f32 kernels compute every element
/// of Y the same way whatever panel, group or task it falls in, so outside the fused kernels the
/// result is bit-identical to dequantising W and calling `GEMM.ownSgemm(transB: true)`. Every
/// path gives the same result for every thread count, a row of X gives the same result alone
/// as within any batch of the same path, and a weight gives the same result alone as within a
/// grouped product (`linear(_:m:k:x:ldx:parts:)`: several weights of one type and K in one pass).
///
/// Figures for each path are in docs/performance.md.
public enum QuantMatmul {
    /// `y[i * ldy + j] = sum_p x[i * ldx + p] * W[j, p]` for i < m, j < n. `w` points at W's first
    /// row; rows are `type.byteCount(elements: k)` bytes apart (contiguous). k must be a multiple
    /// of `type.blockElements`.
    public static func linear(
        _ type: DType, m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
        w: UnsafeRawPointer, y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        linear(type, m: m, k: k, x: x, ldx: ldx, parts: [Part(w: w, n: n, y: y, ldy: ldy)])
    }

    /// One weight of a grouped product: W's n rows from `w` (contiguous, as in `linear`), its
    /// results `y[i * ldy + j]`.
    public struct Part {
        public let w: UnsafeRawPointer, n: Int
        public let y: UnsafeMutablePointer<Float>, ldy: Int
        /// W's int8 panels (`Tensor.q8Panels`), when the caller has them.
        public let panels: UnsafeRawPointer?
        /// W's block scales as f32 (`Tensor.fusedScales`), when the caller has them.
        public let scales: UnsafeRawPointer?
        /// W's bf16 panels (`Tensor.bf16Panels`), when the caller has them.
        public let bf16: UnsafeRawPointer?
        public init(
            w: UnsafeRawPointer, n: Int, y: UnsafeMutablePointer<Float>, ldy: Int, panels: UnsafeRawPointer? = nil,
            scales: UnsafeRawPointer? = nil, bf16: UnsafeRawPointer? = nil
        ) {
            self.w = w
            self.n = n
            self.y = y
            self.ldy = ldy
            self.panels = panels
            self.scales = scales
            self.bf16 = bf16
        }
    }

    /// The products of one X with several weights of the same type and K (a layer's q, k and v
    /// projections, or its gate and up): on the fused and int8 paths (up to 16 or `q8MaxRows`
    /// rows) the activations are prepared once (block sums, or int8 levels) and the weights' rows
    /// are split over the threads as one range, so a step pays one parallel region instead of one
    /// per weight, and small weights (k and v are 192 rows) do not leave a thread idle. Each
    /// element is computed exactly as `linear` computes it alone; other paths run the parts one
    /// after another.
    public static func linear(_ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, parts: [Part]) {
        precondition(m >= 0 && k >= 0 && type != .i32 && parts.allSatisfy { $0.n >= 0 }, "QuantMatmul: bad arguments")
        precondition(k % type.blockElements == 0, "QuantMatmul: k = \(k) is not a multiple of \(type)'s block")
        let parts = parts.filter { $0.n > 0 }
        if m == 0 || parts.isEmpty { return }
        switch path(type, m: m, k: k, panels: parts.allSatisfy { $0.panels != nil }) {
        case .f32GEMM:
            for p in parts {
                GEMM.sgemm(
                    transA: false, transB: true, m: m, n: p.n, k: k, a: x, lda: ldx,
                    b: p.w.assumingMemoryBound(to: Float.self), ldb: k, c: p.y, ldc: p.ldy)
            }
        case .zero:
            for p in parts { for i in 0..<m { (p.y + i * p.ldy).update(repeating: 0, count: p.n) } }
        case .bf16Tiles:
            #if arch(x86_64) && GRM_AMX
            bf16Tiles(type, m: m, k: k, x: x, ldx: ldx, parts: parts)
            #else
            preconditionFailure("linear: no bf16 tiles in this build")
            #endif
        case .q8Panels:
            #if arch(x86_64) && GRM_AVX512VNNI
            q8Panels(type, m: m, k: k, x: x, ldx: ldx, parts: parts, panels: parts.map { $0.panels! })
            #else
            preconditionFailure("linear: no int8 panels in this build")
            #endif
        case .q8Rows:
            #if arch(x86_64) && GRM_AVX2
            q8Linear(type, m: m, k: k, x: x, ldx: ldx, parts: parts)
            #else
            preconditionFailure("linear: no int8 kernels in this build")
            #endif
        case .q8GEMM:
            #if arch(x86_64) && GRM_AVX512VNNI
            q8GEMM(type, m: m, k: k, x: x, ldx: ldx, parts: parts)
            #else
            preconditionFailure("linear: no int8 GEMM in this build")
            #endif
        case .fused:
            // Up to `fusedChunkMaxRows` rows: the fused kernels on near-equal chunks of at most
            // `fusedMaxRows` rows (each chunk reads W again; each row's values are those it gets alone).
            let chunks = GEMM.ceilDiv(m, fusedMaxRows)
            for c in 0..<chunks {
                let i0 = m * c / chunks, rows = m * (c + 1) / chunks - i0
                fused(
                    type, m: rows, k: k, x: x + i0 * ldx, ldx: ldx,
                    parts: parts.map { Part(w: $0.w, n: $0.n, y: $0.y + i0 * $0.ldy, ldy: $0.ldy, scales: $0.scales) })
            }
        case .small:
            for p in parts {
                if KernelISA.level >= .avx512 {
                    small(SIMD16<Float>.self, type, m: m, n: p.n, k: k, x: x, ldx: ldx, w: p.w, y: p.y, ldy: p.ldy)
                } else {
                    small(SIMD8<Float>.self, type, m: m, n: p.n, k: k, x: x, ldx: ldx, w: p.w, y: p.y, ldy: p.ldy)
                }
            }
        case .packed:
            for p in parts { packedDecode(type, m: m, n: p.n, k: k, x: x, ldx: ldx, w: p.w, y: p.y, ldy: p.ldy) }
        }
    }

    /// The kernel family `linear` runs (`path`).
    enum Path {
        case f32GEMM, zero, bf16Tiles, q8Panels, q8Rows, q8GEMM, fused, small, packed

        var rounding: Rounding {
            switch self {
            case .bf16Tiles: .bf16
            case .q8Panels, .q8Rows, .q8GEMM: .int8
            default: .none
            }
        }
    }

    /// The path `linear` takes for m rows of K = k with a weight of `type` (`panels`: every part
    /// has its int8 panels). The one place that decides; `rounding` reads it too.
    static func path(_ type: DType, m: Int, k: Int, panels: Bool) -> Path {
        if type == .f32 { return .f32GEMM }
        if k == 0 { return .zero }
        let settings = EngineSettings.current
        #if arch(x86_64) && GRM_AMX
        if settings.activations == .bf16 && usesBF16Tiles(m: m) { return .bf16Tiles }
        #endif
        #if arch(x86_64) && GRM_AVX2
        if settings.activations.roundsToInt8 && settings.fusedKernels && hasQ8Kernel(type) {
            #if GRM_AVX512VNNI
            if usesQ8Panels(type) && panels { return .q8Panels }
            #endif
            if m <= settings.q8MaxRows { return .q8Rows }
            #if GRM_AVX512VNNI
            if settings.q8GEMM && KernelISA.level >= .avx512vnni { return .q8GEMM }
            #endif
        }
        #endif
        if m <= settings.fusedChunkMaxRows && settings.fusedKernels && hasFusedKernel(type) { return .fused }
        return m <= GEMM.smallRows ? .small : .packed
    }

    /// How a product rounds its activations on the path `linear` takes.
    public enum Rounding: Sendable {
        /// f32 activations (fused kernels, packed GEMM).
        case none
        /// Int8 blocks (`.q8`, or `.bf16` below the bf16 tiles).
        case int8
        /// bf16 (`.bf16` on AMX tiles).
        case bf16
    }

    /// The rounding `linear` gives m rows with a weight of `type`, with the int8 panels a caller
    /// like `Tensor.linear` passes. It can depend on m: on AVX2 `.q8` rounds up to `q8MaxRows` rows
    /// and runs more exact; `.bf16` takes the tiles from `bf16MinRows`.
    public static func rounding(_ type: DType, m: Int) -> Rounding {
        if type == .i32 || m == 0 { return .none }
        return path(type, m: m, k: type.blockElements, panels: true).rounding
    }

    /// Whether `.q8` products with weights of `type` run on int8 panels (`q8Panels`): an AVX-512
    /// VNNI build on a VNNI CPU, Q4_0, Q4_1 or Q8_0, and `EngineSettings.q8Panels`.
    public static func usesQ8Panels(_ type: DType) -> Bool {
        #if arch(x86_64) && GRM_AVX512VNNI
        let s = EngineSettings.current
        return s.activations.roundsToInt8 && s.fusedKernels && s.q8Panels && KernelISA.level >= .avx512vnni
            && (type == .q4_0 || type == .q4_1 || type == .q8_0)
        #else
        return false
        #endif
    }

    /// The row limits and kernel choices (`EngineSettings.current`: `fusedKernels`,
    /// `fusedMaxRows`, `fusedChunkMaxRows`, `q8MaxRows`, `activations`).
    static var fusedMaxRows: Int { EngineSettings.current.fusedMaxRows }
    static var fusedChunkMaxRows: Int { EngineSettings.current.fusedChunkMaxRows }
    static var q8MaxRows: Int { EngineSettings.current.q8MaxRows }

    /// Tasks for a product split over `units` groups of W rows: one per ~32 K weights, at most two
    /// per thread, and a multiple of the thread count once there are more tasks than threads.
    /// Claiming a task is an atomic on a cache line every thread writes, and a one-row product of
    /// a 576-wide layer lasts a few microseconds, so more tasks cost more than they balance: on two
    /// threads 4 tasks decode 5-7% faster than 32, and 3 tasks (one thread does two) 15% slower
    /// than 2 (docs/performance.md). Each element's value never depends on the split.
    static func rowTasks(units: Int, n: Int, k: Int) -> Int {
        let threads = ThreadPool.shared.threadCount
        var tasks = min(units, min(2 * threads, (n * k) >> 15))
        if tasks > threads { tasks -= tasks % threads }
        return max(1, tasks)
    }

    /// Runs `body(j0, j1)` in parallel over W rows `0..<n`, split into `rowTasks` ranges of whole
    /// `unit`-row groups (empty ranges skipped).
    static func forRowRanges(n: Int, k: Int, unit: Int, _ body: (Int, Int) -> Void) {
        let units = GEMM.ceilDiv(n, unit)
        let tasks = rowTasks(units: units, n: n, k: k)
        ThreadPool.shared.parallelFor(tasks) { t in
            let j0 = min(n, units * t / tasks * unit)
            let j1 = min(n, units * (t + 1) / tasks * unit)
            if j0 < j1 { body(j0, j1) }
        }
    }

    /// Runs `body(part, j0, j1)` in parallel over the rows of all `parts` taken as one range of
    /// rows (split as `forRowRanges` splits it), each task's range cut at the parts' boundaries
    /// (`j0..<j1` are rows of part `part`).
    static func forPartRanges(_ parts: [Part], k: Int, unit: Int, _ body: (Int, Int, Int) -> Void) {
        let total = parts.reduce(0) { $0 + $1.n }
        parts.withUnsafeBufferPointer { parts in
            forRowRanges(n: total, k: k, unit: unit) { j0, j1 in
                var start = 0
                for (i, p) in parts.enumerated() where start < j1 {
                    let lo = max(j0, start), hi = min(j1, start + p.n)
                    if lo < hi { body(i, lo - start, hi - start) }
                    start += p.n
                }
            }
        }
    }

    /// W rows decoded at a time by the small-M path (a group of 8 rows of 1024 values is 32 KB).
    static func groupRows(k: Int) -> Int { k <= 1024 ? 8 : 4 }

    static func small<V: GEMMVector>(
        _ v: V.Type, _ type: DType, m: Int, n: Int, k: Int,
        x: UnsafePointer<Float>, ldx: Int, w: UnsafeRawPointer,
        y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        let group = groupRows(k: k)
        let rowBytes = type.byteCount(elements: k)
        forRowRanges(n: n, k: k, unit: group) { j0, j1 in
            let buffer = Workspace.shared.acquire(floats: group * k + 16)
            defer { Workspace.shared.release(buffer) }
            let panel = buffer.floats
            var g = j0
            while g < j1 {
                let rows = min(group, j1 - g)
                decode(type, w + g * rowBytes, panel, count: rows * k)
                GEMM.smallDot(
                    v, m: m, k: k, alpha: 1, a: x, lda: ldx, w: UnsafePointer(panel), ldw: k,
                    beta: 0, c: y + g, ldc: ldy, j0: 0, j1: rows)
                g += rows
            }
        }
    }

    /// The large-M path: GEMM's packed path with W decoded straight into its packed B panels
    /// (per panel of `nr` W rows and K block of `kc`: each row's blocks covering the K block are
    /// decoded into cache-resident scratch, then transposed into the panel as `Kernels.packB`
    /// does), so no f32 copy of W is ever written and no extra pass over it is made.
    static func packedDecode(
        _ type: DType, m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
        w: UnsafeRawPointer, y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        let rowBytes = type.byteCount(elements: k)
        let qk = type.blockElements, blockBytes = type.byteCount(elements: qk)
        GEMM.ownSgemm(m: m, n: n, k: k, a: x, lda: ldx, c: y, ldc: ldy) { j0, cols, k0, kc, nr, q0, q1, into in
            // Whole blocks covering k0..<k0+kc (a K block need not start or end on a block).
            let b0 = k0 / qk, b1 = (k0 + kc + qk - 1) / qk
            let span = (b1 - b0) * qk, skip = k0 - b0 * qk
            let buffer = Workspace.shared.acquire(floats: nr * span + 16)
            defer { Workspace.shared.release(buffer) }
            let tmp = buffer.floats
            for q in q0..<q1 {
                let c0 = q * nr
                let valid = min(nr, cols - c0)
                for r in 0..<valid {
                    decode(type, w + (j0 + c0 + r) * rowBytes + b0 * blockBytes, tmp + r * span, count: span)
                }
                Kernels.gather(UnsafePointer(tmp + skip), span, count: valid, kc: kc, width: nr, into: into + q * nr * kc)
            }
        }
    }

    /// Decodes `count` consecutive values (whole blocks) of `type` at `src` into f32 at `dst`,
    /// on the calling thread; bit for bit `Quant.dequantize` (and f16/bf16's conversions).
    /// A switch rather than the traits' decoder: each case inlines its type's decoder into a
    /// loop with constant strides, where a function value would cost a call per block.
    public static func decode(
        _ type: DType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        @inline(__always)
        func blocks(_ t: DType, _ decode: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) {
            let bytes = t.blockBytes, n = t.blockElements
            for b in 0..<count / n { decode(src + b * bytes, dst + b * n) }
        }
        switch type {
        case .f32:
            dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
        case .f16: Decode.f16(src, dst, count)
        case .bf16: Decode.bf16(src, dst, count)
        #if arch(x86_64) && GRM_AVX2
        case .q4_0: blocks(.q4_0, AVX2Q.q4_0)
        case .q4_1: blocks(.q4_1, AVX2Q.q4_1)
        case .q5_0: blocks(.q5_0, AVX2Q.q5_0)
        case .q5_1: blocks(.q5_1, AVX2Q.q5_1)
        case .q8_0: blocks(.q8_0, AVX2Q.q8_0)
        case .q2_K: blocks(.q2_K, AVX2Q.q2_K)
        case .q3_K: blocks(.q3_K, AVX2Q.q3_K)
        case .q4_K: blocks(.q4_K, AVX2Q.q4_K)
        case .q5_K: blocks(.q5_K, AVX2Q.q5_K)
        case .q6_K: blocks(.q6_K, AVX2Q.q6_K)
        #else
        case .q4_0: blocks(.q4_0, Decode.q4_0)
        case .q4_1: blocks(.q4_1, Decode.q4_1)
        case .q5_0: blocks(.q5_0, Decode.q5_0)
        case .q5_1: blocks(.q5_1, Decode.q5_1)
        case .q8_0: blocks(.q8_0, Decode.q8_0)
        case .q2_K: blocks(.q2_K, Decode.q2_K)
        case .q3_K: blocks(.q3_K, Decode.q3_K)
        case .q4_K: blocks(.q4_K, Decode.q4_K)
        case .q5_K: blocks(.q5_K, Decode.q5_K)
        case .q6_K: blocks(.q6_K, Decode.q6_K)
        #endif
        case .i32: preconditionFailure("decode: i32 is not a weight type")
        }
    }
}
