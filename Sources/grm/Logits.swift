import ArgumentParser
import Foundation
import Tensor
import Transformer

/// `grm logits`: the model's top next-token logits for given token ids.
struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the top logits at the last position (or every position) of token ids, as JSON.")

    @Option(help: "GGUF model file.")
    var model: String
    @Option(help: "Token ids, comma-separated (e.g. 1,9690,198).")
    var tokens: String
    @Option(help: "How many of the highest logits to print per position.")
    var top = 20
    @Flag(help: "Logits for every position, not only the last.")
    var allPositions = false
    @Flag(help: "Feed the tokens one at a time through the cache (the decoding path) instead of as one prompt.")
    var sequential = false
    @OptionGroup var engine: EngineOptions

    func run() throws {
        var ids: [Int32] = []
        for p in tokens.split(whereSeparator: { ", ".contains($0) }) {
            guard let v = Int32(p) else { throw ValidationError("'\(p)' in --tokens is not a token id") }
            ids.append(v)
        }
        guard !ids.isEmpty else { throw ValidationError("--tokens is empty") }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        try self.engine.apply()
        let file = try GGUFFile(path: model)
        let engine = try LlamaInference(
            gguf: file, kvType: try self.engine.kvType, contextLength: max(ids.count, 1),
            adapter: try self.engine.adapter(base: file), adapterScale: self.engine.loraScale)
        var logits: Tensor
        if sequential {
            let s = try engine.newSequence()
            var rows: [Tensor] = []
            for t in ids { rows.append(try engine.forward([ForwardRequest(sequence: s, tokens: [t])])[0]!) }
            logits = allPositions ? try Tensor.concat(rows, axis: 0) : rows.last!
        } else {
            logits = try engine.logits(ids, allPositions: allPositions)
        }
        let (values, indices) = try logits.topK(min(top, engine.config.vocabSize))
        let v = values.scalars(), ix = indices.int32s(), k = values.shape[1]
        let rows = (0..<values.shape[0]).map { r in
            "[" + (0..<k).map { "[\(ix[r * k + $0]),\(v[r * k + $0])]" }.joined(separator: ",") + "]"
        }
        print("{\"top\":" + (allPositions ? "[" + rows.joined(separator: ",") + "]" : rows[0]) + "}")
    }
}
