import Foundation
import Reward
import Tensor
import Transformer

/// Rule-based GRPO's settings (shared/docs/spct.md section 4.2; TRL's GRPOConfig names in brackets).
public struct GRPOSettings: Equatable, Sendable {
    /// Judgements sampled per item [num_generations].
    public var group = 4
    public var itemsPerStep = 8
    /// Weight of the k3 KL estimator against the reference (the starting adapter) [beta].
    public var beta: Float = 0.08
    /// PPO's clip range of the probability ratio [epsilon].
    public var clip: Float = 0.2
    public var learningRate: Float = 1e-5
    /// Optimiser updates per batch of rollouts [num_iterations]; at 1 the ratio is 1 at the update.
    public var updatesPerRollout = 1
    /// Optimiser steps (each samples a fresh batch of rollouts).
    public var steps: Int
    /// Rollouts per forward and backward (gradients accumulate over a step's micro-batches).
    public var microBatch = 4
    public var generation = GenerationSettings(temperature: 1, maxTokens: 256)
    public var seed: UInt64 = 1
    public var clipNorm: Float = 1
    public var warmupSteps = 0

    public init(steps: Int) { self.steps = steps }

    public var schedule: LRSchedule { LRSchedule(peak: learningRate, warmupSteps: warmupSteps, totalSteps: steps) }

    func validate() throws {
        guard steps > 0, group >= 2, itemsPerStep >= 1, updatesPerRollout >= 1, microBatch >= 1 else {
            throw RewardDataError("GRPO needs steps > 0, a group of at least 2, items per step, updates and micro-batch of at least 1")
        }
        guard beta >= 0, clip > 0, learningRate >= 0, generation.temperature > 0 else {
            throw RewardDataError("GRPO needs beta >= 0, clip > 0, a non-negative learning rate and a positive temperature")
        }
    }
}

/// One sampled judgement with what training needs.
public struct Rollout: Sendable {
    /// Index of the item among the step's items, and the item's group of rollouts.
    public var itemIndex: Int
    public var sample: JudgeSample
    public var prompt: [Int32]
    /// Generated ids, the stop token included when one ended the judgement.
    public var completion: [Int32]
    /// +1 correct under the rule, -1 otherwise (a parse failure is -1).
    public var reward: Float
    public var advantage: Float
}

/// What one GRPO step did.
public struct GRPOStepStats: Sendable {
    public var step = 0
    public var meanReward: Double = 0
    /// Share of rollouts correct under the rule, and parsable.
    public var accuracy: Double = 0, parseRate: Double = 0
    /// Mean k3 KL per completion token against the reference, at the (first) update.
    public var kl: Double = 0
    public var meanLength: Double = 0
    /// Groups whose rollouts all got the same reward (no policy gradient from them).
    public var flatGroups = 0
    public var loss: Double = 0
    public var learningRate: Float = 0
    public var gradientNorm: Float = 0
    public var samplingTokensPerSecond: Double = 0, trainingTokensPerSecond: Double = 0

    public init() {}
}

public enum GRPO {
    /// Group-normalised advantages: (r - mean) / (std + 1e-4) with the sample standard deviation
    /// (as TRL's torch.std); a group whose rewards are all equal gets zeros.
    public static func advantages(_ rewards: [Float]) -> [Float] {
        let n = Float(rewards.count)
        let mean = rewards.reduce(0, +) / n
        guard rewards.contains(where: { $0 != mean }), rewards.count > 1 else { return rewards.map { _ in 0 } }
        let variance = rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return rewards.map { ($0 - mean) / (variance.squareRoot() + 1e-4) }
    }

