/// When generation ends: a stop token (EOS, EOT, ...), a stop string appearing in the decoded
/// text, or a token budget.
public struct StopCondition: Sendable, Codable, Equatable {
    public var stopTokens: Set<Int32>
    /// Matched on the UTF-8 bytes of the decoded text; the stop string itself is never emitted.
    public var stopStrings: [String]
    /// Stop after this many tokens (nil = no limit).
    public var maxTokens: Int?
    /// Stop a sequence caught in a loop (nil = never).
    public var repetition: RepetitionStop?

    public init(stopTokens: Set<Int32> = [], stopStrings: [String] = [], maxTokens: Int? = nil, repetition: RepetitionStop? = nil) {
        self.stopTokens = stopTokens
        self.stopStrings = stopStrings
        self.maxTokens = maxTokens
        self.repetition = repetition
    }

    public func validate() throws {
        if let i = stopStrings.firstIndex(where: { $0.isEmpty }) { throw SamplingError.emptyStopString(index: i) }
        if let m = maxTokens, m < 1 {
            throw SamplingError.invalidParameter(name: "maxTokens", value: "\(m)", reason: "must be >= 1 (nil = no limit)")
        }
        if let r = repetition {
            if r.maxPeriod < 1 {
                throw SamplingError.invalidParameter(name: "repetition.maxPeriod", value: "\(r.maxPeriod)", reason: "must be >= 1")
            }
            if r.minCopies < 2 {
                throw SamplingError.invalidParameter(name: "repetition.minCopies", value: "\(r.minCopies)", reason: "must be >= 2")
            }
        }
    }
}

/// A loop: the last tokens are one block of `period <= maxPeriod` tokens repeated, covering at
/// least `max(minTokens, minCopies * period)` tokens. A small model that falls into such a loop
/// under greedy decoding stays in it until the budget runs out, so stopping there only saves the
/// tokens; text legitimately repeats short runs ("n, a, n, a"), hence the floor of `minTokens`.
public struct RepetitionStop: Sendable, Codable, Equatable {
    public var maxPeriod: Int
    public var minCopies: Int
    public var minTokens: Int

    public init(maxPeriod: Int = 32, minCopies: Int = 3, minTokens: Int = 32) {
        self.maxPeriod = maxPeriod
        self.minCopies = minCopies
        self.minTokens = minTokens
    }

    /// Tokens the check looks back over at most.
    var window: Int { Swift.max(minTokens, minCopies * maxPeriod) }

    /// The shortest period with which `recent` ends in a loop, or nil.
    func period(_ recent: ArraySlice<Int32>) -> Int? {
        let n = recent.endIndex
        for p in 1...maxPeriod {
            let span = Swift.max(minTokens, minCopies * p)
            if span > recent.count { break }
            var j = n - 1
            while j >= n - span + p && recent[j] == recent[j - p] { j -= 1 }
            if j < n - span + p { return p }
        }
        return nil
    }
}

public enum StopReason: Sendable, Equatable {
    /// A stop token was generated (its text is not emitted).
    case token(Int32)
    /// The decoded text contains stop string `stopStrings[index]` (excluded with what follows).
    case string(index: Int)
    /// `maxTokens` tokens were accepted (the last one's text is emitted).
    case length
    /// The last tokens repeat a block of `period` tokens (`StopCondition.repetition`); the text
    /// up to and including the last token is emitted, loop and all.
    case repetition(period: Int)

    /// The sequence was cut off (budget or loop) rather than ended by the model or a stop string.
    public var isCutOff: Bool {
        switch self {
        case .length, .repetition: true
        case .token, .string: false
        }
    }
}

/// What to do after a token: emit `text` (possibly empty), then stop if `reason` is set.
public struct StopDecision: Sendable, Equatable {
    public var text: String
    public var reason: StopReason?
    public var shouldStop: Bool { reason != nil }

    public init(text: String, reason: StopReason? = nil) {
        self.text = text
        self.reason = reason
    }
}

