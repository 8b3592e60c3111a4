import XCTest
@testable import Tensor

/// The SIMD block decoders, the fused few-row kernels and the decode-into-packed-panels path.
final class QuantKernelTests: XCTestCase {
    // These test the exact (f32-activation) kernels; the int8 path has its own tests below.
    /// Every test on exact activations, whatever GRM_QMM_ACT says.
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }
    static let blockTypes: [DType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// Offsets of the f16 scale fields of a block (set to finite values in random blocks).
    static func scaleOffsets(_ type: DType) -> [Int] {
        switch type {
        case .q4_0, .q5_0, .q8_0: return [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: return [0, 2]
        case .q2_K: return [80, 82]
        case .q3_K: return [108]
        case .q6_K: return [208]
        default: return []
        }
    }

    /// `blocks` blocks of random bytes (every bit pattern of the levels, scales and minima) with
    /// finite f16 scales of either sign.
    static func randomBlocks(_ type: DType, blocks: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var bytes = (0..<(blocks * type.blockBytes)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes.withUnsafeMutableBytes { p in
            for b in 0..<blocks {
                for o in scaleOffsets(type) {
                    QBits.storeF16(Float.random(in: -0.05...0.05, using: &rng), p.baseAddress! + b * type.blockBytes, o)
                }
            }
        }
        return bytes
    }

    /// `QuantMatmul.decode` (AVX2 when built with GRM_AVX2) equals the reference dequantiser bit for bit.
    func testDecodeMatchesReferenceBitForBit() {
        for type in Self.blockTypes {
            let blocks = 13
            let bytes = Self.randomBlocks(type, blocks: blocks, seed: 40 + UInt64(type.blockBytes))
            let count = blocks * type.blockElements
            var want = [Float](repeating: 0, count: count), got = [Float](repeating: .nan, count: count)
            bytes.withUnsafeBytes { src in
                want.withUnsafeMutableBufferPointer { Quant.dequantize(type, src.baseAddress!, $0.baseAddress!, count: count) }
                got.withUnsafeMutableBufferPointer { QuantMatmul.decode(type, src.baseAddress!, $0.baseAddress!, count: count) }
            }
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(type)")
        }
    }

    /// A weight [n, k] of `type` from random blocks (as the quantiser's output would be, but
    /// covering every level pattern).
    static func randomWeight(_ type: DType, n: Int, k: Int, seed: UInt64) -> Tensor {
        let t = Tensor.uninitialized([n, k], dtype: type)
        let bytes = randomBlocks(type, blocks: n * k / type.blockElements, seed: seed)
        bytes.withUnsafeBytes { t.rawPointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return t
    }

    /// |got - want| <= 2e-5 * sum_p |x_ip w_jp| + tiny, per element; want = f32 product on the dequantised W.
    func assertNear(_ got: Tensor, _ x: Tensor, _ wf: Tensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let want = try x.matmul(wf, transposeB: true)
        let g = got.scalars(), e = want.scalars(), xs = x.scalars(), ws = wf.scalars()
        let n = wf.shape[0], k = wf.shape[1], m = xs.count / k
        XCTAssertEqual(got.shape, want.shape, label, file: file, line: line)
        var bad = 0
        for i in 0..<m {
            for j in 0..<n {
                var mag: Float = 0
                for p in 0..<k { mag += abs(xs[i * k + p] * ws[j * k + p]) }
                if !(abs(g[i * n + j] - e[i * n + j]) <= 2e-5 * mag + 1e-30) { bad += 1 }
            }
        }
        XCTAssertEqual(bad, 0, "\(label): \(bad) of \(m * n) elements out of tolerance", file: file, line: line)
    }

    /// Every fused type, m = 1...9 (9 runs as two fused chunks), n not a multiple of the 4-row
    /// tile, one block and many; each row alone gives the same values as within the batch.
    func testFusedKernelsOddShapes() throws {
        XCTAssertEqual(QuantMatmul.fusedMaxRows, 8)
        var seed: UInt64 = 500
        for type in [DType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K] {
            XCTAssertTrue(QuantMatmul.hasFusedKernel(type))
            let qk = type.blockElements
            for k in [qk, qk * (qk == 32 ? 37 : 3)] {
                for n in [1, 6, 13] {
                    seed += 1
                    let w = Self.randomWeight(type, n: n, k: k, seed: seed)
                    let wf = w.converted(to: .f32)
                    for m in 1...9 {
                        let x = randomTensor([m, k], seed: seed &* 7 &+ UInt64(m))
                        let label = "\(type) m \(m) n \(n) k \(k)"
                        let got = try x.linear(w)
                        try assertNear(got, x, wf, label)
                        for i in Set([0, m / 2, m - 1]) {
                            let row = try x.sliced(axis: 0, i..<(i + 1)).linear(w)
                            XCTAssertEqual(
                                row.scalars().map(\.bitPattern),
                                Array(got.scalars()[(i * n)..<((i + 1) * n)]).map(\.bitPattern),
                                label + ": row \(i) alone")
                        }
                    }
                }
            }
        }
    }

    /// Fused kernels over many tasks, and the packed path with K blocks that end inside a
    /// quantisation block (k = 800: K blocks of 400; k = 768: of 384 = 1.5 super-blocks), and a
    /// ragged last panel: bit-identical to the own GEMM on the dequantised weight, for every
    /// thread count.
    func testLargeShapesThreadCountIndependence() throws {
        for (type, k) in [(DType.q4_1, 800), (.q8_0, 576), (.q5_1, 800), (.q4_K, 768), (.q6_K, 768), (.q3_K, 768), (.f16, 800)] {
            let n = 203
            let w = Self.randomWeight(type == .f16 ? .q8_0 : type, n: n, k: k, seed: 77)
            let wt = type == .f16 ? w.converted(to: .f32).converted(to: .f16) : w
            let wf = wt.converted(to: .f32)
            for m in [1, 2, 5, 8, 9, 16, 31, 40] {
                let x = randomTensor([m, k], seed: 78 + UInt64(m))
                let label = "\(type) m \(m) k \(k)"
                try assertThreadCountIndependent(label) { try x.linear(wt) }
                let got = try x.linear(wt)
                if m > QuantMatmul.fusedChunkMaxRows || !QuantMatmul.hasFusedKernel(type) {
                    let own = Tensor.uninitialized([m, n])
                    GEMM.ownSgemm(
                        transA: false, transB: true, m: m, n: n, k: k, a: x.floatPointer, lda: k,
                        b: wf.floatPointer, ldb: k, c: own.floatPointer, ldc: n)
                    XCTAssertEqual(got.scalars().map(\.bitPattern), own.scalars().map(\.bitPattern), label)
                } else {
                    try assertNear(got, x, wf, label)
                }
            }
        }
    }
}

/// The int8-activation path (`activationMode = .q8`), against dequantise-then-f32 within the
/// rounding of the activations.
final class QuantQ8ActivationTests: XCTestCase {
    func testQ8ActivationsWithinRoundingOfExact() throws { try checkQ8Contract() }

    /// The same contract on each int8 path the kernels can take; a path this build or CPU lacks
    /// is skipped by name.
    func testQ8ContractOnAVX2Path() throws { try onKernelPath(.avx2) { try checkQ8Contract() } }
    func testQ8ContractOnVNNIPath() throws { try onKernelPath(.avx512vnni) { try checkQ8Contract() } }

    /// `vpdpbusd` gives the integers `vpmaddubsw` + `vpmaddwd` give (no saturation with these
    /// levels), and the rest of the arithmetic is shared: the VNNI path equals the AVX2 path bit
    /// for bit, for every row count and type, signed Q8_0 levels of -128 included.
    func testVNNIPathEqualsAVX2PathBitForBit() throws {
        try requireKernelPath(.avx512vnni)
        try EngineSettings.with({
            $0.activations = .q8
            $0.q8Panels = false  // the panels' arithmetic is their own (QuantQ8GEMMTests)
        }) {
            var seed: UInt64 = 4100
            for type in [DType.q4_0, .q4_1, .q8_0] {
                for (n, k) in [(37, 32 * 19), (9, 64), (4, 576)] {
                    seed += 1
                    let w = QuantKernelTests.randomWeight(type, n: n, k: k, seed: seed)
                    if type == .q8_0 {
                        // Extreme levels: the first value of every block at -128.
                        for b in 0..<(n * k / 32) { w.rawPointer.storeBytes(of: 0x80, toByteOffset: 34 * b + 2, as: UInt8.self) }
                    }
                    for m in Array(1...9) + [16, 32] {
                        let x = randomTensor([m, k], seed: seed &* 7 &+ UInt64(m))
                        // The two runs really take different paths.
                        XCTAssertEqual(EngineSettings.with({ $0.isa = .avx2 }) { KernelISA.level }, .avx2)
                        XCTAssertEqual(EngineSettings.with({ $0.isa = .avx512vnni }) { KernelISA.level }, .avx512vnni)
                        let wide = try EngineSettings.with({ $0.isa = .avx512vnni }) { try x.linear(w).scalars() }
                        let narrow = try EngineSettings.with({ $0.isa = .avx2 }) { try x.linear(w).scalars() }
                        XCTAssertEqual(wide, narrow, "\(type) m \(m) n \(n) k \(k)")
                    }
                }
            }
        }
    }

    /// Below AVX2 there is no int8 kernel: `.q8` products are the exact ones, bit for bit.
    func testGenericPathRunsExactProducts() throws {
        try requireKernelPath(.generic)
        let w = QuantKernelTests.randomWeight(.q4_1, n: 21, k: 96, seed: 4200)
        let x = randomTensor([5, 96], seed: 4201)
        XCTAssertFalse(EngineSettings.with({ $0.isa = .generic }) { QuantMatmul.hasQ8Kernel(.q4_1) })
        let q8 = try EngineSettings.with({
            $0.activations = .q8
            $0.isa = .generic
        }) { try x.linear(w).scalars() }
        let exact = try EngineSettings.with({
            $0.activations = .exact
            $0.isa = .generic
        }) { try x.linear(w).scalars() }
        XCTAssertEqual(q8, exact)
    }

    func checkQ8Contract() throws {
        try EngineSettings.with({ $0.activations = .q8 }) {
            var seed: UInt64 = 900
            for type in [DType.q4_0, .q4_1, .q8_0] {
                XCTAssertEqual(QuantMatmul.hasQ8Kernel(type), QuantMatmul.hasQ8Kernel(.q4_0))
                for k in [32, 32 * 19] {
                    for n in [1, 7, 33] {
                        seed += 1
                        let w = QuantKernelTests.randomWeight(type, n: n, k: k, seed: seed)
                        let wf = w.converted(to: .f32)
                        let ws = wf.scalars()
                        // 13-32: two to four chunks of one quantisation; 40, 64: the int8 GEMM (VNNI) or f32.
                        for m in Array(1...8) + [13, 24, 32, 40, 64] {
                            let x = randomTensor([m, k], seed: seed &* 13 &+ UInt64(m))
                            let label = "q8 \(type) m \(m) n \(n) k \(k)"
                            let got = try x.linear(w).scalars()
                            let want = try x.matmul(wf, transposeB: true).scalars()
                            let xs = x.scalars()
                            var bad = 0
                            for i in 0..<m {
                                for j in 0..<n {
                                    // Each activation moves by at most max|x_block| / 254; the scales
                                    // d_x and s are kept as f16 (relative error 2^-11).
                                    var bound: Float = 0
                                    for b in 0..<(k / 32) {
                                        var amax: Float = 0, wsum: Float = 0, mag: Float = 0
                                        for l in 0..<32 {
                                            let p = 32 * b + l
                                            amax = max(amax, abs(xs[i * k + p]))
                                            wsum += abs(ws[j * k + p])
                                            mag += abs(xs[i * k + p] * ws[j * k + p])
                                        }
                                        bound += amax / 254 * wsum * 1.01 + 1e-3 * (mag + amax * wsum)
                                    }
                                    if !(abs(got[i * n + j] - want[i * n + j]) <= bound + 1e-30) { bad += 1 }
                                }
                            }
                            XCTAssertEqual(bad, 0, label)
                            if QuantMatmul.hasQ8Kernel(type) {
                                // Activations really are rounded (not the exact path by accident) ...
                                let exact = try EngineSettings.with({ $0.activations = .exact }) { try x.linear(w).scalars() }
                                if (m == 8 || m == 32) && n == 33 && k > 32 { XCTAssertNotEqual(got, exact, label) }
                                // ... a row alone gives the same values (up to `q8MaxRows` rows: one
                                // kernel), and so does every thread count.
                                if m <= QuantMatmul.q8MaxRows {
                                    let row = try x.sliced(axis: 0, (m - 1)..<m).linear(w)
                                    XCTAssertEqual(row.scalars(), Array(got.suffix(n)), label + ": last row alone")
                                }
                                try assertThreadCountIndependent(label) { try x.linear(w) }
                            }
                        }
                    }
                }
            }
        }
    }

    #if arch(x86_64) && GRM_AVX2
    /// The vectorised block quantisation is ggml's `quantize_row_q8_1` (scalar reference here):
    /// the same levels (ties to even), d and s, on random blocks and on exact ties.
    func testQuantizeBlockMatchesScalarReference() {
        var rng = SeededRandom(seed: 77)
        var blocks: [[Float]] = (0..<200).map { _ in (0..<32).map { _ in Float(rng.nextDouble() * 8 - 4) } }
        blocks.append((0..<32).map { l in l == 0 ? 127 : Float(l) - 15.5 })  // x * 127 / max = x: halves
        blocks.append([Float](repeating: 0, count: 32))
        blocks.append((0..<32).map { l in l == 5 ? -1e-3 : 0 })
        for (n, x) in blocks.enumerated() {
            var q = [Int8](repeating: 0, count: 32), d: Float = 0, s: Float = 0
            x.withUnsafeBufferPointer { xp in
                q.withUnsafeMutableBufferPointer { QuantMatmul.quantizeBlock(xp.baseAddress!, $0.baseAddress!, &d, &s) }
            }
            let amax = x.map(abs).max()!
            let id: Float = amax != 0 ? 127 / amax : 0
            let want = x.map { Float(($0 * id).rounded(.toNearestOrEven)) }
            XCTAssertEqual(q.map { Float($0) }, want, "block \(n)")
            XCTAssertEqual(d, QBits.roundTripF16(amax / 127), "block \(n)")
            XCTAssertEqual(s, QBits.roundTripF16(amax / 127 * want.reduce(0, +)), "block \(n)")
        }
    }
    #endif
}