    /// The log-probability of every completion token of `rollouts` under `model`, in rollout order
    /// ([total completion tokens]): one padded forward, logits only at the completion positions.
    public static func completionLogProbs(_ model: LlamaModel, _ rollouts: [Rollout], padID: Int32) throws -> Variable {
        let length = rollouts.map { $0.prompt.count + $0.completion.count }.max() ?? 0
        var ids: [Int32] = []
        var rows: [Int32] = []
        var targets: [Int32] = []
        for (b, r) in rollouts.enumerated() {
            let tokens = r.prompt + r.completion
            ids += tokens + [Int32](repeating: padID, count: length - tokens.count)
            // The logits at position p predict token p + 1.
            for (j, t) in r.completion.enumerated() {
                rows.append(Int32(b * length + r.prompt.count - 1 + j))
                targets.append(t)
            }
        }
        let hidden = try model.hiddenStates(ids, batch: rollouts.count, length: length)
        return try model.outputLogits(hidden.embedding(rows)).tokenLogProbs(targets)
    }
}

/// GRPO on a LoRA policy (SPCT's rule-based online RL): each step samples `group` judgements per
/// item with the current policy (fresh shuffles; prompts sharing an order prefill once), rewards
/// each +1/-1 by the correctness rule, normalises advantages within groups, and minimises the
/// clipped token-level policy-gradient loss plus beta times the k3 KL against the reference
/// adapter, averaged over each judgement's tokens, then over judgements. Items are drawn in a
/// seeded order; sampling seeds depend on (seed, step), so a resumed run repeats an uninterrupted
/// one.
public final class GRPOTrainer {
    public let policy: LlamaModel
    public let settings: GRPOSettings
    public let optimizer: AdamW
    public private(set) var step = 0
    let file: GGUFFile
    let tokenizer: Tokenizer
    let builder: JudgePromptBuilder
    let items: [RewardItem]
    let reference: LlamaModel?
    let contextLength: Int

    /// - Parameters:
    ///   - start: the policy's and the reference's starting adapter (the RFT judge).
    public init(
        file: GGUFFile, start: LoRAAdapter, items: [RewardItem], builder: JudgePromptBuilder, settings: GRPOSettings,
        contextLength: Int? = nil
    ) throws {
        try settings.validate()
        guard !items.isEmpty else { throw RewardDataError("GRPO needs at least one item") }
        let config = try LlamaConfig(gguf: file)
        self.contextLength = min(contextLength ?? config.contextLength, config.contextLength)
        let lora = try LoRASettings(matching: start, layers: config.layers)
        policy = try LlamaModel(gguf: file, mode: .lora(lora), contextLength: self.contextLength)
        try policy.loadLoRA(start)
        policy.gradientCheckpointing = true
        if settings.beta > 0 {
            let ref = try LlamaModel(gguf: file, mode: .lora(lora), contextLength: self.contextLength)
            try ref.loadLoRA(start)
            reference = ref
        } else {
            reference = nil
        }
        self.file = file
        tokenizer = try Tokenizer(metadata: file.metadata)
        self.builder = builder
        self.items = items
        self.settings = settings
        optimizer = AdamW(parameters: policy.parameters, learningRate: settings.learningRate, weightDecay: 0)
    }

    /// The items of step `s`: consecutive runs of a seeded permutation, epoch after epoch.
    public func stepItems(_ s: Int) -> [RewardItem] {
        (0..<settings.itemsPerStep).map { i in
            let k = s * settings.itemsPerStep + i
            let epoch = k / items.count
            let order = seededPermutation(items.count, seed: StableHash.seed(settings.seed, UInt64(epoch), 0x4752_504F))
            return items[order[k % items.count]]
        }
    }

