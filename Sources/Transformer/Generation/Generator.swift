import Foundation
import Tensor

/// One prompt to continue, `samples` times.
public struct GenerationRequest: Sendable {
    public var prompt: [Int32]
    public var samples: Int
    /// This request's seed (default: the sampling parameters' seed).
    public var seed: UInt64?
    public init(prompt: [Int32], samples: Int = 1, seed: UInt64? = nil) {
        self.prompt = prompt
        self.samples = samples
        self.seed = seed
    }
}

/// One finished continuation.
public struct Generation: Sendable, Equatable {
    /// Generated ids, including the stop token when a stop token ended it.
    public var ids: [Int32]
    /// The text, without a stop token's text and without a stop string (or what followed it).
    public var text: String
    /// Per generated id: its log-probability under the model (log-softmax of the raw logits).
    public var logprobs: [Float]
    public var reason: StopReason
}

/// Text generation on a `LlamaInference`: prefill each prompt once, fork it into the requested
/// number of samples sharing the prompt's cache, and decode every live sequence of every prompt
/// together, one batched forward pass per step.
///
/// Sample j of a prompt draws from its own random stream (seed, j), so results do not depend on
/// which other prompts or samples share the batch. The first token of every sample comes from the
/// prompt's last logits; each sample then feeds its own tokens.
public final class Generator: @unchecked Sendable {
    public let engine: LlamaInference
    public let tokenizer: Tokenizer
    /// Most prompt tokens per prefill forward pass (longer prompts are prefilled in chunks).
    public var prefillChunk = 512
    /// Shortest common prefix worth sharing between two prompts (of one call, or with an earlier
    /// call's prompt in the prompt cache).
    public var sharedPrefixMinimum = 16

    /// Prompt tokens whose caches are kept after a call, so that a later prompt sharing a prefix
    /// with one of them (a chat's next turn, the next judge prompt with the same instructions)
    /// forks that cache instead of prefilling the prefix again; an identical prompt reuses the cache
    /// and its last logits. Oldest prompts go first; the most recent one is always kept (at most a
    /// context's worth). 0 turns the cache off (and empties it). About 46 KB per token for a
    /// SmolLM2-135M f32 cache, half that for f16.
    public var promptCacheTokens = 2048 { didSet { trimPromptCache() } }
    private var promptCache: [(ids: [Int32], root: KVSequence, logits: [Float])] = []

    /// Whether a call keeps its samples' caches (besides its prompts'), so that a later prompt
    /// that continues a sample (its prompt, the sample's tokens, then more: a judge's cued
    /// scores, a chat's next turn) forks that sample's cache and prefills only what follows, and
    /// the sample's last token, which was never fed (from an earlier point where its tokens differ
    /// from the sample's, as when a text is re-tokenised differently). A call made with this on
    /// drops the samples kept by earlier calls once its prompts are prefilled; calls made with it
    /// off leave them (the follow-up calls that use them). They do not count against
    /// `promptCacheTokens` (they hold what the call's decoding held); `dropContinuations`,
    /// `clearPromptCache` and a budget of 0 drop them.
    public var keepContinuations = false
    /// Kept samples: the tokens whose keys and values the sequence holds (the prompt and every
    /// generated token but the last, which was never fed), and the sequence.
    private var continuations: [(ids: [Int32], sequence: KVSequence)] = []

    /// Samples kept by `keepContinuations`.
    public var continuationCount: Int { continuations.count }

    /// Drops the samples kept by `keepContinuations` (the prompt cache stays).
    public func dropContinuations() { continuations.removeAll() }

    /// Prompts held by the prompt cache, and their tokens.
    public var promptCacheUsage: (prompts: Int, tokens: Int) {
        (promptCache.count, promptCache.reduce(0) { $0 + $1.ids.count })
    }

    /// Empties the prompt cache (its size setting stays).
    public func clearPromptCache() {
        promptCache.removeAll()
        continuations.removeAll()
    }

    private func trimPromptCache() {
        if promptCacheTokens <= 0 {
            clearPromptCache()
            return
        }
        var total = promptCache.reduce(0) { $0 + $1.ids.count }
        while promptCache.count > 1 && total > promptCacheTokens {
            total -= promptCache.removeFirst().ids.count
        }
    }

    public init(engine: LlamaInference, tokenizer: Tokenizer) {
        self.engine = engine
        self.tokenizer = tokenizer
    }

