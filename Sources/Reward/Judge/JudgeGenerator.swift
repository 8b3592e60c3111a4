import Foundation

/// Sampling settings for judge generations.
public struct GenerationSettings: Equatable, Codable, Sendable {
    /// The paper votes over samples drawn at temperature 0.5.
    public var temperature: Float
    public var topP: Float
    /// Generated tokens per sample at most (a sample cut short usually has no scores: a parse failure).
    public var maxTokens: Int
    /// Stop a sample whose last tokens loop (`RepetitionStop`'s defaults): a looping judge never
    /// reaches its scores, so the rest of its budget would be spent for nothing.
    public var stopLoops: Bool
    /// A sample without any scores (cut off by the budget or a loop, or ended without them) is cued with `Scores: \boxed{` and the
    /// judge writes the scores itself (`ScoreCue`); the sample is marked `forced`. Budget forcing
    /// as in s1 (Muennighoff et al., 2025). Off for samples that are trained on.
    public var forceScores: Bool

    public init(temperature: Float = 0.5, topP: Float = 1, maxTokens: Int = 1024, stopLoops: Bool = false, forceScores: Bool = false) {
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.stopLoops = stopLoops
        self.forceScores = forceScores
    }

    enum CodingKeys: String, CodingKey {
        case temperature, topP, maxTokens, stopLoops, forceScores
    }

    /// Settings saved before loops were stopped or scores forced decode with both off.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        temperature = try c.decode(Float.self, forKey: .temperature)
        topP = try c.decode(Float.self, forKey: .topP)
        maxTokens = try c.decode(Int.self, forKey: .maxTokens)
        stopLoops = try c.decodeIfPresent(Bool.self, forKey: .stopLoops) ?? false
        forceScores = try c.decodeIfPresent(Bool.self, forKey: .forceScores) ?? false
    }
}

/// One prompt to continue `samples` times. All samples of a request see the responses in the same
/// order, so an engine can prefill the prompt once and decode the samples as a batch sharing it.
public struct JudgeRequest: Equatable, Sendable {
    /// The complete prompt text, chat template applied (ends with the assistant header).
    public var prompt: String
    /// How many independent continuations to generate.
    public var samples: Int
    /// Seed for this request: continuation j must be reproducible from (seed, j) alone, whatever
    /// else is in the batch and however many threads run.
    public var seed: UInt64

    public init(prompt: String, samples: Int, seed: UInt64) {
        self.prompt = prompt
        self.samples = samples
        self.seed = seed
    }
}

/// The generation boundary: where the inference engine plugs in.
///
/// Given a batch of requests, return for each request exactly `request.samples` generated texts
/// (the continuation only, without the prompt, stopped at the end-of-turn token or `maxTokens`),
/// in request order. At temperature 0 every continuation of a request is the same greedy text.
/// Throw for engine failures; output the model got wrong is not an error (it fails to parse later).
public protocol JudgeGenerator {
    func generate(_ requests: [JudgeRequest], settings: GenerationSettings) throws -> [[String]]
    /// Forgets prompts kept from earlier calls (an engine's prompt cache), so that the next call
    /// costs what it would cost on its own. Generators without such a cache do nothing.
    func forgetEarlierPrompts()
    /// Forgets what a call with forced scores kept of its samples for their cues (an engine's kept
    /// sequences), once the cues are done. Generators without such state do nothing.
    func forgetSamples()
    /// Whether `prompt` leaves room for `tokens` generated tokens (an engine's context). Samples
    /// whose cued prompt would not fit are not forced (`GenerationSettings.forceScores`).
    func fits(_ prompt: String, generating tokens: Int) -> Bool
}

extension JudgeGenerator {
    public func forgetEarlierPrompts() {}
    public func forgetSamples() {}
    public func fits(_ prompt: String, generating tokens: Int) -> Bool { true }
}

/// A meta reward model: rates sampled judge trajectories (higher = more likely correct under the
/// rule), so that voting can keep only the best rated `k_meta` of them. The paper's is a pointwise
/// scalar RM trained with binary cross-entropy on whether a trajectory was correct.
public protocol TrajectoryScorer {
    /// One rating per sample of `item`, in the order given.
    func rate(_ samples: [JudgeSample], for item: RewardItem) throws -> [Double]
}

/// The generator returned the wrong number of texts.
public struct JudgeGeneratorError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(description: String) { self.description = description }
}
