import XCTest
@testable import Tensor

final class GatherSelectConcatTests: XCTestCase {
    func testEmbeddingGatherForEveryStorageType() throws {
        let table = randomTensor([50, 17], seed: 1)
        let ids: [Int32] = [3, 0, 49, 3, 17, 22, 8]
        for dtype in [DType.f32, .f16, .bf16] {
            let t = table.converted(to: dtype)
            let got = try t.embedding(try Tensor(shape: [7], int32s: ids))
            XCTAssertEqual(got.shape, [7, 17])
            let wide = t.converted(to: .f32)
            for (r, id) in ids.enumerated() {
                for c in 0..<17 { XCTAssertEqual(got[r, c], wide[Int(id), c]) }
            }
        }
        let shaped = try table.embedding(try Tensor(shape: [2, 2], int32s: [1, 2, 3, 4]))
        XCTAssertEqual(shaped.shape, [2, 2, 17])
        XCTAssertThrowsError(try table.embedding([50])) { error in
            XCTAssertTrue("\(error)".contains("50") && "\(error)".contains("vocabulary"), "\(error)")
        }
        XCTAssertThrowsError(try table.embedding([-1]))
    }

    func testArgmaxAndTopKAgainstSorting() throws {
        for (n, shape) in [[1], [7], [3, 17], [2, 577], [2, 49_152]].enumerated() {
            let x = randomTensor(shape, seed: UInt64(n))
            let len = shape.last!, rows = x.count / len
            let values = x.scalars()
            let am = try nonContiguousCopy(x).argmax().int32s()
            for k in [1, 3, 40, len].filter({ $0 <= len }) {
                let (v, i) = try x.topK(k)
                XCTAssertEqual(v.shape, Array(shape.dropLast()) + [k])
                for r in 0..<rows {
                    let row = Array(values[(r * len)..<((r + 1) * len)])
                    let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                    XCTAssertEqual(Array(i.int32s()[(r * k)..<((r + 1) * k)]), order.prefix(k).map(Int32.init), "top\(k) \(shape)")
                    XCTAssertEqual(Array(v.scalars()[(r * k)..<((r + 1) * k)]), order.prefix(k).map { row[$0] })
                    XCTAssertEqual(Int(am[r]), order[0])
                }
            }
        }
        // Ties go to the lower index.
        let tied = try Tensor(shape: [5], scalars: [1, 3, 3, 2, 3])
        XCTAssertEqual(try tied.argmax().int32s(), [1])
        XCTAssertEqual(try tied.topK(3).indices.int32s(), [1, 2, 4])
        XCTAssertThrowsError(try tied.topK(6))
    }

    func testConcatAlongEachAxis() throws {
        let a = randomTensor([2, 3, 4], seed: 1), b = randomTensor([2, 3, 4], seed: 2)
        for axis in 0..<3 {
            var bs = [2, 3, 4]
            bs[axis] = 5
            let c = randomTensor(bs, seed: 3)
            let out = try Tensor.concat([a, nonContiguousCopy(c), b], axis: axis)
            let n = a.shape[axis]
            XCTAssertEqual(out.shape[axis], 2 * n + 5)
            guard out.shape[axis] == 2 * n + 5 else { return }
            for ix in allIndices(out.shape) {
                var j = ix
                let v: Float
                if ix[axis] < n {
                    v = a[ix[0], ix[1], ix[2]]
                } else if ix[axis] < n + 5 {
                    j[axis] -= n
                    v = c[j[0], j[1], j[2]]
                } else {
                    j[axis] -= n + 5
                    v = b[j[0], j[1], j[2]]
                }
                XCTAssertEqual(out[ix[0], ix[1], ix[2]], v)
            }
        }
    }
}
