import XCTest
@testable import Tensor

final class ViewTests: XCTestCase {
    func testReshapeViewsWhenPossibleAndCopiesOtherwise() throws {
        let t = randomTensor([2, 3, 4], seed: 1)
        let r = try t.reshaped([6, -1])
        XCTAssertEqual(r.shape, [6, 4])
        XCTAssertTrue(r.storage === t.storage)
        XCTAssertEqual(r.scalars(), t.scalars())
        let tr = try t.transposed(0, 2)  // [4, 3, 2], strided
        XCTAssertFalse(tr.isContiguous)
        let flat = try tr.reshaped([24])
        XCTAssertEqual(flat.scalars(), tr.contiguous().scalars())
        XCTAssertFalse(flat.storage === t.storage)
        // Splitting a transposed axis is still a view.
        let m = try randomTensor([6, 5], seed: 2).transposed()  // [5, 6]
        let split = try m.reshaped([5, 2, 3])
        XCTAssertTrue(split.storage === m.storage)
        XCTAssertEqual(split.scalars(), m.scalars())
    }

    func testPermuteSliceSelectMatchIndexing() throws {
        let t = randomTensor([3, 4, 5], seed: 3)
        let p = try t.permuted([2, 0, 1])
        for ix in allIndices(p.shape) {
            XCTAssertEqual(p[ix[0], ix[1], ix[2]], t[ix[1], ix[2], ix[0]])
        }
        let s = try t.sliced(axis: 2, 1..<5, step: 2)  // indices 1, 3
        XCTAssertEqual(s.shape, [3, 4, 2])
        for ix in allIndices(s.shape) {
            XCTAssertEqual(s[ix[0], ix[1], ix[2]], t[ix[0], ix[1], 1 + 2 * ix[2]])
        }
        let sel = try t.selected(axis: 1, 2)
        XCTAssertEqual(sel.shape, [3, 5])
        XCTAssertEqual(sel[2, 4], t[2, 2, 4])
        XCTAssertEqual(try t.unsqueezed(axis: 1).shape, [3, 1, 4, 5])
        XCTAssertEqual(try t.unsqueezed(axis: -1).shape, [3, 4, 5, 1])
    }

    func testBroadcastUsesZeroStrides() throws {
        let row = randomTensor([1, 5], seed: 4)
        let b = try row.broadcast(to: [3, 4, 5])
        XCTAssertEqual(b.strides, [0, 0, 1])
        for ix in allIndices(b.shape) { XCTAssertEqual(b[ix[0], ix[1], ix[2]], row[0, ix[2]]) }
        XCTAssertEqual(b.contiguous().shape, [3, 4, 5])
        XCTAssertEqual(try Tensor.broadcastShape([7, 1, 3], [5, 1], op: "t"), [7, 5, 3])
    }

    func testBadShapesThrowErrorsNamingBothShapes() {
        let a = Tensor(zeros: [2, 3]), b = Tensor(zeros: [4, 3])
        XCTAssertThrowsError(try a + b) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("[2, 3]") && text.contains("[4, 3]"), text)
        }
        XCTAssertThrowsError(try a.reshaped([4, 2])) { error in
            XCTAssertTrue("\(error)".contains("[2, 3]") && "\(error)".contains("[4, 2]"))
        }
        XCTAssertThrowsError(try a.reshaped([-1, -1]))
        XCTAssertThrowsError(try a.transposed(0, 2))
        XCTAssertThrowsError(try a.permuted([0, 0]))
        XCTAssertThrowsError(try a.sliced(axis: 1, 0..<4))
        XCTAssertThrowsError(try a.broadcast(to: [3, 3]))
        XCTAssertThrowsError(try Tensor(shape: [2, 2], scalars: [1, 2, 3]))
        XCTAssertThrowsError(try Tensor.concat([a, Tensor(zeros: [2, 4])], axis: 0)) { error in
            XCTAssertTrue("\(error)".contains("[2, 3]") && "\(error)".contains("[2, 4]"))
        }
        XCTAssertThrowsError(try Tensor(zeros: [2], dtype: .f16).exp())
    }

    func testContiguousCopiesOfSixteenBitAndIntTensors() throws {
        let h = randomTensor([5, 7], seed: 5).converted(to: .f16)
        let ht = try h.transposed()
        XCTAssertEqual(ht.contiguous().scalars(), ht.scalars())
        XCTAssertEqual(ht[3, 2], h[2, 3])
        let ids = try Tensor(shape: [2, 3], int32s: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try ids.transposed().int32s(), [1, 4, 2, 5, 3, 6])
    }
}

final class BlockViewTests: XCTestCase {
    func testBlockQuantisedViewsKeepWholeRows() throws {
        let x = randomTensor([4, 3, 64], seed: 21)
        let q = try x.quantized(to: .q8_0)
        let wide = q.converted(to: .f32)
        // Moving, slicing and selecting outer axes are views; copies of them dequantise the same.
        let p = try q.permuted([1, 0, 2])
        XCTAssertEqual(p.contiguous().converted(to: .f32).scalars(), try wide.permuted([1, 0, 2]).contiguous().scalars())
        let s = try q.sliced(axis: 0, 1..<4, step: 2)
        XCTAssertEqual(s.converted(to: .f32).scalars(), try wide.sliced(axis: 0, 1..<4, step: 2).contiguous().scalars())
        XCTAssertEqual(
            try q.sliced(axis: 2, 32..<64).converted(to: .f32).scalars(),
            try wide.sliced(axis: 2, 32..<64).contiguous().scalars())
        XCTAssertEqual(try q.reshaped([12, 64]).converted(to: .f32).scalars(), wide.scalars())
        // Anything that would split a block throws instead of reading garbage.
        XCTAssertThrowsError(try q.transposed(1, 2))
        XCTAssertThrowsError(try q.sliced(axis: 2, 1..<33))
        XCTAssertThrowsError(try q.sliced(axis: 2, 0..<64, step: 2))
        XCTAssertThrowsError(try q.selected(axis: 2, 0))
        XCTAssertThrowsError(try q.reshaped([4, 3, 8, 8]))
        XCTAssertThrowsError(try q.unsqueezed(axis: 3))
    }
}
