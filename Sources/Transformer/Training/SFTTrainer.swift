import Foundation
import Tensor

/// The optimisation settings of supervised fine-tuning: AdamW, linear warm-up then cosine decay
/// to zero, gradient clipping at 1.
public struct SFTSettings: Sendable, Equatable {
    /// Optimiser steps in the run (the schedule's length).
    public var steps: Int
    /// Micro-batches per optimiser step (gradient accumulation).
    public var accumulation: Int = 1
    public var learningRate: Float = 2e-4
    public var warmupSteps: Int = 10
    public var weightDecay: Float = 0
    public var beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8
    public var clipNorm: Float = 1
    /// The activations of the frozen base's products (training and validation forwards). `.q8`
    /// rounds them to int8 per block as inference's int8 path does, and on AVX-512 VNNI the input
    /// gradients through the base run int8 as well, against a Q8_0 copy of each W^T
    /// (`LlamaModel.backwardCopy`): the base is then a straight-through estimator of its rounded
    /// products, and steps are faster (docs/training.md); `.exact` keeps f32 activations and the
    /// exact backward.
    public var activations: QuantMatmul.ActivationMode = .exact

    public init(steps: Int, accumulation: Int = 1, learningRate: Float = 2e-4, warmupSteps: Int = 10, weightDecay: Float = 0) {
        self.steps = steps
        self.accumulation = accumulation
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.weightDecay = weightDecay
    }

    public var schedule: LRSchedule { LRSchedule(peak: learningRate, warmupSteps: warmupSteps, totalSteps: steps) }

    func validate() throws {
        guard steps > 0, accumulation > 0 else { throw ConfigError.invalid("steps \(steps) and accumulation \(accumulation) must be positive") }
        guard learningRate.isFinite, learningRate >= 0, warmupSteps >= 0 else {
            throw ConfigError.invalid("learning rate \(learningRate) and warm-up \(warmupSteps) must be non-negative")
        }
    }
}

/// What one optimiser step did.
public struct SFTStepResult: Sendable {
    public var step: Int
    /// Mean loss over the step's trainable tokens (all micro-batches together).
    public var loss: Float
    public var trainableTokens: Int
    /// Tokens the model read (padding included).
    public var tokens: Int
    public var learningRate: Float
    /// The gradient's global norm before clipping.
    public var gradientNorm: Float
}

/// Supervised fine-tuning of a `LlamaModel` (full or LoRA): completion-only next-token loss,
/// gradient accumulation, AdamW, warm-up + cosine schedule, clipping, validation loss, and
/// checkpoints that resume exactly.
///
/// The micro-batches come from `batches(i)`, a pure function of the micro-batch index i (step *
/// accumulation + micro), so a resumed run reads what an uninterrupted one would. The loss of a
/// step is the sum of the per-token losses of all its micro-batches over their trainable tokens
/// (each micro-batch's mean weighted by its share of the step's trainable tokens), so
/// accumulation gives the gradient of one large batch. Every kernel involved computes the same
/// bits for every thread count, so a run resumed from step k gives the uninterrupted run's losses
/// bit for bit.
public final class SFTTrainer {
    public let model: LlamaModel
    public let settings: SFTSettings
    public let optimizer: AdamW
    /// Optimiser steps completed.
    public private(set) var step = 0
    let batches: (Int) throws -> SFTBatch

    public init(model: LlamaModel, settings: SFTSettings, batches: @escaping (Int) throws -> SFTBatch) throws {
        try settings.validate()
        let params = model.parameters
        guard !params.isEmpty else { throw ConfigError.invalid("the model has nothing to train") }
        self.model = model
        self.settings = settings
        self.batches = batches
        optimizer = AdamW(
            parameters: params, learningRate: settings.learningRate, beta1: settings.beta1, beta2: settings.beta2,
            eps: settings.eps, weightDecay: settings.weightDecay, noDecay: model.normParameterIndices)
    }

    /// One optimiser step over `settings.accumulation` micro-batches.
    @discardableResult
    public func trainStep() throws -> SFTStepResult {
        // The forward's activations are the run's setting, whatever the process's default says.
        try EngineSettings.with({ $0.activations = settings.activations }) { try stepInMode() }
    }

