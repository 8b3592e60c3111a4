import XCTest
@testable import Tensor

final class ReduceTests: XCTestCase {
    func testReductionsOverEveryAxisAgainstReference() throws {
        for (n, shape) in [[1], [7], [577], [17, 63], [3, 5, 7], [2, 1, 9, 4], [4, 40_000]].enumerated() {
            let x = randomTensor(shape, seed: UInt64(n))
            for xi in [x, nonContiguousCopy(x)] {
                for axis in 0..<shape.count {
                    for kind in [Reduction.sum, .max, .mean] {
                        let got = try xi.reduce(kind, axis: axis)
                        var expectedShape = shape
                        expectedShape.remove(at: axis)
                        XCTAssertEqual(got.shape, expectedShape)
                        XCTAssertClose(
                            got.scalars(), Reference.reduce(xi, axis: axis, kind),
                            tol: 2e-5, mixed: true, "\(kind) axis \(axis) of \(shape)")
                    }
                }
            }
        }
        let kept = try randomTensor([3, 4], seed: 1).sum(axis: 1, keepingAxis: true)
        XCTAssertEqual(kept.shape, [3, 1])
    }

    func testLongRunsAreChunkedAndThreadIndependent() throws {
        let x = randomTensor([1_000_003], seed: 5)
        let total = x.scalars().reduce(0.0) { $0 + Double($1) }
        XCTAssertEqual(Double(try x.sum()[]), total, accuracy: 1e-2)
        try assertThreadCountIndependent("sum") { try x.sum(axis: 0) }
        let y = randomTensor([3, 500_001], seed: 6)
        try assertThreadCountIndependent("mean rows") { try y.mean(axis: 1) }
        try assertThreadCountIndependent("max cols") { try y.max(axis: 0) }
    }

    func testEmptyAxes() throws {
        XCTAssertEqual(try Tensor(zeros: [3, 0]).sum(axis: 1).scalars(), [0, 0, 0])
        XCTAssertThrowsError(try Tensor(zeros: [3, 0]).max(axis: 1))
    }
}
