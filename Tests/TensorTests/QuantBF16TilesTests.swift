import XCTest
@testable import Tensor

/// `--activations bf16`: prompt products on AMX bf16 tiles (QuantMatmulBF16AMX.swift) against a
/// reference of their stated arithmetic (activations and decoded weights rounded to bf16, sums
/// in double), within f32 summation's bound, and against the exact product within bf16's
/// rounding bound, on odd shapes and several weight types. Skipped, by name, without AMX-BF16.
final class QuantBF16TilesTests: XCTestCase {
    /// Round to nearest even at 8 significant bits, as a float; bf16 denormals count as zero
    /// (the tile unit's rule for its inputs).
    static func bf16(_ v: Float) -> Float {
        if v.isNaN { return v }
        let bits = v.bitPattern
        let r = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
        if r & 0x7F80_0000 == 0 { return Float(bitPattern: r & 0x8000_0000) }
        return Float(bitPattern: r)
    }

    func requireBF16Tiles() throws {
        try requireKernelPath(.amx)
        guard CPU.hasAMXBF16 else { throw XCTSkip("AMX-BF16 not available here (no amx_bf16 flag)") }
    }

    func testMatchesBF16ReferenceOnOddShapes() throws {
        try requireBF16Tiles()
        var seed: UInt64 = 9100
        let shapes: [(DType, Int, Int)] = [
            (.q4_0, 45, 32 * 19), (.q4_1, 70, 576), (.q8_0, 17, 64), (.q4_1, 32, 96), (.q6_K, 33, 512), (.q4_K, 64, 256)
        ]
        for (type, n, k) in shapes {
            seed += 1
            let w = QuantKernelTests.randomWeight(type, n: n, k: k, seed: seed)
            let wf = w.dequantizedContiguous().scalars()
            for m in [25, 64, 77, 130] {
                let x = randomTensor([m, k], seed: seed &* 13 &+ UInt64(m))
                let xs = x.scalars()
                let got = try EngineSettings.with({ $0.activations = .bf16 }) { try x.linear(w).scalars() }
                let exact = try x.linear(w).scalars()
                let label = "\(type) m \(m) n \(n) k \(k)"
                XCTAssertEqual(got.count, m * n, label)
                var worst: Double = 0, worstExact: Double = 0
                for i in 0..<m {
                    for j in 0..<n {
                        var ref: Double = 0, mass: Double = 0, massExact: Double = 0
                        for p in 0..<k {
                            let a = Self.bf16(xs[i * k + p]), b = Self.bf16(wf[j * k + p])
                            ref += Double(a) * Double(b)
                            mass += abs(Double(a) * Double(b))
                            massExact += abs(Double(xs[i * k + p]) * Double(wf[j * k + p]))
                        }
                        let g = Double(got[i * n + j])
                        worst = max(worst, abs(g - ref) / (Double(k) * 6e-8 * mass + 1e-30))
                        worstExact = max(worstExact, abs(g - Double(exact[i * n + j])) / (0.0079 * massExact + 1e-30))
                    }
                }
                XCTAssertLessThanOrEqual(worst, 1, "\(label): off the bf16 reference by more than f32 summation allows")
                XCTAssertLessThanOrEqual(worstExact, 1, "\(label): off the exact product by more than 2^-7 sum |x w|")
            }
        }
    }

    /// A grouped product (q, k and v at once) gives each weight's values alone; the tiles' result
    /// is the same for any thread count.
    func testGroupedAndThreadCountsAgree() throws {
        try requireBF16Tiles()
        let x = randomTensor([96, 576], seed: 31)
        let ws = [(576, 1), (192, 2), (100, 3)].map { QuantKernelTests.randomWeight(.q4_1, n: $0.0, k: 576, seed: UInt64($0.1)) }
        try EngineSettings.with({ $0.activations = .bf16 }) {
            let grouped = try x.linear(ws)
            for (w, g) in zip(ws, grouped) {
                XCTAssertEqual(try x.linear(w).scalars(), g.scalars())
                let one = try EngineSettings.with({ $0.threads = 1 }) { try x.linear(w).scalars() }
                XCTAssertEqual(one, g.scalars())
            }
        }
    }

    /// Rows in several chunks (k = 1536: chunks of 320 rows) and a task's columns in several
    /// groups of panels (k = 1536: 10 units of 32 columns per group), against the exact product.
    func testChunksAndGroupsStayWithinTheBound() throws {
        try requireBF16Tiles()
        for (m, n, k) in [(700, 40, 1536), (64, 10_300, 1536)] {
            let x = randomTensor([m, k], seed: UInt64(m))
            let w = QuantKernelTests.randomWeight(.q8_0, n: n, k: k, seed: UInt64(n))
            let got = try EngineSettings.with({ $0.activations = .bf16 }) { try x.linear(w).scalars() }
            let exact = try x.linear(w).scalars()
            // sum |x w| per element, by the same product on magnitudes.
            let ax = try Tensor(shape: [m, k], scalars: x.scalars().map { abs($0) })
            let aw = try Tensor(shape: [n, k], scalars: w.dequantizedContiguous().scalars().map { abs($0) })
            let mass = try ax.linear(aw).scalars()
            var worst: Float = 0
            for e in 0..<(m * n) { worst = max(worst, abs(got[e] - exact[e]) / (0.0079 * mass[e] + 1e-30)) }
            XCTAssertLessThanOrEqual(worst, 1, "m \(m) n \(n) k \(k)")
        }
    }

