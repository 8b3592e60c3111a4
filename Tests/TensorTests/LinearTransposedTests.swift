import XCTest
@testable import Tensor

/// dX = dY * W with W in its stored type (the input gradient of `linear`), against dequantising
/// W and calling the own GEMM: bit for bit, on odd shapes, for 1 and 2 threads.
final class LinearTransposedTests: XCTestCase {
    func testEveryTypeBitExactWithDequantisedGEMM() throws {
        var seed: UInt64 = 900
        for type in [DType.f32] + QuantMatmulTests.weightTypes {
            let ks = type.blockElements == 256 ? [256, 768] : (type.blockElements == 32 ? [32, 160] : [40, 97])
            for k in ks {
                for n in [1, 7, 45] {
                    seed += 1
                    let w = try type == .f32 ? randomTensor([n, k], seed: seed) : QuantMatmulTests.weight(type, n: n, k: k, seed: seed)
                    let wf = w.converted(to: .f32).contiguous()
                    for m in [1, 3, 8, 9, 37] {
                        let dy = randomTensor([m, n], seed: seed &* 17 &+ UInt64(m))
                        let want = Tensor.uninitialized([m, k])
                        GEMM.ownSgemm(
                            transA: false, transB: false, m: m, n: k, k: n, a: dy.floatPointer, lda: n,
                            b: wf.floatPointer, ldb: k, c: want.floatPointer, ldc: k)
                        for threads in [1, 2] {
                            let got = try withThreads(threads) { try dy.linearTransposed(w) }
                            XCTAssertEqual(got.shape, [m, k])
                            XCTAssertEqual(
                                got.scalars().map(\.bitPattern), want.scalars().map(\.bitPattern),
                                "\(type) m \(m) n \(n) k \(k) threads \(threads)")
                        }
                    }
                }
            }
        }
    }

    /// Shapes that split into several K blocks (n, the reduction, past KC), several column blocks
    /// (k past NC, not a multiple of the panel width) and pack tasks, against the dequantised
    /// reference.
    func testLargeShapesSplitAcrossBlocksAndTasks() throws {
        for (type, n, k, m) in [
            (DType.q4_1, 1536, 576, 70), (.q8_0, 3000, 96, 12), (.q4_K, 600, 1280, 33), (.q6_K, 300, 256, 5),
            (.q8_0, 40, 4160, 12), (.q4_0, 300, 8224, 9)
        ] {
            let w = try QuantMatmulTests.weight(type, n: n, k: k, seed: UInt64(n + k))
            let wf = w.converted(to: .f32).contiguous()
            let dy = randomTensor([m, n], seed: UInt64(m))
            let want = Tensor.uninitialized([m, k])
            GEMM.ownSgemm(
                transA: false, transB: false, m: m, n: k, k: n, a: dy.floatPointer, lda: n,
                b: wf.floatPointer, ldb: k, c: want.floatPointer, ldc: k)
            let got = try dy.linearTransposed(w)
            XCTAssertEqual(got.scalars().map(\.bitPattern), want.scalars().map(\.bitPattern), "\(type) \(m)x\(n)x\(k)")
        }
    }

    func testBatchAxesAndErrors() throws {
        let w = try QuantMatmulTests.weight(.q4_0, n: 5, k: 64, seed: 3)
        let dy = randomTensor([2, 3, 5], seed: 4)
        let got = try dy.linearTransposed(w)
        XCTAssertEqual(got.shape, [2, 3, 64])
        XCTAssertEqual(got.scalars(), try dy.reshaped([6, 5]).linearTransposed(w).scalars())
        XCTAssertThrowsError(try randomTensor([2, 4], seed: 5).linearTransposed(w)) { e in
            XCTAssertTrue("\(e)".contains("linearTransposed"), "\(e)")
        }
    }

    /// The frozen-weight linear op: forward is `linear`, the input's gradient checks against
    /// finite differences with a quantised weight, and the weight gets none.
    func testFrozenLinearGradCheck() throws {
        for type in [DType.q4_1, .q8_0, .f16, .q4_K] {
            let k = type.blockElements == 256 ? 256 : 64
            let w = try QuantMatmulTests.weight(type, n: 6, k: k, seed: 11)
            let x = Variable(randomTensor([3, k], seed: 12, range: -1...1), requiresGrad: true)
            let r = try GradCheck.check([x]) { v in try v[0].linear(frozen: w) }
            XCTAssertTrue(r.passed, "\(type): \(r)")
        }
    }

    /// A LoRA-adapted projection over a quantised base: y = x W^T + s (x A^T) B^T. Gradients of x,
    /// A and B check against finite differences.
    func testLoRAOverQuantisedBaseGradCheck() throws {
        let w = try QuantMatmulTests.weight(.q4_1, n: 5, k: 64, seed: 21)
        let x = Variable(randomTensor([4, 64], seed: 22, range: -1...1), requiresGrad: true)
        let a = Variable(randomTensor([3, 64], seed: 23, range: -0.5...0.5), requiresGrad: true)
        let b = Variable(randomTensor([5, 3], seed: 24, range: -0.5...0.5), requiresGrad: true)
        let r = try GradCheck.check([x, a, b]) { v in
            try v[0].linear(frozen: w) + v[0].matmul(v[1], transposeB: true).matmul(v[2], transposeB: true).scaled(by: 2)
        }
        XCTAssertTrue(r.passed, "\(r)")
    }
}

