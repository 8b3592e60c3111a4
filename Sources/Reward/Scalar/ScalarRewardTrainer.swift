import Foundation
import Tensor
import Transformer

/// Items prepared for scalar reward training: each response's tokens (the rendering
/// `ScalarRewardInput` gives) and the item's preference pairs over its own responses.
public struct ScalarRewardExamples {
    public struct Example {
        public var responses: [[Int32]]
        public var pairs: [PreferencePair]
        public var category: String?
        public init(responses: [[Int32]], pairs: [PreferencePair], category: String? = nil) {
            self.responses = responses
            self.pairs = pairs
            self.category = category
        }
    }

    public init(examples: [Example]) { self.examples = examples }

    public var examples: [Example]
    /// Items left out because a response did not fit the context, or because the label gives no pair.
    public var tooLong = 0, withoutPairs = 0

    public init(items: [RewardItem], input: ScalarRewardInput, context: Int) throws {
        try self.init(items: items, context: context) { i, j in
            try input.tokens(prompt: items[i].prompt, response: items[i].responses[j])
        }
    }

    /// Items whose response j of item i reads `tokens(i, j)` (a semi-scalar model's renderings
    /// carry each response's critique).
    public init(items: [RewardItem], context: Int, tokens render: (Int, Int) throws -> [Int32]) throws {
        examples = []
        for (i, item) in items.enumerated() {
            let pairs = item.preferencePairs()
            if pairs.isEmpty {
                withoutPairs += 1
                continue
            }
            let tokens = try item.responses.indices.map { try render(i, $0) }
            if tokens.contains(where: { $0.count > context }) {
                tooLong += 1
                continue
            }
            examples.append(Example(responses: tokens, pairs: pairs, category: item.category))
        }
    }

    public var pairCount: Int { examples.reduce(0) { $0 + $1.pairs.count } }

    /// The responses of `items` (indices into `examples`) as one list, in item order, and their
    /// pairs as indices into that list.
    public func flattened(_ items: [Int]) -> (sequences: [[Int32]], pairs: [PreferencePair]) {
        var seqs: [[Int32]] = [], pairs: [PreferencePair] = []
        for i in items {
            let e = examples[i], base = seqs.count
            seqs += e.responses
            pairs += e.pairs.map { PreferencePair(chosen: base + $0.chosen, rejected: base + $0.rejected, margin: $0.margin) }
        }
        return (seqs, pairs)
    }

    /// Every example's responses and pairs (see `flattened(_:)`).
    public var flattened: (sequences: [[Int32]], pairs: [PreferencePair]) { flattened(Array(examples.indices)) }

    /// A digest of every example's tokens, pairs and margins, in order: checkpoints record it so
    /// that a run resumes only on the same training data.
    public var fingerprint: String {
        examples.map { e in "\(e.responses)|" + e.pairs.map { "\($0.chosen),\($0.rejected),\($0.margin)" }.joined(separator: ";") }
            .joined(separator: "\n").stableDigest
    }
}

/// Bradley-Terry training of a scalar head on a backbone adapted with LoRA (TRL's RewardTrainer
/// with PEFT): each step reads `itemsPerStep` items (a seeded order per epoch, a pure function of
/// (seed, step)), runs their responses as one padded batch through the model, takes each
/// response's final-norm state at its last token, and back-propagates the pairs' loss into the
/// head and the adapters. Checkpoints resume exactly: a run stopped at step k and resumed
/// computes the uninterrupted run's losses, head and adapters bit for bit.
public final class ScalarRewardTrainer {
    public let model: LlamaModel
    public let head: ScalarHead
    public let data: ScalarRewardExamples
    public let optimizer: AdamW
    public var schedule: LRSchedule
    public var itemsPerStep: Int
    public var centerCoefficient: Float
    public var seed: UInt64
    public var clipNorm: Float = 1
    /// The frozen base's activations in the forward passes (see `SFTSettings.activations`).
    public var activations: QuantMatmul.ActivationMode = .exact
    public private(set) var step = 0

    public init(
        model: LlamaModel, head: ScalarHead, data: ScalarRewardExamples, steps: Int, itemsPerStep: Int,
        learningRate: Float, warmup: Int = 10, centerCoefficient: Float = 0.01, seed: UInt64 = 1
    ) throws {
        guard !data.examples.isEmpty, itemsPerStep > 0, steps > 0 else {
            throw RewardDataError("reward training needs items with preference pairs, and positive steps and batch")
        }
        self.model = model
        self.head = head
        self.data = data
        self.itemsPerStep = itemsPerStep
        self.centerCoefficient = centerCoefficient
        self.seed = seed
        schedule = LRSchedule(peak: learningRate, warmupSteps: warmup, totalSteps: steps)
        let params = head.parameters + model.parameters
        optimizer = AdamW(parameters: params, learningRate: learningRate, weightDecay: 0)
    }