    /// `gatedLinear` is the two products followed by the function, value for value, on the fused
    /// tiles (70 rows, odd n) and off them (few rows, exact activations).
    func testGatedLinearEqualsProductsThenFunction() throws {
        let k = 96
        let gate = QuantKernelTests.randomWeight(.q4_1, n: 45, k: k, seed: 71), up = QuantKernelTests.randomWeight(.q4_1, n: 45, k: k, seed: 72)
        for (m, mode) in [(70, QuantMatmul.ActivationMode.bf16), (70, .exact), (5, .bf16)] {
            let x = randomTensor([m, k], seed: UInt64(m))
            try EngineSettings.with({ $0.activations = mode }) {
                let fused = try x.gatedLinear(gate, up, SwiGLU.self), geglu = try x.gatedLinear(gate, up, GeGLU.self)
                let gu = try x.linear([gate, up])
                XCTAssertEqual(fused.shape, [m, 45])
                XCTAssertEqual(fused.scalars(), try Tensor.binary(SwiGLU.self, gu[0], gu[1]).scalars(), "m \(m) \(mode)")
                XCTAssertEqual(geglu.scalars(), try Tensor.binary(GeGLU.self, gu[0], gu[1]).scalars(), "m \(m) \(mode)")
            }
        }
    }

    /// The weight's kept bf16 panels give the bits of panels decoded per call, for products and
    /// gated products (odd n, K not a multiple of 32 for an f16 weight).
    func testKeptPanelsEqualPanelsDecodedPerCall() throws {
        try requireBF16Tiles()
        let x = randomTensor([100, 576], seed: 3)
        let w = QuantKernelTests.randomWeight(.q4_1, n: 77, k: 576, seed: 4), u = QuantKernelTests.randomWeight(.q4_1, n: 77, k: 576, seed: 5)
        let h = try randomTensor([50, 40], seed: 6).converted(to: .f16), xh = randomTensor([64, 40], seed: 7)
        func run(_ kept: Bool) throws -> [[Float]] {
            try EngineSettings.with({
                $0.activations = .bf16
                $0.bf16Panels = kept
            }) {
                [try x.linear(w).scalars(), try x.gatedLinear(w, u, SwiGLU.self).scalars(), try xh.linear(h).scalars()]
            }
        }
        XCTAssertEqual(try run(true), try run(false))
    }

    /// `GEMM.bf16Tiles` (bf16 attention products) against the bf16 reference, both layouts of B,
    /// odd shapes (k not a multiple of 32, n not of 16), a scale.
    func testGEMMOnTilesMatchesBF16Reference() throws {
        try requireBF16Tiles()
        #if arch(x86_64) && GRM_AMX
        for (m, n, k, transB, alpha) in [(70, 45, 64, true, Float(0.125)), (64, 64, 77, false, 1), (33, 100, 130, false, 0.5), (5, 17, 40, true, 1)] {
            let a = randomTensor([m, k], seed: UInt64(m * n)).scalars()
            let b = randomTensor(transB ? [n, k] : [k, n], seed: UInt64(k)).scalars()
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        GEMM.bf16Tiles(
                            transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, lda: k, b: bp.baseAddress!,
                            ldb: transB ? k : n, c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<n {
                    var ref: Double = 0, mass: Double = 0
                    for p in 0..<k {
                        let x = Double(Self.bf16(a[i * k + p])), y = Double(Self.bf16(transB ? b[j * k + p] : b[p * n + j]))
                        ref += x * y
                        mass += abs(x * y)
                    }
                    let err = abs(Double(c[i * n + j]) - Double(alpha) * ref)
                    XCTAssertLessThanOrEqual(
                        err, Double(alpha) * (Double(k) * 6e-8 * mass + 1e-30), "m \(m) n \(n) k \(k) transB \(transB) [\(i), \(j)]")
                }
            }
        }
        #endif
    }

    /// Below `bf16MinRows` rows, `.bf16` is `.q8`, bit for bit.
    func testFewRowsRunAsQ8() throws {
        let m = QuantMatmul.bf16MinRows - 1
        let x = randomTensor([m, 64], seed: 5)
        let w = QuantKernelTests.randomWeight(.q4_1, n: 40, k: 64, seed: 6)
        let q8 = try EngineSettings.with({ $0.activations = .q8 }) { try x.linear(w).scalars() }
        let bf16 = try EngineSettings.with({ $0.activations = .bf16 }) { try x.linear(w).scalars() }
        XCTAssertEqual(bf16, q8)
    }

