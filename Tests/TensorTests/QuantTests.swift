import XCTest
@testable import Tensor

/// Quantise -> dequantise round trips within each format's error bound; bit-exactness against
/// ggml/gguf-py is tested with fixtures in TransformerTests.
final class QuantTests: XCTestCase {
    func testBlockSizesAndIds() {
        XCTAssertEqual(DType.q4_0.byteCount(elements: 64), 36)
        XCTAssertEqual(DType.q6_K.byteCount(elements: 512), 420)
        for t in DType.allCases { XCTAssertEqual(DType(ggmlType: t.ggmlType), t) }
        XCTAssertNil(DType(ggmlType: 9))  // Q8_1: not supported
    }

    /// Max error per block relative to the block's range (max - min, or 2 max|x| for the
    /// symmetric types): about half a step of the format, plus f16 rounding of the scales.
    func testRoundTripErrorBounds() throws {
        let bounds: [(DType, Float)] = [
            (.q8_0, 0.5 / 127 + 0.002), (.q4_0, 1.0 / 16 + 0.01), (.q4_1, 0.5 / 15 + 0.01),
            (.q5_0, 1.0 / 32 + 0.01), (.q5_1, 0.5 / 31 + 0.01),
            (.q6_K, 1.0 / 32), (.q5_K, 1.0 / 24), (.q4_K, 1.0 / 12), (.q2_K, 0.5)
        ]
        let x = randomTensor([8, 512], seed: 11, range: -3...3)
        let xs = x.scalars()
        for (type, bound) in bounds {
            let q = try x.quantized(to: type)
            XCTAssertEqual(q.dtype, type)
            XCTAssertEqual(q.shape, [8, 512])
            let y = q.converted(to: .f32).scalars()
            let block = type.blockElements
            var worst: Float = 0
            for b in 0..<(xs.count / block) {
                let r = b * block..<(b + 1) * block
                let lo = xs[r].min()!, hi = xs[r].max()!
                let range = max(hi - lo, 2 * max(abs(lo), abs(hi)) * 0.5)
                for i in r { worst = max(worst, abs(y[i] - xs[i]) / range) }
            }
            XCTAssertLessThanOrEqual(worst, bound, "\(type)")
            // Re-quantising the dequantised values is stable for the legacy formats.
            if block == 32 {
                XCTAssertEqual(try Tensor(shape: [8, 512], scalars: y).quantized(to: type).converted(to: .f32).scalars(), y, "\(type)")
            }
        }
    }

    func testSpecialBlocks() throws {
        // Zeros, a constant and exact levels come back exactly where the format can hold them.
        var v = [Float](repeating: 0, count: 256)
        for t in [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q4_K, .q5_K, .q6_K] {
            XCTAssertEqual(try Tensor(shape: [256], scalars: v).quantized(to: t).scalars(), v, "\(t) zeros")
        }
        v = (0..<256).map { Float($0 % 16) - 8 }
        XCTAssertEqual(try Tensor(shape: [256], scalars: v).quantized(to: .q4_0).scalars(), v)
        // NaN and infinities give garbage values but never trap.
        v[3] = .nan
        v[40] = .infinity
        v[300 % 256] = -.infinity
        for t in [DType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q4_K, .q5_K, .q6_K] {
            _ = try Tensor(shape: [256], scalars: v).quantized(to: t).scalars()
        }
        XCTAssertThrowsError(try Tensor(shape: [2, 48], repeating: 1).quantized(to: .q4_0))
        XCTAssertThrowsError(try Tensor(shape: [256], repeating: 1).quantized(to: .q3_K))
    }

    func testThreadCountIndependent() throws {
        let x = randomTensor([64, 1024], seed: 5)
        for t in [DType.q4_1, .q6_K] {
            let one = try withThreads(1) { try x.quantized(to: t) }
            let three = try withThreads(3) { try x.quantized(to: t) }
            XCTAssertEqual(
                withThreads(1) { one.converted(to: .f32).scalars() },
                withThreads(3) { three.converted(to: .f32).scalars() })
        }
    }
}