    /// The tokenizer's end-of-generation ids (EOS, EOT, ...): the default stop tokens.
    public var defaultStopTokens: Set<Int32> { tokenizer.vocabulary.endOfGeneration }

    /// Generates `samples` continuations of every request. `stop.maxTokens` (or the context) bounds
    /// each continuation. `onText(request, sample, text)` receives text as soon as it is final.
    public func generate(
        _ requests: [GenerationRequest], sampling: SamplingParameters, stop: StopCondition,
        onText: ((Int, Int, String) -> Void)? = nil
    ) throws -> [[Generation]] {
        try sampling.validate()
        try stop.validate()
        let context = engine.config.contextLength
        for (i, r) in requests.enumerated() {
            guard !r.prompt.isEmpty else { throw ModelError.badValue("prompt", "request \(i) has an empty prompt") }
            guard r.samples > 0 else { throw ModelError.badValue("samples", "request \(i) asks for \(r.samples) samples") }
            guard r.prompt.count < context else {
                throw ModelError.contextExceeded(tokens: r.prompt.count + 1, context: context)
            }
        }
        // Prefill, as a tree of shared prefixes. Each prompt forks the cache of the prompt (of this
        // call, of an earlier one in the prompt cache, or a kept sample) with which it shares the longest prefix,
        // if that is at least `sharedPrefixMinimum` tokens, and prefills only the rest; an
        // identical prompt shares the whole cache and its last logits. Prompts whose parent is in
        // this call run in the wave after it (k response orders of one judge prompt share the
        // instructions, and orders with the same first response share that too); each wave is
        // one batched prefill.
        var roots = [KVSequence?](repeating: nil, count: requests.count)
        var lastLogits = [[Float]](repeating: [], count: requests.count)
        let plan = prefixPlan(requests.map(\.prompt))
        for (i, p) in plan.enumerated() {
            if case .cached(let e, let n) = p.parent, n == requests[i].prompt.count {
                roots[i] = promptCache[e].root
                // (Always a prompt-cache entry: kept samples have no logits, so none is identical.)
                lastLogits[i] = promptCache[e].logits
            }
        }
        let runs = plan.indices.filter { plan[$0].runs }
        var prefilled: [Int] = []
        for wave in 0...(plan.map(\.wave).max() ?? 0) {
            var work: [(request: Int, start: Int)] = []
            for i in runs where plan[i].wave == wave {
                switch plan[i].parent {
                case .none:
                    roots[i] = try engine.newSequence(capacity: requests[i].prompt.count)
                    work.append((i, 0))
                case .cached(let e, let n):
                    roots[i] = try cachedSequence(e).fork(at: n, capacity: requests[i].prompt.count - n)
                    work.append((i, n))
                case .request(let j, let n):
                    roots[i] = try roots[j]!.fork(at: n, capacity: requests[i].prompt.count - n)
                    work.append((i, n))
                }
            }
            try prefill(work, requests, roots, &lastLogits)
            prefilled += work.map(\.request)
        }
        for (i, p) in plan.enumerated() where !p.runs {
            if case .request(let j, _) = p.parent {
                roots[i] = roots[j]
                lastLogits[i] = lastLogits[j]
            }
        }
        prefilledTokens = runs.reduce(0) { $0 + requests[$1].prompt.count - plan[$1].parent.shared }
        // Earlier samples (the forks above hold what they share) give way to this call's.
        if keepContinuations { continuations.removeAll() }
        if promptCacheTokens > 0 {
            for i in prefilled {
                promptCache.removeAll { $0.ids == requests[i].prompt }
                promptCache.append((requests[i].prompt, roots[i]!, lastLogits[i]))
            }
            trimPromptCache()
        }

        // Decode: every sample of every request, batched.
        final class Live {
            let request: Int, sample: Int
            let sequence: KVSequence
            var sampler: Sampler
            var matcher: StopMatcher
            var decoder: StreamingDecoder
            var history: [Int32]
            var ids: [Int32] = [], logprobs: [Float] = [], text = ""
            var reason: StopReason?
            init(
                request: Int, sample: Int, sequence: KVSequence, sampler: Sampler, matcher: StopMatcher,
                decoder: StreamingDecoder, history: [Int32]
            ) {
                self.request = request
                self.sample = sample
                self.sequence = sequence
                self.sampler = sampler
                self.matcher = matcher
                self.decoder = decoder
                self.history = history
            }
        }
        var stopTokens = stop
        if stopTokens.stopTokens.isEmpty { stopTokens.stopTokens = defaultStopTokens }
        var live: [Live] = []
        for (i, r) in requests.enumerated() {
            let room = context - r.prompt.count
            let capacity = min(room, stop.maxTokens ?? room)
            var parameters = sampling
            if let seed = r.seed { parameters.seed = seed }
            for j in 0..<r.samples {
                live.append(
                    Live(
                        request: i, sample: j, sequence: try roots[i]!.fork(capacity: capacity),
                        sampler: try Sampler(parameters: parameters, sequenceIndex: UInt64(j)),
                        matcher: try StopMatcher(stopTokens), decoder: StreamingDecoder(tokenizer: tokenizer),
                        history: r.prompt))
            }
        }
        var results = requests.map { [Generation?](repeating: nil, count: $0.samples) }
        // Samples to keep once decoded (`keepContinuations`; none when the cache is off).
        let keep = keepContinuations && promptCacheTokens > 0
        var finished: [Live] = []
        func accept(_ s: Live, _ logits: [Float]) throws {
            let t = try s.sampler.sample(logits: logits, history: s.history)
            s.ids.append(t.id)
            s.logprobs.append(t.logprob)
            s.history.append(t.id)
            let piece = stopTokens.stopTokens.contains(t.id) ? "" : s.decoder.push(t.id)
            var decision = s.matcher.accept(token: t.id, text: piece)
            // Out of room in the cache: a length stop like `maxTokens`. Either way, release what the
            // decoder and the matcher still hold.
            if decision.reason == nil, s.sequence.remaining == 0 { decision.reason = .length }
            if decision.reason?.isCutOff == true {
                // The decoder's tail (a character cut short) goes through the matcher unless it
                // has already stopped (at its own limit or a loop): then it is appended as is.
                let tail = s.decoder.finish()
                decision.text += s.matcher.stopReason == nil ? s.matcher.accept(text: tail).text + s.matcher.finish() : tail
            }
            s.text += decision.text
            if !decision.text.isEmpty { onText?(s.request, s.sample, decision.text) }
            if let r = decision.reason {
                s.reason = r
                results[s.request][s.sample] = Generation(ids: s.ids, text: s.text, logprobs: s.logprobs, reason: r)
                if keep { finished.append(s) }
            }
        }
        for s in live { try accept(s, lastLogits[s.request]) }
        live.removeAll { $0.reason != nil }
        while !live.isEmpty {
            let out = try engine.forward(live.map { ForwardRequest(sequence: $0.sequence, tokens: [$0.ids.last!]) })
            for (s, logits) in zip(live, out) { try accept(s, logits!.scalars()) }
            live.removeAll { $0.reason != nil }
        }
        // The last sampled token was never fed: the sequence holds the history before it.
        for s in finished where s.sequence.length == s.history.count - 1 {
            continuations.append((Array(s.history.dropLast()), s.sequence))
        }
        return results.map { $0.map { $0! } }
    }