    /// The kernel's rounding: ties to even, carries into the exponent, infinities kept, NaN kept.
    func testRoundingToBF16() throws {
        #if arch(x86_64) && GRM_AMX
        let values: [Float] = [
            1, -1, 1 + 1.0 / 256, 1 + 3.0 / 512, 1 + 1.0 / 512, 3.0e38, .infinity, -.infinity, 0, -0.0, 1e-3, 65504, .greatestFiniteMagnitude
        ]
        var bits = [UInt32](repeating: 0, count: 16)
        for (i, v) in values.enumerated() { bits[i] = v.bitPattern }
        let r = QuantMatmul.bf16(SIMD16<UInt32>(bits))
        for (i, v) in values.enumerated() {
            let got = Float(bitPattern: UInt32(r[i]) << 16)
            XCTAssertEqual(got.bitPattern, Self.bf16(v).bitPattern, "\(v)")
        }
        let nan = QuantMatmul.bf16(SIMD16<UInt32>(repeating: Float.nan.bitPattern))
        XCTAssertTrue(Float(bitPattern: UInt32(nan[0]) << 16).isNaN)
        #else
        throw XCTSkip("the bf16 tiles are not compiled in this build (no GRM_AMX)")
        #endif
    }

    /// The A operand's rows (`bf16Row`, the hardware conversion): the same rounding as the
    /// reference for every normal value, NaN kept, on every length (its 32-value steps and tail);
    /// f32 denormals become zero (the instruction treats them as zero).
    func testRowConversionMatchesRounding() throws {
        #if arch(x86_64) && GRM_AMX
        try requireBF16Tiles()
        var seed: UInt64 = 77
        for n in [1, 15, 16, 17, 31, 32, 33, 63, 64, 70, 577] {
            var xs = (0..<n).map { _ -> Float in
                seed ^= seed << 13
                seed ^= seed >> 7
                seed ^= seed << 17
                return Float(bitPattern: UInt32(truncatingIfNeeded: seed >> 11))
            }
            let special: [Float] = [1 + 1.0 / 256, 1 + 3.0 / 256, -(1 + 1.0 / 256), .infinity, -.infinity, 0, -0.0, 3.0e38, 1e-40, -1e-41]
            for (i, v) in special.enumerated() where i < n { xs[i] = v }
            var out = [UInt16](repeating: 0xFFFF, count: n + 1)
            xs.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBytes { QuantMatmul.bf16Row(x.baseAddress!, n, into: $0.baseAddress!) }
            }
            XCTAssertEqual(out[n], 0xFFFF, "n \(n): wrote past the row")
            for i in 0..<n {
                let got = Float(bitPattern: UInt32(out[i]) << 16), v = xs[i]
                if v.isNaN {
                    XCTAssertTrue(got.isNaN, "n \(n), index \(i)")
                } else if v.isSubnormal {
                    XCTAssertEqual(got, 0, "n \(n), index \(i): \(v)")
                } else {
                    XCTAssertEqual(got.bitPattern, Self.bf16(v).bitPattern, "n \(n), index \(i): \(v)")
                }
            }
        }
        #else
        throw XCTSkip("the bf16 tiles are not compiled in this build (no GRM_AMX)")
        #endif
    }

    /// `addingToBF16Panels`: products on the panels are those of W + delta (against the bf16
    /// reference of the sum); every other product reads W itself, bit for bit (exact activations,
    /// and bf16 mode below `bf16MinRows` rows).
    func testPanelsWithADeltaAdded() throws {
        try requireBF16Tiles()
        let (n, k) = (70, 576)
        let w = QuantKernelTests.randomWeight(.q4_1, n: n, k: k, seed: 41)
        let delta = randomTensor([n, k], seed: 42)
        let merged = try w.addingToBF16Panels(delta)
        let sum = zip(w.dequantizedContiguous().scalars(), delta.scalars()).map { $0 + $1 }
        let x = randomTensor([40, k], seed: 43), xs = x.scalars()
        let got = try EngineSettings.with({ $0.activations = .bf16 }) { () -> [Float] in
            XCTAssertTrue(merged.productUsesBF16Panels(rows: 40))
            XCTAssertFalse(merged.productUsesBF16Panels(rows: QuantMatmul.bf16MinRows - 1))
            return try x.linear(merged).scalars()
        }
        var worst: Double = 0
        for i in 0..<40 {
            for j in 0..<n {
                var ref: Double = 0, mass: Double = 0
                for p in 0..<k {
                    let t = Double(Self.bf16(xs[i * k + p])) * Double(Self.bf16(sum[j * k + p]))
                    ref += t
                    mass += abs(t)
                }
                worst = max(worst, abs(Double(got[i * n + j]) - ref) / (Double(k) * 6e-8 * mass + 1e-30))
            }
        }
        XCTAssertLessThanOrEqual(worst, 1, "off the bf16 reference of W + delta")
        XCTAssertEqual(try x.linear(merged).scalars(), try x.linear(w).scalars(), "exact activations read W")
        let few = randomTensor([QuantMatmul.bf16MinRows - 1, k], seed: 44)
        try EngineSettings.with({ $0.activations = .bf16 }) {
            XCTAssertEqual(try few.linear(merged).scalars(), try few.linear(w).scalars(), "few rows read W")
        }
        XCTAssertThrowsError(try w.addingToBF16Panels(randomTensor([n, k - 32], seed: 1)))
    }
}