    private func stepInMode() throws -> SFTStepResult {
        let micro = try (0..<settings.accumulation).map { try batches(step * settings.accumulation + $0) }
        let total = micro.reduce(0) { $0 + $1.trainableTargets }
        var lossSum: Double = 0
        for b in micro where b.trainableTargets > 0 {
            let loss = try SFTTrainer.completionLoss(model, b)
            let share = Float(b.trainableTargets) / Float(total)
            try loss.scaled(by: share).backward()
            lossSum += Double(loss.item) * Double(b.trainableTargets)
        }
        let rate = settings.schedule.rate(at: step)
        optimizer.learningRate = rate
        let norm = total > 0 ? try Gradients.clipByGlobalNorm(optimizer.parameters, maxNorm: settings.clipNorm) : 0
        if total > 0 { try optimizer.step() }
        optimizer.zeroGrad()
        step += 1
        return SFTStepResult(
            step: step, loss: total > 0 ? Float(lossSum / Double(total)) : 0, trainableTokens: total,
            tokens: micro.reduce(0) { $0 + $1.inputs.count }, learningRate: rate, gradientNorm: norm)
    }

    /// Mean loss per trainable token over `batches` (no tape; nil when none is trainable).
    public func evaluate(_ batches: [SFTBatch]) throws -> Float? {
        try SFTTrainer.loss(model, batches, activations: settings.activations)
    }

    /// The mean next-token loss over a batch's trainable targets. Logits are computed only for
    /// the rows whose target counts (prompts and padding never reach the vocabulary-sized output
    /// product, forwards or backwards); the loss is the one over all rows with the others ignored.
    public static func completionLoss(_ model: LlamaModel, _ b: SFTBatch) throws -> Variable {
        let hidden = try model.hiddenStates(b.inputs, batch: b.rows, length: b.length)
        let rows = b.targets.indices.filter { b.targets[$0] != Variable.ignoreIndex }
        if rows.count == b.targets.count { return try model.outputLogits(hidden).crossEntropy(targets: b.targets) }
        return try model.outputLogits(hidden.embedding(rows.map { Int32($0) })).crossEntropy(targets: rows.map { b.targets[$0] })
    }

    public static func loss(_ model: LlamaModel, _ batches: [SFTBatch], activations: QuantMatmul.ActivationMode = .exact) throws -> Float? {
        var sum: Double = 0, count = 0
        try EngineSettings.with({ $0.activations = activations }) {
            try Autograd.noGrad {
                for b in batches where b.trainableTargets > 0 {
                    let l = try completionLoss(model, b)
                    sum += Double(l.item) * Double(b.trainableTargets)
                    count += b.trainableTargets
                }
            }
        }
        return count == 0 ? nil : Float(sum / Double(count))
    }

    // MARK: - Checkpoints

    /// What a checkpoint must agree on to be resumed by this run.
    func identity(_ extra: [String: String]) -> [String: String] {
        var m = extra
        m["sft.parameters"] = model.parameters.map { "\($0.name)\($0.shape)" }.joined(separator: ",").stableDigest
        m["sft.accumulation"] = "\(settings.accumulation)"
        m["sft.steps"] = "\(settings.steps)"
        m["sft.lr"] = "\(settings.learningRate)"
        m["sft.warmup"] = "\(settings.warmupSteps)"
        m["sft.weight_decay"] = "\(settings.weightDecay)"
        m["sft.optimizer"] = "clip \(settings.clipNorm) betas \(settings.beta1) \(settings.beta2) eps \(settings.eps)"
        m["sft.lora_scales"] = model.loraScalesDigest
        m["sft.activations"] = settings.activations.name
        return m
    }

    /// Saves the trainable parameters, AdamW's state and the step, atomically, with `metadata`
    /// (for example the data's fingerprint and seed) that `resume` checks.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try Checkpoint.save(
            to: path, step: step, parameters: model.parameters, optimizer: optimizer, identity: identity(metadata),
            name: "swift-grm SFT checkpoint")
    }

    /// Restores a checkpoint written by `save` from a run with the same parameters, settings and
    /// `metadata`; a mismatch is refused naming the key.
    public func resume(from path: String, metadata: [String: String] = [:]) throws {
        step = try Checkpoint.resume(
            from: path, identity: identity(metadata), absentMeans: ["sft.activations": "exact"], parameters: model.parameters,
            optimizer: optimizer, steps: settings.steps)
    }
}

extension String {
    /// A short stable digest (FNV-1a 64, hex) for fingerprints in checkpoint metadata.
    public var stableDigest: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }
}