/// Applies a `StopCondition` to a token stream whose text arrives in pieces (for example from
/// `StreamingDecoder`). Text that could still turn out to be the start of a stop string is held
/// back until the next pieces decide; everything before it is released at once, so the
/// concatenation of all emitted text is exactly the generated text up to (not including) the
/// first stop string.
///
/// If several stop strings are complete after the same piece, the one that starts earliest wins
/// (the first listed, if they start together). Matching is on UTF-8 bytes: since pieces and stop
/// strings are valid UTF-8, matches and held-back suffixes start on character boundaries, so
/// emitted text never splits a character.
public struct StopMatcher: Sendable {
    public let condition: StopCondition
    private let patterns: [[UInt8]]
    private var held: [UInt8] = []
    private var tokens = 0
    /// The last tokens, for `condition.repetition` (empty without it).
    private var recent: [Int32] = []
    public private(set) var stopReason: StopReason?

    public init(_ condition: StopCondition) throws {
        try condition.validate()
        self.condition = condition
        patterns = condition.stopStrings.map { Array($0.utf8) }
        held.reserveCapacity((patterns.map(\.count).max() ?? 0) * 2)
    }

    /// Bytes held back: text that is a proper prefix of some stop string so far.
    public var heldText: String { String(decoding: held, as: UTF8.self) }

    /// The next generated token and its decoded text. After a stop, further calls return empty
    /// text and the same reason.
    public mutating func accept(token: Int32, text: String) -> StopDecision {
        if let r = stopReason { return StopDecision(text: "", reason: r) }
        tokens += 1
        if condition.stopTokens.contains(token) {
            stopReason = .token(token)
            return StopDecision(text: release(), reason: stopReason)
        }
        var decision = accept(text: text)
        if decision.reason == nil, let loop = condition.repetition {
            recent.append(token)
            if recent.count > 2 * loop.window { recent.removeFirst(recent.count - loop.window) }
            if let p = loop.period(recent[...]) {
                stopReason = .repetition(period: p)
                return StopDecision(text: decision.text + release(), reason: stopReason)
            }
        }
        if decision.reason == nil, let m = condition.maxTokens, tokens >= m {
            stopReason = .length
            decision = StopDecision(text: decision.text + release(), reason: .length)
        }
        return decision
    }

    /// More text without a new token (for example the tail `StreamingDecoder.finish()` returns).
    public mutating func accept(text: String) -> StopDecision {
        if let r = stopReason { return StopDecision(text: "", reason: r) }
        held.append(contentsOf: text.utf8)
        if let (start, index) = earliestMatch() {
            stopReason = .string(index: index)
            let out = String(decoding: held[..<start], as: UTF8.self)
            held.removeAll(keepingCapacity: true)
            return StopDecision(text: out, reason: stopReason)
        }
        let keep = longestPendingSuffix()
        let cut = held.count - keep
        let out = String(decoding: held[..<cut], as: UTF8.self)
        held.removeFirst(cut)
        return StopDecision(text: out)
    }

    /// Generation ended for another reason (the caller's own limit): releases the held text.
    public mutating func finish() -> String {
        release()
    }

    private mutating func release() -> String {
        let out = String(decoding: held, as: UTF8.self)
        held.removeAll(keepingCapacity: true)
        return out
    }

    /// (start, pattern index) of the complete stop string starting earliest in `held`.
    private func earliestMatch() -> (Int, Int)? {
        var best: (Int, Int)?
        for (k, p) in patterns.enumerated() where p.count <= held.count {
            let last = best.map { Swift.min($0.0, held.count - p.count + 1) } ?? held.count - p.count + 1
            var s = 0
            while s < last {
                if held[s] == p[0] && held[s..<(s + p.count)].elementsEqual(p) {
                    best = (s, k)
                    break
                }
                s += 1
            }
        }
        return best
    }

    /// Length of the longest suffix of `held` that is a proper prefix of some stop string.
    private func longestPendingSuffix() -> Int {
        var best = 0
        for p in patterns {
            var l = Swift.min(p.count - 1, held.count)
            while l > best {
                if held[(held.count - l)...].elementsEqual(p[..<l]) {
                    best = l
                    break
                }
                l -= 1
            }
        }
        return best
    }
}
