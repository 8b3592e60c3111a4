import Foundation
import Tensor
import Transformer

/// Training a scalar head alone on hidden states computed once (the backbone frozen): Bradley-Terry
/// over preference pairs, AdamW, seeded mini-batches of pairs. Minutes, not hours: a step is one
/// [N, dim] x [dim] product.
public struct HeadOnlyTraining: Sendable, Equatable {
    public var steps: Int
    public var pairsPerStep: Int = 64
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 0
    public var centerCoefficient: Float = 0.01
    public var seed: UInt64 = 1

    public init(steps: Int, pairsPerStep: Int = 64, learningRate: Float = 1e-3, centerCoefficient: Float = 0.01, seed: UInt64 = 1) {
        self.steps = steps
        self.pairsPerStep = pairsPerStep
        self.learningRate = learningRate
        self.centerCoefficient = centerCoefficient
        self.seed = seed
    }

    /// Linear warm-up over the first tenth of the run (at most 10 steps), then cosine decay.
    public var schedule: LRSchedule { LRSchedule(peak: learningRate, warmupSteps: min(10, steps / 10), totalSteps: steps) }

    /// Trains `head` on `features` [N, dim] (one row per response) and `pairs` of row indices;
    /// returns the loss of each step. The pairs of step s are a seeded function of (seed, s).
    @discardableResult
    public func train(
        _ head: ScalarHead, features: Tensor, pairs: [PreferencePair],
        onStep: ((Int, Float) throws -> Void)? = nil
    ) throws -> [Float] {
        let trainer = try HeadOnlyTrainer(head: head, features: features, pairs: pairs, settings: self)
        var losses: [Float] = []
        while trainer.step < steps {
            let loss = try trainer.trainStep()
            losses.append(loss)
            try onStep?(trainer.step, loss)
        }
        return losses
    }
}

/// `HeadOnlyTraining` one step at a time, with checkpoints that resume exactly: the pairs of a
/// step, its learning rate and AdamW's update are functions of the step and the saved state, so
/// a run stopped at step k and resumed from its checkpoint computes the uninterrupted run's
/// losses and head bit for bit.
public final class HeadOnlyTrainer {
    public let head: ScalarHead
    public let settings: HeadOnlyTraining
    public let optimizer: AdamW
    let features: Variable
    let pairs: [PreferencePair]
    /// Optimiser steps completed.
    public private(set) var step = 0
    private var epochOrder: (epoch: Int, order: [Int])?

    public init(head: ScalarHead, features: Tensor, pairs: [PreferencePair], settings: HeadOnlyTraining) throws {
        guard settings.steps > 0, settings.pairsPerStep > 0, !pairs.isEmpty else {
            throw RewardDataError("head training needs positive steps and pairs per step, and at least one pair")
        }
        guard features.rank == 2, features.shape[1] == head.dim else {
            throw RewardDataError("head training needs features [responses, \(head.dim)], got \(features.shape)")
        }
        if let bad = pairs.first(where: { max($0.chosen, $0.rejected) >= features.shape[0] || min($0.chosen, $0.rejected) < 0 }) {
            throw RewardDataError("pair (\(bad.chosen), \(bad.rejected)) is outside the \(features.shape[0]) feature rows")
        }
        self.head = head
        self.settings = settings
        self.features = Variable(features)
        self.pairs = pairs
        optimizer = AdamW(
            parameters: head.parameters, learningRate: settings.learningRate, weightDecay: settings.weightDecay,
            noDecay: head.bias == nil ? [] : [1])
    }

    var stepsPerEpoch: Int { (pairs.count + settings.pairsPerStep - 1) / settings.pairsPerStep }

    /// The pairs of step `s`: a seeded order of all pairs per epoch, cut into batches.
    func batch(_ s: Int) -> [PreferencePair] {
        let epoch = s / stepsPerEpoch, k = s % stepsPerEpoch
        if epochOrder?.epoch != epoch {
            epochOrder = (epoch, seededPermutation(pairs.count, seed: settings.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        }
        let order = epochOrder!.order
        return order[(k * settings.pairsPerStep)..<min((k + 1) * settings.pairsPerStep, order.count)].map { pairs[$0] }
    }

    /// One optimiser step; returns its loss (before the update).
    @discardableResult
    public func trainStep() throws -> Float {
        optimizer.learningRate = settings.schedule.rate(at: step)
        let loss = try BradleyTerry.loss(rewards: head.rewards(features), pairs: batch(step), centerCoefficient: settings.centerCoefficient)
        try loss.backward()
        try optimizer.step()
        optimizer.zeroGrad()
        step += 1
        return loss.item
    }

    /// What a checkpoint must agree on: the head's shape, the settings, the pairs and the
    /// features (their bits), and the caller's `extra` (for example the data and the base file).
    func identity(_ extra: [String: String]) -> [String: String] {
        var m = extra
        m["rm.mode"] = "head-only"
        m["rm.parameters"] = head.parameters.map { "\($0.name)\($0.shape)" }.joined(separator: ",")
        m["rm.steps"] = "\(settings.steps)"
        m["rm.batch"] = "\(settings.pairsPerStep)"
        m["rm.lr"] = "\(settings.learningRate)"
        m["rm.weight_decay"] = "\(settings.weightDecay)"
        m["rm.center"] = "\(settings.centerCoefficient)"
        m["rm.seed"] = "\(settings.seed)"
        m["rm.pairs"] = pairs.map { "\($0.chosen),\($0.rejected),\($0.margin)" }.joined(separator: ";").stableDigest
        m["rm.features"] = features.value.bitDigest
        return m
    }

    /// Saves the head, AdamW's state and the step atomically (GGUF), with `metadata` that
    /// `resume` checks.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try Checkpoint.save(
            to: path, step: step, parameters: head.parameters, optimizer: optimizer, identity: identity(metadata),
            name: "swift-grm reward head checkpoint")
    }

    /// Restores a checkpoint written by `save` from a run with the same head, settings, pairs,
    /// features and `metadata`; a mismatch is refused naming the key.
    public func resume(from path: String, metadata: [String: String] = [:]) throws {
        step = try Checkpoint.resume(
            from: path, identity: identity(metadata), parameters: head.parameters, optimizer: optimizer, steps: settings.steps)
    }
}

extension Tensor {
    /// A short digest (FNV-1a 64 over the f32 bit patterns, hex) of a tensor's values: equal
    /// only for the same bits, for checkpoint fingerprints.
    var bitDigest: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let t = contiguous()
        let p = t.floatPointer
        for i in 0..<t.count { h = (h ^ UInt64(p[i].bitPattern)) &* 0x100_0000_01b3 }
        return "\(shape):" + String(h, radix: 16)
    }
}
