import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// The inference path on tiny random models: agreement with the training model (one architecture,
/// two paths), every weight type against the same model dequantised to f32, batching and forking
/// against one sequence at a time, and errors.
final class InferenceTests: XCTestCase {
    // Exact activations whatever GRM_QMM_ACT says: these compare against f32 models and other
    // paths within f32 tolerances.
    /// Every test on exact activations, whatever GRM_QMM_ACT says.
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }
    static let tiny = LlamaConfig(
        vocabSize: 37, dim: 48, layers: 2, heads: 6, kvHeads: 2, ffnDim: 40,
        ropeBase: 10_000, normEps: 1e-5, tiedEmbeddings: false, initStd: 0.2, contextLength: 64)

    func assertClose(_ a: Tensor, _ b: Tensor, tol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        let x = a.scalars(), y = b.scalars()
        var worst: Float = 0
        for i in 0..<min(x.count, y.count) { worst = max(worst, abs(x[i] - y[i]) / max(1, abs(y[i]))) }
        XCTAssertLessThanOrEqual(worst, tol, "\(what): worst relative difference \(worst)", file: file, line: line)
    }

    func testInferenceMatchesTrainingModel() throws {
        let model = try LlamaModel(config: Self.tiny, seed: 3)
        let engine = try LlamaInference(config: Self.tiny, weights: model.inferenceWeights)
        let ids: [Int32] = [1, 5, 9, 36, 0, 2, 2, 17, 30, 4, 11]
        let reference = try model.logits(ids, batch: 1, length: ids.count).value
        assertClose(try engine.logits(ids, allPositions: true), reference, tol: 1e-4, "all positions")
        // Token by token through the cache gives the same logits.
        let s = try engine.newSequence()
        for (i, t) in ids.enumerated() {
            let row = try engine.forward([ForwardRequest(sequence: s, tokens: [t])])[0]!
            assertClose(row, try reference.sliced(axis: 0, i..<i + 1), tol: 1e-4, "decode step \(i)")
        }
        XCTAssertEqual(s.length, ids.count)
    }

    func testQwen2StyleBiasesAndHalves() throws {
        var c = Self.tiny
        c.architecture = "qwen2"
        c.ropeLayout = .halves
        c.attentionBias = true
        let base = try LlamaModel(config: Self.tiny, seed: 4).inferenceWeights
        var w = base
        for i in w.layers.indices {
            w.layers[i].bq = randomTensor([c.dim], seed: UInt64(10 + i))
            w.layers[i].bk = randomTensor([c.kvDim], seed: UInt64(20 + i))
            w.layers[i].bv = randomTensor([c.kvDim], seed: UInt64(30 + i))
        }
        let engine = try LlamaInference(config: c, weights: w)
        let plain = try LlamaInference(config: Self.tiny, weights: base)
        let ids: [Int32] = [3, 1, 4, 1, 5]
        let a = try engine.logits(ids).scalars(), b = try plain.logits(ids).scalars()
        XCTAssertGreaterThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-3, "biases and halves must change the result")
        var missing = w
        missing.layers[0].bq = nil
        XCTAssertThrowsError(try LlamaInference(config: c, weights: missing)) { error in
            XCTAssertEqual(error as? ModelError, .missingTensor("blk.0.attn_q.bias"))
        }
    }

    func testBatchedAndForkedSequencesMatchSingle() throws {
        let model = try LlamaModel(config: Self.tiny, seed: 5)
        for kv in KVCacheType.allCases {
            let engine = try LlamaInference(config: Self.tiny, weights: model.inferenceWeights, kvType: kv)
            let tol: Float = kv == .f32 ? 1e-4 : 3e-3
            let p1: [Int32] = [1, 2, 3, 4, 5, 6, 7], p2: [Int32] = [9, 8, 7]
            let s1 = try engine.newSequence(), s2 = try engine.newSequence()
            let out = try engine.forward([
                ForwardRequest(sequence: s1, tokens: p1, logits: .all),
                ForwardRequest(sequence: s2, tokens: p2, logits: .last)
            ])
            assertClose(out[0]!, try engine.logits(p1, allPositions: true), tol: tol, "batched prefill 1 (\(kv))")
            assertClose(out[1]!, try engine.logits(p2), tol: tol, "batched prefill 2 (\(kv))")
            // Fork three continuations of p1 and decode them together; each equals a fresh sequence.
            let forks = try (0..<3).map { _ in try s1.fork(capacity: 4) }
            var tails: [[Int32]] = [[10], [20], [30]]
            for step in 0..<3 {
                let rows = try engine.forward(forks.indices.map { ForwardRequest(sequence: forks[$0], tokens: [tails[$0].last!]) })
                for f in forks.indices {
                    assertClose(rows[f]!, try engine.logits(p1 + tails[f]), tol: tol, "fork \(f) step \(step) (\(kv))")
                    tails[f].append(Int32(f * 3 + step + 1))
                }
            }
            XCTAssertEqual(s1.length, p1.count, "forks do not change the shared prefix")
            XCTAssertEqual(forks[0].length, p1.count + 3)
            // Forking at an earlier position shares only that prefix (also across a fork's parts).
            let mid = try s1.fork(at: 4)
            let midOut = try engine.forward([ForwardRequest(sequence: mid, tokens: [50 % 37, 51 % 37], logits: .all)])[0]!
            assertClose(
                midOut, try engine.logits(Array(p1.prefix(4)) + [13, 14], allPositions: true).sliced(axis: 0, 4..<6),
                tol: tol, "fork at 4 (\(kv))")
            let deep = try forks[1].fork(at: p1.count + 2)
            let deepOut = try engine.forward([ForwardRequest(sequence: deep, tokens: [5])])[0]!
            assertClose(deepOut, try engine.logits(p1 + Array(tails[1].prefix(2)) + [5]), tol: tol, "fork of a fork (\(kv))")
            XCTAssertThrowsError(try s1.fork(at: s1.length + 1))
            // The parent keeps growing on its own; existing forks still see only the old prefix.
            _ = try engine.forward([ForwardRequest(sequence: s1, tokens: [11, 12])])
            let again = try engine.forward([ForwardRequest(sequence: forks[2], tokens: [33])])[0]!
            assertClose(again, try engine.logits(p1 + tails[2].dropLast() + [33]).sliced(axis: 0, 0..<1), tol: tol, "fork after parent grew")
        }
    }

    /// Requests that want no output, the last row or every row, in one batch, give the rows of
    /// the same batch wanting every row: the last layer runs on the wanted rows alone (exact; bf16
    /// with 37 wanted, on the batch's tiles), or on them padded to as many rows as round like the
    /// batch (bf16 on AMX: 7 rows wanted of 67, too few for the bf16 tiles; the AVX2 kernels in q8:
    /// int8 for 7 rows, exact for 67). Q4_1 weights.
    func testMixedOutputRequestsGiveTheRowsOfAFullBatch() throws {
        let c = LlamaConfig(
            vocabSize: 40, dim: 64, layers: 2, heads: 4, kvHeads: 2, ffnDim: 96, ropeBase: 10_000, normEps: 1e-5,
            tiedEmbeddings: false, initStd: 0.2, contextLength: 64)
        var w = try LlamaModel(config: c, seed: 8).inferenceWeights
        for i in w.layers.indices {
            for path in [\LlamaWeights.Layer.wq, \.wk, \.wv, \.wo, \.wGate, \.wUp, \.wDown] {
                w.layers[i][keyPath: path] = try w.layers[i][keyPath: path].quantized(to: .q4_1)
            }
        }
        let engine = try LlamaInference(config: c, weights: w)
        let prompts: [[Int32]] = [30, 20, 5, 12].enumerated().map { i, n in (0..<n).map { Int32(($0 * 7 + i * 5 + 1) % 40) } }
        // The AVX2 kernels (forced here on wider CPUs): q8 rounds 7 rows to int8 and runs 67 exact.
        let cases: [(QuantMatmul.ActivationMode, KernelISA?, Int)] = [(.exact, nil, 5), (.bf16, nil, 5), (.bf16, nil, 30), (.q8, .avx2, 5)]
        for (mode, isa, third) in cases {
            var ps = prompts
            ps[2] = (0..<third).map { Int32(($0 * 3 + 2) % 40) }
            try EngineSettings.with({
                $0.activations = mode
                if let isa { $0.isa = isa }
            }) {
                let full = try engine.forward(ps.map { ForwardRequest(sequence: try engine.newSequence(), tokens: $0, logits: .all) })
                let wants: [LogitsSelection] = [.none, .last, .all, .last]
                let mixed = try engine.forward(
                    zip(ps, wants).map { ForwardRequest(sequence: try engine.newSequence(), tokens: $0, logits: $1) })
                let label = "\(mode)\(isa.map { " on \($0)" } ?? ""), third prompt \(third) tokens"
                XCTAssertNil(mixed[0], label)
                assertClose(mixed[1]!, try full[1]!.sliced(axis: 0, (ps[1].count - 1)..<ps[1].count), tol: 1e-3, "\(label): last row")
                assertClose(mixed[2]!, full[2]!, tol: 1e-3, "\(label): every row")
                assertClose(mixed[3]!, try full[3]!.sliced(axis: 0, (ps[3].count - 1)..<ps[3].count), tol: 1e-3, "\(label): last row")
            }
        }
    }

    /// A sequence decoded alone gets the bits it gets beside another sequence, step after step
    /// (every product, norm and attention task computes a row the same way whatever rows sit
    /// beside it).
    func testOneSequenceDecodesToTheBitsItGetsInABatch() throws {
        let model = try LlamaModel(config: Self.tiny, seed: 6)
        for kv in KVCacheType.allCases {
            let engine = try LlamaInference(config: Self.tiny, weights: model.inferenceWeights, kvType: kv)
            let root = try engine.newSequence()
            _ = try engine.forward([ForwardRequest(sequence: root, tokens: [1, 2, 3, 4, 5, 6, 7, 8, 9], logits: .none)])
            let a = try root.fork(), b = try root.fork(), lone = try root.fork()
            for step in 0..<4 {
                let t = Int32(step + 10)
                let pair = try engine.forward([ForwardRequest(sequence: a, tokens: [t]), ForwardRequest(sequence: b, tokens: [t + 5])])
                let alone = try engine.forward([ForwardRequest(sequence: lone, tokens: [t])])[0]!
                XCTAssertEqual(alone.scalars(), pair[0]!.scalars(), "step \(step) (\(kv))")
                XCTAssertNotEqual(pair[0]!.scalars(), pair[1]!.scalars())
            }
        }
    }

    /// Prefill attention by matrix products (blocks of rows against all keys) equals the per-row
    /// kernel, for one f32 part, several parts (a fork) and an f16 cache, across row blocks.
    func testMatrixAttentionPathMatchesRowPath() throws {
        let model = try LlamaModel(config: Self.tiny, seed: 8)
        let prompt = (0..<150).map { Int32(($0 * 7 + 3) % 37) }, tail = (0..<30).map { Int32(($0 * 5 + 1) % 37) }
        var config = Self.tiny
        config.contextLength = 256
        for kv in KVCacheType.allCases {
            var results: [[Tensor]] = []
            for rows in [1_000_000, 1] {
                try EngineSettings.with({ $0.attentionMatrixRows = rows }) {
                    let engine = try LlamaInference(config: config, weights: model.inferenceWeights, kvType: kv)
                    let root = try engine.newSequence()
                    let a = try engine.forward([ForwardRequest(sequence: root, tokens: prompt, logits: .all)])[0]!
                    let fork = try root.fork(at: 100)
                    let b = try engine.forward([ForwardRequest(sequence: fork, tokens: tail, logits: .all)])[0]!
                    results.append([a, b])
                }
            }
            assertClose(results[1][0], results[0][0], tol: 1e-4, "one part (\(kv))")
            assertClose(results[1][1], results[0][1], tol: 1e-4, "forked parts (\(kv))")
        }
    }

    func testErrorsNameTheProblemAndLeaveTheCacheIntact() throws {
        let engine = try LlamaInference(config: Self.tiny, weights: try LlamaModel(config: Self.tiny, seed: 6).inferenceWeights)
        let s = try engine.newSequence()
        _ = try engine.forward([ForwardRequest(sequence: s, tokens: [1, 2, 3])])
        XCTAssertThrowsError(try engine.forward([ForwardRequest(sequence: s, tokens: [4, 37])])) { error in
            XCTAssertEqual(error as? ModelError, .tokenOutOfRange(id: 37, vocab: 37, index: 1))
        }
        XCTAssertThrowsError(try engine.forward([ForwardRequest(sequence: s, tokens: [Int32](repeating: 1, count: 62))])) { error in
            XCTAssertEqual(error as? ModelError, .contextExceeded(tokens: 65, context: 64))
        }
        XCTAssertThrowsError(try engine.forward([ForwardRequest(sequence: s, tokens: [1]), ForwardRequest(sequence: s, tokens: [2])]))
        XCTAssertEqual(s.length, 3)
        let small = try engine.newSequence(capacity: 2)
        XCTAssertThrowsError(try engine.forward([ForwardRequest(sequence: small, tokens: [1, 2, 3])])) { error in
            XCTAssertTrue("\(error)".contains("holds 2"), "\(error)")
        }
        // After the errors the sequence continues exactly as a fresh one.
        let next = try engine.forward([ForwardRequest(sequence: s, tokens: [4])])[0]!
        assertClose(next, try engine.logits([1, 2, 3, 4]), tol: 1e-5, "after errors")
    }

    /// A tiny random model written to GGUF with every weight type: the quantised forward equals the
    /// same model dequantised to f32 (up to f32 rounding), and the file loads through the metadata.
    func testEveryWeightTypeAgreesWithItsDequantisedModel() throws {
        let c = LlamaConfig(
            vocabSize: 40, dim: 256, layers: 2, heads: 4, kvHeads: 2, ffnDim: 256, ropeBase: 10_000,
            normEps: 1e-5, tiedEmbeddings: true, initStd: 0.05, contextLength: 32)
        let source = try LlamaModel(config: c, seed: 7)
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ids: [Int32] = [1, 7, 39, 0, 22, 5]
        for type in [DType.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K] {
            var writer = GGUFWriter(metadata: try c.ggufMetadata(name: "tiny \(type.ggmlName)"))
            var seed: UInt64 = 100
            for p in source.parameters {
                if p.rank == 1 {
                    try writer.add(p.name, p.value)
                    continue
                }
                seed += 1
                try writer.add(p.name, try convert(p.value, to: type, seed: seed))
            }
            let path = dir + "/tiny-\(type.ggmlName).gguf"
            try writer.write(to: path)
            let file = try GGUFFile(path: path)
            let quantised = try LlamaInference(gguf: file)
            XCTAssertEqual(quantised.config, c.with(initStd: quantised.config.initStd))
            var dequantised = quantised.weights
            func f32(_ t: Tensor) -> Tensor { t.converted(to: .f32) }
            dequantised.tokenEmbedding = f32(dequantised.tokenEmbedding)
            dequantised.output = dequantised.tokenEmbedding
            for i in dequantised.layers.indices {
                var l = dequantised.layers[i]
                l.wq = f32(l.wq)
                l.wk = f32(l.wk)
                l.wv = f32(l.wv)
                l.wo = f32(l.wo)
                l.wGate = f32(l.wGate)
                l.wUp = f32(l.wUp)
                l.wDown = f32(l.wDown)
                dequantised.layers[i] = l
            }
            let reference = try LlamaInference(config: quantised.config, weights: dequantised)
            assertClose(
                try quantised.logits(ids, allPositions: true), try reference.logits(ids, allPositions: true),
                tol: 2e-4, "weights \(type)")
            // Decode (matrix-vector products) too.
            let s = try quantised.newSequence()
            _ = try quantised.forward([ForwardRequest(sequence: s, tokens: Array(ids.dropLast()), logits: .none)])
            let last = try quantised.forward([ForwardRequest(sequence: s, tokens: [ids.last!])])[0]!
            assertClose(last, try reference.logits(ids), tol: 2e-4, "decode with weights \(type)")
        }
    }

    /// A weight in `type`: quantised with the reference quantiser, or (Q3_K, which has none) random
    /// blocks with a small scale.
    func convert(_ t: Tensor, to type: DType, seed: UInt64) throws -> Tensor {
        switch type {
        case .f32: return t
        case .f16, .bf16: return t.converted(to: type)
        case .q3_K:
            let out = Tensor.uninitialized(t.shape, dtype: .q3_K)
            let bytes = out.dtype.byteCount(elements: out.count)
            var rng = SplitMix64(seed: seed)
            let p = out.rawPointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<bytes { p[i] = UInt8(truncatingIfNeeded: rng.next()) }
            for b in 0..<bytes / 110 { (out.rawPointer + b * 110 + 108).storeBytes(of: Half.fromFloat(0.004), as: UInt16.self) }
            return out
        default: return try t.quantized(to: type)
        }
    }
}

extension LlamaConfig {
    func with(initStd: Float) -> LlamaConfig {
        var c = self
        c.initStd = initStd
        return c
    }
}
