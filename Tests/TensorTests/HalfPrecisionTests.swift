import XCTest
@testable import Tensor

final class HalfPrecisionTests: XCTestCase {
    /// Reference f16 -> f32 by bit manipulation (IEEE 754 binary16).
    static func f16Reference(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let e = Int((h >> 10) & 0x1F), m = Int(h & 0x3FF)
        if e == 0 { return sign * Float(m) * 0x1p-24 }
        if e == 31 { return m == 0 ? sign * .infinity : .nan }
        return sign * Float(1024 + m) * Float(sign: .plus, exponent: e - 25, significand: 1)
    }

    func testF16AllBitPatternsBothWays() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var wide = [Float](repeating: 0, count: all.count)
        var back = [UInt16](repeating: 0, count: all.count)
        all.withUnsafeBufferPointer { src in
            wide.withUnsafeMutableBufferPointer { Half.toFloat(src.baseAddress!, $0.baseAddress!, count: all.count) }
        }
        wide.withUnsafeBufferPointer { src in
            back.withUnsafeMutableBufferPointer { Half.fromFloat(src.baseAddress!, $0.baseAddress!, count: all.count) }
        }
        for h in all {
            let f = wide[Int(h)], ref = Self.f16Reference(h)
            if ref.isNaN {
                XCTAssertTrue(f.isNaN, "f16 \(h) must widen to NaN")
                XCTAssertTrue(back[Int(h)] & 0x7C00 == 0x7C00 && back[Int(h)] & 0x3FF != 0, "NaN \(h) narrows to NaN")
                XCTAssertEqual(back[Int(h)] & 0x8000, h & 0x8000, "NaN sign kept")
            } else {
                XCTAssertEqual(f.bitPattern, ref.bitPattern, "f16 \(h)")
                XCTAssertEqual(back[Int(h)], h, "f16 \(h) round trip")
            }
            XCTAssertEqual(Half.toFloat(h).bitPattern, f.bitPattern, "scalar and SIMD paths agree on \(h)")
        }
    }

    func testF16RoundsToNearestEvenAndOverflows() {
        let cases: [(Float, UInt16)] = [
            (1 + 0x1p-11, 0x3C00),  // halfway, rounds to even (down)
            (1 + 3 * 0x1p-11, 0x3C02),  // halfway, rounds to even (up)
            (65520, 0x7C00),  // rounds to infinity
            (65519, 0x7BFF),
            (0x1p-25, 0x0000),  // halfway to the smallest subnormal: to even (zero)
            (0x1.8p-25, 0x0001),
            (-0.0, 0x8000),
            (1e9, 0x7C00), (-.infinity, 0xFC00)
        ]
        let src = cases.map(\.0)
        var out = [UInt16](repeating: 0, count: 32)
        let padded = src + [Float](repeating: 0, count: 32 - src.count)  // exercise the SIMD path
        padded.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { Half.fromFloat(s.baseAddress!, $0.baseAddress!, count: 32) } }
        for (i, c) in cases.enumerated() {
            XCTAssertEqual(out[i], c.1, "\(c.0)")
            XCTAssertEqual(Half.fromFloat(c.0), c.1, "scalar \(c.0)")
        }
    }

    /// ggml's reference f32 -> bf16.
    static func bf16Reference(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16((u >> 16) | 64) }
        return UInt16((u + (0x7FFF + ((u >> 16) & 1))) >> 16)
    }

    func testBF16AllBitPatternsAndRounding() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var wide = [Float](repeating: 0, count: all.count)
        all.withUnsafeBufferPointer { src in
            wide.withUnsafeMutableBufferPointer { BFloat.toFloat(src.baseAddress!, $0.baseAddress!, count: all.count) }
        }
        var back = [UInt16](repeating: 0, count: all.count)
        wide.withUnsafeBufferPointer { src in
            back.withUnsafeMutableBufferPointer { BFloat.fromFloat(src.baseAddress!, $0.baseAddress!, count: all.count) }
        }
        for h in all {
            XCTAssertEqual(wide[Int(h)].bitPattern, UInt32(h) << 16)
            let isNaN = h & 0x7F80 == 0x7F80 && h & 0x7F != 0
            XCTAssertEqual(back[Int(h)], isNaN ? h | 64 : h, "bf16 \(h)")
        }
        // Rounding of values between bf16 neighbours, including subnormals, against ggml's rule.
        var rng = SplitMix64(seed: 9)
        let xs: [Float] = (0..<100_003).map { i in
            let bits = UInt32(truncatingIfNeeded: rng.next())
            return i % 3 == 0 ? Float(bitPattern: bits & 0x80FF_FFFF) : Float(bitPattern: bits)
        }
        var narrow = [UInt16](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { s in narrow.withUnsafeMutableBufferPointer { BFloat.fromFloat(s.baseAddress!, $0.baseAddress!, count: xs.count) }
        }
        for (i, x) in xs.enumerated() {
            XCTAssertEqual(narrow[i], Self.bf16Reference(x), "bf16 of \(x) (bits \(x.bitPattern))")
        }
    }

    func testTensorConversionsAndThreadIndependence() throws {
        let t = randomTensor([3, 100_001], seed: 7, range: -70000...70000)
        for dtype in [DType.f16, .bf16] {
            let narrow = t.converted(to: dtype)
            XCTAssertEqual(narrow.dtype, dtype)
            let wide = narrow.converted(to: .f32).scalars()
            let expected = t.scalars().map { dtype == .f16 ? Float(Float16($0)) : Float(bitPattern: UInt32(Self.bf16Reference($0)) << 16) }
            XCTAssertEqual(wide.map(\.bitPattern), expected.map(\.bitPattern))
            assertThreadCountIndependent("\(dtype) conversion") { t.converted(to: dtype).converted(to: .f32) }
        }
    }
}