    /// Where a prompt's cache comes from: nothing (prefilled from the start), an earlier call's
    /// prompt or kept sample (`cached`: prompt-cache entry, or a kept sample's index past them;
    /// shared tokens) or an earlier prompt of this call.
    enum PrefixParent: Equatable {
        case none
        case cached(entry: Int, shared: Int)
        case request(Int, shared: Int)

        var shared: Int {
            switch self {
            case .none: 0
            case .cached(_, let n), .request(_, let n): n
            }
        }
    }

    /// A prompt's place in the prefill tree: its parent, whether it runs through the model at all
    /// (not when it equals its parent), and its wave (one more than an in-call parent's).
    struct PrefixNode: Equatable {
        var parent: PrefixParent
        var runs: Bool
        var wave: Int
    }

    /// The prefill tree of a call's prompts, in order: each prompt takes as parent the earlier
    /// prompt of the call, the prompt-cache entry or the kept sample (`keepContinuations`) with
    /// which it shares the longest prefix (the cache wins ties: it costs nothing), if that is at
    /// least `sharedPrefixMinimum` tokens, and forks at the common length, kept below its own
    /// length so that its last position runs and gives its logits; a prompt identical to an
    /// earlier prompt of the call or of the prompt cache is its twin (a kept sample has no logits,
    /// so it is only ever forked). Results do not depend on the
    /// tree: a forked prefix holds the keys and values the prompt would compute itself.
    func prefixPlan(_ prompts: [[Int32]]) -> [PrefixNode] {
        func common(_ a: [Int32], _ b: [Int32]) -> Int {
            var l = 0
            let n = min(a.count, b.count)
            while l < n && a[l] == b[l] { l += 1 }
            return l
        }
        // Prompt-cache entries, then kept samples (`cached` entries past the prompts).
        let cached = promptCache.map(\.ids) + continuations.map(\.ids)
        var nodes: [PrefixNode] = []
        for (i, p) in prompts.enumerated() {
            var best = 0, who = -1
            for j in 0..<i where nodes[j].runs {
                let l = common(prompts[j], p)
                if l > best {
                    best = l
                    who = j
                }
            }
            var cacheBest = 0, entry = -1
            for (e, ids) in cached.enumerated() {
                let l = common(ids, p)
                if l > cacheBest {
                    cacheBest = l
                    entry = e
                }
            }
            if entry >= 0, entry < promptCache.count, cacheBest == p.count, cacheBest == promptCache[entry].ids.count {
                nodes.append(PrefixNode(parent: .cached(entry: entry, shared: p.count), runs: false, wave: 0))
            } else if who >= 0, best == p.count, best == prompts[who].count {
                nodes.append(PrefixNode(parent: .request(who, shared: p.count), runs: false, wave: nodes[who].wave))
            } else if entry >= 0, cacheBest >= best, min(cacheBest, p.count - 1) >= sharedPrefixMinimum {
                nodes.append(PrefixNode(parent: .cached(entry: entry, shared: min(cacheBest, p.count - 1)), runs: true, wave: 0))
            } else if who >= 0, min(best, p.count - 1) >= sharedPrefixMinimum {
                nodes.append(PrefixNode(parent: .request(who, shared: min(best, p.count - 1)), runs: true, wave: nodes[who].wave + 1))
            } else {
                nodes.append(PrefixNode(parent: .none, runs: true, wave: 0))
            }
        }
        return nodes
    }

