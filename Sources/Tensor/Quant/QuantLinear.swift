extension Tensor {
    /// A linear layer without bias: `self [..., K] (f32) x weight^T -> [..., N]` for a weight
    /// `[N, K]` of any floating element type: f32, f16, bf16 or a ggml block type (Q4_0 ... Q6_K),
    /// as stored in GGUF files (`{K, N}`: N rows of K values). A quantised weight is never
    /// dequantised as a whole: see `QuantMatmul`. Activations stay f32 (unless
    /// `QuantMatmul.activationMode` is `.q8`); the result equals the own f32 GEMM on the
    /// dequantised weight bit for bit for more than 16 input rows, and up to f32 rounding (scales
    /// applied per block) for up to 16 rows with the fused types; the same for every thread count.
    ///
    /// `x.matmul(w, transposeB: true)` with a non-f32 rank-2 `w` calls this.
    ///
    /// Throws `TensorError` naming both shapes when K differs or is not a multiple of the weight
    /// type's block size, and for a weight that is not rank 2, not row-contiguous, or i32.
    public func linear(_ weight: Tensor) throws -> Tensor {
        try linear([weight])[0]
    }

    /// `linear` with several weights at once (a layer's q, k and v projections, or its gate and
    /// up): one result per weight, each equal to `linear(weight)` bit for bit. Weights of one
    /// element type share the activations' preparation and one parallel pass over all their rows
    /// (see `QuantMatmul.linear(_:m:k:x:ldx:parts:)`); every weight must have this input's K.
    public func linear(_ weights: [Tensor]) throws -> [Tensor] {
        try requireFloat32("linear")
        if weights.isEmpty { return [] }
        var ws: [Tensor] = []
        for weight in weights {
            guard weight.dtype != .i32 else {
                throw TensorError.unsupportedType(op: "linear", dtype: .i32, reason: "the weight must be a floating type")
            }
            guard rank >= 1, weight.rank == 2 else {
                throw TensorError.shapeMismatch(
                    op: "linear", lhs: shape, rhs: weight.shape,
                    reason: "needs an input [..., K] and a weight [N, K]")
            }
            let k = weight.shape[1]
            guard shape[rank - 1] == k else {
                throw TensorError.shapeMismatch(
                    op: "linear", lhs: shape, rhs: weight.shape,
                    reason: "the input's last size \(shape[rank - 1]) differs from the weight's K = \(k)")
            }
            guard k % weight.dtype.blockElements == 0 else {
                throw TensorError.shapeMismatch(
                    op: "linear", lhs: shape, rhs: weight.shape,
                    reason: "K = \(k) is not a multiple of \(weight.dtype)'s block of \(weight.dtype.blockElements)")
            }
            if weight.isContiguous {
                ws.append(weight)
            } else {
                guard !weight.dtype.isBlockQuantised else {
                    throw TensorError.invalidShape(
                        op: "linear", shape: weight.shape,
                        reason: "a block-quantised weight must be contiguous")
                }
                ws.append(weight.contiguous())
            }
        }
        let x = contiguous()
        let k = shape[rank - 1], m = shape.dropLast().reduce(1, *)
        let outs = ws.map { Tensor.uninitialized(Array(shape.dropLast()) + [$0.shape[0]]) }
        if m == 0 { return outs }
        // One grouped product per element type, in the weights' order.
        withExtendedLifetime((x, ws, outs)) {
            var done = Set<DType>()
            for w in ws where !done.contains(w.dtype) {
                done.insert(w.dtype)
                let bf16 = QuantMatmul.usesBF16Panels(w.dtype, m: m)
                let panels = !bf16 && QuantMatmul.usesQ8Panels(w.dtype)
                let scales = QuantMatmul.usesFusedScales(w.dtype, m: m)
                let parts = zip(ws, outs).filter { $0.0.dtype == w.dtype }.map { w, y in
                    QuantMatmul.Part(
                        w: UnsafeRawPointer(w.rawPointer), n: w.shape[0], y: y.floatPointer, ldy: w.shape[0],
                        panels: panels ? w.q8Panels : nil, scales: scales ? w.fusedScales : nil,
                        bf16: bf16 ? w.bf16Panels : nil)
                }
                QuantMatmul.linear(w.dtype, m: m, k: k, x: x.floatPointer, ldx: k, parts: parts)
            }
        }
        return outs
    }

    /// How a product of `rows` rows with this weight rounds its activations (`QuantMatmul.rounding`).
    public func productRounding(rows: Int) -> QuantMatmul.Rounding { QuantMatmul.rounding(dtype, m: rows) }

    /// `F(self W_gate^T, self W_up^T)` elementwise: a gated MLP's hidden state (SwiGLU, GeGLU), for
    /// weights [n, K] of one type. Always `linear([gate, up])` followed by `Tensor.binary(F.self, ...)`,
    /// value for value; with `.bf16` activations on bf16 tiles (24+ rows) both products are formed
    /// block by block in cache and only the result is written (`QuantMatmul.bf16Gated`).
    @_specialize(exported:true,where F == SwiGLU)
    @_specialize(exported:true,where F == GeGLU)
    public func gatedLinear<F: BinaryFunction>(_ gate: Tensor, _ up: Tensor, _ f: F.Type) throws -> Tensor {
        #if arch(x86_64) && GRM_AMX
        let m = shape.dropLast().reduce(1, *)
        if EngineSettings.current.activations == .bf16, QuantMatmul.usesBF16Tiles(m: m), dtype == .f32, rank >= 1,
            gate.rank == 2, gate.shape == up.shape, gate.dtype == up.dtype, gate.dtype != .f32, gate.dtype != .i32,
            gate.isContiguous, up.isContiguous, shape[rank - 1] == gate.shape[1], gate.shape[1] % gate.dtype.blockElements == 0
        {
            let x = contiguous(), n = gate.shape[0], k = gate.shape[1]
            let y = Tensor.uninitialized(Array(shape.dropLast()) + [n])
            withExtendedLifetime((x, gate, up)) {
                let cached = QuantMatmul.usesBF16Panels(gate.dtype, m: m)
                QuantMatmul.bf16Gated(
                    gate.dtype, m: m, k: k, x: x.floatPointer, ldx: k, gate: UnsafeRawPointer(gate.rawPointer),
                    up: UnsafeRawPointer(up.rawPointer), panels: cached ? (gate.bf16Panels, up.bf16Panels) : nil, n: n,
                    y: y.floatPointer, ldy: n, F.self)
            }
            return y
        }
        #endif
        let gu = try linear([gate, up])
        try Tensor.binary(F.self, gu[0], gu[1], into: gu[0])
        return gu[0]
    }
}
