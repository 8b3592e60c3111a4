import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

final class GGUFWriterTests: XCTestCase {
    static let metadata = GGUFMetadata([
        ("general.architecture", .string("llama")),
        ("u8", .uint8(255)), ("i8", .int8(-128)), ("u16", .uint16(65535)), ("i16", .int16(-32768)),
        ("u32", .uint32(UInt32.max)), ("i32", .int32(Int32.min)), ("u64", .uint64(UInt64.max)),
        ("i64", .int64(Int64.min)), ("f32", .float32(-0.1)), ("f64", .float64(1e300)), ("yes", .bool(true)),
        ("no", .bool(false)), ("s", .string("ünïcödé ✓")), ("empty", .string("")),
        ("strs", .array(.string(["Ġa", "", "<|im_end|>"]))), ("emptyArray", .array(.float64([]))),
        ("i32s", .array(.int32([1, -1]))), ("f32s", .array(.float32([0.25]))), ("bools", .array(.bool([false, true]))),
        ("u64s", .array(.uint64([0, UInt64.max]))),
        ("nested", .array(.array([.uint8([1, 2]), .string(["x"]), .array([.int16([-5])])])))
    ])

    /// One tensor of every type, with odd shapes where the type allows.
    func sampleTensors() throws -> [(String, Tensor)] {
        var out: [(String, Tensor)] = [
            ("f32", randomTensor([3, 5], seed: 1)),
            ("f16", randomTensor([7], seed: 2).converted(to: .f16)),
            ("bf16", randomTensor([2, 1, 3], seed: 3).converted(to: .bf16)),
            ("i32", try Tensor(shape: [4], int32s: [1, -2, 3, Int32.max])),
            ("scalar", Tensor(3.5))
        ]
        for t in [DType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q4_K, .q5_K, .q6_K] {
            out.append((t.ggmlName, try randomTensor([2, t.blockElements * 2], seed: 7).quantized(to: t)))
        }
        // Q3_K has no quantiser: take gguf-py's random blocks from the fixture.
        out.append(("Q3_K", try GGUFFile(path: fixturePath("types.gguf.bin")).tensor("Q3_K.rnd")))
        return out
    }