    /// The sequence of a `cached` parent: a prompt-cache entry, or a kept sample after them.
    private func cachedSequence(_ entry: Int) -> KVSequence {
        entry < promptCache.count ? promptCache[entry].root : continuations[entry - promptCache.count].sequence
    }

    /// Prompt tokens the last `generate` call ran through the model (shared prefixes counted once).
    public private(set) var prefilledTokens = 0

    /// Runs the prompts' tokens from `start` on through their sequences, packed into forward passes
    /// of at most `prefillChunk` tokens, keeping each prompt's last logits.
    private func prefill(
        _ work: [(request: Int, start: Int)], _ requests: [GenerationRequest], _ roots: [KVSequence?],
        _ lastLogits: inout [[Float]]
    ) throws {
        var pieces: [(request: Int, start: Int, end: Int)] = []
        for w in work {
            var start = w.start
            let count = requests[w.request].prompt.count
            while start < count {
                let end = min(count, start + prefillChunk)
                pieces.append((w.request, start, end))
                start = end
            }
        }
        var k = 0
        while k < pieces.count {
            var batch = [pieces[k]]
            var rows = pieces[k].end - pieces[k].start
            k += 1
            while k < pieces.count, rows + pieces[k].end - pieces[k].start <= prefillChunk,
                !batch.contains(where: { $0.request == pieces[k].request })
            {
                batch.append(pieces[k])
                rows += pieces[k].end - pieces[k].start
                k += 1
            }
            let out = try engine.forward(
                batch.map { b in
                    ForwardRequest(
                        sequence: roots[b.request]!, tokens: Array(requests[b.request].prompt[b.start..<b.end]),
                        logits: b.end == requests[b.request].prompt.count ? .last : .none)
                })
            for (b, logits) in zip(batch, out) where logits != nil { lastLogits[b.request] = logits!.scalars() }
        }
    }

    /// Prompt ids for text: `raw` text is tokenised as is (special tokens parsed, BOS added if the
    /// model asks for it); otherwise the messages are rendered with the chat template.
    public func promptIDs(raw text: String) -> [Int32] {
        tokenizer.encode(text, addSpecial: true, parseSpecial: true)
    }

    public func promptIDs(messages: [ChatMessage], template: ModelChatTemplate) throws -> [Int32] {
        let rendered = try template.render(messages: messages, addGenerationPrompt: true)
        return tokenizer.encode(rendered, addSpecial: false, parseSpecial: true)
    }
}
