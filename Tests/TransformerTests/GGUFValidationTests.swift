import XCTest
@testable import Tensor
@testable import Transformer

/// Damaged files: every defect is reported as a GGUFError of the right kind, never a crash.
final class GGUFValidationTests: XCTestCase {
    struct RawTensor {
        var name: String
        var dims: [Int64]
        var type: UInt32
        var offset: UInt64
    }

    /// A file built field by field, so that tests can write values a correct writer never would.
    func build(
        version: UInt32 = 3, kv: [(String, GGUFValue)] = [("general.architecture", .string("llama"))],
        tensors: [RawTensor] = [RawTensor(name: "a", dims: [32, 2], type: 0, offset: 0)],
        dataBytes: Int = 256, alignment: Int = 32, patch: ((inout GGUFEncoder) -> Void)? = nil
    ) -> [UInt8] {
        var e = GGUFEncoder()
        e.u32(GGUFFile.magic)
        e.u32(version)
        e.u64(UInt64(tensors.count))
        e.u64(UInt64(kv.count))
        for (k, v) in kv {
            e.string(k)
            e.u32(v.type.rawValue)
            e.value(v)
        }
        for t in tensors {
            e.string(t.name)
            e.u32(UInt32(t.dims.count))
            for d in t.dims { e.int(d) }
            e.u32(t.type)
            e.u64(t.offset)
        }
        patch?(&e)
        e.bytes += [UInt8](repeating: 0, count: GGUFWriter.padded(e.bytes.count, alignment) - e.bytes.count)
        e.bytes += (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        return e.bytes
    }

    func expect(
        _ bytes: [UInt8], _ kind: GGUFError.Kind, _ text: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            _ = try GGUFFile(contents: bytes)
            XCTFail("loaded; expected \(kind)", file: file, line: line)
        } catch let error as GGUFError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            if let text { XCTAssertTrue(error.description.contains(text), "\(error)", file: file, line: line) }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testValidBaseFileLoads() throws {
        let f = try GGUFFile(contents: build())
        XCTAssertEqual(try f.tensor("a").shape, [2, 32])
        XCTAssertEqual(f.dataOffset % 32, 0)
        // Version 2 has the same layout with 64-bit counts.
        XCTAssertEqual(try GGUFFile(contents: build(version: 2)).version, 2)
    }

    func testHeaderDefects() {
        var bad = build()
        bad[0] = UInt8(ascii: "X")
        expect(bad, .badMagic, "at byte 0")
        expect(build(version: 1), .unsupportedVersion, "version 1")
        expect(build(version: 4), .unsupportedVersion)
        expect([], .truncated, "magic")
        expect(Array(build().prefix(6)), .truncated, "version")
        // Absurd counts are refused before anything is allocated.
        var huge = build()
        for i in 8..<16 { huge[i] = 0xFF }
        expect(huge, .tooLarge, "tensor count")
        huge = build()
        for i in 16..<23 { huge[i] = 0x7F }
        expect(huge, .tooLarge, "metadata count")
    }

    func testMetadataDefects() {
        // A string length beyond the file.
        var b = build()
        for i in 24..<31 { b[i] = 0x40 }
        expect(b, .truncated, "key of metadata entry 0")
        // Unknown value type (13) for the first key.
        b = build()
        b[24 + 8 + "general.architecture".utf8.count] = 13
        expect(b, .unknownValueType, "value type 13")
        expect(build(kv: [("k", .uint8(1)), ("k", .uint8(2))]), .duplicateKey, "'k'")
        expect(build(kv: [("general.alignment", .uint32(3))]), .invalidValue, "alignment")
        expect(build(kv: [("general.alignment", .string("x"))]), .invalidValue, "alignment")
        // Arrays: a count larger than the file, an unknown element type, a bad bool.
        let arr = build(kv: [("arr", .array(.string(["x", "y"])))])
        var c = arr
        let countAt = 24 + 8 + 3 + 4 + 4
        for i in countAt..<(countAt + 7) { c[i] = 0x7F }
        expect(c, .tooLarge, "element count of metadata 'arr'")
        c = arr
        c[countAt - 4] = 77
        expect(c, .unknownValueType, "element type of metadata 'arr'")
        var boolFile = build(kv: [("flag", .bool(true))])
        boolFile[24 + 8 + 4 + 4] = 2
        expect(boolFile, .invalidValue, "bool")
        // Nested arrays load; nesting beyond the limit does not recurse without bound.
        var deep: GGUFArray = .int32([1])
        for _ in 0..<20 { deep = .array([deep]) }
        expect(build(kv: [("deep", .array(deep))]), .tooLarge, "deeper")
    }

    func testTensorDefects() {
        expect(build(tensors: [RawTensor(name: "a", dims: [32, 2], type: 99, offset: 0)]), .unknownTensorType, "type 99")
        expect(build(tensors: [RawTensor(name: "a", dims: [32, 2], type: 9, offset: 0)]), .unknownTensorType, "tensor 'a'")
        expect(build(tensors: [RawTensor(name: "a", dims: [32, 2], type: 0, offset: 64)]), .outOfBounds, "tensor 'a'")
        expect(build(tensors: [RawTensor(name: "a", dims: [32, 2], type: 0, offset: UInt64.max - 7)]), .misaligned)
        expect(build(tensors: [RawTensor(name: "a", dims: [32, 2], type: 0, offset: UInt64.max & ~31)]), .outOfBounds)
        expect(build(tensors: [RawTensor(name: "a", dims: [8], type: 0, offset: 4)]), .misaligned, "multiple of the alignment")
        expect(build(tensors: [RawTensor(name: "a", dims: [1 << 40, 1 << 40], type: 0, offset: 0)]), .overflow, "overflows")
        expect(build(tensors: [RawTensor(name: "a", dims: [1 << 61], type: 0, offset: 0)]), .overflow)
        expect(build(tensors: [RawTensor(name: "a", dims: [1 << 40], type: 0, offset: 0)]), .outOfBounds)
        expect(build(tensors: [RawTensor(name: "a", dims: [-1], type: 0, offset: 0)]), .badShape, "negative")
        expect(build(tensors: [RawTensor(name: "a", dims: [1, 1, 1, 1, 1], type: 0, offset: 0)]), .badShape, "5 dimensions")
        expect(build(tensors: [RawTensor(name: "q", dims: [48], type: 2, offset: 0)]), .badShape, "Q4_0 block size 32")
        expect(
            build(tensors: [
                RawTensor(name: "a", dims: [8], type: 0, offset: 0),
                RawTensor(name: "a", dims: [8], type: 0, offset: 32)
            ]), .duplicateTensor, "'a'")
        // Alignment 1 permits an f32 tensor at an odd address: refused for typed access.
        let kv1: [(String, GGUFValue)] = [("general.alignment", .uint8(1))]
        let h = build(kv: kv1, dataBytes: 0, alignment: 1).count
        let odd = UInt64((h + 1) % 4 == 0 ? 2 : 1)
        expect(
            build(kv: kv1, tensors: [RawTensor(name: "a", dims: [8], type: 0, offset: odd)], alignment: 1),
            .misaligned, "4 bytes")
        // Every truncation of a valid file is an error, never a crash.
        let good = build(dataBytes: 256)
        for n in 0..<(good.count - 255) {
            XCTAssertThrowsError(try GGUFFile(contents: Array(good.prefix(n))), "prefix \(n)")
        }
    }

    /// Thousands of random mutations and truncations of a small valid file with every kind of
    /// value and several tensor types: each loads (and then every tensor dequantises in bounds)
    /// or throws a GGUFError.
    func testFuzzMutationsNeverCrash() throws {
        var w = GGUFWriter(
            metadata: GGUFMetadata([
                ("general.architecture", .string("llama")),
                ("n", .uint32(7)), ("x", .float32(0.5)), ("b", .bool(true)), ("i", .int64(-3)),
                ("toks", .array(.string(["<s>", "a", "bc"]))), ("nested", .array(.array([.int8([1]), .string(["z"])]))),
                ("scores", .array(.float32([0, 1, 2])))
            ]))
        try w.add("f", randomTensor([2, 32], seed: 1))
        try w.add("h", randomTensor([32], seed: 2).converted(to: .f16))
        try w.add("q", randomTensor([2, 32], seed: 3).quantized(to: .q4_0))
        try w.add("k", randomTensor([256], seed: 4).quantized(to: .q6_K))
        let good = try w.serialized()
        XCTAssertNoThrow(try GGUFFile(contents: good))
        var rng = SplitMix64(seed: 42)
        var loaded = 0, failed = 0
        let start = Date()
        for _ in 0..<20000 {
            var b = good
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                case 1: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 2: b[Int.random(in: 0..<b.count, using: &rng)] = [0, 0xFF, 0x7F, 0x80].randomElement(using: &rng)!
                case 3 where b.count > 8:
                    let at = Int.random(in: 0..<(b.count - 8), using: &rng)
                    let v = [UInt64.max, 1 << 63, UInt64(UInt32.max), 1 << 40, UInt64.random(in: 0...UInt64.max, using: &rng)]
                        .randomElement(using: &rng)!
                    withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { b[at + i] = $0[i] } }
                case 3: b = []
                case 4: b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
                default:
                    let at = Int.random(in: 0..<b.count, using: &rng)
                    if Bool.random(using: &rng) { b.remove(at: at) } else { b.insert(UInt8.random(in: 0...255, using: &rng), at: at) }
                }
                if b.isEmpty { break }
            }
            do {
                let f = try GGUFFile(contents: b)
                for info in f.tensors { _ = f.tensor(info).scalars() }
                loaded += 1
            } catch is GGUFError {
                failed += 1
            }
        }
        XCTAssertGreaterThan(failed, 1000)
        XCTAssertGreaterThan(loaded, 100)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }
}
