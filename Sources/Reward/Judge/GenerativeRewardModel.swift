import Foundation
import Tensor

/// How an item is judged: how many samples, in how many response orders, and how they vote.
public struct VotingConfig: Equatable, Codable, Sendable {
    /// Samples per item (voting@k).
    public var k: Int
    /// Response orders drawn per item: the k samples are dealt round-robin over this many shuffles
    /// (sample i uses shuffle i % orders). nil = k (every sample its own shuffle, as in the paper);
    /// 1 = one shuffled prompt sampled k times. Shuffles that come out equal share one prompt (one
    /// `JudgeRequest`), so there are at most n! requests per item of n responses.
    public var orders: Int?
    /// Shuffle the responses (seeded per item and order). Off: the original order for every sample.
    public var shuffle: Bool
    /// With a meta RM: vote with this many best-rated samples (nil = half of k, at least 1).
    public var metaKeep: Int?
    /// Base seed for the shuffles and the generator's sampling.
    public var seed: UInt64
    public var settings: GenerationSettings

    public init(
        k: Int = 1, orders: Int? = nil, shuffle: Bool = true, metaKeep: Int? = nil, seed: UInt64 = 0,
        settings: GenerationSettings = GenerationSettings()
    ) {
        self.k = k
        self.orders = orders
        self.shuffle = shuffle
        self.metaKeep = metaKeep
        self.seed = seed
        self.settings = settings
    }

    /// Shuffles drawn per item (before equal ones are merged).
    public var groups: Int { shuffle ? min(k, max(1, orders ?? k)) : 1 }
}

/// One sampled judge trajectory for an item.
public struct JudgeSample: Equatable, Sendable {
    /// Position among the item's samples (0..<k).
    public var index: Int
    /// The prompt (response order) it was generated from.
    public var group: Int
    public var order: ResponseOrder
    /// The generated text.
    public var text: String
    /// Principles, analysis and scores as parsed (scores in shown order).
    public var output: JudgeOutput
    /// The scores in the responses' original order, nil when the output could not be parsed.
    public var scores: [Int]?
    /// Right under the correctness rule on its own.
    public var isCorrect: Bool
    /// The scores came after `ScoreCue`'s cue (`GenerationSettings.forceScores`): `text` is the
    /// judgement without its loop, the cue and the judge's continuation.
    public var forced = false

    public var principles: [Principle] { output.principles }
    public var analysis: String? { output.analysis }
    public var parseError: ScoreParseError? {
        if case let .failure(e) = output.scores { return e }
        return nil
    }
}

/// Everything the GRM concluded about one item.
public struct RewardJudgement: Sendable {
    public var item: RewardItem
    public var samples: [JudgeSample]
    /// The meta RM's rating of each sample (nil without a meta RM).
    public var metaRatings: [Double]?
    /// The samples that voted (all parsed ones, or the meta RM's top `metaKeep`).
    public var voters: [Int]
    public var vote: VoteResult
    public var outcome: ItemOutcome

    public var isCorrect: Bool { outcome == .correct }

    /// The vote of the first `k` samples only (for accuracy-vs-k curves from one run of K >= k
    /// samples); with meta ratings, of the best rated `metaKeep` of those (nil = k/2, at least 1).
    public func vote(firstK k: Int, useMeta: Bool = false, metaKeep: Int? = nil) -> VoteResult {
        let first = Array(samples.prefix(k))
        var chosen = first.indices.filter { first[$0].scores != nil }
        if useMeta, let ratings = metaRatings {
            chosen = Voting.metaSelect(
                ratings: Array(ratings.prefix(k)), parsed: first.map { $0.scores != nil },
                keep: metaKeep ?? max(1, k / 2))
        }
        return Voting.vote(chosen.map { first[$0].scores! }, responses: item.responses.count)
    }
}

