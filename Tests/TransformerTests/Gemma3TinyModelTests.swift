import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// A tiny random `gemma3` model written to GGUF and run by `LlamaInference`, against the same
/// maths written out in Double precision below (`Gemma3Reference`): scaled embeddings, q/k norms
/// per head, post norms, GeGLU, the attention scale, sliding windows with their own RoPE base on
/// local layers and full attention on every sixth layer. No model file is needed.
final class Gemma3TinyModelTests: XCTestCase {
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    /// 7 layers (5 is global, 6 local again), heads of 64 values while the width is 256 (q is 128
    /// wide), a window of 3 positions, so 10 tokens reach far past it.
    static let config = LlamaConfig(
        vocabSize: 50, dim: 256, layers: 7, heads: 2, kvHeads: 1, ffnDim: 256, ropeBase: 1_000_000, normEps: 1e-6,
        tiedEmbeddings: true, architecture: "gemma3", ropeLayout: .halves, contextLength: 32,
        gemma: GemmaSettings(headDim: 64, slidingWindow: 3, localRopeBase: 10_000))
    static let tokens: [Int32] = [2, 17, 49, 3, 3, 30, 8, 0, 41, 12]

    /// Random weights under their GGUF names; norms near 1 (as stored: 1 + Gemma's w).
    static func weights(types: [String: DType] = [:]) throws -> [(String, Tensor)] {
        let c = config, g = c.gemma!
        var rng = SeededRandom(seed: 20)
        var out: [(String, Tensor)] = []
        func matrix(_ name: String, _ shape: [Int], std: Float = 0.08) throws {
            let t = Tensor.randomNormal(shape, std: std, rng: &rng)
            out.append((name, try types[name].map { try t.quantized(to: $0) } ?? t))
        }
        func norm(_ name: String, _ n: Int) throws {
            out.append((name, Tensor.randomNormal([n], mean: 1, std: 0.3, rng: &rng)))
        }
        try matrix("token_embd.weight", [c.vocabSize, c.dim], std: 0.05)
        try norm("output_norm.weight", c.dim)
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            try norm(p + "attn_norm.weight", c.dim)
            try matrix(p + "attn_q.weight", [c.qDim, c.dim])
            try matrix(p + "attn_k.weight", [c.kvDim, c.dim])
            try matrix(p + "attn_v.weight", [c.kvDim, c.dim])
            try norm(p + "attn_q_norm.weight", g.headDim)
            try norm(p + "attn_k_norm.weight", g.headDim)
            try matrix(p + "attn_output.weight", [c.dim, c.qDim])
            try norm(p + "post_attention_norm.weight", c.dim)
            try norm(p + "ffn_norm.weight", c.dim)
            try matrix(p + "ffn_gate.weight", [c.ffnDim, c.dim])
            try matrix(p + "ffn_up.weight", [c.ffnDim, c.dim])
            try matrix(p + "ffn_down.weight", [c.dim, c.ffnDim])
            try norm(p + "post_ffw_norm.weight", c.dim)
        }
        return out
    }

    static func write(_ tensors: [(String, Tensor)], to path: String, metadata: GGUFMetadata? = nil) throws {
        var writer = GGUFWriter(metadata: try metadata ?? config.ggufMetadata(name: "tiny gemma3"))
        for (name, t) in tensors { try writer.add(name, t) }
        try writer.write(to: path)
    }

    func maxDifference(_ a: [Float], _ b: [Double]) -> Double {
        zip(a, b).map { abs(Double($0) - $1) }.max() ?? .infinity
    }

    func testPrefillAndDecodeMatchDoubleReference() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tensors = try Self.weights()
        try Self.write(tensors, to: dir + "/tiny.gguf")
        let engine = try LlamaInference(gguf: try GGUFFile(path: dir + "/tiny.gguf"))
        XCTAssertEqual(engine.config.gemma, Self.config.gemma)
        XCTAssertEqual(engine.config.with(initStd: Self.config.initStd), Self.config)
        let reference = Gemma3Reference(config: Self.config, tensors: Dictionary(uniqueKeysWithValues: tensors))
        let want = reference.logits(Self.tokens)
        // Prefill by the matrix path (all rows at once) and by the row path (matrix rows above 10).
        for matrixRows in [1, 64] {
            let got = try EngineSettings.with({ $0.attentionMatrixRows = matrixRows }) {
                try engine.logits(Self.tokens, allPositions: true).scalars()
            }
            let v = Self.config.vocabSize
            for p in Self.tokens.indices {
                let d = maxDifference(Array(got[(p * v)..<((p + 1) * v)]), want[p])
                XCTAssertLessThan(d, 2e-4, "position \(p), attention matrix rows from \(matrixRows)")
            }
        }
        // Decode token by token through the cache.
        let s = try engine.newSequence()
        for (p, t) in Self.tokens.enumerated() {
            let row = try engine.forward([ForwardRequest(sequence: s, tokens: [t])])[0]!.scalars()
            XCTAssertLessThan(maxDifference(row, want[p]), 2e-4, "decoding position \(p)")
        }
        // The reference itself depends on what is tested: without the window (or with the global
        // RoPE base on local layers) the logits past the window move far more than the tolerance.
        var noWindow = Self.config
        noWindow.gemma!.slidingWindow = 100
        let far = Gemma3Reference(config: noWindow, tensors: Dictionary(uniqueKeysWithValues: tensors)).logits(Self.tokens)
        XCTAssertGreaterThan(zip(far[9], want[9]).map { abs($0 - $1) }.max()!, 1e-2)
        XCTAssertLessThan(zip(far[2], want[2]).map { abs($0 - $1) }.max()!, 1e-12)
    }

    /// Sliding windows across shared prefixes: continuations forked from a 7-token prompt (past the
    /// window of 3) and decoded together, a fork of a fork, and a batched prefill of 12 rows (the
    /// matrix path) beside one decode row, each equal to a fresh sequence's logits; f32 and f16 caches.
    func testForkedAndBatchedSequencesMatchSingle() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.write(try Self.weights(), to: dir + "/tiny.gguf")
        let file = try GGUFFile(path: dir + "/tiny.gguf")
        for kv in KVCacheType.allCases {
            let engine = try LlamaInference(gguf: file, kvType: kv)
            let tol: Float = kv == .f32 ? 1e-4 : 3e-3
            func close(_ a: Tensor, _ b: Tensor, _ what: String) {
                let d = zip(a.scalars(), b.scalars()).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThan(d, tol, "\(what) (\(kv))")
            }
            let prompt: [Int32] = [2, 5, 9, 14, 20, 27, 35]
            let s = try engine.newSequence()
            _ = try engine.forward([ForwardRequest(sequence: s, tokens: prompt, logits: .none)])
            let forks = try (0..<3).map { _ in try s.fork(capacity: 8) }
            var tails: [[Int32]] = [[10], [20], [30]]
            for step in 0..<4 {
                let rows = try engine.forward(forks.indices.map { ForwardRequest(sequence: forks[$0], tokens: [tails[$0].last!]) })
                for f in forks.indices {
                    close(rows[f]!, try engine.logits(prompt + tails[f]), "fork \(f) step \(step)")
                    tails[f].append(Int32(f * 7 + step + 1))
                }
            }
            let deep = try forks[1].fork(at: prompt.count + 2)
            let long: [Int32] = Array(0..<12).map { Int32($0 * 3 % 50) }
            let other = try engine.newSequence()
            let out = try engine.forward([
                ForwardRequest(sequence: deep, tokens: [44]), ForwardRequest(sequence: other, tokens: long, logits: .all)
            ])
            close(out[0]!, try engine.logits(prompt + Array(tails[1].prefix(2)) + [44]), "fork of a fork")
            close(out[1]!, try engine.logits(long, allPositions: true), "batched prefill")
        }
    }

    /// The K-quants and Q8_0 of the real file, each against the Double reference on the
    /// dequantised weights.
    func testQuantisedWeightsMatchReferenceOnTheirDequantisedValues() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var types: [String: DType] = ["token_embd.weight": .q8_0]
        let kinds: [(String, DType)] = [
            ("attn_q", .q4_K), ("attn_k", .q5_K), ("attn_v", .q8_0), ("attn_output", .q8_0), ("ffn_gate", .q6_K),
            ("ffn_up", .q4_K), ("ffn_down", .q5_K)
        ]
        for i in 0..<Self.config.layers { for (k, t) in kinds { types["blk.\(i).\(k).weight"] = t } }
        let tensors = try Self.weights(types: types)
        try Self.write(tensors, to: dir + "/tiny-q.gguf")
        let engine = try LlamaInference(gguf: try GGUFFile(path: dir + "/tiny-q.gguf"))
        XCTAssertEqual(engine.weights.layers[0].wq.dtype, .q4_K)
        XCTAssertEqual(engine.weights.layers[3].wGate.dtype, .q6_K)
        let dequantised = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0, $0.1.converted(to: .f32)) })
        // grm merge without an adapter: the exact dequantised model (how llama.cpp's f32 reference
        // for the real file was made), the metadata kept, nothing recorded as merged.
        let base = try GGUFFile(path: dir + "/tiny-q.gguf")
        try LoRAMerge.merge(base: base, adapter: nil, type: .f32, to: dir + "/tiny-f32.gguf")
        let f32 = try GGUFFile(path: dir + "/tiny-f32.gguf")
        XCTAssertEqual(f32.metadata.string("general.name"), "tiny gemma3")
        XCTAssertNil(f32.metadata.float("grm.merge.lora_scale"))
        for (name, t) in dequantised {
            let stored = try f32.tensor(name)
            XCTAssertEqual(stored.dtype, .f32)
            XCTAssertEqual(stored.scalars(), t.scalars(), name)
        }
        let want = Gemma3Reference(config: Self.config, tensors: dequantised).logits(Self.tokens)
        let got = try engine.logits(Self.tokens, allPositions: true).scalars()
        let v = Self.config.vocabSize
        for p in Self.tokens.indices {
            XCTAssertLessThan(maxDifference(Array(got[(p * v)..<((p + 1) * v)]), want[p]), 2e-4, "position \(p)")
        }
    }

    /// A LoRA adapter on the q, output and MLP projections applies at inference as its merged
    /// model computes (the q projection is [heads x headDim, dim], not square).
    func testLoRAAtInferenceEqualsMergedModel() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.write(try Self.weights(), to: dir + "/tiny.gguf")
        let base = try GGUFFile(path: dir + "/tiny.gguf")
        let c = Self.config
        var rng = SeededRandom(seed: 5)
        var pairs: [String: LoRAAdapter.Pair] = [:]
        for (name, shape) in [
            ("blk.0.attn_q.weight", [c.qDim, c.dim]), ("blk.5.attn_output.weight", [c.dim, c.qDim]),
            ("blk.6.ffn_down.weight", [c.dim, c.ffnDim])
        ] {
            pairs[name] = LoRAAdapter.Pair(
                a: Tensor.randomNormal([4, shape[1]], std: 0.1, rng: &rng), b: Tensor.randomNormal([shape[0], 4], std: 0.1, rng: &rng))
        }
        let adapter = LoRAAdapter(architecture: "gemma3", alpha: 8, pairs: pairs)
        try LoRAMerge.merge(base: base, adapter: adapter, scale: 0.7, type: .f32, to: dir + "/merged.gguf")
        let merged = try LlamaInference(gguf: try GGUFFile(path: dir + "/merged.gguf"))
        let adapted = try LlamaInference(gguf: base, adapter: adapter, adapterScale: 0.7)
        let a = try adapted.logits(Self.tokens, allPositions: true).scalars()
        let m = try merged.logits(Self.tokens, allPositions: true).scalars()
        let plain = try LlamaInference(gguf: base).logits(Self.tokens, allPositions: true).scalars()
        XCTAssertLessThan(zip(a, m).map { abs($0 - $1) }.max()!, 1e-4)
        XCTAssertGreaterThan(zip(a, plain).map { abs($0 - $1) }.max()!, 1e-2)
    }

    func testUnknownVariantsAreRefusedByName() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tensors = try Self.weights()
        func load(_ edit: (inout GGUFMetadata) -> Void) throws {
            var m = try Self.config.ggufMetadata(name: "tiny gemma3")
            edit(&m)
            try Self.write(tensors, to: dir + "/v.gguf", metadata: m)
            _ = try LlamaInference(gguf: try GGUFFile(path: dir + "/v.gguf"))
        }
        func refused(_ needle: String, _ edit: (inout GGUFMetadata) -> Void) {
            XCTAssertThrowsError(try load(edit)) { XCTAssertTrue("\($0)".contains(needle), "\($0)") }
        }
        refused("'gemma2'") { $0["general.architecture"] = .string("gemma2") }
        refused("gemma3.rope.scaling.type") { $0["gemma3.rope.scaling.type"] = .string("linear") }
        refused("gemma3.final_logit_softcapping") { $0["gemma3.final_logit_softcapping"] = .float32(30) }
        refused("gemma3.attention.value_length") { $0["gemma3.attention.value_length"] = .uint32(32) }
        refused("gemma3.attention.sliding_window") { $0["gemma3.attention.sliding_window"] = nil }
        XCTAssertNoThrow(try load { _ in })
    }
}