    /// Samples the rollouts of step `s` with the current policy.
    public func rollouts(step s: Int) throws -> (rollouts: [Rollout], tokens: Int, seconds: Double) {
        let t0 = Date()
        let engine = try LlamaInference(
            gguf: file, contextLength: contextLength, adapter: GRPOTrainer.snapshot(policy.loraAdapter()), adapterScale: 1)
        let generator = Generator(engine: engine, tokenizer: tokenizer)
        let stepItems = stepItems(s)
        var requests: [GenerationRequest] = []
        var plan: [(item: Int, order: ResponseOrder, prompt: [Int32], count: Int)] = []
        for (i, item) in stepItems.enumerated() {
            var orders: [(ResponseOrder, Int)] = []
            for g in 0..<settings.group {
                var rng = SeededRandom(seed: StableHash.seed(settings.seed, UInt64(s), UInt64(i), UInt64(g), 0x4F52_4452))
                let o = ResponseOrder.random(item.responses.count, rng: &rng)
                if let j = orders.firstIndex(where: { $0.0 == o }) { orders[j].1 += 1 } else { orders.append((o, 1)) }
            }
            for (order, count) in orders {
                let text = try builder.prompt(for: item, order: order)
                let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
                guard ids.count + settings.generation.maxTokens <= contextLength else {
                    throw RewardDataError(
                        "item \(item.id ?? "#\(i)"): a \(ids.count)-token prompt and \(settings.generation.maxTokens) new tokens exceed the context of \(contextLength)"
                    )
                }
                requests.append(
                    GenerationRequest(
                        prompt: ids, samples: count, seed: StableHash.seed(settings.seed, UInt64(s), UInt64(requests.count), 0x5341_4D50)))
                plan.append((i, order, ids, count))
            }
        }
        let sampling = SamplingParameters(temperature: settings.generation.temperature, topP: settings.generation.topP)
        let out = try generator.generate(requests, sampling: sampling, stop: StopCondition(maxTokens: settings.generation.maxTokens))
        var rollouts: [Rollout] = []
        var tokens = 0
        for (p, generated) in zip(plan, out) {
            for g in generated {
                let item = stepItems[p.item]
                let sample = GenerativeRewardModel.sample(g.text, index: rollouts.count, group: 0, order: p.order, item: item)
                tokens += g.ids.count
                rollouts.append(
                    Rollout(
                        itemIndex: p.item, sample: sample, prompt: p.prompt, completion: g.ids,
                        reward: Correctness.reward(sample.scores, for: item), advantage: 0))
            }
        }
        for i in stepItems.indices {
            let members = rollouts.indices.filter { rollouts[$0].itemIndex == i }
            for (m, a) in zip(members, GRPO.advantages(members.map { rollouts[$0].reward })) { rollouts[m].advantage = a }
        }
        return (rollouts, tokens, Date().timeIntervalSince(t0))
    }

    /// One optimiser step (or `updatesPerRollout` of them) on a fresh batch of rollouts.
    @discardableResult
    public func trainStep() throws -> GRPOStepStats {
        try EngineSettings.with({ $0.activations = .exact }) { try exactStep() }
    }

