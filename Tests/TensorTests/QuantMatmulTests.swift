import XCTest
@testable import Tensor

/// X * W^T with W in every weight type, against dequantise-then-f32-matmul.
final class QuantMatmulTests: XCTestCase {
    // These test the exact (f32-activation) paths against dequantise-then-f32.
    /// Every test on exact activations, whatever GRM_QMM_ACT says.
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }
    static let weightTypes: [DType] = [
        .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
        .q2_K, .q3_K, .q4_K, .q5_K, .q6_K
    ]

    /// A random weight [n, k] of `type`. Q3_K has no quantiser: random blocks with a small scale.
    static func weight(_ type: DType, n: Int, k: Int, seed: UInt64) throws -> Tensor {
        if type == .q3_K {
            var rng = SplitMix64(seed: seed)
            let t = Tensor.uninitialized([n, k], dtype: .q3_K)
            let bytes = type.byteCount(elements: n * k)
            let p = t.rawPointer
            for i in 0..<bytes { p.storeBytes(of: UInt8.random(in: 0...255, using: &rng), toByteOffset: i, as: UInt8.self) }
            for b in 0..<(n * k / 256) {
                QBits.storeF16(Float.random(in: 0.001...0.02, using: &rng), p + b * 110, 108)
            }
            return t
        }
        let f = randomTensor([n, k], seed: seed, range: -1...1)
        switch type {
        case .f32, .f16, .bf16: return f.converted(to: type)
        default: return try f.quantized(to: type)
        }
    }

    /// |got - want| <= 1e-5 * sum_p |x_ip| |w_jp| (+ a tiny absolute floor), per element.
    func assertClose(
        _ got: Tensor, _ x: Tensor, _ wf: Tensor, _ want: Tensor, _ label: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let g = got.scalars(), e = want.scalars(), xs = x.scalars(), ws = wf.scalars()
        let k = wf.shape[1], n = wf.shape[0], m = xs.count / max(k, 1)
        XCTAssertEqual(got.shape, want.shape, label, file: file, line: line)
        var bad = 0
        for i in 0..<m {
            for j in 0..<n {
                var mag: Float = 0
                for p in 0..<k { mag += abs(xs[i * k + p] * ws[j * k + p]) }
                if !(abs(g[i * n + j] - e[i * n + j]) <= 1e-5 * mag + 1e-30) { bad += 1 }
            }
        }
        XCTAssertEqual(bad, 0, "\(label): \(bad) elements out of tolerance", file: file, line: line)
    }

    func testEveryTypeAgainstDequantisedMatmul() throws {
        var seed: UInt64 = 100
        for type in Self.weightTypes {
            let ks = type.blockElements == 256 ? [256, 768] : (type.blockElements == 32 ? [64, 96] : [40, 96])
            for k in ks {
                for n in [1, 7, 33] {
                    seed += 1
                    let w = try Self.weight(type, n: n, k: k, seed: seed)
                    let wf = w.converted(to: .f32)
                    for m in [1, 3, 8, 17] {
                        let x = randomTensor([m, k], seed: seed &* 31 &+ UInt64(m))
                        let got = try x.linear(w)
                        let want = try x.matmul(wf, transposeB: true)
                        let label = "\(type) m \(m) n \(n) k \(k)"
                        assertClose(got, x, wf, want, label)
                        if m <= QuantMatmul.fusedChunkMaxRows && QuantMatmul.hasFusedKernel(type) {
                            // The fused kernel: within tolerance, and a row computes the same alone.
                            let row = try x.sliced(axis: 0, (m - 1)..<m).linear(w)
                            XCTAssertEqual(row.scalars(), Array(got.scalars().suffix(n)), label + " last row alone")
                        }
                        // Without the fused kernels: decoded rows, bit for bit the f32 kernels.
                        let decoded = try EngineSettings.with({ $0.fusedKernels = false }) { try x.linear(w) }
                        // Stronger: the own GEMM on the dequantised weight, bit for bit.
                        let own = Tensor.uninitialized([m, n])
                        GEMM.ownSgemm(
                            transA: false, transB: true, m: m, n: n, k: k, a: x.floatPointer, lda: k,
                            b: wf.floatPointer, ldb: k, c: own.floatPointer, ldc: n)
                        XCTAssertEqual(decoded.scalars().map(\.bitPattern), own.scalars().map(\.bitPattern), label)
                    }
                }
            }
        }
    }

    /// Several panels (large-M path) and several tasks and groups (small-M path).
    func testLargeShapesAndThreadCountIndependence() throws {
        for type in [DType.q4_1, .q8_0, .q5_0, .q4_K, .q6_K, .f16] {
            let n = 600, k = 512
            let w = try Self.weight(type, n: n, k: k, seed: 7)
            let wf = w.converted(to: .f32)
            for m in [1, 3, 5, 40] {
                let x = randomTensor([m, k], seed: 9 + UInt64(m))
                let got = try x.linear(w)
                assertClose(got, x, wf, try x.matmul(wf, transposeB: true), "\(type) m \(m)")
                try assertThreadCountIndependent("\(type) linear m \(m)") { try x.linear(w) }
            }
        }
    }

    /// The fused kernels' AVX-512 forms (one activation row: 16-value levels; more: two W rows per
    /// 16-float register) equal the 8-lane kernels bit for bit, for every fused type, row count
    /// (1-16: 9-16 rows run as two chunks)
    /// and odd n (a W row left over per task range); the grouped product's ranges cut its parts at
    /// odd rows too.
    func testWideFusedPathEqualsAVX2PathBitForBit() throws {
        try requireKernelPath(.avx512)
        // The two runs really take different kernels.
        XCTAssertTrue(EngineSettings.with({ $0.isa = .avx512 }) { QuantMatmul.usesWideFused(m: 2) })
        XCTAssertTrue(EngineSettings.with({ $0.isa = .avx512 }) { QuantMatmul.usesWideFused(m: 1) })
        XCTAssertFalse(EngineSettings.with({ $0.isa = .avx2 }) { QuantMatmul.usesWideFused(m: 8) })
        var seed: UInt64 = 5100
        for type in [DType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K] {
            let k = type.blockElements == 256 ? 512 : 32 * 19
            for n in [1, 7, 37] {
                seed += 1
                let w = try Self.weight(type, n: n, k: k, seed: seed)
                for m in Array(1...9) + [13, 16] {
                    let x = randomTensor([m, k], seed: seed &* 7 &+ UInt64(m))
                    let wide = try EngineSettings.with({ $0.isa = .avx512 }) { try x.linear(w).scalars() }
                    let narrow = try EngineSettings.with({ $0.isa = .avx2 }) { try x.linear(w).scalars() }
                    XCTAssertEqual(wide.map(\.bitPattern), narrow.map(\.bitPattern), "\(type) m \(m) n \(n) k \(k)")
                }
            }
        }
        let k = 512
        let ws = [try Self.weight(.q4_1, n: 37, k: k, seed: 5201), try Self.weight(.q4_1, n: 613, k: k, seed: 5202)]
        // Parts without scale tables: the kernels convert the blocks' scales (same bits).
        for m in [1, 2, 5, 8] {
            let x = randomTensor([m, k], seed: 5203 + UInt64(m))
            let outs = ws.map { Tensor.uninitialized([m, $0.shape[0]]) }
            let parts = zip(ws, outs).map {
                QuantMatmul.Part(w: UnsafeRawPointer($0.rawPointer), n: $0.shape[0], y: $1.floatPointer, ldy: $0.shape[0])
            }
            try onKernelPath(.avx512) { QuantMatmul.linear(.q4_1, m: m, k: k, x: x.floatPointer, ldx: k, parts: parts) }
            for (w, out) in zip(ws, outs) {
                let alone = try onKernelPath(.avx2) { try x.linear(w) }
                XCTAssertEqual(out.scalars().map(\.bitPattern), alone.scalars().map(\.bitPattern), "grouped m \(m) n \(w.shape[0])")
            }
        }
    }

    /// The fused kernel's several-row loop.
    func testFusedKernelWithSeveralRows() throws {
        for type in [DType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0] {
            let n = 37, k = 96
            let w = try Self.weight(type, n: n, k: k, seed: 21)
            let wf = w.converted(to: .f32)
            for m in [2, 3, 8] {
                let x = randomTensor([m, k], seed: 22 + UInt64(m))
                let got = try x.linear(w)
                assertClose(got, x, wf, try x.matmul(wf, transposeB: true), "fused \(type) m \(m)")
                let row = try x.sliced(axis: 0, (m - 1)..<m).linear(w)
                XCTAssertEqual(row.scalars(), Array(got.scalars().suffix(n)), "fused \(type) m \(m): last row alone")
            }
        }
    }

    /// Several weights in one grouped product (a layer's q, k, v; gate and up): every result
    /// equals the weight's own `linear` bit for bit, on every path (fused, int8, decoded rows,
    /// packed GEMM) and with weights of mixed types. K = 512 gives the 650 Q4_1 rows several
    /// tasks, whose ranges cut the 600-row part (which starts at row 50) at rows that are not
    /// multiples of four.
    func testGroupedProductEqualsSeparateProducts() throws {
        let k = 512
        let ws = [
            try Self.weight(.q4_1, n: 37, k: k, seed: 41), try Self.weight(.q8_0, n: 5, k: k, seed: 42),
            try Self.weight(.q4_1, n: 13, k: k, seed: 43), try Self.weight(.f16, n: 9, k: k, seed: 44),
            try Self.weight(.q4_1, n: 600, k: k, seed: 45)
        ]
        XCTAssertGreaterThan(QuantMatmul.rowTasks(units: (37 + 13 + 600) / 4, n: 650, k: k), 1)
        for mode in [QuantMatmul.ActivationMode.exact, .q8] {
            try EngineSettings.with({ $0.activations = mode }) {
                for m in [1, 3, 8, 13, 24, 40] {
                    let x = randomTensor([m, k], seed: 50 + UInt64(m))
                    let got = try x.linear(ws)
                    XCTAssertEqual(got.map(\.shape), ws.map { [m, $0.shape[0]] })
                    for (w, y) in zip(ws, got) {
                        XCTAssertEqual(
                            y.scalars().map(\.bitPattern), try x.linear(w).scalars().map(\.bitPattern),
                            "\(mode) m \(m) \(w.dtype) n \(w.shape[0])")
                    }
                    try assertThreadCountIndependent("grouped \(mode) m \(m)") { try x.linear(ws)[0] }
                }
            }
        }
        // A weight with another K is refused, naming the shapes; no weights, no results.
        let x = randomTensor([3, k], seed: 60)
        XCTAssertThrowsError(try x.linear([ws[0], try Self.weight(.q4_K, n: 3, k: 256, seed: 46)])) { error in
            XCTAssertTrue("\(error)".contains("[3, 256]"), "\(error)")
        }
        XCTAssertEqual(try x.linear([]).count, 0)
        XCTAssertEqual(try Tensor(1).linear([]).count, 0)  // rank 0: no K to read
    }

    func testTensorAPI() throws {
        let w = try Self.weight(.q4_0, n: 5, k: 64, seed: 3)
        let wf = w.converted(to: .f32)
        // Batch axes and a vector input.
        let x = randomTensor([2, 3, 64], seed: 4)
        let y = try x.linear(w)
        XCTAssertEqual(y.shape, [2, 3, 5])
        assertClose(y, x, wf, try x.matmul(wf, transposeB: true), "batch axes")  // m = 6: fused
        XCTAssertEqual(try x.matmul(w, transposeB: true).scalars(), y.scalars())
        let v = randomTensor([64], seed: 5)
        XCTAssertEqual(try v.linear(w).shape, [5])
        assertClose(try v.linear(w), v, wf, try v.matmul(wf, transposeB: true), "vector")  // fused: rounding differs
        // A non-contiguous input and an f32 weight.
        let xt = nonContiguousCopy(try randomTensor([3, 64], seed: 6))
        XCTAssertEqual(try xt.linear(w).scalars(), try xt.contiguous().linear(w).scalars())
        XCTAssertEqual(try xt.linear(wf).scalars(), try xt.matmul(wf, transposeB: true).scalars())
    }

    func testBadShapesThrowNamingBothShapes() throws {
        let w = try Self.weight(.q4_0, n: 7, k: 96, seed: 1)
        let x = randomTensor([3, 64], seed: 2)
        XCTAssertThrowsError(try x.linear(w)) { error in
            XCTAssertEqual(
                error as? TensorError,
                .shapeMismatch(
                    op: "linear", lhs: [3, 64], rhs: [7, 96],
                    reason: "the input's last size 64 differs from the weight's K = 96"))
            XCTAssertTrue("\(error)".contains("[3, 64]") && "\(error)".contains("[7, 96]"))
        }
        // K not a multiple of the block (such a tensor can be made, so the product must refuse it).
        let odd = Tensor(zeros: [7, 48], dtype: .q4_0)
        XCTAssertThrowsError(try randomTensor([2, 48], seed: 3).linear(odd)) { error in
            guard case let .shapeMismatch(op, lhs, rhs, _)? = error as? TensorError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(op, "linear")
            XCTAssertEqual(lhs, [2, 48])
            XCTAssertEqual(rhs, [7, 48])
        }
        let k3 = Tensor(zeros: [2, 300], dtype: .q4_K)
        XCTAssertThrowsError(try randomTensor([1, 300], seed: 3).linear(k3))
        XCTAssertThrowsError(try x.linear(randomTensor([64], seed: 1)))
    }
}
