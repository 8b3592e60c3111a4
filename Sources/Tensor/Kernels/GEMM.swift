import Foundation

/// Single-precision matrix multiply, row-major: `C = alpha * op(A) * op(B) + beta * C`, where
/// op(A) is [m, k] (`transA`: A is stored [k, m]), op(B) is [k, n] (`transB`: B is stored [n, k],
/// the usual layout of weights), and `lda`/`ldb`/`ldc` are the row strides in floats.
///
/// `beta == 0` never reads C (NaN or garbage there is ignored); `k == 0` or `alpha == 0` gives
/// `C = beta * C` without reading A or B.
///
/// Own implementation (`ownSgemm`), BLIS-style:
/// - m > 8: op(A) and op(B) are packed into aligned panel buffers (reused across calls) and a
///   register-blocked micro-kernel runs over them: 6x16 with 8-float vectors (AVX2), or 12x32 with
///   16-float vectors on AVX-512 machines (chosen at run time, `KernelISA.level`). K is split into
///   blocks of at most KC, C's rows into blocks of at most MC rows (per-task packed A, L2) and its
///   columns into blocks of at most NC (shared packed B, L3). Threads split C's (row block, column
///   chunk) tiles; the split and every element's K order depend on the shape only.
/// - m <= 8: no packing. With B transposed (weights [n, k]) each element is a dot product of two
///   contiguous rows; otherwise rows of B are streamed through 2-vector-wide accumulators. Threads
///   split the columns. Each element's arithmetic there does not depend on m, so a row computes
///   the same alone as in a batch of up to 8.
///
/// Results are bit-identical for every thread count (`ThreadPool.shared`), by construction.
/// OpenBLAS's are not: it splits K-blocks and uses different drivers per thread count, so the
/// same product differs between 1 and 2 threads (docs/performance.md).
public enum GEMM {
    public enum Backend: Sendable {
        /// Per shape, the faster backend whose results do not depend on the thread count: today
        /// the own kernels for every shape (see `fastest` for what OpenBLAS would add).
        case auto
        /// Per shape, the faster of the own kernels and OpenBLAS (see `prefersOpenBLAS`); with
        /// OpenBLAS, results for m > 8 may change with the thread count.
        case fastest
        case own
        /// OpenBLAS where available, else the own kernels.
        case openBLAS
    }

    /// The engine's default is `.auto`: reward scores must not change when the thread count does.
    public static var backend: Backend { EngineSettings.current.gemmBackend }

    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if choice(transA: transA, transB: transB, m: m, n: n, k: k) == .openBLAS,
            m > 0, n > 0, k > 0, alpha != 0,
            OpenBLAS.sgemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        {
            return
        }
        ownSgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
            a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// The backend `sgemm` uses for this shape under `setting` (`.own` or `.openBLAS`).
    public static func choice(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        setting: Backend = GEMM.backend
    ) -> Backend {
        switch setting {
        case .own, .auto: return .own
        case .openBLAS: return OpenBLAS.isAvailable ? .openBLAS : .own
        case .fastest:
            return OpenBLAS.isAvailable && prefersOpenBLAS(transA: transA, transB: transB, m: m, n: n, k: k)
                ? .openBLAS : .own
        }
    }

