import XCTest
@testable import Tensor

/// Softmax, log-softmax, RMSNorm and RoPE: ops that work along rows.
final class RowOpsTests: XCTestCase {
    let shapes: [[Int]] = [[1], [7], [17], [63], [577], [3, 49_152], [5, 1, 17], [9, 64]]

    func testSoftmaxAndLogSoftmaxAgainstReference() throws {
        for (n, shape) in shapes.enumerated() {
            let x = randomTensor(shape, seed: UInt64(n), range: -30...30)
            for xi in [x, nonContiguousCopy(x)] {
                XCTAssertClose(try xi.softmax().scalars(), Reference.rows(xi, Reference.softmax), tol: 1e-6, "softmax \(shape)")
                XCTAssertClose(
                    try xi.logSoftmax().scalars(), Reference.rows(xi, Reference.logSoftmax),
                    tol: 2e-6, mixed: true, "logSoftmax \(shape)")
            }
        }
        // Another axis: softmax over axis 0 equals the transposed softmax over the last.
        let m = randomTensor([7, 5], seed: 9)
        XCTAssertClose(try m.softmax(axis: 0).scalars(), try m.transposed().softmax().transposed().contiguous().scalars(), tol: 0)
    }

    func testSoftmaxIsStableForHugeLogitsAndMasks() throws {
        let x = try Tensor(shape: [1, 5], scalars: [1000, 999, -.infinity, 998, -.infinity])
        let s = try x.softmax().scalars()
        XCTAssertClose(s, Reference.softmax([1000, 999, -.infinity, 998, -.infinity]).map(Float.init), tol: 1e-6)
        XCTAssertEqual(s[2], 0)
        let l = try x.logSoftmax().scalars()
        XCTAssertEqual(l[2], -.infinity)
        XCTAssertEqual(Double(l[0]), Reference.logSoftmax([1000, 999, -.infinity, 998, -.infinity])[0], accuracy: 1e-5)
    }

    func testRMSNormAgainstReference() throws {
        for (n, shape) in shapes.enumerated() {
            let x = randomTensor(shape, seed: UInt64(n)), d = shape.last!
            let w = randomTensor([d], seed: 77)
            for xi in [x, nonContiguousCopy(x)] {
                XCTAssertClose(
                    try xi.rmsNorm(weight: w, eps: 1e-5).scalars(),
                    Reference.rows(xi) { Reference.rmsNorm($0, weight: w.scalars(), eps: 1e-5) },
                    tol: 2e-6, mixed: true, "rmsNorm \(shape)")
                XCTAssertClose(
                    try xi.rmsNorm(weight: nil, eps: 1e-6).scalars(),
                    Reference.rows(xi) { Reference.rmsNorm($0, weight: nil, eps: 1e-6) },
                    tol: 2e-6, mixed: true, "rmsNorm without weight \(shape)")
            }
        }
        XCTAssertThrowsError(try Tensor(zeros: [2, 5]).rmsNorm(weight: Tensor(zeros: [4]))) { error in
            XCTAssertTrue("\(error)".contains("[2, 5]") && "\(error)".contains("[4]"))
        }
    }

    func testRoPEBothLayoutsAgainstReference() throws {
        for (shape, dims) in [([3, 2, 8], 8), ([2, 5, 3, 64], 64), ([7, 9, 64], 32), ([1, 1, 2], 2)] {
            let t = shape[shape.count - 3]
            let x = randomTensor(shape, seed: 3)
            let positions = (0..<t).map { Int32($0 * 37 + 5) }
            for (layout, halves) in [(RoPE.Layout.adjacentPairs, false), (.halves, true)] {
                let rope = RoPE(base: 10000, dims: dims, layout: layout)
                for xi in [x, nonContiguousCopy(x)] {
                    XCTAssertClose(
                        try xi.rope(rope, positions: positions).scalars(),
                        Reference.rope(xi, positions: positions, base: 10000, dims: dims, halves: halves),
                        tol: 2e-4, mixed: true, "rope \(layout) \(shape)")
                }
            }
        }
        // Position 0 is the identity; rotation preserves each pair's norm.
        let x = randomTensor([1, 2, 16], seed: 4)
        XCTAssertEqual(try x.rope(RoPE(dims: 16, layout: .adjacentPairs), positions: [0]).scalars(), x.scalars())
        XCTAssertThrowsError(try x.rope(RoPE(dims: 16, layout: .halves), positions: [0, 1]))
        XCTAssertThrowsError(try x.rope(RoPE(dims: 17, layout: .halves), positions: [0]))
    }

    func testRowOpsAreThreadCountIndependent() throws {
        let x = randomTensor([64, 4099], seed: 12)
        try assertThreadCountIndependent("softmax") { try x.softmax() }
        try assertThreadCountIndependent("rmsNorm") { try x.rmsNorm(weight: nil) }
        let q = randomTensor([33, 9, 64], seed: 13)
        try assertThreadCountIndependent("rope") { try q.rope(RoPE(dims: 64, layout: .halves), positions: (0..<33).map(Int32.init)) }
    }
}
