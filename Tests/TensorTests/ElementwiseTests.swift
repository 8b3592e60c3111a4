import Foundation
import XCTest
@testable import Tensor

final class ElementwiseTests: XCTestCase {
    let shapes: [([Int], [Int])] = [
        ([1], [1]), ([7], [7]), ([17], [1]), ([1], [63]), ([577], [577]), ([3, 577], [577]),
        ([5, 1, 17], [1, 7, 17]), ([7, 63], [7, 1]), ([2, 3, 4, 5], [3, 1, 5]), ([100_003], [100_003])
    ]

    func testBinaryOpsAgainstReferenceWithBroadcastingAndViews() throws {
        for (n, (sa, sb)) in shapes.enumerated() {
            let a = randomTensor(sa, seed: UInt64(n)), b0 = randomTensor(sb, seed: UInt64(100 + n))
            let b = b0.scalars().map { $0 == 0 ? 1 : $0 }
            let bt = try Tensor(shape: sb, scalars: b.map { abs($0) < 0.1 ? 0.5 : $0 })
            for (ai, bi) in [(a, bt), (nonContiguousCopy(a), nonContiguousCopy(bt))] {
                let cases: [(String, Tensor, (Double, Double) -> Double)] = [
                    ("add", try ai + bi, +), ("sub", try ai - bi, -), ("mul", try ai * bi, *), ("div", try ai / bi, /)
                ]
                for (name, got, f) in cases {
                    let ref = Reference.binary(ai, bi, f)
                    XCTAssertEqual(got.shape, ref.shape, name)
                    XCTAssertClose(got.scalars(), ref.values, tol: 1e-6, relative: true, "\(name) \(sa) \(sb)")
                }
            }
        }
    }

    func testUnaryOpsAgainstReference() throws {
        for (n, shape) in [[1], [7], [17], [63], [577], [9, 65], [100_003]].enumerated() {
            let x = randomTensor(shape, seed: UInt64(n), range: -20...20)
            for xi in [x, nonContiguousCopy(x)] {
                let v = xi.scalars().map(Double.init)
                XCTAssertClose(try xi.exp().scalars(), v.map { Float(Foundation.exp($0)) }, tol: 3e-7, relative: true, "exp")
                XCTAssertClose(try xi.silu().scalars(), v.map { Float(Reference.silu($0)) }, tol: 1e-6, mixed: true, "silu")
                XCTAssertClose(try xi.gelu().scalars(), v.map { Float(Reference.gelu($0)) }, tol: 1e-6, mixed: true, "gelu")
                XCTAssertClose(try xi.sigmoid().scalars(), v.map { Float(1 / (1 + Foundation.exp(-$0))) }, tol: 1e-6, "sigmoid")
                XCTAssertClose(try xi.scaled(by: 0.37).scalars(), v.map { Float($0 * Double(Float(0.37))) }, tol: 1e-7, relative: true, "scale")
            }
        }
    }

    /// Applies a vector function to any number of lanes.
    func lanes(_ xs: [Float], _ f: (Vec) -> Vec) -> [Float] {
        let w = Vec.scalarCount
        var out: [Float] = []
        for start in stride(from: 0, to: xs.count, by: w) {
            var v = Vec()
            for i in 0..<w { v[i] = start + i < xs.count ? xs[start + i] : 1 }
            let r = f(v)
            for i in 0..<min(w, xs.count - start) { out.append(r[i]) }
        }
        return out
    }

    func testVectorExpAndLogAcrossTheirRange() {
        let xs = stride(from: Float(-87), to: 88.5, by: 0.0007).map { $0 }
        let e = lanes(xs, VectorMath.exp)
        var worstExp: Double = 0
        for (x, y) in zip(xs, e) {
            let ref = Foundation.exp(Double(x))
            worstExp = max(worstExp, abs(Double(y) - ref) / ref)
        }
        var ys: [Float] = []
        var y: Float = 1e-37
        while y < 1e37 {
            ys.append(y)
            ys.append(y * 1.01)
            y *= 1.37
        }
        var worstLog: Double = 0
        for (x, l) in zip(ys, lanes(ys, VectorMath.log)) { worstLog = max(worstLog, abs(Double(l) - Foundation.log(Double(x)))) }
        XCTAssertLessThan(worstExp, 2.5e-7, "exp relative error")
        XCTAssertLessThan(worstLog, 1e-5, "log absolute error")
        let special = lanes([-Float.infinity, .infinity, .nan, -100, 100, 0], VectorMath.exp)
        XCTAssertEqual(special[0], 0)
        XCTAssertEqual(special[1], .infinity)
        XCTAssertTrue(special[2].isNaN)
        XCTAssertEqual(special[3], 0)
        XCTAssertEqual(special[4], .infinity)
        XCTAssertEqual(special[5], 1)
        let logs = lanes([0, -1, .infinity, .nan, 1, 0x1p-140], VectorMath.log)
        XCTAssertEqual(logs[0], -.infinity)
        XCTAssertTrue(logs[1].isNaN)
        XCTAssertEqual(logs[2], .infinity)
        XCTAssertTrue(logs[3].isNaN)
        XCTAssertEqual(logs[4], 0)
        XCTAssertEqual(Double(logs[5]), Foundation.log(0x1p-140), accuracy: 1e-4)
    }

    func testElementwiseIsThreadCountIndependent() throws {
        let a = randomTensor([3, 70_001], seed: 1), b = randomTensor([70_001], seed: 2)
        try assertThreadCountIndependent("add") { try a + b }
        try assertThreadCountIndependent("gelu") { try a.gelu() }
    }
}