    private func exactStep() throws -> GRPOStepStats {
        let (rollouts, sampledTokens, samplingSeconds) = try rollouts(step: step)
        var stats = GRPOStepStats()
        let n = Double(rollouts.count)
        stats.meanReward = rollouts.reduce(0) { $0 + Double($1.reward) } / n
        stats.accuracy = Double(rollouts.filter(\.sample.isCorrect).count) / n
        stats.parseRate = Double(rollouts.filter { $0.sample.scores != nil }.count) / n
        stats.meanLength = Double(rollouts.reduce(0) { $0 + $1.completion.count }) / n
        stats.flatGroups = Set(rollouts.map(\.itemIndex)).filter { i in !rollouts.contains { $0.itemIndex == i && $0.advantage != 0 } }.count
        stats.samplingTokensPerSecond = Double(sampledTokens) / max(samplingSeconds, 1e-9)
        let pad = tokenizer.eos ?? 0
        let micro = stride(from: 0, to: rollouts.count, by: settings.microBatch).map {
            Array(rollouts[$0..<min(rollouts.count, $0 + settings.microBatch)])
        }
        // The reference's log-probabilities, once per rollout.
        let ref: [[Float]] = try Autograd.noGrad {
            try micro.map { m in
                guard let reference else { return [Float](repeating: 0, count: m.reduce(0) { $0 + $1.completion.count }) }
                return try GRPO.completionLogProbs(reference, m, padID: pad).value.scalars()
            }
        }
        var old: [[Float]] = []
        let t0 = Date()
        var trainedTokens = 0
        for update in 0..<settings.updatesPerRollout {
            var lossSum: Double = 0, klSum: Double = 0, tokenCount = 0
            for (k, m) in micro.enumerated() {
                let logp = try GRPO.completionLogProbs(policy, m, padID: pad)
                let values = logp.value.scalars()
                if update == 0 { old.append(values) }
                // Each judgement's tokens weigh 1 / (its length x the step's judgements).
                var advantages: [Float] = [], weights: [Float] = []
                for r in m {
                    advantages += [Float](repeating: r.advantage, count: r.completion.count)
                    weights += [Float](repeating: 1 / (Float(r.completion.count) * Float(rollouts.count)), count: r.completion.count)
                }
                let perToken = try logp.policyLoss(old: old[k], ref: ref[k], advantage: advantages, clip: settings.clip, beta: settings.beta)
                let loss = try (perToken * Variable(try Tensor(shape: [weights.count], scalars: weights), requiresGrad: false)).sum()
                try loss.backward()
                lossSum += Double(loss.item)
                trainedTokens += m.reduce(0) { $0 + $1.prompt.count + $1.completion.count }
                if update == 0 {
                    for (lp, rf) in zip(values, ref[k]) { klSum += Double(Foundation.exp(rf - lp) - (rf - lp) - 1) }
                    tokenCount += values.count
                }
            }
            let rate = settings.schedule.rate(at: step)
            optimizer.learningRate = rate
            stats.gradientNorm = try Gradients.clipByGlobalNorm(optimizer.parameters, maxNorm: settings.clipNorm)
            try optimizer.step()
            optimizer.zeroGrad()
            if update == 0 {
                stats.loss = lossSum
                stats.kl = tokenCount > 0 ? klSum / Double(tokenCount) : 0
                stats.learningRate = rate
            }
        }
        stats.trainingTokensPerSecond = Double(trainedTokens) / max(Date().timeIntervalSince(t0), 1e-9)
        step += 1
        stats.step = step
        return stats
    }

    /// A copy of `adapter` whose factors do not share storage with the training variables.
    static func snapshot(_ adapter: LoRAAdapter) -> LoRAAdapter {
        var copy = adapter
        copy.pairs = adapter.pairs.mapValues { LoRAAdapter.Pair(a: $0.a.copied(), b: $0.b.copied()) }
        return copy
    }

    // MARK: - Checkpoints

    func identity(_ extra: [String: String]) -> [String: String] {
        var m = extra
        let s = settings
        m["grpo.settings"] =
            "group \(s.group) items \(s.itemsPerStep) beta \(s.beta) clip \(s.clip) lr \(s.learningRate) updates \(s.updatesPerRollout) "
            + "steps \(s.steps) micro \(s.microBatch) temp \(s.generation.temperature) top-p \(s.generation.topP) "
            + "max \(s.generation.maxTokens) seed \(s.seed) clip-norm \(s.clipNorm) warmup \(s.warmupSteps)"
        m["grpo.items"] = items.map { "\($0.contentHash)" }.joined(separator: ",").stableDigest
        m["grpo.parameters"] = policy.parameters.map { "\($0.name)\($0.shape)" }.joined(separator: ",").stableDigest
        return m
    }

    /// Saves the policy's factors, AdamW's state and the step, atomically.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try Checkpoint.save(
            to: path, step: step, parameters: policy.parameters, optimizer: optimizer, identity: identity(metadata),
            name: "swift-grm GRPO checkpoint")
    }

    /// Restores a checkpoint of a run with the same settings, items and `metadata` (a mismatch is
    /// refused naming the key).
    public func resume(from path: String, metadata: [String: String] = [:]) throws {
        step = try Checkpoint.resume(
            from: path, identity: identity(metadata), parameters: policy.parameters, optimizer: optimizer, steps: settings.steps)
    }
}
