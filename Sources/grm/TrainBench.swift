import ArgumentParser
import Foundation
import Tensor
import Transformer

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-bench",
        abstract: "Training throughput (forward + backward + AdamW) of SmolLM2-135M shapes on random tokens.",
        discussion:
            "Full training of f32 weights by default; --lora R trains rank-R adapters on all seven projections over a frozen base (--model's weights as stored, else random weights quantised to Q4_1)."
    )

    @Option(help: "Layers (30 for the full model).") var layers: Int = 30
    @Option(help: "Sequences per step.") var batch: Int = 4
    @Option(help: "Tokens per sequence.") var seq: Int = 256
    @Option(help: "Timed steps (after one warm-up step).") var steps: Int = 2
    @Option(help: "GEMM backend: auto (own kernels, thread-count independent) or fastest (OpenBLAS above 8 rows).")
    var gemm: String = "auto"
    @Option(help: "LoRA rank (0: full training).") var lora: Int = 0
    @Flag(inversion: .prefixedNo, help: "Recompute each block's activations in the backward (less memory, one more forward).")
    var gradientCheckpointing = false
    @Option(help: EngineOptions.trainingActivationsHelp) var activations: String = "exact"
    @Flag(
        name: .customLong("compare-exact"), help: "First compare one step's gradients with --activations against exact ones (cosine, relative error)."
    )
    var compareExact = false
    @Option(help: "A GGUF model for the frozen base of --lora (default: random SmolLM2 shapes in Q4_1).") var model: String?

    func run() throws {
        switch gemm {
        case "auto": EngineSettings.current.gemmBackend = .auto
        case "fastest": EngineSettings.current.gemmBackend = .fastest
        default: throw ValidationError("--gemm must be auto or fastest")
        }
        try EngineOptions.useActivations(activations)
        guard lora >= 0 else { throw ValidationError("--lora must be a rank (0: full training)") }
        guard self.model == nil || lora > 0 else {
            throw ValidationError("--model is the frozen base of --lora; full training runs on random weights")
        }
        var config = LlamaConfig.smolLM2_135M
        config.layers = layers
        let model: LlamaModel
        if lora > 0 {
            let mode = FineTuningMode.lora(LoRASettings(rank: lora, alpha: Float(2 * lora)))
            if let path = self.model {
                model = try LlamaModel(gguf: try GGUFFile(path: path), mode: mode)
                config = model.config
            } else {
                model = try LlamaModel(config: config, weights: try TrainBench.quantisedWeights(config, .q4_1), mode: mode)
            }
        } else {
            model = try LlamaModel(config: config, seed: 1)
        }
        model.gradientCheckpointing = gradientCheckpointing
        let opt = AdamW(parameters: model.parameters, learningRate: 1e-4, noDecay: model.normParameterIndices)
        var rng = SeededRandom(seed: 2)
        let ids = (0..<(batch * (seq + 1))).map { _ in Int32(rng.nextInt(config.vocabSize)) }
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<batch {
            inputs += ids[(b * (seq + 1))..<(b * (seq + 1) + seq)]
            targets += ids[(b * (seq + 1) + 1)..<((b + 1) * (seq + 1))]
        }
        let what =
            lora > 0
            ? "LoRA r \(lora) (\(model.parameters.reduce(0) { $0 + $1.count }) trainable) over \(model.layers.first?.wq.value.dtype.description ?? "")"
            : "full training"
        print(
            "\(self.model ?? "SmolLM2-135M shapes"): \(config.layers) layers, \(config.parameterCount / 1_000_000)M parameters, \(what)\(gradientCheckpointing ? ", gradient checkpointing" : "")\(activations == "q8" ? ", int8 activations" : ""), "
                + "batch \(batch) x \(seq), \(ThreadPool.shared.threadCount) threads, GEMM \(gemm)")
        if compareExact {
            func gradients(_ mode: QuantMatmul.ActivationMode) throws -> [Float] {
                try EngineSettings.with({ $0.activations = mode }) {
                    try model.logits(inputs, batch: batch, length: seq).crossEntropy(targets: targets).backward()
                }
                defer { opt.zeroGrad() }
                return model.parameters.flatMap { $0.grad?.scalars() ?? [Float](repeating: 0, count: $0.count) }
            }
            let want = try gradients(.exact), got = try gradients(QuantMatmul.activationMode)
            var dot = 0.0, nw = 0.0, ng = 0.0, err = 0.0
            for (a, b) in zip(got, want) {
                dot += Double(a) * Double(b)
                nw += Double(b) * Double(b)
                ng += Double(a) * Double(a)
                err += Double(a - b) * Double(a - b)
            }
            print(
                String(
                    format: "gradients against exact: cosine %.5f, relative error %.4f, norm ratio %.4f", dot / max((nw * ng).squareRoot(), 1e-30),
                    (err / max(nw, 1e-30)).squareRoot(), (ng / max(nw, 1e-30)).squareRoot()))
        }
        var times: [Double] = []
        for s in 0...steps {
            let t0 = Date()
            let logits = try model.logits(inputs, batch: batch, length: seq)
            let t1 = Date()
            let loss = try logits.crossEntropy(targets: targets)
            try loss.backward()
            let t2 = Date()
            try opt.step()
            opt.zeroGrad()
            let t3 = Date()
            let total = t3.timeIntervalSince(t0)
            print(
                String(
                    format: "step %d%@: loss %.4f  forward %.2fs  backward %.2fs  adamw %.2fs  total %.2fs  %.1f tok/s",
                    s, s == 0 ? " (warm-up)" : "", loss.item, t1.timeIntervalSince(t0), t2.timeIntervalSince(t1),
                    t3.timeIntervalSince(t2), total, Double(batch * seq) / total))
            if s > 0 { times.append(total) }
        }
        let mean = times.reduce(0, +) / Double(max(times.count, 1))
        print(
            String(
                format: "mean %.2fs per step, %.1f tokens/s; peak RSS %.2f GiB",
                mean, Double(batch * seq) / mean, Double(peakResidentBytes()) / 1_073_741_824))
    }

    /// Random weights of `config`'s shapes with every matrix quantised to `type` (norms f32).
    static func quantisedWeights(_ config: LlamaConfig, _ type: DType) throws -> LlamaWeights {
        let w = try LlamaModel(config: config, seed: 1).inferenceWeights
        func q(_ t: Tensor) throws -> Tensor { try t.quantized(to: type) }
        let embedding = try q(w.tokenEmbedding)
        return LlamaWeights(
            tokenEmbedding: embedding,
            layers: try w.layers.map { l in
                LlamaWeights.Layer(
                    attnNorm: l.attnNorm, wq: try q(l.wq), wk: try q(l.wk), wv: try q(l.wv), wo: try q(l.wo),
                    ffnNorm: l.ffnNorm, wGate: try q(l.wGate), wUp: try q(l.wUp), wDown: try q(l.wDown))
            }, outputNorm: w.outputNorm, output: config.tiedEmbeddings ? embedding : try q(w.output))
    }
}
