import Foundation
import Transformer

/// The inference engine behind the generative reward model: every request's prompt is prefilled
/// once (prompts sharing a prefix share its cache) and its samples decode as one batch with all
/// other live sequences (see `Generator`). Sample j of a request draws from the stream
/// (request.seed, j), so judgements do not depend on the batch or the thread count.
public final class EngineJudgeGenerator: JudgeGenerator {
    public let generator: Generator
    /// Called with (sequences finished, sequences in the batch) as samples end, for progress lines.
    public var onSampleFinished: ((Int, Int) -> Void)?
    /// Generated tokens in the last call (for throughput figures).
    public private(set) var generatedTokens = 0

    public init(generator: Generator) {
        self.generator = generator
    }

    public func generate(_ requests: [JudgeRequest], settings: GenerationSettings) throws -> [[String]] {
        let tokenizer = generator.tokenizer
        let work = requests.map { r in
            // The chat template already wrote any BOS the model wants: no special tokens are added.
            GenerationRequest(prompt: tokenizer.encode(r.prompt, addSpecial: false, parseSpecial: true), samples: r.samples, seed: r.seed)
        }
        let sampling = SamplingParameters(temperature: settings.temperature, topP: settings.topP)
        let out = try generator.generate(work, sampling: sampling, stop: StopCondition(maxTokens: settings.maxTokens))
        generatedTokens = out.joined().reduce(0) { $0 + $1.ids.count }
        return out.map { $0.map(\.text) }
    }
}
