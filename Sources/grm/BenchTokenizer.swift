import ArgumentParser
import Foundation
import Transformer

extension BenchCommand {
    /// `grm bench tokenizer`: single-threaded encoding throughput on ~3 MB of Python source.
    struct TokenizerBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tokenizer",
            abstract: "Tokenizer MB/s (single thread) on a text file, by default ~3 MB of the Python standard library.")

        /// llama.cpp's rate on the same kind of input (MB/s), the anchor of the report.
        static let llamaCppMBps = 1.7

        @Option(help: "GGUF model whose tokenizer to measure.")
        var model: String
        @Option(help: "Text file to encode (default: Python stdlib .py files concatenated up to 3 MB).")
        var file: String?
        @Option(help: "Runs; the median, min and max are reported.")
        var repeats = 5
        @Flag(help: "Parse written special tokens.")
        var special = false

        func run() throws {
            let tok = try Tokenizer(path: model)
            let bytes =
                try file.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }.map { [UInt8]($0) }
                ?? TokenizerBench.pythonCorpus(limit: 3_000_000)
            let mb = Double(bytes.count) / 1e6
            print(String(format: "input: %.2f MB (%@)", mb, file ?? "Python standard library .py files"))
            var rates: [Double] = []
            var count = 0
            for _ in 0..<max(1, repeats) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let ids = tok.encode(bytes: bytes, parseSpecial: special)
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                count = ids.count
                rates.append(mb / dt)
            }
            rates.sort()
            let median = rates[rates.count / 2]
            print(String(format: "tokens: %d (%.2f bytes/token)", count, Double(bytes.count) / Double(max(count, 1))))
            print(
                String(
                    format: "encode: %.2f MB/s median of %d (%.2f..%.2f), %.1fx llama.cpp's %.1f MB/s",
                    median, rates.count, rates.first!, rates.last!, median / TokenizerBench.llamaCppMBps,
                    TokenizerBench.llamaCppMBps))
        }

        /// The `.py` files of python3's standard library, sorted by path, concatenated up to `limit`.
        static func pythonCorpus(limit: Int) throws -> [UInt8] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let dir = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard p.terminationStatus == 0, !dir.isEmpty,
                let e = FileManager.default.enumerator(atPath: dir)
            else {
                throw ValidationError("no python3 standard library found: pass --file")
            }
            var paths: [String] = []
            while let rel = e.nextObject() as? String {
                if rel.hasSuffix(".py") && !rel.contains("site-packages") { paths.append(rel) }
            }
            var corpus: [UInt8] = []
            for rel in paths.sorted() where corpus.count < limit {
                if let d = FileManager.default.contents(atPath: dir + "/" + rel) { corpus += d }
            }
            return Array(corpus.prefix(limit))
        }
    }
}
