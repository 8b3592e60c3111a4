import XCTest
@testable import Tensor

/// Tensor-level matmul: batching, broadcasting, transposed views, vectors. (GEMM itself is tested
/// against a naive reference in GEMMTests.)
final class MatmulTests: XCTestCase {
    /// Naive batched matmul over broadcast batch axes, in Double.
    func reference(_ a: Tensor, _ b: Tensor) -> [Float] {
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        let batch = try! Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "ref")
        let av = try! a.broadcast(to: batch + [m, k]), bv = try! b.broadcast(to: batch + [k, n])
        var out: [Float] = []
        for bi in allIndices(batch) {
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Double = 0
                    for p in 0..<k {
                        acc += Double(Reference.element(av, bi + [i, p])) * Double(Reference.element(bv, bi + [p, j]))
                    }
                    out.append(Float(acc))
                }
            }
        }
        return out
    }

    func testBatchedBroadcastAndTransposedViews() throws {
        let cases: [([Int], [Int])] = [
            ([1, 1], [1, 1]), ([7, 17], [17, 5]), ([3, 63, 7], [3, 7, 17]), ([2, 3, 5, 9], [9, 4]),
            ([5, 9], [2, 1, 9, 6]), ([4, 1, 17], [1, 17, 3]), ([577, 33], [33, 65])
        ]
        for (i, (sa, sb)) in cases.enumerated() {
            let a = randomTensor(sa, seed: UInt64(i)), b = randomTensor(sb, seed: UInt64(50 + i))
            let expected = reference(a, b)
            XCTAssertClose(try a.matmul(b).scalars(), expected, tol: 1e-4, mixed: true, "\(sa) x \(sb)")
            // The same product from transposed storage, passed as views with transpose flags.
            let at = try a.transposed().contiguous(), bt = try b.transposed().contiguous()
            XCTAssertClose(
                try at.matmul(bt, transposeA: true, transposeB: true).scalars(), expected,
                tol: 1e-4, mixed: true, "transposed \(sa) x \(sb)")
            XCTAssertClose(
                try nonContiguousCopy(a).matmul(nonContiguousCopy(b)).scalars(), expected,
                tol: 1e-4, mixed: true, "strided \(sa) x \(sb)")
        }
    }

    func testVectorsAndEmptyShapes() throws {
        let m = randomTensor([5, 7], seed: 1), v = randomTensor([7], seed: 2), w = randomTensor([5], seed: 3)
        let mv = try m.matmul(v)
        XCTAssertEqual(mv.shape, [5])
        XCTAssertClose(mv.scalars(), reference(m, try v.unsqueezed(axis: 1)), tol: 1e-5, mixed: true)
        let vm = try w.matmul(m)
        XCTAssertEqual(vm.shape, [7])
        XCTAssertClose(vm.scalars(), reference(try w.unsqueezed(axis: 0), m), tol: 1e-5, mixed: true)
        XCTAssertEqual(try Tensor(zeros: [3, 0]).matmul(Tensor(zeros: [0, 4])).scalars(), [Float](repeating: 0, count: 12))
        XCTAssertEqual(try Tensor(zeros: [0, 5]).matmul(Tensor(zeros: [5, 4])).shape, [0, 4])
    }

    func testShapeErrorsNameBothShapes() {
        XCTAssertThrowsError(try Tensor(zeros: [3, 4]).matmul(Tensor(zeros: [5, 6]))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("[3, 4]") && text.contains("[5, 6]"), text)
        }
        XCTAssertThrowsError(try Tensor(zeros: [2, 3, 4]).matmul(Tensor(zeros: [3, 4, 2])))
    }

    func testBatchedMatmulIsThreadCountIndependent() throws {
        let q = randomTensor([9, 64, 64], seed: 4), k = randomTensor([9, 64, 64], seed: 5)
        try assertThreadCountIndependent("attention-shaped bmm") { try q.matmul(k, transposeB: true) }
        let x = randomTensor([512, 576], seed: 6), w = randomTensor([1536, 576], seed: 7)
        try assertThreadCountIndependent("projection") { try x.matmul(w, transposeB: true) }
    }
}
