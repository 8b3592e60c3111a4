import Foundation
import Reward
import Tensor
import Transformer

/// Rejective sampling's settings (SPCT's rejective fine-tuning, shared/docs/spct.md section 4.1).
public struct RFTSettings: Equatable, Sendable {
    /// Trajectories sampled per item (N_RFT), each with a fresh shuffle of the responses.
    public var samples: Int
    public var generation: GenerationSettings
    /// Hinted sampling for items with no correct sample: the prompt also names the best response.
    public var hint: Bool
    public var seed: UInt64

    public init(
        samples: Int = 3, generation: GenerationSettings = GenerationSettings(temperature: 1, maxTokens: 256), hint: Bool = true, seed: UInt64 = 1
    ) {
        self.samples = samples
        self.generation = generation
        self.hint = hint
        self.seed = seed
    }
}

/// What happened to an item.
public enum RFTFate: String, Codable, CaseIterable, Sendable {
    /// Some samples correct and some not: the correct ones are kept.
    case kept
    /// Every sample correct: nothing to learn, dropped.
    case tooEasy = "too-easy"
    /// No sample correct, but a hinted one was: the correct hinted ones are kept.
    case rescued
    /// Nothing correct, hinted or not.
    case discarded
}

/// One item's samples and what was kept from them.
public struct RFTItemResult: Sendable {
    public var item: RewardItem
    public var samples: [JudgeSample]
    /// Samples drawn with the hint in the prompt (only for items with no correct sample).
    public var hinted: [JudgeSample]
    public var fate: RFTFate
    /// Training examples: the prompt without any hint, then the kept trajectory as the answer.
    public var kept: [ColdStartExample]
}

/// The yield of a rejective-sampling pass.
public struct RFTYield: Equatable, Sendable {
    public var items = 0
    public var fates: [RFTFate: Int] = [:]
    public var samples = 0, correctSamples = 0, parseFailures = 0
    public var hintedSamples = 0, correctHinted = 0
    public var keptTrajectories = 0

    public init() {}

    public mutating func add(_ r: RFTItemResult) {
        items += 1
        fates[r.fate, default: 0] += 1
        samples += r.samples.count
        correctSamples += r.samples.filter(\.isCorrect).count
        parseFailures += (r.samples + r.hinted).filter { $0.scores == nil }.count
        hintedSamples += r.hinted.count
        correctHinted += r.hinted.filter(\.isCorrect).count
        keptTrajectories += r.kept.count
    }

    public var summary: String {
        let f = RFTFate.allCases.map { "\($0.rawValue) \(fates[$0] ?? 0)" }.joined(separator: ", ")
        return "\(items) items: \(f); \(correctSamples)/\(samples) samples correct, \(correctHinted)/\(hintedSamples) hinted, "
            + "\(parseFailures) parse failures; \(keptTrajectories) trajectories kept"
    }
}

/// Samples judgements from the current judge and keeps the right ones (rejective sampling): per
/// item N_RFT trajectories, each on a fresh shuffle (prompts sharing an order are prefilled once
/// and decoded as a batch); correct under the rule (the labelled best strictly highest, a single
/// response's score equal to its label; a parse failure is wrong). Items with every sample right
/// are dropped as too easy; items with none right get hinted samples ("The best response is:
/// Response j" appended), whose correct trajectories are kept with the unhinted prompt.
public final class RejectiveSampler {
    public let model: GenerativeRewardModel
    public let settings: RFTSettings

    public init(model: GenerativeRewardModel, settings: RFTSettings) throws {
        guard settings.samples >= 1 else { throw RewardDataError("--samples must be at least 1") }
        self.model = model
        self.settings = settings
    }

    /// Samples a batch of items with one call to the generator (plus one for the hinted ones).
    public func run(_ items: [RewardItem]) throws -> [RFTItemResult] {
        let config = VotingConfig(k: settings.samples, seed: settings.seed, settings: settings.generation)
        let judged = try model.judge(items, config: config)
        var hintedFor: [Int: [JudgeSample]] = [:]
        let needHint = judged.indices.filter { i in
            settings.hint && judged[i].item.responses.count >= 2 && !judged[i].samples.contains(where: \.isCorrect)
        }
        if !needHint.isEmpty {
            var requests: [JudgeRequest] = []
            var plans: [(item: Int, order: ResponseOrder, group: Int, indices: [Int])] = []
            for i in needHint {
                let j = judged[i]
                let best = j.item.bestIndex!
                // The same orders the unhinted samples used (each sample one hinted sample).
                var groups: [(ResponseOrder, [Int])] = []
                for s in j.samples {
                    if let g = groups.firstIndex(where: { $0.0 == s.order }) {
                        groups[g].1.append(s.index)
                    } else {
                        groups.append((s.order, [s.index]))
                    }
                }
                for (g, (order, indices)) in groups.enumerated() {
                    requests.append(
                        JudgeRequest(
                            prompt: try model.builder.prompt(for: j.item, order: order, hint: best), samples: indices.count,
                            seed: StableHash.seed(settings.seed, j.item.contentHash, UInt64(g), 0x4849_4E54)))
                    plans.append((i, order, g, indices))
                }
            }
            let texts = try model.generator.generate(requests, settings: settings.generation)
            guard texts.count == requests.count else {
                throw JudgeGeneratorError(description: "the generator answered \(texts.count) of \(requests.count) hinted requests")
            }
            for (p, generated) in zip(plans, texts) {
                for (index, text) in zip(p.indices, generated) {
                    hintedFor[p.item, default: []].append(
                        GenerativeRewardModel.sample(text, index: index, group: p.group, order: p.order, item: judged[p.item].item))
                }
            }
        }
        return judged.enumerated().map { i, j in
            RejectiveSampler.classify(j.item, samples: j.samples, hinted: hintedFor[i] ?? [], builder: model.builder)
        }
    }

    /// The fate of an item and its kept examples, from its samples and hinted samples.
    public static func classify(
        _ item: RewardItem, samples: [JudgeSample], hinted: [JudgeSample], builder: JudgePromptBuilder
    ) -> RFTItemResult {
        func example(_ s: JudgeSample) -> ColdStartExample {
            ColdStartExample(
                itemID: item.id, category: item.category, prompt: builder.messages(for: item, order: s.order),
                judgement: s.text.trimmingCharacters(in: .whitespacesAndNewlines), order: s.order, checksAgreed: true)
        }
        let correct = samples.filter(\.isCorrect)
        let fate: RFTFate
        var kept: [ColdStartExample] = []
        if !samples.isEmpty && correct.count == samples.count {
            fate = .tooEasy
        } else if !correct.isEmpty {
            fate = .kept
            kept = correct.map(example)
        } else if hinted.contains(where: \.isCorrect) {
            fate = .rescued
            kept = hinted.filter(\.isCorrect).map(example)
        } else {
            fate = .discarded
        }
        return RFTItemResult(item: item, samples: samples, hinted: hinted, fate: fate, kept: kept)
    }
}
