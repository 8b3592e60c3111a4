import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// The default model against llama.cpp's golden outputs (Fixtures/smollm2-*-llamacpp.json, copied
/// from /work/shared/reference): the exact-f32-activation path against llama.cpp run on the same
/// weights dequantised to f32.
final class SmolLM2InferenceTests: XCTestCase {
    /// Every test on exact activations, whatever GRM_QMM_ACT says (the int8 test sets .q8 itself).
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }
    struct Case: Decodable {
        let prompt: String
        let tokens: [Int32]
        let top20: [[Double]]
        let greedy: [Int32]
    }

    static func cases(_ name: String) throws -> [Case] {
        struct File: Decodable { let cases: [Case] }
        let data = try XCTUnwrap(FileManager.default.contents(atPath: fixturePath(name)), "fixture \(name) missing")
        return try JSONDecoder().decode(File.self, from: data).cases
    }

    func testExactPathMatchesLlamaCppF32() throws {
        let engine = try smolLM2Engine()
        let tokenizer = try smolLM2Tokenizer()
        let cases = try Self.cases("smollm2-f32-llamacpp.json")
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            XCTAssertEqual(tokenizer.encode(c.prompt, parseSpecial: true), c.tokens, "tokenisation of \(c.prompt.debugDescription)")
            let seq = try engine.newSequence()
            let logits = try engine.forward([ForwardRequest(sequence: seq, tokens: c.tokens)])[0]!.scalars()
            let best = logits.indices.max { logits[$0] < logits[$1] }!
            XCTAssertEqual(best, Int(c.top20[0][0]), "argmax for \(c.prompt.suffix(40).debugDescription)")
            for pair in c.top20 {
                XCTAssertEqual(logits[Int(pair[0])], Float(pair[1]), accuracy: 0.05, "logit of \(Int(pair[0]))")
            }
            // Greedy continuation, decoding through the cache.
            var next = Int32(best)
            var generated: [Int32] = []
            let want = Array(c.greedy.prefix(16))
            while generated.count < want.count {
                generated.append(next)
                if next == 0 || next == 2 { break }
                let row = try engine.forward([ForwardRequest(sequence: seq, tokens: [next])])[0]!.scalars()
                next = Int32(row.indices.max { row[$0] < row[$1] }!)
            }
            XCTAssertEqual(generated, want, "greedy tokens for \(c.prompt.suffix(40).debugDescription)")
        }
    }

    /// The int8-activation path (`EngineSettings.activations = .q8`, llama.cpp's arithmetic for
    /// 1-32-row products) with an f16 cache, as llama.cpp runs by default, against llama.cpp's own
    /// Q4_1 run: every prompt decoded token by token (so every product takes the int8 path), the
    /// 20 listed logits within 1.0 (the logit error the int8 path is allowed), and the same top-5
    /// set up to near ties, with the near-tie margin derived from the int8 rounding's error on
    /// this machine rather than fitted to one:
    ///
    /// * delta: how far rounding activations to int8 moves our logits, measured per prompt as the
    ///   largest |q8 - exact| over the listed tokens (the same prompt through the exact path).
    /// * llama.cpp rounds activations with the same rule (ggml's `quantize_row_q8_1`, which
    ///   `quantizeBlock` reproduces bit for bit, tested), so its int8 logits sit within the same
    ///   delta of its exact ones; its exact logits and ours agree to `exactGap` (the exact path is
    ///   tested within 0.05 of llama.cpp's f32 run). So each of our int8 logits is within
    ///   2 delta + exactGap of the reference's.
    /// * Two tokens can then trade places at the top-5 boundary only if the reference puts them
    ///   within twice that: a swapped token's reference logit must lie within
    ///   2 (2 delta + exactGap) of the 5th.
    ///
    /// (Two prompts have reference logits 4-7 within 0.21 and 0.17 of each other; llama.cpp itself
    /// changes the top-5 set of one of them between builds, and our AVX-512 path swaps a token
    /// whose reference logit is 0.35 from the 5th, where a fixed 0.25 margin had failed.)
    func testInt8ActivationPathMatchesLlamaCppQ4_1() throws {
        guard QuantMatmul.hasQ8Kernel(.q4_1) else {
            throw XCTSkip("no int8-activation kernel on kernel path \(KernelISA.level): .q8 runs the exact kernels")
        }
        let exactGap = 0.05
        func decode(_ engine: LlamaInference, _ tokens: [Int32]) throws -> [Float] {
            let seq = try engine.newSequence()
            var logits: [Float] = []
            for t in tokens { logits = try engine.forward([ForwardRequest(sequence: seq, tokens: [t])])[0]!.scalars() }
            return logits
        }
        let cases = try Self.cases("smollm2-q4_1-llamacpp.json")
        let exact = try EngineSettings.with({ $0.activations = .exact }) {
            let engine = try LlamaInference(path: SmolLM2.path, kvType: .f16, contextLength: 512)
            return try cases.map { try decode(engine, $0.tokens) }
        }
        try EngineSettings.with({ $0.activations = .q8 }) {
            let engine = try LlamaInference(path: SmolLM2.path, kvType: .f16, contextLength: 512)
            for (c, exact) in zip(cases, exact) {
                let label = c.prompt.suffix(40).debugDescription
                let logits = try decode(engine, c.tokens)
                var worst: Float = 0, delta: Float = 0
                for pair in c.top20 {
                    worst = max(worst, abs(logits[Int(pair[0])] - Float(pair[1])))
                    delta = max(delta, abs(logits[Int(pair[0])] - exact[Int(pair[0])]))
                }
                XCTAssertLessThanOrEqual(worst, 1.0, "largest logit difference for \(label)")
                XCTAssertGreaterThan(delta, 0, "the int8 path rounded nothing for \(label)")
                let reference = c.top20.sorted { $0[1] > $1[1] }
                let want = Set(reference.prefix(5).map { Int($0[0]) })
                let got = Set(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5))
                let margin = 2 * (2 * Double(delta) + exactGap), fifth = reference[4][1]
                for id in want.symmetricDifference(got) {
                    let r = try XCTUnwrap(reference.first { Int($0[0]) == id }, "token \(id) in our top 5 is not in the reference top 20 (\(label))")
                    XCTAssertLessThanOrEqual(
                        abs(r[1] - fifth), margin,
                        "token \(id) swapped into or out of the top 5 for \(label) beyond a near tie (int8 rounding moves logits by \(delta))")
                }
            }
        }
    }

    /// `--activations bf16`: the chat prompts (35-38 tokens) prefilled in one piece run their
    /// products on bf16 tiles. Their logits stay closer to the exact path's than the int8 path's
    /// do (on these prompts about a fifth as far: 0.09-0.18 against 0.29-1.06), and the top 5
    /// agrees with llama.cpp's but for near ties.
    func testBF16PromptPathMatchesLlamaCppQ4_1() throws {
        guard QuantMatmul.usesBF16Tiles(m: 35) else {
            throw XCTSkip("no AMX-BF16 tiles on kernel path \(KernelISA.level) (amx_bf16: \(CPU.hasAMXBF16))")
        }
        let cases = try Self.cases("smollm2-q4_1-llamacpp.json").filter { $0.tokens.count >= QuantMatmul.bf16MinRows }
        XCTAssertEqual(cases.count, 3)
        func logits(_ mode: QuantMatmul.ActivationMode) throws -> [[Float]] {
            try EngineSettings.with({ $0.activations = mode }) {
                let engine = try LlamaInference(path: SmolLM2.path, kvType: .f16, contextLength: 512)
                return try cases.map { try engine.logits($0.tokens).scalars() }
            }
        }
        let exact = try logits(.exact), q8 = try logits(.q8), bf16 = try logits(.bf16)
        // Two prompts as one sequence of 73 tokens: attention then takes the matrix path, on bf16
        // tiles too (no reference here: closer to exact than int8, on exact's top 20).
        let long = cases[0].tokens + cases[1].tokens
        func last(_ mode: QuantMatmul.ActivationMode) throws -> [Float] {
            try EngineSettings.with({ $0.activations = mode }) {
                try LlamaInference(path: SmolLM2.path, kvType: .f16, contextLength: 512).logits(long).scalars()
            }
        }
        let le = try last(.exact), lq = try last(.q8), lb = try last(.bf16)
        let top = le.indices.sorted { le[$0] > le[$1] }.prefix(20)
        let longDelta = top.map { abs(lb[$0] - le[$0]) }.max()!, longQ8 = top.map { abs(lq[$0] - le[$0]) }.max()!
        XCTAssertGreaterThan(longDelta, 0)
        XCTAssertLessThanOrEqual(longDelta, longQ8, "73 tokens: bf16 moved the logits further from exact than int8 did")
        for (i, c) in cases.enumerated() {
            let label = c.prompt.suffix(40).debugDescription
            var delta: Float = 0, deltaQ8: Float = 0
            for pair in c.top20 {
                let id = Int(pair[0])
                delta = max(delta, abs(bf16[i][id] - exact[i][id]))
                deltaQ8 = max(deltaQ8, abs(q8[i][id] - exact[i][id]))
            }
            XCTAssertGreaterThan(delta, 0, "the bf16 path rounded nothing for \(label)")
            XCTAssertLessThanOrEqual(delta, deltaQ8, "bf16 moved the logits further from the exact path than int8 did for \(label)")
            let reference = c.top20.sorted { $0[1] > $1[1] }
            let want = Set(reference.prefix(5).map { Int($0[0]) })
            let got = Set(bf16[i].indices.sorted { bf16[i][$0] > bf16[i][$1] }.prefix(5))
            var exactGap: Float = 0
            for pair in c.top20 { exactGap = max(exactGap, abs(exact[i][Int(pair[0])] - Float(pair[1]))) }
            let margin = 2 * Double(delta + exactGap), fifth = reference[4][1]
            for id in want.symmetricDifference(got) {
                let r = try XCTUnwrap(reference.first { Int($0[0]) == id }, "token \(id) in our top 5 is not in the reference top 20 (\(label))")
                XCTAssertLessThanOrEqual(abs(r[1] - fifth), margin, "token \(id) swapped into or out of the top 5 for \(label) beyond a near tie")
            }
        }
    }

    func testF16CacheStaysClose() throws {
        let path = SmolLM2.path
        let engine = try LlamaInference(path: path, kvType: .f16, contextLength: 512)
        let c = try Self.cases("smollm2-f32-llamacpp.json")[1]
        let logits = try engine.logits(c.tokens).scalars()
        for pair in c.top20 { XCTAssertEqual(logits[Int(pair[0])], Float(pair[1]), accuracy: 0.1) }
    }

    func testModelShapeFromMetadata() throws {
        let engine = try smolLM2Engine()
        var expected = LlamaConfig.smolLM2_135M
        expected.initStd = engine.config.initStd
        XCTAssertEqual(engine.config, expected)
        XCTAssertEqual(engine.weights.tokenEmbedding.dtype, .q8_0)
        XCTAssertEqual(engine.weights.layers[0].wq.dtype, .q4_1)
    }
}

/// The default model for inference, loaded once (memory-mapped).
func smolLM2Engine() throws -> LlamaInference {
    _ = try smolLM2Tokenizer()  // fails clearly when the model is missing
    if let e = SmolLM2Engine.shared { return e }
    let e = try LlamaInference(path: SmolLM2.path)
    SmolLM2Engine.shared = e
    return e
}

enum SmolLM2Engine { nonisolated(unsafe) static var shared: LlamaInference? }