/// The pointwise generative reward model: builds judging prompts with shuffled responses, has a
/// `JudgeGenerator` sample k judgements, parses them, maps scores back to the original order,
/// and votes (optionally keeping only the trajectories a meta RM rates best).
public final class GenerativeRewardModel {
    public let generator: JudgeGenerator
    public var builder: JudgePromptBuilder
    public var metaScorer: TrajectoryScorer?

    public init(
        generator: JudgeGenerator, builder: JudgePromptBuilder = JudgePromptBuilder(),
        metaScorer: TrajectoryScorer? = nil
    ) {
        self.generator = generator
        self.builder = builder
        self.metaScorer = metaScorer
    }

    /// One prompt of an item's plan.
    public struct PlannedPrompt: Equatable, Sendable {
        public var order: ResponseOrder
        /// The item's sample indices it produces, in generation order.
        public var sampleIndices: [Int]
        public var request: JudgeRequest
    }

    /// The prompts for one item. Sample i gets order `i % groups`, drawn from (seed, item content,
    /// i % groups), so an item is shuffled the same way whatever batch it is in. Groups that drew the
    /// same order share one prompt (a pair has only two orders, so k = 8 needs two prefills, not 8).
    public func plan(_ item: RewardItem, config: VotingConfig) throws -> [PlannedPrompt] {
        guard config.k >= 1 else { throw RewardDataError("k = \(config.k): need at least 1 sample") }
        let key = item.contentHash
        let groups = item.responses.count == 1 ? 1 : config.groups
        var merged: [(order: ResponseOrder, group: Int, indices: [Int])] = []
        for g in 0..<groups {
            let order: ResponseOrder
            if config.shuffle {
                var rng = SeededRandom(seed: StableHash.seed(config.seed, key, UInt64(g), 0x5348_5546))
                order = ResponseOrder.random(item.responses.count, rng: &rng)
            } else {
                order = .identity(item.responses.count)
            }
            let indices = Array(stride(from: g, to: config.k, by: groups))
            if let m = merged.firstIndex(where: { $0.order == order }) {
                merged[m].indices = (merged[m].indices + indices).sorted()
            } else {
                merged.append((order, g, indices))
            }
        }
        return try merged.map { m in
            let prompt = try builder.prompt(for: item, order: m.order)
            return PlannedPrompt(
                order: m.order, sampleIndices: m.indices,
                request: JudgeRequest(
                    prompt: prompt, samples: m.indices.count,
                    seed: StableHash.seed(config.seed, key, UInt64(m.group), 0x4745_4E)))
        }
    }

    /// Judges a batch of items with one call to the generator (so the engine can batch across
    /// items as well as samples).
    public func judge(_ items: [RewardItem], config: VotingConfig) throws -> [RewardJudgement] {
        let plans = try items.map { try plan($0, config: config) }
        let requests = plans.flatMap { $0.map(\.request) }
        let texts = try generator.generate(requests, settings: config.settings)
        guard texts.count == requests.count else {
            throw JudgeGeneratorError(description: "the generator answered \(texts.count) of \(requests.count) requests")
        }
        var next = 0
        var all: [[JudgeSample]] = []
        all.reserveCapacity(items.count)
        for (item, itemPlan) in zip(items, plans) {
            var samples = [JudgeSample?](repeating: nil, count: config.k)
            for (g, p) in itemPlan.enumerated() {
                let generated = texts[next]
                next += 1
                guard generated.count == p.request.samples else {
                    throw JudgeGeneratorError(
                        description:
                            "the generator returned \(generated.count) samples for a request of \(p.request.samples)")
                }
                for (i, text) in zip(p.sampleIndices, generated) {
                    samples[i] = GenerativeRewardModel.sample(
                        text, index: i, group: g,
                        order: p.order, item: item)
                }
            }
            all.append(samples.map { $0! })
        }
        if config.settings.forceScores {
            defer { generator.forgetSamples() }
            try forceScores(&all, items: items, plans: plans, settings: config.settings)
        }
        return try zip(items, all).map { try conclude($0, samples: $1, config: config) }
    }

