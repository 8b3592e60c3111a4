import XCTest
@testable import Tensor

final class GEMMTests: XCTestCase {
    typealias Impl = (
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) -> Void

    static let own: Impl = {
        GEMM.ownSgemm(
            transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7,
            b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
    }
    static let openBLAS: Impl = {
        _ = OpenBLAS.sgemm(
            transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6,
            lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
    }
    static let dispatched: Impl = {
        GEMM.sgemm(
            transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6,
            lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
    }

    struct Rng {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)  // [-1, 1)
        }
        mutating func fill(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
    }

    /// Runs `impl` on random data and checks it against a double-precision triple loop.
    func check(
        _ impl: Impl, _ label: String, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, beta: Float = 0, pad: Int = 0, nanC: Bool = false,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var rng = Rng(state: UInt64(m * 1_000_003 + n * 1009 + k * 7 + pad + (transA ? 1 : 0) * 31 + (transB ? 1 : 0) * 17))
        let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad
        let rowsA = transA ? k : m, rowsB = transB ? n : k
        let a = rng.fill(max(1, rowsA * lda)), b = rng.fill(max(1, rowsB * ldb))
        var c = nanC ? [Float](repeating: .nan, count: max(1, m * ldc)) : rng.fill(max(1, m * ldc))
        let c0 = c
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    impl(
                        transA, transB, m, n, k, alpha, pa.baseAddress!, max(1, lda), pb.baseAddress!, max(1, ldb),
                        beta, pc.baseAddress!, max(1, ldc))
                }
            }
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, mag = 0.0
                for p in 0..<k {
                    let x = Double(transA ? a[p * lda + i] : a[i * lda + p])
                    let y = Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                    s += x * y
                    mag += abs(x * y)
                }
                let old = beta == 0 ? 0 : Double(c0[i * ldc + j])
                let ref = Double(alpha) * s + Double(beta) * old
                let tol = 4e-7 * Double(k + 4) * (abs(Double(alpha)) * mag + abs(Double(beta) * old)) + 1e-30
                let err = abs(Double(c[i * ldc + j]) - ref)
                if !(err <= tol) {
                    XCTFail(
                        "\(label) tA=\(transA) tB=\(transB) m=\(m) n=\(n) k=\(k) alpha=\(alpha) beta=\(beta) pad=\(pad): "
                            + "C[\(i),\(j)] = \(c[i * ldc + j]), expected \(ref)", file: file, line: line)
                    return
                }
                worst = max(worst, err / max(tol, 1e-30))
            }
            // Padding past n must be untouched.
            for j in n..<ldc where c[i * ldc + j].bitPattern != c0[i * ldc + j].bitPattern {
                XCTFail("\(label): padding C[\(i),\(j)] written", file: file, line: line)
                return
            }
        }
    }

    func checkMany(_ impl: Impl, _ label: String) {
        let dims = [1, 7, 17, 63]
        let rows = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 63]
        for tA in [false, true] {
            for tB in [false, true] {
                for m in rows {
                    for n in dims {
                        for k in dims {
                            check(impl, label, transA: tA, transB: tB, m: m, n: n, k: k)
                        }
                    }
                }
                // Larger: several K blocks, M blocks, edge tiles, small path with long rows.
                for (m, n, k) in [
                    (577, 63, 17), (17, 577, 63), (63, 17, 577), (129, 77, 300),
                    (1, 577, 577), (8, 577, 577), (7, 130, 577), (300, 300, 600)
                ] {
                    check(impl, label, transA: tA, transB: tB, m: m, n: n, k: k)
                }
                // Leading dimensions larger than minimal, with alpha and beta.
                for (m, n, k) in [(1, 17, 63), (8, 63, 17), (17, 63, 577), (63, 63, 63), (577, 17, 7)] {
                    check(impl, label, transA: tA, transB: tB, m: m, n: n, k: k, alpha: -1.5, beta: 0.25, pad: 5)
                    check(impl, label, transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.5, beta: 0, pad: 3, nanC: true)
                    check(impl, label, transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, beta: 1, pad: 1)
                }
            }
        }
        // More columns than one packed B block (NC), and the 49152-row weight's small-path shape.
        check(impl, label, transA: false, transB: true, m: 9, n: 4200, k: 7)
        check(impl, label, transA: false, transB: false, m: 9, n: 4200, k: 7)
        check(impl, label, transA: false, transB: true, m: 3, n: 6001, k: 40)
    }

    func testOwnAgainstReference() {
        checkMany(Self.own, "own")
    }

    /// The own GEMM with the kernels held to each path (micro-kernel and small-row vectors follow
    /// `KernelISA.level`); a path this build or CPU lacks is skipped by name.
    func testOwnOnAVX2Path() throws { try onKernelPath(.avx2) { checkMany(Self.own, "own, avx2 path") } }
    func testOwnOnAVX512Path() throws { try onKernelPath(.avx512) { checkMany(Self.own, "own, avx512 path") } }

    func testOtherMicroKernelAgainstReference() {
        // The micro-kernel this machine does not use still runs here (SIMD16 on AVX2 or vice versa).
        let saved = GEMM.kernelOverride
        GEMM.kernel = KernelISA.level >= .avx512 ? .avx2 : .avx512
        defer { GEMM.kernelOverride = saved }
        for (m, n, k) in [(9, 1, 1), (13, 33, 17), (63, 63, 63), (577, 63, 17), (25, 70, 450), (100, 4100, 5)] {
            for tA in [false, true] {
                for tB in [false, true] {
                    check(Self.own, "other kernel", transA: tA, transB: tB, m: m, n: n, k: k)
                    check(Self.own, "other kernel", transA: tA, transB: tB, m: m, n: n, k: k, alpha: 2, beta: -1, pad: 3)
                }
            }
        }
    }

    func testOtherSmallVectorWidth() {
        let small: Impl = {
            if CPU.hasAVX512 {
                GEMM.small(
                    SIMD8<Float>.self, transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7,
                    b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
            } else {
                GEMM.small(
                    SIMD16<Float>.self, transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7,
                    b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
            }
        }
        for m in [1, 3, 4, 8] {
            for (n, k) in [(1, 1), (7, 17), (63, 63), (33, 577)] {
                for tA in [false, true] {
                    for tB in [false, true] {
                        check(small, "other width", transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.5, beta: 2, pad: 2)
                    }
                }
            }
        }
    }

    func testOpenBLASAgainstReference() throws {
        try XCTSkipUnless(OpenBLAS.isAvailable, "OpenBLAS not installed")
        for tA in [false, true] {
            for tB in [false, true] {
                for (m, n, k) in [(1, 7, 17), (8, 63, 63), (17, 63, 577), (577, 17, 7), (63, 63, 1)] {
                    check(Self.openBLAS, "openblas", transA: tA, transB: tB, m: m, n: n, k: k)
                    check(
                        Self.openBLAS, "openblas", transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.5, beta: 0,
                        pad: 3, nanC: true)
                    check(Self.openBLAS, "openblas", transA: tA, transB: tB, m: m, n: n, k: k, alpha: -1.5, beta: 0.25, pad: 5)
                }
            }
        }
    }

    func testDispatchAgainstReference() {
        for backend in [GEMM.Backend.auto, .fastest, .openBLAS] {
            EngineSettings.with({ $0.gemmBackend = backend }) {
                for (m, n, k) in [(1, 576, 64), (8, 64, 576), (64, 200, 100), (577, 63, 17)] {
                    check(Self.dispatched, "dispatch \(backend)", transA: false, transB: true, m: m, n: n, k: k)
                    check(
                        Self.dispatched, "dispatch \(backend)", transA: true, transB: false, m: m, n: n, k: k,
                        alpha: 2, beta: 0, pad: 1, nanC: true)
                }
            }
        }
    }

    func testEmptyDimensions() {
        for impl in [Self.own, Self.dispatched] {
            var c: [Float] = [1, 2, 3, 4, 5, 6]
            let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [1, 2, 3, 4, 5, 6]
            // k == 0: C = beta * C.
            impl(false, false, 2, 3, 0, 1, a, 1, b, 3, 2, &c, 3)
            XCTAssertEqual(c, [2, 4, 6, 8, 10, 12])
            impl(false, false, 2, 3, 0, 1, a, 1, b, 3, 0, &c, 3)
            XCTAssertEqual(c, [0, 0, 0, 0, 0, 0])
            // alpha == 0: A and B are not read.
            c = [.nan, 1, 2, 3, 4, 5]
            impl(false, false, 2, 3, 2, 0, a, 2, b, 3, 0, &c, 3)
            XCTAssertEqual(c, [0, 0, 0, 0, 0, 0])
            // m == 0 or n == 0: C is untouched.
            c = [1, 2, 3, 4, 5, 6]
            impl(false, false, 0, 3, 2, 1, a, 2, b, 3, 0, &c, 3)
            impl(false, true, 2, 0, 2, 1, a, 2, b, 2, 0, &c, 1)
            XCTAssertEqual(c, [1, 2, 3, 4, 5, 6])
        }
    }

    func testBitIdenticalForEveryThreadCount() {
        let shapes: [(Bool, Bool, Int, Int, Int)] = [
            (false, true, 577, 300, 577), (false, false, 200, 4200, 33), (true, true, 63, 63, 1100),
            (false, true, 8, 1000, 577), (false, false, 5, 999, 300), (true, true, 1, 2000, 100)
        ]
        var rng = Rng(state: 42)
        let a = rng.fill(577 * 1100), b = rng.fill(4200 * 577)
        var results: [[[Float]]] = []
        for threads in [1, 2, 3] {
            EngineSettings.with({ $0.threads = threads }) {
                var perShape: [[Float]] = []
                for (tA, tB, m, n, k) in shapes {
                    var c = [Float](repeating: 0, count: m * n)
                    GEMM.ownSgemm(
                        transA: tA, transB: tB, m: m, n: n, k: k, a: a, lda: tA ? m : k,
                        b: b, ldb: tB ? k : n, c: &c, ldc: n)
                    perShape.append(c)
                }
                results.append(perShape)
            }
        }
        for t in 1..<results.count {
            for s in 0..<shapes.count {
                XCTAssertTrue(
                    results[t][s].elementsEqual(results[0][s]) { $0.bitPattern == $1.bitPattern },
                    "shape \(shapes[s]) differs between thread counts")
            }
        }
    }

    func testSmallPathIsBatchInvariant() {
        // A row computes the same alone as within a batch of up to 8 rows (both layouts of B).
        var rng = Rng(state: 7)
        let (n, k) = (70, 133)
        let a = rng.fill(8 * k), b = rng.fill(n * k)
        for tB in [false, true] {
            var batch = [Float](repeating: 0, count: 8 * n)
            GEMM.ownSgemm(
                transA: false, transB: tB, m: 8, n: n, k: k, a: a, lda: k, b: b, ldb: tB ? k : n,
                c: &batch, ldc: n)
            for i in 0..<8 {
                var one = [Float](repeating: 0, count: n)
                a.withUnsafeBufferPointer { pa in
                    GEMM.ownSgemm(
                        transA: false, transB: tB, m: 1, n: n, k: k, a: pa.baseAddress! + i * k, lda: k,
                        b: b, ldb: tB ? k : n, c: &one, ldc: n)
                }
                XCTAssertEqual(one.map(\.bitPattern), Array(batch[i * n..<(i + 1) * n]).map(\.bitPattern), "row \(i)")
            }
        }
    }
}