    /// The `.fastest` rule: the own kernels for m <= 8 (the unpacked path), OpenBLAS above. It looks
    /// at the shape only, never at the thread count (though OpenBLAS's own result does).
    ///
    /// Below 9 rows the own kernels are faster (no packing, no thread wake-up in OpenBLAS); above,
    /// OpenBLAS is as fast or somewhat faster, so it gets the tie (docs/performance.md).
    public static func prefersOpenBLAS(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Bool {
        m > smallRows
    }

    /// Always the own kernels.
    public static func ownSgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative dimension")
        if m == 0 || n == 0 { return }
        precondition(ldc >= n, "GEMM: ldc < n")
        if k == 0 || alpha == 0 {
            scale(m: m, n: n, beta: beta, c: c, ldc: ldc)
            return
        }
        precondition(lda >= (transA ? m : k), "GEMM: lda too small")
        precondition(ldb >= (transB ? k : n), "GEMM: ldb too small")
        if m <= smallRows {
            if KernelISA.level >= .avx512 {
                small(
                    SIMD16<Float>.self, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            } else {
                small(
                    SIMD8<Float>.self, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            }
            return
        }
        packed(
            kernel, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
            a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Products with at most this many rows take the unpacked path.
    static let smallRows = 8

    /// The packed path's micro-kernel: 16-float vectors from `KernelISA.level` avx512 up, else 8
    /// (tests may set the other one: both run everywhere; setting it overrides the choice).
    static var kernel: MicroKernel {
        get { kernelOverride ?? (KernelISA.level >= .avx512 ? .avx512 : .avx2) }
        set { kernelOverride = newValue }
    }
    nonisolated(unsafe) static var kernelOverride: MicroKernel?

    /// Name of the packed micro-kernel in use (for logs and benchmarks).
    public static var kernelName: String { kernel.name }

    // MARK: - Degenerate shapes

    static func scale(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if beta == 1 { return }
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                row.update(repeating: 0, count: n)
            } else {
                for j in 0..<n { row[j] *= beta }
            }
        }
    }

    // MARK: - Packed path

    @inline(__always) static func ceilDiv(_ x: Int, _ y: Int) -> Int { (x + y - 1) / y }
    @inline(__always) static func roundUp(_ x: Int, _ y: Int) -> Int { ceilDiv(x, y) * y }

    /// Tasks a parallel step is cut into (a shape-only number, so the same for every pool).
    static let targetTasks = 8

    /// Writes `nr`-column panels `q0..<q1` of op(B)'s block (columns `j0..<j0+cols`, K `k0..<k0+kc`)
    /// in `Kernels.packB`'s layout at `into`: (j0, cols, k0, kc, nr, q0, q1, into).
    typealias PackB = (
        _ j0: Int, _ cols: Int, _ k0: Int, _ kc: Int, _ nr: Int, _ q0: Int, _ q1: Int,
        _ into: UnsafeMutablePointer<Float>
    ) -> Void

    /// `C[m, n] = A[m, k] * op(B)` with the packed path, op(B)'s panels written by `packB` (the
    /// quantised products decode weights straight into them). Each element is computed exactly as
    /// `ownSgemm` computes it when `packB` writes what `Kernels.packB` would (and m > `smallRows`).
    static func ownSgemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, packB: @escaping PackB
    ) {
        precondition(m > 0 && n > 0 && k > 0 && lda >= k && ldc >= n, "GEMM: bad arguments")
        packed(
            kernel, transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: a, ldb: k,
            beta: 0, c: c, ldc: ldc, packB: packB)
    }

    static func packed(
        _ kern: MicroKernel, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, packB: PackB? = nil
    ) {
        let mr = kern.mr, nr = kern.nr
        // Even blocks: K split into ceil(k / KC) equal parts, and so on.
        let kcStep = ceilDiv(k, ceilDiv(k, kern.kc))
        let ncStep = roundUp(ceilDiv(n, ceilDiv(n, kern.nc)), nr)
        let pool = ThreadPool.shared
        let threads = pool.threadCount
        // Row blocks: at most MC rows, whole mr-row panels, as many as a multiple of the thread
        // count and within one panel of each other, so the threads finish together. (How rows are
        // grouped into blocks changes no element's arithmetic: only K's blocking does, and that
        // depends on k alone. So the thread count may steer this split.)
        let mPanelsAll = ceilDiv(m, mr)
        let mBlocks = min(mPanelsAll, roundUp(ceilDiv(m, kern.mc), threads))
        let mcStep = ceilDiv(mPanelsAll, mBlocks) * mr  // the largest block
        let minTasks = 2 * threads

        let bBuffer = Workspace.shared.acquire(floats: ncStep * kcStep + 8)
        defer { Workspace.shared.release(bBuffer) }
        let bp = bBuffer.floats

        var jc = 0
        while jc < n {
            let nc = min(ncStep, n - jc)
            let nPanels = ceilDiv(nc, nr)
            // Column chunks per row block, so that there are enough tasks to balance (each chunk
            // repacks its row block of A, so no more than needed; chunks of at least 4 panels).
            let chunks = max(1, min(ceilDiv(minTasks, mBlocks), nPanels / 4))
            let packTasks = min(nPanels, targetTasks)
            var pc = 0
            while pc < k {
                let kc = min(kcStep, k - pc)
                let betaHere: Float = pc == 0 ? beta : 1
                pool.parallelFor(packTasks) { t in
                    let q0 = nPanels * t / packTasks, q1 = nPanels * (t + 1) / packTasks
                    if let packB {
                        packB(jc, nc, pc, kc, nr, q0, q1, bp)
                    } else {
                        Kernels.packB(
                            transB: transB, b, ldb, j0: jc, cols: nc, k0: pc, kc: kc, nr: nr,
                            panels: q0, q1, into: bp)
                    }
                }
                pool.parallelFor(mBlocks * chunks) { t in
                    let ib = t / chunks, chunk = t % chunks
                    let ic = mPanelsAll * ib / mBlocks * mr
                    let mc = min(m, mPanelsAll * (ib + 1) / mBlocks * mr) - ic
                    let q0 = nPanels * chunk / chunks, q1 = nPanels * (chunk + 1) / chunks
                    let aBuffer = Workspace.shared.acquire(floats: mcStep * kcStep + mr * nr + 8)
                    defer { Workspace.shared.release(aBuffer) }
                    let ap = aBuffer.floats
                    let tile = ap + mcStep * kcStep + 8  // scratch for edge tiles (after packA's slack)
                    Kernels.packA(transA: transA, a, lda, i0: ic, rows: mc, k0: pc, kc: kc, mr: mr, into: ap)
                    let mPanels = ceilDiv(mc, mr)
                    for q in q0..<q1 {
                        let cols = min(nr, nc - q * nr)
                        let bPanel = UnsafePointer(bp + q * nr * kc)
                        for p in 0..<mPanels {
                            let rows = min(mr, mc - p * mr)
                            let cTile = c + (ic + p * mr) * ldc + jc + q * nr
                            let aPanel = UnsafePointer(ap + p * mr * kc)
                            if rows == mr && cols == nr {
                                kern.run(kc, aPanel, bPanel, cTile, ldc, alpha, betaHere)
                            } else {
                                kern.run(kc, aPanel, bPanel, tile, nr, 1, 0)
                                for i in 0..<rows {
                                    for j in 0..<cols {
                                        Kernels.update(cTile + i * ldc + j, tile[i * nr + j], alpha, betaHere)
                                    }
                                }
                            }
                        }
                    }
                }
                pc += kc
            }
            jc += nc
        }
    }

    // MARK: - Small path (m <= 8)

    /// Tasks for the small path: one per ~128 Kflop, at most 16, never more than column units.
    static func smallTasks(units: Int, m: Int, n: Int, k: Int) -> Int {
        max(1, min(units, min(16, (2 * m * n * k) >> 17)))
    }

    static func small<V: GEMMVector>(
        _ v: V.Type, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        // op(A) as contiguous rows: a transposed A is copied (m <= 8 rows, cheap).
        var copy: Workspace.Buffer? = nil
        defer { if let copy { Workspace.shared.release(copy) } }
        var rowsA = a, strideA = lda
        if transA {
            let buf = Workspace.shared.acquire(floats: m * k)
            for i in 0..<m { for p in 0..<k { buf.floats[i * k + p] = a[p * lda + i] } }
            copy = buf
            rowsA = UnsafePointer(buf.floats)
            strideA = k
        }
        let ra = rowsA, sa = strideA
        // Columns are split in units of 4 (dot) or 2 vectors (axpy); tasks of >= ~128 Kflop.
        let unit = transB ? 4 : 2 * V.scalarCount
        let units = ceilDiv(n, unit)
        let tasks = smallTasks(units: units, m: m, n: n, k: k)
        ThreadPool.shared.parallelFor(tasks) { t in
            let j0 = min(n, units * t / tasks * unit)
            let j1 = min(n, units * (t + 1) / tasks * unit)
            if transB {
                smallDot(
                    v, m: m, k: k, alpha: alpha, a: ra, lda: sa, w: b, ldw: ldb,
                    beta: beta, c: c, ldc: ldc, j0: j0, j1: j1)
            } else {
                smallAxpy(
                    v, m: m, k: k, alpha: alpha, a: ra, lda: sa, b: b, ldb: ldb,
                    beta: beta, c: c, ldc: ldc, j0: j0, j1: j1)
            }
        }
    }

    /// Columns `j0..<j1` of `C = alpha * A * W^T + beta * C`.
    static func smallDot<V: GEMMVector>(
        _ v: V.Type, m: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, w: UnsafePointer<Float>, ldw: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, j0: Int, j1: Int
    ) {
        let quads = m / 4 * 4
        // W rows in groups of 16 (L1/L2-resident while every row block of A passes over them).
        var g = j0
        while g < j1 {
            let g1 = min(j1, g + 16)
            if quads > 0 {
                var j = g
                while j + 2 <= g1 {
                    for i in stride(from: 0, to: quads, by: 4) {
                        Kernels.dot4x2(v, k, a + i * lda, lda, w + j * ldw, ldw, c + i * ldc + j, ldc, alpha, beta)
                    }
                    j += 2
                }
                if j < g1 {
                    for i in 0..<quads {
                        Kernels.dot1x1(v, k, a + i * lda, w + j * ldw, c + i * ldc + j, alpha, beta)
                    }
                }
            }
            for i in quads..<m {
                var j = g
                while j + 4 <= g1 {
                    Kernels.dot1x4(v, k, a + i * lda, w + j * ldw, ldw, c + i * ldc + j, alpha, beta)
                    j += 4
                }
                while j < g1 {
                    Kernels.dot1x1(v, k, a + i * lda, w + j * ldw, c + i * ldc + j, alpha, beta)
                    j += 1
                }
            }
            g = g1
        }
    }

    /// Columns `j0..<j1` of `C = alpha * A * B + beta * C`, B row-major [k, n].
    static func smallAxpy<V: GEMMVector>(
        _ v: V.Type, m: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, j0: Int, j1: Int
    ) {
        let width = 2 * V.scalarCount
        let quads = m / 4 * 4
        var j = j0
        while j + width <= j1 {
            for i in stride(from: 0, to: quads, by: 4) {
                Kernels.axpy4(v, k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, alpha, beta)
            }
            for i in quads..<m {
                Kernels.axpy1(v, k, a + i * lda, b + j, ldb, c + i * ldc + j, alpha, beta)
            }
            j += width
        }
        if j < j1 {
            Kernels.axpyTail(m, k, a, lda, b, ldb, j, j1, c, ldc, alpha, beta)
        }
    }
}