    func testRoundTrip() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for alignment in [32, 64] {
            var meta = Self.metadata
            if alignment != 32 { meta["general.alignment"] = .uint32(UInt32(alignment)) }
            var w = GGUFWriter(metadata: meta)
            let tensors = try sampleTensors()
            for (name, t) in tensors { try w.add(name, t) }
            let path = dir + "/model.gguf"
            try w.write(to: path)
            let f = try GGUFFile(path: path)
            XCTAssertEqual(f.metadata, meta)
            XCTAssertEqual(f.alignment, alignment)
            XCTAssertEqual(f.tensors.map(\.name), tensors.map(\.0))
            for (name, t) in tensors {
                let r = try f.tensor(name)
                XCTAssertEqual(r.dtype, t.dtype, name)
                XCTAssertEqual(r.shape, t.shape, name)
                XCTAssertEqual(rawBytes(r), rawBytes(t), name)
                XCTAssertEqual(f.info(name)!.fileOffset % alignment, 0, name)
            }
            // The in-memory serialisation is the same file.
            XCTAssertEqual(try w.serialized(), Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            // No temporary file is left behind.
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["model.gguf"])
        }
        var dup = GGUFWriter()
        try dup.add("x", Tensor(1))
        XCTAssertThrowsError(try dup.add("x", Tensor(2)))
        XCTAssertThrowsError(try GGUFWriter().write(to: dir + "/no/such/dir/x.gguf"))
    }

    /// Names ggml could not read (over 63 bytes) and empty tensors are refused, naming the tensor.
    func testRefusesWhatGGMLCannotRead() throws {
        var w = GGUFWriter()
        let longest = String(repeating: "a", count: GGUFWriter.maxNameBytes)
        try w.add(longest, Tensor(1))
        for name in [longest + "b", String(repeating: "é", count: 32)] {
            XCTAssertThrowsError(try w.add(name, Tensor(1))) { error in
                XCTAssertEqual((error as? GGUFError)?.tensor, name)
                XCTAssertTrue("\(error)".contains("\(name.utf8.count) bytes"), "\(error)")
            }
        }
        for shape in [[0, 4], [4, 0], [0]] {
            XCTAssertThrowsError(try w.add("empty", Tensor(zeros: shape))) { error in
                XCTAssertEqual((error as? GGUFError)?.kind, .badShape)
                XCTAssertEqual((error as? GGUFError)?.tensor, "empty")
                XCTAssertTrue("\(error)".contains("no elements"), "\(error)")
            }
        }
        XCTAssertEqual(w.tensors.map(\.name), [longest])
    }

    func testViewsOutliveTheFileObject() throws {
        var w = GGUFWriter()
        try w.add("t", randomTensor([4, 32], seed: 9))
        let bytes = try w.serialized()
        var view: Tensor?
        do { view = try GGUFFile(contents: bytes).tensor("t") }
        XCTAssertEqual(view!.scalars(), randomTensor([4, 32], seed: 9).scalars())
    }

    /// A file we write, read by gguf-py's GGUFReader: same metadata, shapes, types and bytes.
    func testGGUFPythonReadsOurFile() throws {
        guard let probe = runCommand(["python3", "-c", "import gguf, numpy"]), probe.status == 0 else {
            throw XCTSkip("python3 with the gguf package is not available")
        }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var meta = Self.metadata
        meta["nested"] = nil  // gguf-py flattens nested arrays when reading
        var w = GGUFWriter(metadata: meta)
        let tensors = try sampleTensors().filter { $0.0 != "scalar" }
        for (name, t) in tensors { try w.add(name, t) }
        let path = dir + "/py.gguf"
        try w.write(to: path)
        let script = """
            import sys, json, struct, gguf, numpy as np
            def render(x):
                if isinstance(x, list): return [render(v) for v in x]
                if isinstance(x, (bool, np.bool_)): return "b:%d" % int(x)
                if isinstance(x, (int, np.integer)): return "i:%d" % int(x)
                if isinstance(x, (float, np.floating)): return "f:%d" % struct.unpack("<Q", struct.pack("<d", float(x)))[0]
                return "s:" + str(x)
            r = gguf.GGUFReader(sys.argv[1])
            out = {"fields": {}, "tensors": []}
            for f in r.fields.values():
                if f.name.startswith("GGUF."): continue
                out["fields"][f.name] = [[t.name for t in f.types], render(f.contents())]
            for t in r.tensors:
                out["tensors"].append([t.name, t.tensor_type.name, [int(x) for x in t.shape], bytes(t.data.tobytes()).hex()])
            print(json.dumps(out))
            """
        guard let result = runCommand(["python3", "-c", script, path]), result.status == 0 else {
            return XCTFail("gguf-py could not read our file")
        }
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
        let fields = json["fields"] as! [String: [Any]]
        XCTAssertEqual(Set(fields.keys), Set(meta.keys))
        for (key, value) in meta.entries {
            let types = fields[key]![0] as! [String]
            XCTAssertEqual(types.first, pythonTypeName(value.type), key)
            if case let .array(a) = value, a.count > 0 { XCTAssertEqual(types.last, pythonTypeName(a.elementType), key) }
            XCTAssertEqual(flatten(fields[key]![1]), render(value), key)
        }
        let pyTensors = json["tensors"] as! [[Any]]
        XCTAssertEqual(pyTensors.count, tensors.count)
        for (py, (name, t)) in zip(pyTensors, tensors) {
            XCTAssertEqual(py[0] as? String, name)
            XCTAssertEqual(py[1] as? String, t.dtype.ggmlName, name)
            XCTAssertEqual(py[2] as? [Int], Array(t.shape.reversed()), name)
            XCTAssertEqual(py[3] as? String, rawBytes(t).map { String(format: "%02x", $0) }.joined(), name)
        }
    }

    private func flatten(_ any: Any) -> [String] {
        if let a = any as? [Any] { return a.flatMap(flatten) }
        return [any as! String]
    }

    /// Our values rendered as the script renders gguf-py's (floats by their f64 bits).
    private func render(_ v: GGUFValue) -> [String] {
        switch v {
        case let .array(a): return (0..<a.count).flatMap { render(a[$0]) }
        case let .float32(f): return ["f:\(Double(f).bitPattern)"]
        case let .float64(d): return ["f:\(d.bitPattern)"]
        case let .bool(b): return ["b:\(b ? 1 : 0)"]
        case let .string(s): return ["s:" + s]
        case let .uint64(u): return ["i:\(u)"]
        default: return ["i:\(v.intValue!)"]
        }
    }

    private func pythonTypeName(_ t: GGUFValueType) -> String {
        switch t {
        case .float32: return "FLOAT32"
        case .float64: return "FLOAT64"
        default:
            return "\(t)".uppercased().replacingOccurrences(of: "U", with: "UINT", options: .anchored)
                .replacingOccurrences(of: "I", with: "INT", options: .anchored)
        }
    }
}
