import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// Tiny base models and reward models written by the tests.
enum TinyRewardModels {
    /// Byte-level BPE vocabulary of the 256 bytes (no merges): every text tokenises, byte b is
    /// token b.
    static var byteChars: [String] {
        var chars: [String] = [], n = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            chars.append(String(UnicodeScalar(UInt32(printable ? b : 256 + n))!))
            if !printable { n += 1 }
        }
        return chars
    }

    static let config = LlamaConfig(vocabSize: 256, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 64, initStd: 0.2, contextLength: 256)

    /// Renders only the messages' contents, one after the other: the last token of a rendering
    /// is the response's last byte.
    static let plainTemplate = "{% for m in messages %}{{ m['content'] }}{% endfor %}"

    /// Writes a base model (random weights from `seed`, changed by `edit`) with the byte
    /// vocabulary and, when given, a chat template (otherwise ChatML is used).
    static func writeBase(
        to path: String, seed: UInt64 = 11, template: String? = nil, config: LlamaConfig = config,
        edit: ((LlamaModel) throws -> Void)? = nil
    ) throws {
        let model = try LlamaModel(config: config, seed: seed)
        try edit?(model)
        var meta = try config.ggufMetadata(name: "tiny")
        meta["tokenizer.ggml.model"] = .string("gpt2")
        meta["tokenizer.ggml.pre"] = .string("gpt-2")
        meta["tokenizer.ggml.tokens"] = .array(.string(byteChars))
        meta["tokenizer.ggml.token_type"] = .array(.int32([Int32](repeating: 1, count: 256)))
        meta["tokenizer.ggml.merges"] = .array(.string([]))
        meta["tokenizer.ggml.eos_token_id"] = .uint32(0)
        if let template { meta["tokenizer.chat_template"] = .string(template) }
        var writer = GGUFWriter(metadata: meta)
        for v in model.variables { try writer.add(v.name, v.value) }
        try writer.write(to: path)
    }

    /// A reward model whose rewards can be computed by hand. In the base, every block's output
    /// projections are zero (the blocks add nothing to the residual stream) and token t embeds
    /// as the unit vector e_(t mod 32), so the final-norm state at the last token is
    /// e_(t mod 32) / sqrt(1/32 + eps), about 5.657 e_(t mod 32). With the plain template the last
    /// token is the response's last byte; the head weighs digit d (byte 48 + d, row 16 + d) by
    /// (d - 5) / 10. So a response ending in digit d gets the reward (d - 5) / 10 * `unit`,
    /// exactly 0 for d = 5.
    static func writeDigitRewardModel(dir: String) throws -> (base: String, rm: String) {
        let base = dir + "digit-base.gguf", rm = dir + "digit-rm.gguf"
        try writeBase(to: base, template: plainTemplate) { model in
            var embedding = [Float](repeating: 0, count: 256 * 32)
            for t in 0..<256 { embedding[t * 32 + t % 32] = 1 }
            model.tokenEmbedding.value = try Tensor(shape: [256, 32], scalars: embedding)
            for l in model.layers {
                l.wo.value = Tensor(zeros: l.wo.shape)
                l.wDown.value = Tensor(zeros: l.wDown.shape)
            }
        }
        var w = [Float](repeating: 0, count: 32)
        for d in 0...9 { w[16 + d] = Float(d - 5) / 10 }
        let head = try ScalarHead(weight: Tensor(shape: [1, 32], scalars: w), bias: nil)
        try RewardModelFile(kind: .scalar, architecture: "llama", head: head, baseName: "digit-base.gguf", baseSHA256: try SHA256.file(base))
            .write(gguf: rm)
        return (base, rm)
    }

    /// The final-norm scale of a unit vector in 32 dimensions: 1 / sqrt(1/32 + eps).
    static var unit: Float { 1 / (1 / 32 + config.normEps).squareRoot() }

    /// A fresh temporary directory (with a trailing slash), removed by the test's teardown.
    static func temporaryDirectory(_ test: XCTestCase, _ name: String) throws -> String {
        let dir = NSTemporaryDirectory() + "grm-\(name)-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
}
