import XCTest
@testable import Tensor
@testable import Transformer

/// Files written by gguf-py (make_fixtures.py): metadata of every type, and tensors of every
/// supported type with gguf-py's dequantisation and quantisation as expected values.
final class GGUFFixtureTests: XCTestCase {
    func testMetadataOfEveryValueType() throws {
        let f = try GGUFFile(path: fixturePath("metadata.gguf.bin"))
        XCTAssertEqual(f.version, 3)
        let m = f.metadata
        XCTAssertEqual(m["general.architecture"], .string("fixture"))
        XCTAssertEqual(m["t.u8"], .uint8(200))
        XCTAssertEqual(m["t.i8"], .int8(-100))
        XCTAssertEqual(m["t.u16"], .uint16(60000))
        XCTAssertEqual(m["t.i16"], .int16(-30000))
        XCTAssertEqual(m["t.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(m["t.i32"], .int32(-2_000_000_000))
        XCTAssertEqual(m["t.u64"], .uint64(18_000_000_000_000_000_000))
        XCTAssertEqual(m["t.i64"], .int64(-9_000_000_000_000_000_000))
        XCTAssertEqual(m["t.f32"], .float32(0.125))
        XCTAssertEqual(m["t.f64"], .float64(-2.5e-300))
        XCTAssertEqual(m["t.bool"], .bool(true))
        XCTAssertEqual(m["t.str"], .string("héllo wörld ✓"))
        XCTAssertEqual(m["t.empty"], .string(""))
        XCTAssertEqual(m["t.strs"], .array(.string(["a", "", "Ġthe", "<|im_start|>"])))
        XCTAssertEqual(m["t.ints"], .array(.int32([1, -2, 3])))
        XCTAssertEqual(m["t.floats"], .array(.float32([0.5, -1.0])))
        XCTAssertEqual(m["t.nested"], .array(.array([.int32([1, 2]), .int32([3])])))
        XCTAssertEqual(m["t.u8s"], .array(.uint8([1, 2, 255])))
        XCTAssertEqual(m["t.bools"], .array(.bool([true, false])))
        XCTAssertEqual(m.keys.first, "general.architecture")
        XCTAssertEqual(m.count, 20)

        // Typed access: any integer width where a number is expected.
        XCTAssertEqual(m.int("t.u8"), 200)
        XCTAssertEqual(m.int("t.i16"), -30000)
        XCTAssertEqual(m.int("t.u32"), 4_000_000_000)
        XCTAssertEqual(m.int("t.u64"), nil)  // does not fit in Int
        XCTAssertEqual(m.float("t.u8"), 200)
        XCTAssertEqual(try m.requireFloat("t.f32"), 0.125)
        XCTAssertEqual(m.ints("t.u8s"), [1, 2, 255])
        XCTAssertEqual(m.floats("t.ints"), [1, -2, 3])
        XCTAssertEqual(try m.requireStrings("t.strs").count, 4)
        XCTAssertThrowsError(try m.requireInt("t.str")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .typeMismatch) }
        XCTAssertThrowsError(try m.requireInt("nope")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .missingKey) }

        let w = try f.tensor("w")
        XCTAssertEqual(w.shape, [2, 32])
        XCTAssertEqual(w.dtype, .f32)
        XCTAssertEqual(w.scalars(), (0..<64).map(Float.init))
        let v = try f.tensor("v")
        XCTAssertEqual(v.dtype, .f16)
        XCTAssertEqual(v.scalars(), [0, 1, 2])
        XCTAssertEqual(f.info("w")?.dims, [32, 2])
        XCTAssertThrowsError(try f.tensor("nope")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .missingTensor) }
    }

    static let allTypes: [DType] = [
        .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
        .q2_K, .q3_K, .q4_K, .q5_K, .q6_K
    ]

    /// Dequantisation of random block bytes equals gguf-py's (= ggml's reference) bit for bit.
    func testDequantisationIsBitExact() throws {
        let f = try GGUFFile(path: fixturePath("types.gguf.bin"))
        for type in Self.allTypes {
            let name = type.ggmlName
            let q = try f.tensor("\(name).rnd")
            XCTAssertEqual(q.dtype, type)
            XCTAssertEqual(q.shape, [4, 256])
            let expected = try f.tensor("\(name).rnd.deq").scalars().map(\.bitPattern)
            XCTAssertEqual(q.converted(to: .f32).scalars().map(\.bitPattern), expected, "\(name) dequantisation")
            // Element access and embedding rows agree with the bulk path.
            XCTAssertEqual(q[3, 255].bitPattern, expected[1023], name)
            XCTAssertEqual(
                try q.embedding([2, 0]).scalars().map(\.bitPattern),
                Array(expected[512..<768] + expected[0..<256]), "\(name) embedding")
            if let g = try? f.tensor("\(name).q") {
                XCTAssertEqual(
                    g.converted(to: .f32).scalars().map(\.bitPattern),
                    try f.tensor("\(name).q.deq").scalars().map(\.bitPattern), "\(name) dequantisation of quantised")
            }
        }
    }

    /// Quantisation of the same source equals gguf-py's bytes (ggml's reference quantisers).
    func testQuantisationIsBitExact() throws {
        let f = try GGUFFile(path: fixturePath("types.gguf.bin"))
        for type in [DType.f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0] {
            let name = type.ggmlName
            let src = try f.tensor("\(name).src")
            let ours = src.converted(to: type)
            let theirs = try f.tensor("\(name).q")
            let a = rawBytes(ours), b = rawBytes(theirs)
            XCTAssertEqual(a.count, b.count)
            let firstDiff = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTAssertNil(firstDiff, "\(name) quantisation differs from gguf-py at byte \(firstDiff ?? -1)")
        }
    }
}
