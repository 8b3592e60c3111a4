import Foundation
import Tensor
import Transformer

/// Training a scalar head alone on hidden states computed once (the backbone frozen): Bradley-Terry
/// over preference pairs (or binary cross-entropy over 0/1 labels, `HeadObjective`), AdamW, seeded
/// mini-batches. Minutes, not hours: a step is one [N, dim] x [dim] product.
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

    /// Trains `head` on `features` [N, dim] (one row per response) and `pairs` of row indices
    /// (or another objective); returns the loss of each step. The examples of step s are a seeded
    /// function of (seed, s).
    @discardableResult
    public func train(
        _ head: ScalarHead, features: Tensor, pairs: [PreferencePair],
        onStep: ((Int, Float) throws -> Void)? = nil
    ) throws -> [Float] {
        try train(head, features: features, objective: .bradleyTerry(pairs), onStep: onStep)
    }

    @discardableResult
    public func train(
        _ head: ScalarHead, features: Tensor, objective: HeadObjective,
        onStep: ((Int, Float) throws -> Void)? = nil
    ) throws -> [Float] {
        let trainer = try HeadOnlyTrainer(head: head, features: features, objective: objective, settings: self)
        var losses: [Float] = []
        while trainer.step < steps {
            let loss = try trainer.trainStep()
            losses.append(loss)
            try onStep?(trainer.step, loss)
        }
        return losses
    }
}

/// What a head trains on: preference pairs of feature rows (Bradley-Terry, with
/// `HeadOnlyTraining.centerCoefficient`), or a 0/1 label per feature row (binary cross-entropy, a
/// meta reward model's pointwise objective). `pairsPerStep` counts pairs or rows.
public enum HeadObjective: Sendable, Equatable {
    case bradleyTerry([PreferencePair])
    case binary([Float])

    var count: Int {
        switch self {
        case let .bradleyTerry(p): return p.count
        case let .binary(l): return l.count
        }
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
    public let objective: HeadObjective
    /// Optimiser steps completed.
    public private(set) var step = 0
    private var epochOrder: (epoch: Int, order: [Int])?

    public convenience init(head: ScalarHead, features: Tensor, pairs: [PreferencePair], settings: HeadOnlyTraining) throws {
        try self.init(head: head, features: features, objective: .bradleyTerry(pairs), settings: settings)
    }

    public init(head: ScalarHead, features: Tensor, objective: HeadObjective, settings: HeadOnlyTraining) throws {
        guard settings.steps > 0, settings.pairsPerStep > 0, objective.count > 0 else {
            throw RewardDataError("head training needs positive steps and examples per step, and at least one example")
        }
        guard features.rank == 2, features.shape[1] == head.dim else {
            throw RewardDataError("head training needs features [responses, \(head.dim)], got \(features.shape)")
        }
        switch objective {
        case let .bradleyTerry(pairs):
            if let bad = pairs.first(where: { max($0.chosen, $0.rejected) >= features.shape[0] || min($0.chosen, $0.rejected) < 0 }) {
                throw RewardDataError("pair (\(bad.chosen), \(bad.rejected)) is outside the \(features.shape[0]) feature rows")
            }
        case let .binary(labels):
            guard labels.count == features.shape[0] else {
                throw RewardDataError("\(labels.count) labels for \(features.shape[0]) feature rows")
            }
            if let bad = labels.first(where: { $0 != 0 && $0 != 1 }) { throw RewardDataError("label \(bad): binary labels are 0 or 1") }
        }
        self.head = head
        self.settings = settings
        self.features = Variable(features)
        self.objective = objective
        optimizer = AdamW(
            parameters: head.parameters, learningRate: settings.learningRate, weightDecay: settings.weightDecay,
            noDecay: head.bias == nil ? [] : [1])
    }

    var stepsPerEpoch: Int { (objective.count + settings.pairsPerStep - 1) / settings.pairsPerStep }

    /// The examples (indices into the pairs or rows) of step `s`: a seeded order of all of them
    /// per epoch, cut into batches.
    func batch(_ s: Int) -> [Int] {
        let epoch = s / stepsPerEpoch, k = s % stepsPerEpoch
        if epochOrder?.epoch != epoch {
            epochOrder = (epoch, seededPermutation(objective.count, seed: settings.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        }
        let order = epochOrder!.order
        return Array(order[(k * settings.pairsPerStep)..<min((k + 1) * settings.pairsPerStep, order.count)])
    }

    /// One optimiser step; returns its loss (before the update).
    @discardableResult
    public func trainStep() throws -> Float {
        optimizer.learningRate = settings.schedule.rate(at: step)
        let loss: Variable
        switch objective {
        case let .bradleyTerry(pairs):
            loss = try BradleyTerry.loss(
                rewards: head.rewards(features), pairs: batch(step).map { pairs[$0] }, centerCoefficient: settings.centerCoefficient)
        case let .binary(labels):
            let rows = batch(step)
            let picked = try features.embedding(rows.map { Int32($0) })
            loss = try BinaryCrossEntropy.loss(logits: head.rewards(picked), labels: rows.map { labels[$0] })
        }
        try loss.backward()
        try optimizer.step()
        optimizer.zeroGrad()
        step += 1
        return loss.item
    }

    /// What a checkpoint must agree on: the head's shape, the settings, the pairs (or labels) and the
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
        switch objective {
        case let .bradleyTerry(pairs):
            m["rm.pairs"] = pairs.map { "\($0.chosen),\($0.rejected),\($0.margin)" }.joined(separator: ";").stableDigest
        case let .binary(labels):
            m["rm.labels"] = labels.map { $0 == 1 ? "1" : "0" }.joined().stableDigest
        }
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
