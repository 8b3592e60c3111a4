#if arch(x86_64) && GRM_AVX512VNNI
/// The int8-activation arithmetic of the AVX-512 VNNI kernels (`q8Panels`), and its entry for
/// callers that hold only a weight's blocks (`q8GEMM`).
///
/// Activations are rounded per 32-value block exactly as `q8Linear` rounds them (ggml's q8_1:
/// levels q, scale d_x, s_x = d_x * sum q). Every weight type is read as unsigned levels u with a
/// per-block scale d_w and offset: Q4_1's nibbles with its m; Q4_0's nibbles (value d_w (u - 8));
/// Q8_0's levels plus 128 (value d_w (u - 128)). A block's dot product is then the exact integer
/// `sum u q - o * sum q` (o = 0, 8 or 128: the integer ggml's kernels compute), scaled by
/// d_w * d_x, plus m_w * s_x for Q4_1; blocks are summed in order into one f32 per element. Each
/// element's arithmetic depends on nothing but its row and column: not on m, the tile it falls
/// in, the other columns or the thread count.
extension QuantMatmul {
    /// `y = x * W^T` for every part's W (Q4_0, Q4_1 or Q8_0) given as blocks only: the weights
    /// are packed into panels for this call (`Q8Panels.pack`), then run as `q8Panels` runs them
    /// (the same bits as with the weight's kept panels). For products of many rows, where the
    /// packing is small beside the arithmetic.
    static func q8GEMM(_ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, parts: [Part]) {
        precondition(m >= 1 && k % 32 == 0 && [.q4_0, .q4_1, .q8_0].contains(type), "q8GEMM: \(type) k = \(k)")
        let packed = parts.map { p in
            let panels = Storage(uninitializedByteCount: Q8Panels.byteCount(type, n: p.n, k: k))
            Q8Panels.pack(type, w: p.w, n: p.n, k: k, into: panels.base)
            return panels
        }
        withExtendedLifetime(packed) {
            q8Panels(type, m: m, k: k, x: x, ldx: ldx, parts: parts, panels: packed.map { UnsafeRawPointer($0.base) })
        }
    }

    /// Runs `body` with the rows of x rounded to int8 as `q8Linear` rounds them: per row the
    /// levels, per block d_x, s_x and o * sum q (o: 8 for Q4_0, 128 for Q8_0, else 0).
    static func withQuantizedRows(
        _ type: DType, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, _ body: (VNNIArgs) -> Void
    ) {
        let nb = k / 32
        let levelBytes = (k + 63) / 64 * 64
        let scratch = Workspace.shared.acquire(floats: m * (levelBytes / 4 + 3 * nb) + 16)
        defer { Workspace.shared.release(scratch) }
        let qx = UnsafeMutableRawPointer(scratch.floats).assumingMemoryBound(to: Int8.self)
        let dx = scratch.floats + m * levelBytes / 4, sx = dx + m * nb
        let cx = UnsafeMutableRawPointer(sx + m * nb).assumingMemoryBound(to: Int32.self)
        let offset: Int32 = type == .q4_0 ? 8 : type == .q8_0 ? 128 : 0
        // Rows are independent: a prompt's are split over the threads (the same values either way).
        ThreadPool.shared.parallelRanges(m, parts: m >= 64 ? ThreadPool.shared.threadCount : 1) { rows in
            for i in rows {
                for b in 0..<nb {
                    let q = qx + i * levelBytes + 32 * b
                    let sum = quantizeBlock(x + i * ldx + 32 * b, q, &dx[i * nb + b], &sx[i * nb + b])
                    cx[i * nb + b] = offset &* sum
                }
            }
        }
        body(
            VNNIArgs(
                m: m, nb: nb, qx: UnsafePointer(qx), ldq: levelBytes, dx: UnsafePointer(dx), sx: UnsafePointer(sx),
                cx: UnsafePointer(cx)))
    }

    struct VNNIArgs {
        let m: Int, nb: Int
        let qx: UnsafePointer<Int8>, ldq: Int
        let dx: UnsafePointer<Float>, sx: UnsafePointer<Float>, cx: UnsafePointer<Int32>
    }
}
#endif
