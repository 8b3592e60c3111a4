import ArgumentParser
import Foundation
import Tensor
import Transformer

/// `grm inspect FILE.gguf`: metadata, tensor table and totals by type of a GGUF file.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a GGUF file's metadata and tensors (validating the file).")

    @Argument(help: "The GGUF file.")
    var file: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Array elements shown before a summary.")
    var maxItems = 8

    func run() throws {
        let f: GGUFFile
        do {
            f = try GGUFFile(path: file)
        } catch {
            printError("grm inspect: \(file): \(error)")
            throw ExitCode(2)
        }
        if json { try printJSON(f) } else { printText(f) }
    }

    static func totals(_ f: GGUFFile) -> [(DType, count: Int, elements: Int, bytes: Int)] {
        var by: [DType: (Int, Int, Int)] = [:]
        for t in f.tensors {
            let (c, e, b) = by[t.dtype] ?? (0, 0, 0)
            by[t.dtype] = (c + 1, e + t.elementCount, b + t.byteCount)
        }
        return by.sorted { $0.value.2 > $1.value.2 }.map { ($0.key, $0.value.0, $0.value.1, $0.value.2) }
    }

    func printText(_ f: GGUFFile) {
        print("GGUF v\(f.version), \(f.bytes.count) bytes, alignment \(f.alignment), data at byte \(f.dataOffset)")
        print("\nmetadata (\(f.metadata.count) keys):")
        let width = min(48, f.metadata.keys.map(\.count).max() ?? 0)
        for (key, value) in f.metadata.entries {
            let type = value.type == .array ? "" : "\(value.type) "
            print(
                "  " + key.padding(toLength: max(width, key.count), withPad: " ", startingAt: 0)
                    + "  " + type + value.summary(maxItems: maxItems))
        }
        print("\ntensors (\(f.tensors.count)):")
        let nameWidth = min(40, f.tensors.map(\.name.count).max() ?? 4)
        print(
            "  " + "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  type   "
                + "shape".padding(toLength: 20, withPad: " ", startingAt: 0) + "       bytes")
        for t in f.tensors {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print(
                "  " + t.name.padding(toLength: max(nameWidth, t.name.count), withPad: " ", startingAt: 0) + "  "
                    + t.dtype.ggmlName.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                    + shape.padding(toLength: max(20, shape.count), withPad: " ", startingAt: 0)
                    + String(format: "%12d", t.byteCount))
        }
        print("\ntotals by type:")
        var elements = 0, bytes = 0
        for (type, count, e, b) in Inspect.totals(f) {
            print(
                "  " + type.ggmlName.padding(toLength: 5, withPad: " ", startingAt: 0)
                    + String(
                        format: "  %4d tensors  %12d elements  %12d bytes  %6.2f bits/weight",
                        count, e, b, e > 0 ? Double(b * 8) / Double(e) : 0))
            elements += e
            bytes += b
        }
        print(
            String(
                format: "  all    %4d tensors  %12d elements  %12d bytes (%.1f MiB)",
                f.tensors.count, elements, bytes, Double(bytes) / 1_048_576))
    }

    func printJSON(_ f: GGUFFile) throws {
        func value(_ v: GGUFValue) -> Any {
            switch v {
            case let .array(a):
                let n = min(a.count, maxItems)
                var out: [String: Any] = [
                    "type": "array", "elementType": "\(a.elementType)", "count": a.count,
                    "items": (0..<n).map { value(a[$0]) }
                ]
                if a.count > n { out["truncated"] = true }
                return out
            case let .string(s): return s
            case let .bool(b): return b
            case let .float32(x): return x.isFinite ? Double(x) as Any : "\(x)"
            case let .float64(x): return x.isFinite ? x as Any : "\(x)"
            case let .uint64(u): return u
            default: return v.intValue ?? 0
            }
        }
        let doc: [String: Any] = [
            "file": file, "version": f.version, "bytes": f.bytes.count, "alignment": f.alignment,
            "dataOffset": f.dataOffset,
            "metadata": f.metadata.entries.map { ["key": $0.key, "type": "\($0.value.type)", "value": value($0.value)] },
            "tensors": f.tensors.map {
                [
                    "name": $0.name, "type": $0.dtype.ggmlName, "shape": $0.shape, "dims": $0.dims,
                    "offset": $0.offset, "bytes": $0.byteCount
                ] as [String: Any]
            },
            "totals": Inspect.totals(f).map {
                ["type": $0.0.ggmlName, "tensors": $0.count, "elements": $0.elements, "bytes": $0.bytes] as [String: Any]
            }
        ]
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