extension LinearTransposedTests {
    /// The fused LoRA op equals the composed ops (up to rounding) and its gradients check
    /// against finite differences, for a quantised and an f32 base.
    func testFusedLoRALinear() throws {
        for type in [DType.q4_1, .f32] {
            let w = try type == .f32 ? randomTensor([5, 64], seed: 31) : QuantMatmulTests.weight(type, n: 5, k: 64, seed: 31)
            let x = Variable(randomTensor([2, 3, 64], seed: 32, range: -1...1), requiresGrad: true)
            let a = Variable(randomTensor([3, 64], seed: 33, range: -0.5...0.5), requiresGrad: true)
            let b = Variable(randomTensor([5, 3], seed: 34, range: -0.5...0.5), requiresGrad: true)
            let fused = try x.linear(frozen: w, loraA: a, loraB: b, scale: 1.5)
            let composed = try x.linear(frozen: w) + x.matmul(a, transposeB: true).matmul(b, transposeB: true).scaled(by: 1.5)
            XCTAssertEqual(fused.shape, [2, 3, 5])
            XCTAssertClose(fused.value.scalars(), composed.value.scalars(), tol: 1e-5, mixed: true)
            let r = try GradCheck.check([x, a, b]) { v in try v[0].linear(frozen: w, loraA: v[1], loraB: v[2], scale: 1.5) }
            XCTAssertTrue(r.passed, "\(type): \(r)")
        }
        XCTAssertThrowsError(
            try Variable(randomTensor([2, 64], seed: 1)).linear(
                frozen: randomTensor([5, 64], seed: 2), loraA: Variable(randomTensor([3, 32], seed: 3)),
                loraB: Variable(randomTensor([5, 3], seed: 4)), scale: 1))
    }

    /// The int8 input gradient (`int8TransposedCopy`, `linear(frozen:transposed:)`): W^T as Q8_0
    /// [K, N], dY rounded to int8 per block; within the two roundings of the exact `dY W`, the same
    /// for 1 and 2 threads, and what the op's backward returns. Nil (exact backward) where N is
    /// not a multiple of 32 or the CPU lacks AVX-512 VNNI.
    func testInt8InputGradientThroughTransposedCopy() throws {
        XCTAssertNil(try QuantMatmul.int8TransposedCopy(of: QuantMatmulTests.weight(.q4_1, n: 45, k: 64, seed: 3)))
        guard KernelISA.level >= .avx512vnni else { throw XCTSkip("the int8 input gradient needs AVX-512 VNNI (\(KernelISA.level))") }
        for (type, n, k, m) in [(DType.q4_1, 96, 160, 37), (.q8_0, 64, 32, 5), (.q4_0, 1536, 576, 70)] {
            let w = try QuantMatmulTests.weight(type, n: n, k: k, seed: UInt64(n * k))
            let wt = try XCTUnwrap(QuantMatmul.int8TransposedCopy(of: w))
            XCTAssertEqual(wt.dtype, .q8_0)
            XCTAssertEqual(wt.shape, [k, n])
            // Rows of gradient-like magnitudes, far below f16's range (1e-9) to large (1e3).
            let base = randomTensor([m, n], seed: UInt64(m)).scalars()
            let dy = try Tensor(shape: [m, n], scalars: base.indices.map { base[$0] * [1e-9, 1e-5, 1, 1e3][($0 / n) % 4] })
            let exact = try dy.linearTransposed(w).scalars()
            let got = try withThreads(1) { try Variable.inputGradient(dy, w, wt) }.scalars()
            XCTAssertEqual(try withThreads(2) { try Variable.inputGradient(dy, w, wt) }.scalars().map(\.bitPattern), got.map(\.bitPattern))
            // Each element: two 8-bit roundings (dY per block, W^T per block) of a sum of n terms.
            var err: Float = 0, norm: Float = 0
            for (a, b) in zip(got, exact) {
                err += (a - b) * (a - b)
                norm += b * b
            }
            XCTAssertLessThan((err / norm).squareRoot(), 0.02, "\(type) n \(n) k \(k) m \(m)")
            for r in 0..<m {
                var e: Float = 0, t: Float = 0
                for j in 0..<k {
                    e += (got[r * k + j] - exact[r * k + j]) * (got[r * k + j] - exact[r * k + j])
                    t += exact[r * k + j] * exact[r * k + j]
                }
                XCTAssertLessThan((e / t).squareRoot(), 0.03, "row \(r) (scale \([1e-9, 1e-5, 1, 1e3][r % 4])) of \(type) n \(n) k \(k)")
            }
            XCTAssertNotEqual(got.map(\.bitPattern), exact.map(\.bitPattern), "the int8 kernels ran")
            // The op's backward takes the same path.
            let x = Variable(randomTensor([m, k], seed: 5), requiresGrad: true)
            let y = try x.linear(frozen: w, transposed: wt)
            try (y * Variable(dy)).sum().backward()
            XCTAssertEqual(x.grad!.scalars().map(\.bitPattern), got.map(\.bitPattern))
        }
    }
}