    /// Cues every sample without scores (`ScoreCue`) and lets the judge finish it: each cued prompt
    /// is one sample at the original sample's temperature, seeded from its request's seed and its
    /// index, with the budget of its own item's response count (one generator call per count, so
    /// that a judgement does not depend on the batch it is in).
    func forceScores(
        _ all: inout [[JudgeSample]], items: [RewardItem], plans: [[PlannedPrompt]], settings: GenerationSettings
    ) throws {
        var cued: [Int: [(item: Int, sample: Int, prefix: String, request: JudgeRequest)]] = [:]
        for (x, samples) in all.enumerated() {
            let n = items[x].responses.count
            for s in samples where ScoreCue.applies(to: s) {
                let request = plans[x][s.group].request
                let prefix = ScoreCue.prefix(s.text)
                let prompt = request.prompt + prefix
                // A sample that filled the context stays as it is: its cue has no room.
                guard generator.fits(prompt, generating: ScoreCue.maxTokens(responses: n)) else { continue }
                let seed = StableHash.seed(request.seed, UInt64(s.index), 0x4355_45)
                cued[n, default: []].append((x, s.index, prefix, JudgeRequest(prompt: prompt, samples: 1, seed: seed)))
            }
        }
        for (n, group) in cued.sorted(by: { $0.key < $1.key }) {
            var cueSettings = settings
            cueSettings.maxTokens = ScoreCue.maxTokens(responses: n)
            cueSettings.stopLoops = false
            cueSettings.forceScores = false
            let texts = try generator.generate(group.map(\.request), settings: cueSettings)
            guard texts.count == group.count, texts.allSatisfy({ $0.count == 1 }) else {
                throw JudgeGeneratorError(description: "the generator answered \(texts.count) of \(group.count) cued requests")
            }
            for (c, text) in zip(group, texts) {
                let old = all[c.item][c.sample]
                var forced = GenerativeRewardModel.sample(
                    c.prefix + ScoreCue.completion(text[0]), index: old.index, group: old.group, order: old.order,
                    item: items[c.item])
                forced.forced = true
                all[c.item][c.sample] = forced
            }
        }
    }

    public func judge(_ item: RewardItem, config: VotingConfig) throws -> RewardJudgement {
        try judge([item], config: config)[0]
    }

    /// Parses one generated text shown in `order`.
    public static func sample(_ text: String, index: Int, group: Int, order: ResponseOrder, item: RewardItem) -> JudgeSample {
        let output = JudgeOutputParser.parse(text, responses: item.responses.count)
        var scores: [Int]?
        if case let .success(shown) = output.scores { scores = order.toOriginal(shown) }
        return JudgeSample(
            index: index, group: group, order: order, text: text, output: output, scores: scores,
            isCorrect: Correctness.isCorrect(scores, for: item))
    }

    /// Rates the samples with the meta RM (when set), selects the voters and votes.
    public func conclude(_ item: RewardItem, samples: [JudgeSample], config: VotingConfig) throws -> RewardJudgement {
        let parsed = samples.map { $0.scores != nil }
        var ratings: [Double]?
        var voters = samples.indices.filter { parsed[$0] }
        if let metaScorer {
            let r = try metaScorer.rate(samples, for: item)
            guard r.count == samples.count else {
                throw JudgeGeneratorError(description: "the meta RM rated \(r.count) of \(samples.count) samples")
            }
            ratings = r
            voters = Voting.metaSelect(ratings: r, parsed: parsed, keep: config.metaKeep ?? max(1, samples.count / 2))
        }
        let vote = Voting.vote(voters.map { samples[$0].scores! }, responses: item.responses.count)
        return RewardJudgement(
            item: item, samples: samples, metaRatings: ratings, voters: voters, vote: vote,
            outcome: Voting.outcome(vote, for: item))
    }
}
