import ArgumentParser
import Foundation
import Tensor
import Transformer

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-bench",
        abstract: "Training throughput (forward + backward + AdamW) of SmolLM2-135M shapes on random tokens.")

    @Option(help: "Layers (30 for the full model).") var layers: Int = 30
    @Option(help: "Sequences per step.") var batch: Int = 4
    @Option(help: "Tokens per sequence.") var seq: Int = 256
    @Option(help: "Timed steps (after one warm-up step).") var steps: Int = 2
    @Option(help: "GEMM backend: auto (own kernels, thread-count independent) or fastest (OpenBLAS above 8 rows).")
    var gemm: String = "auto"

    func run() throws {
        switch gemm {
        case "auto": GEMM.backend = .auto
        case "fastest": GEMM.backend = .fastest
        default: throw ValidationError("--gemm must be auto or fastest")
        }
        var config = LlamaConfig.smolLM2_135M
        config.layers = layers
        let model = try LlamaModel(config: config, seed: 1)
        let opt = AdamW(parameters: model.parameters, learningRate: 1e-4, noDecay: model.normParameterIndices)
        var rng = SeededRandom(seed: 2)
        let ids = (0..<(batch * (seq + 1))).map { _ in Int32(rng.nextInt(config.vocabSize)) }
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<batch {
            inputs += ids[(b * (seq + 1))..<(b * (seq + 1) + seq)]
            targets += ids[(b * (seq + 1) + 1)..<((b + 1) * (seq + 1))]
        }
        print("SmolLM2-135M shapes: \(config.layers) layers, \(config.parameterCount / 1_000_000)M parameters, "
              + "batch \(batch) x \(seq), \(ThreadPool.shared.threadCount) threads, GEMM \(gemm)")
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
            print(String(format: "step %d%@: loss %.4f  forward %.2fs  backward %.2fs  adamw %.2fs  total %.2fs  %.1f tok/s",
                         s, s == 0 ? " (warm-up)" : "", loss.item, t1.timeIntervalSince(t0), t2.timeIntervalSince(t1),
                         t3.timeIntervalSince(t2), total, Double(batch * seq) / total))
            if s > 0 { times.append(total) }
        }
        let mean = times.reduce(0, +) / Double(max(times.count, 1))
        print(String(format: "mean %.2fs per step, %.1f tokens/s; peak RSS %.2f GiB",
                     mean, Double(batch * seq) / mean, Double(peakResidentBytes()) / 1_073_741_824))
    }
}
