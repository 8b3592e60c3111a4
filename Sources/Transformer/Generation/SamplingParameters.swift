/// How the next token is chosen from the model's logits (see `Sampler` for the order in which the
/// stages run). Every stage has a value that turns it off:
///
/// * `temperature`: 0 = greedy (argmax, ties to the lowest id); otherwise logits are divided by it.
/// * `topK`: keep the k highest logits; 0 = off.
/// * `topP`: nucleus: keep the smallest set of most likely tokens whose probability reaches p;
///   1 = off. Must be in (0, 1].
/// * `minP`: drop tokens whose probability is below minP times the most likely one's; 0 = off.
///   Must be in [0, 1].
/// * `repetitionPenalty`: llama.cpp semantics: every distinct token among the last
///   `repetitionWindow` tokens of the history has its logit divided by the penalty if positive,
///   multiplied by it otherwise; 1 = off. Must be positive (below 1 favours repeats).
/// * `repetitionWindow`: how many of the most recent history tokens the penalty looks at
///   (default 64); 0 = off.
/// * `seed`: with the sequence index, fixes the random stream (see `Sampler.init`).
public struct SamplingParameters: Sendable, Codable, Equatable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var minP: Float
    public var repetitionPenalty: Float
    public var repetitionWindow: Int
    public var seed: UInt64

    public init(
        temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
        repetitionPenalty: Float = 1, repetitionWindow: Int = 64, seed: UInt64 = 0
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.seed = seed
    }

    /// Argmax with no penalty: deterministic, consumes no randomness.
    public static let greedy = SamplingParameters(temperature: 0)

    public var isGreedy: Bool { temperature == 0 }

    /// Whether the repetition penalty changes anything.
    public var penalisesRepetition: Bool { repetitionPenalty != 1 && repetitionWindow > 0 }

    /// Throws `SamplingError.invalidParameter` naming the first bad field.
    public func validate() throws {
        func bad(_ name: String, _ value: String, _ reason: String) -> SamplingError {
            .invalidParameter(name: name, value: value, reason: reason)
        }
        guard temperature.isFinite, temperature >= 0 else {
            throw bad("temperature", "\(temperature)", "must be finite and >= 0 (0 = greedy)")
        }
        guard topK >= 0 else { throw bad("topK", "\(topK)", "must be >= 0 (0 = off)") }
        guard topP > 0, topP <= 1 else { throw bad("topP", "\(topP)", "must be in (0, 1] (1 = off)") }
        guard minP >= 0, minP <= 1 else { throw bad("minP", "\(minP)", "must be in [0, 1] (0 = off)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw bad("repetitionPenalty", "\(repetitionPenalty)", "must be finite and > 0 (1 = off)")
        }
        guard repetitionWindow >= 0 else {
            throw bad("repetitionWindow", "\(repetitionWindow)", "must be >= 0 (0 = off)")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case temperature, topK, topP, minP, repetitionPenalty, repetitionWindow, seed
    }

    /// Missing keys take their defaults, so a config file names only what it changes.
    /// Values are not validated here: `validate()` (called by `Sampler.init`) does that.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SamplingParameters()
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? d.temperature
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? d.topK
        topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? d.topP
        minP = try c.decodeIfPresent(Float.self, forKey: .minP) ?? d.minP
        repetitionPenalty = try c.decodeIfPresent(Float.self, forKey: .repetitionPenalty) ?? d.repetitionPenalty
        repetitionWindow = try c.decodeIfPresent(Int.self, forKey: .repetitionWindow) ?? d.repetitionWindow
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }
}

public enum SamplingError: Error, Equatable, CustomStringConvertible {
    case invalidParameter(name: String, value: String, reason: String)
    case emptyLogits
    /// The logits contain NaN or +inf, or every one is -inf (`reason` says which).
    case invalidLogits(reason: String)
    /// A history token is not an index into the logits.
    case tokenOutOfRange(id: Int32, vocabularySize: Int)
    case emptyStopString(index: Int)

    public var description: String {
        switch self {
        case let .invalidParameter(name, value, reason):
            return "sampling parameter \(name) = \(value): \(reason)"
        case .emptyLogits:
            return "sampling: the logits are empty"
        case let .invalidLogits(reason):
            return "sampling: invalid logits: \(reason)"
        case let .tokenOutOfRange(id, n):
            return "sampling: history token \(id) is outside the vocabulary 0..<\(n)"
        case let .emptyStopString(index):
            return "stop condition: stop string \(index) is empty"
        }
    }
}
