import Foundation
import Tensor

/// A synthetic sequence task that only attention solves: a random digit string, a separator, then
/// the string again (copied or reversed). The loss counts only the answer tokens.
public struct DigitTask: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case copy, reverse }

    public var kind: Kind
    public var digits: Int

    public init(kind: Kind, digits: Int) {
        self.kind = kind
        self.digits = digits
    }

    /// Tokens 0-9 are digits, 10 the separator.
    public static let separator: Int32 = 10
    public static let vocabSize = 11

    /// Model input length: the prompt (digits + separator) and all answer tokens but the last.
    public var length: Int { 2 * digits }

    public func answer(_ prompt: [Int32]) -> [Int32] { kind == .copy ? prompt : prompt.reversed() }

    /// `count` examples from `rng`: inputs and targets [count, length], targets ignored on the prompt.
    public func batch(_ count: Int, rng: inout SeededRandom) -> (inputs: [Int32], targets: [Int32], prompts: [[Int32]]) {
        var inputs: [Int32] = [], targets: [Int32] = [], prompts: [[Int32]] = []
        for _ in 0..<count {
            let p = (0..<digits).map { _ in Int32(rng.nextInt(10)) }
            let seq = p + [DigitTask.separator] + answer(p)
            inputs += seq.dropLast()
            targets += [Int32](repeating: Variable.ignoreIndex, count: digits) + answer(p)
            prompts.append(p)
        }
        return (inputs, targets, prompts)
    }
}

/// Trains a `LlamaModel` on a `DigitTask` with AdamW, a warm-up + cosine schedule and gradient
/// clipping. Batch `s` is drawn from a generator seeded by (seed, s), so a run resumed from a
/// checkpoint sees exactly the batches an uninterrupted run would.
public final class ToyTrainer {
    public let task: DigitTask
    public let model: LlamaModel
    public let optimizer: AdamW
    public var schedule: LRSchedule
    public let batchSize: Int
    public let seed: UInt64
    public var clipNorm: Float = 1
    /// Steps completed.
    public private(set) var step = 0

    public init(task: DigitTask, config: LlamaConfig, batchSize: Int, schedule: LRSchedule, weightDecay: Float = 0.01, seed: UInt64) throws {
        self.task = task
        self.model = try LlamaModel(config: config, seed: seed)
        self.optimizer = AdamW(
            parameters: model.parameters, learningRate: schedule.peak, beta1: 0.9, beta2: 0.98,
            weightDecay: weightDecay, noDecay: model.normParameterIndices)
        self.schedule = schedule
        self.batchSize = batchSize
        self.seed = seed
    }

    /// The default small model for the digit tasks.
    public static func defaultConfig(layers: Int = 2, dim: Int = 64, heads: Int = 4, kvHeads: Int = 2) -> LlamaConfig {
        LlamaConfig(
            vocabSize: DigitTask.vocabSize, dim: dim, layers: layers, heads: heads, kvHeads: kvHeads,
            ffnDim: dim * 8 / 3 / 8 * 8, tiedEmbeddings: true, initStd: 0.05)
    }

    /// One optimisation step; returns the loss (before the update).
    @discardableResult
    public func trainStep() throws -> Float {
        var rng = SeededRandom(seed: seed &* 0x9E37_79B9 &+ UInt64(step) &+ 1)
        let b = task.batch(batchSize, rng: &rng)
        optimizer.learningRate = schedule.rate(at: step)
        let loss = try model.logits(b.inputs, batch: batchSize, length: task.length).crossEntropy(targets: b.targets)
        try loss.backward()
        try Gradients.clipByGlobalNorm(model.parameters, maxNorm: clipNorm)
        try optimizer.step()
        optimizer.zeroGrad()
        step += 1
        return loss.item
    }

    /// Greedy decoding of `count` held-out examples (a generator no training batch uses): the
    /// fraction of strings answered entirely right, and of answer digits right.
    public func evaluate(count: Int, seed evalSeed: UInt64 = 0xE7A1) throws -> (sequences: Double, digits: Double) {
        var rng = SeededRandom(seed: evalSeed)
        let prompts = task.batch(count, rng: &rng).prompts
        var seqs = prompts.map { $0 + [DigitTask.separator] }
        try Autograd.noGrad {
            for _ in 0..<task.digits {
                let len = seqs[0].count
                let logits = try model.logits(seqs.flatMap { $0 }, batch: count, length: len).value
                let v = DigitTask.vocabSize
                for i in 0..<count {
                    let row = logits.floatPointer + ((i + 1) * len - 1) * v
                    seqs[i].append(Int32(Tensor.argmax(row, count: 10)))
                }
            }
        }
        var right = 0, digitsRight = 0
        for (p, s) in zip(prompts, seqs) {
            let got = Array(s.suffix(task.digits)), want = task.answer(p)
            if got == want { right += 1 }
            digitsRight += zip(got, want).filter { $0 == $1 }.count
        }
        return (Double(right) / Double(count), Double(digitsRight) / Double(count * task.digits))
    }

    /// Saves parameters, optimiser state and the step to a GGUF checkpoint, atomically; the file
    /// also loads as a model (`LlamaInference(gguf:)`).
    public func save(to path: String) throws {
        try Checkpoint(
            step: step, parameters: model.parameters, optimizer: optimizer,
            metadata: ["task": task.kind.rawValue, "digits": "\(task.digits)"]
        )
        .write(gguf: path, model: model.config, name: "grm toy \(task.kind.rawValue) \(task.digits) digits")
    }

    /// Restores a checkpoint written by `save` for the same task and configuration.
    public func resume(from path: String) throws {
        let ck = try Checkpoint(gguf: path)
        for (key, want) in [("task", task.kind.rawValue), ("digits", "\(task.digits)")] {
            if let saved = ck.metadata[key], saved != want {
                throw CheckpointError(.badMetadata, path: path, "saved for \(key) \(saved), not \(want)")
            }
        }
        try ck.restore(parameters: model.parameters, optimizer: optimizer)
        step = ck.step
    }
}
