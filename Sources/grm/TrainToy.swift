import ArgumentParser
import Foundation
import Tensor
import Transformer

struct TrainToy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-toy",
        abstract: "Train a small Llama-style decoder from scratch to copy or reverse digit strings.")

    @Option(help: "copy or reverse") var task: String = "reverse"
    @Option(help: "Digits per string.") var digits: Int = 6
    @Option(help: "Decoder layers.") var layers: Int = 2
    @Option(help: "Model width.") var dim: Int = 64
    @Option(help: "Query heads.") var heads: Int = 4
    @Option(name: .customLong("kv-heads"), help: "Key/value heads.") var kvHeads: Int = 2
    @Option(help: "Training steps.") var steps: Int = 800
    @Option(help: "Strings per batch.") var batch: Int = 32
    @Option(help: "Peak learning rate.") var lr: Float = 3e-3
    @Option(help: "Warm-up steps.") var warmup: Int = 50
    @Option(help: "Seed for initialisation and data.") var seed: UInt64 = 1
    @Option(help: "Held-out strings to decode at the end.") var eval: Int = 200
    @Option(help: "GGUF checkpoint (weights loadable as a model, AdamW state, step), written atomically every --save-every steps and at the end.")
    var checkpoint: String?
    @Option(name: .customLong("save-every"), help: "Steps between checkpoints.") var saveEvery: Int = 200
    @Flag(help: "Continue from --checkpoint if it exists.") var resume = false

    func run() throws {
        guard let kind = DigitTask.Kind(rawValue: task) else { throw ValidationError("--task must be copy or reverse") }
        guard saveEvery > 0 else { throw ValidationError("--save-every must be positive") }
        let config = ToyTrainer.defaultConfig(layers: layers, dim: dim, heads: heads, kvHeads: kvHeads)
        let trainer = try ToyTrainer(
            task: DigitTask(kind: kind, digits: digits), config: config, batchSize: batch,
            schedule: LRSchedule(peak: lr, warmupSteps: warmup, totalSteps: steps, minimum: lr / 10),
            seed: seed)
        if resume, let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
            try trainer.resume(from: checkpoint)
            printError("resumed from \(checkpoint) at step \(trainer.step)")
        }
        printError(
            "model: \(config.layers) layers, width \(config.dim), \(config.heads)/\(config.kvHeads) heads, "
                + "\(config.parameterCount) parameters; task: \(kind.rawValue) \(digits) digits, batch \(batch)")
        let tokensPerStep = batch * trainer.task.length
        let start = Date()
        let firstStep = trainer.step
        var smoothed: Float?
        while trainer.step < steps {
            let loss = try trainer.trainStep()
            smoothed = smoothed.map { 0.9 * $0 + 0.1 * loss } ?? loss
            let elapsed = Date().timeIntervalSince(start)
            let rate = Double((trainer.step - firstStep) * tokensPerStep) / Swift.max(elapsed, 1e-9)
            let line = String(
                format: "step %5d/%d  loss %.4f (avg %.4f)  lr %.2e  %.0f tok/s",
                trainer.step, steps, loss, smoothed!, trainer.optimizer.learningRate, rate)
            FileHandle.standardError.write(Data(("\r" + line + "  ").utf8))
            if let checkpoint, trainer.step % saveEvery == 0 || trainer.step == steps {
                try trainer.save(to: checkpoint)
            }
        }
        printError("")
        let (seqs, digitsRight) = try trainer.evaluate(count: eval)
        print(
            String(
                format: "held-out: %.1f%% of strings and %.1f%% of digits right (%d strings, greedy)",
                seqs * 100, digitsRight * 100, eval))
    }
}