    var stepsPerEpoch: Int { (data.examples.count + itemsPerStep - 1) / itemsPerStep }

    /// The items of step `s`.
    func batch(_ s: Int) -> [Int] {
        let epoch = s / stepsPerEpoch, k = s % stepsPerEpoch
        let order = seededPermutation(data.examples.count, seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        return Array(order[(k * itemsPerStep)..<min((k + 1) * itemsPerStep, order.count)])
    }

    /// Rewards [responses] of the given items' responses (in item order) and their pairs remapped
    /// to those rows.
    public func rewards(items: [Int]) throws -> (rewards: Variable, pairs: [PreferencePair]) {
        try rewards(data, items: items)
    }

    func rewards(_ examples: ScalarRewardExamples, items: [Int]) throws -> (rewards: Variable, pairs: [PreferencePair]) {
        let (seqs, pairs) = examples.flattened(items)
        let length = seqs.map(\.count).max() ?? 1
        var ids = [Int32](repeating: 0, count: seqs.count * length)
        for (r, s) in seqs.enumerated() { ids.replaceSubrange((r * length)..<(r * length + s.count), with: s) }
        let hidden = try model.hiddenStates(ids, batch: seqs.count, length: length)
        let last = try hidden.embedding(seqs.enumerated().map { Int32($0.offset * length + $0.element.count - 1) })
        return (try head.rewards(last), pairs)
    }

    /// One optimiser step; returns the batch's loss and pair accuracy (before the update).
    @discardableResult
    public func trainStep() throws -> (loss: Float, accuracy: Double) {
        // The forward's activations are the run's setting, whatever the process's default says.
        try EngineSettings.with({ $0.activations = activations }) { try stepInMode() }
    }

    private func stepInMode() throws -> (loss: Float, accuracy: Double) {
        let (r, pairs) = try rewards(items: batch(step))
        let loss = try BradleyTerry.loss(rewards: r, pairs: pairs, centerCoefficient: centerCoefficient)
        try loss.backward()
        optimizer.learningRate = schedule.rate(at: step)
        try Gradients.clipByGlobalNorm(optimizer.parameters, maxNorm: clipNorm)
        try optimizer.step()
        optimizer.zeroGrad()
        step += 1
        return (loss.item, BradleyTerry.accuracy(rewards: r.value.scalars(), pairs: pairs))
    }

    /// Pair accuracy over `examples` (no tape), `itemsPerStep` items at a time.
    public func accuracy(_ examples: ScalarRewardExamples) throws -> Double {
        var right = 0.0, total = 0
        try EngineSettings.with({ $0.activations = activations }) {
            try Autograd.noGrad {
                for start in stride(from: 0, to: examples.examples.count, by: itemsPerStep) {
                    let (r, pairs) = try rewards(examples, items: Array(start..<min(start + itemsPerStep, examples.examples.count)))
                    right += BradleyTerry.accuracy(rewards: r.value.scalars(), pairs: pairs) * Double(pairs.count)
                    total += pairs.count
                }
            }
        }
        return total == 0 ? 0 : right / Double(total)
    }

    // MARK: - Checkpoints

    /// What a checkpoint must agree on: the trainable parameters' names and shapes, the LoRA
    /// scales, the settings, the training data, and the caller's `extra` (for example the base file).
    func identity(_ extra: [String: String]) -> [String: String] {
        var m = extra
        m["rm.mode"] = "lora"
        m["rm.parameters"] = optimizer.parameters.map { "\($0.name)\($0.shape)" }.joined(separator: ",").stableDigest
        m["rm.lora_scales"] = model.loraScalesDigest
        m["rm.steps"] = "\(schedule.totalSteps)"
        m["rm.batch"] = "\(itemsPerStep)"
        m["rm.lr"] = "\(schedule.peak)"
        m["rm.warmup"] = "\(schedule.warmupSteps)"
        m["rm.center"] = "\(centerCoefficient)"
        m["rm.seed"] = "\(seed)"
        m["rm.clip"] = "\(clipNorm)"
        m["rm.data"] = data.fingerprint
        m["rm.activations"] = activations.name
        return m
    }

    /// Saves the head, the adapters, AdamW's state and the step atomically (GGUF), with
    /// `metadata` that `resume` checks.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try Checkpoint.save(
            to: path, step: step, parameters: optimizer.parameters, optimizer: optimizer, identity: identity(metadata),
            name: "swift-grm reward model checkpoint")
    }

    /// Restores a checkpoint written by `save` from a run with the same parameters, settings,
    /// data and `metadata`; a mismatch is refused naming the key.
    public func resume(from path: String, metadata: [String: String] = [:]) throws {
        step = try Checkpoint.resume(
            from: path, identity: identity(metadata), absentMeans: ["rm.activations": "exact"],
            parameters: optimizer.parameters, optimizer: optimizer, steps: schedule.totalSteps)
    }
}
