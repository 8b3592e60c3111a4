import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// The gemma3 block on the autograd tape (`LlamaModel`): its gradient against finite differences,
/// and its forward against the inference path on the same weights. The tape's attention is causal
/// over the whole sequence, so sequences longer than the sliding window are refused.
final class Gemma3TrainingTests: XCTestCase {
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    /// Six layers (5 is global, with the other RoPE base), heads of 6 values at width 8, and an
    /// attention scale that is not 1/sqrt(6): every Gemma addition is on the path.
    func testWholeModelGradientCheck() throws {
        let config = LlamaConfig(
            vocabSize: 7, dim: 8, layers: 6, heads: 2, kvHeads: 1, ffnDim: 12, ropeBase: 1000, normEps: 1e-6,
            tiedEmbeddings: true, initStd: 0.5, architecture: "gemma3", ropeLayout: .halves,
            gemma: GemmaSettings(headDim: 6, slidingWindow: 4, localRopeBase: 10, attentionScale: 0.3))
        let model = try LlamaModel(config: config, seed: 3)
        XCTAssertNotNil(model.layers[0].qNorm)
        let ids: [Int32] = [1, 4, 6, 0, 2, 2]
        let targets: [Int32] = [4, -100, 0, 2, 2, 5]
        // eps 1e-3, not the Llama test's 1e-2: the post norms rescale small outputs, and the loss
        // curves enough that 1e-2 central differences missed one attn_output element by 2x.
        let r = try GradCheck.check(model.parameters, eps: 1e-3, atol: 2e-3, rtol: 2e-2) { _ in
            try model.logits(ids, batch: 2, length: 3).crossEntropy(targets: targets)
        }
        XCTAssertTrue(r.passed, "\(r)")
        XCTAssertEqual(r.checked, config.parameterCount)
        XCTAssertThrowsError(try model.logits([1, 2, 3, 4, 5], batch: 1, length: 5)) {
            XCTAssertTrue("\($0)".contains("sliding_window"), "\($0)")
        }
    }

    /// The tiny gemma3 file (window widened to the sequence) loaded for full training and with
    /// LoRA (B = 0) gives the inference path's logits.
    func testTapeMatchesInferenceOnTheSameFile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = Gemma3TinyModelTests.config
        config.gemma!.slidingWindow = 16
        var meta = try config.ggufMetadata(name: "tiny gemma3")
        meta["general.name"] = .string("tiny gemma3, window 16")
        try Gemma3TinyModelTests.write(try Gemma3TinyModelTests.weights(), to: dir + "/t.gguf", metadata: meta)
        let file = try GGUFFile(path: dir + "/t.gguf")
        let tokens = Gemma3TinyModelTests.tokens
        let want = try LlamaInference(gguf: file).logits(tokens, allPositions: true).scalars()
        for mode in [FineTuningMode.full, .lora(LoRASettings(rank: 2, alpha: 4))] {
            let model = try LlamaModel(gguf: file, mode: mode)
            let got = try model.logits(tokens, batch: 1, length: tokens.count).value.scalars()
            XCTAssertLessThan(zip(got, want).map { abs($0 - $1) }.max()!, 1e-4, "\(mode)")
        }
    }
}
