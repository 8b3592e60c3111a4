import Foundation
import Tensor
import Transformer

/// What a scalar or semi-scalar head reads: the final-norm hidden state at the last token of the
/// model's chat template applied to the item's prompt followed by the response as the assistant's
/// message (TRL's reward models pool the last token of the same rendering).
public struct ScalarRewardInput {
    public let tokenizer: Tokenizer
    public let template: ModelChatTemplate
    /// Fixed so renderings that print a date are reproducible.
    public var now = Date(timeIntervalSince1970: 1_735_689_600)

    public init(tokenizer: Tokenizer, template: ModelChatTemplate) {
        self.tokenizer = tokenizer
        self.template = template
    }

    /// The token ids of `prompt + [assistant: response]` as the template renders them (the
    /// template writes any BOS the model wants; control tokens in it become their ids).
    public func tokens(prompt: [ChatMessage], response: String) throws -> [Int32] {
        let text = try template.render(
            messages: prompt + [ChatMessage(role: "assistant", content: response)],
            addGenerationPrompt: false, now: now)
        return tokenizer.encode(text, addSpecial: false, parseSpecial: true)
    }

    /// One token sequence per response of each item, in item order, with where each came from.
    public func tokens(for items: [RewardItem]) throws -> (sequences: [[Int32]], origin: [(item: Int, response: Int)]) {
        var sequences: [[Int32]] = [], origin: [(Int, Int)] = []
        for (i, item) in items.enumerated() {
            for (j, r) in item.responses.enumerated() {
                sequences.append(try tokens(prompt: item.prompt, response: r))
                origin.append((i, j))
            }
        }
        return (sequences, origin)
    }

    /// Final-norm hidden states [sequences.count, dim] at each sequence's last token: prefills of
    /// up to `batchTokens` tokens together (one forward pass, each sequence its own cache).
    /// Sequences that begin with the same `sharePrefix` tokens or more (an item's responses after
    /// one prompt, a judge's samples after one judging prompt), wherever they stand in the list,
    /// prefill that common prefix once and fork its cache, so each of them prefills only its own
    /// rest; 0 turns this off. Rows keep the order of `sequences`. A sequence longer than the model's context is refused naming it. `onProgress`
    /// gets the sequences done.
    public static func hiddenStates(
        engine: LlamaInference, sequences: [[Int32]], batchTokens: Int = 2048, sharePrefix: Int = 16,
        onProgress: ((Int) -> Void)? = nil
    ) throws -> Tensor {
        let dim = engine.config.dim
        let out = Tensor.uninitialized([sequences.count, dim])
        for (i, s) in sequences.enumerated() where s.isEmpty || s.count > engine.config.contextLength {
            throw RewardDataError("sequence \(i) has \(s.count) tokens; the model takes 1 to \(engine.config.contextLength)")
        }
        let (order, groups) = prefixPlan(sequences, minimum: sharePrefix)
        let sorted = order.map { sequences[$0] }
        // Each group's shared prefix, prefilled (batched) into a sequence its members fork.
        var prefixes = [KVSequence?](repeating: nil, count: groups.count)
        var pending: [(group: Int, tokens: [Int32])] = []
        func flushPrefixes() throws {
            guard !pending.isEmpty else { return }
            let requests = try pending.map { p -> ForwardRequest in
                let seq = try engine.newSequence(capacity: p.tokens.count)
                prefixes[p.group] = seq
                return ForwardRequest(sequence: seq, tokens: p.tokens, logits: .none)
            }
            _ = try engine.forward(requests, output: .hiddenStates)
            pending.removeAll()
        }
        var queued = 0
        for (g, group) in groups.enumerated() where group.shared > 0 {
            if queued > 0 && queued + group.shared > batchTokens {
                try flushPrefixes()
                queued = 0
            }
            pending.append((g, Array(sorted[group.range.lowerBound].prefix(group.shared))))
            queued += group.shared
        }
        try flushPrefixes()
        // Every sequence's own rest, from a fork of its group's prefix (or from empty).
        var rests: [(index: Int, group: Int, tokens: [Int32])] = []
        for (g, group) in groups.enumerated() {
            for k in group.range { rests.append((order[k], g, Array(sorted[k].dropFirst(group.shared)))) }
        }
        var start = 0
        while start < rests.count {
            var end = start, tokens = 0
            while end < rests.count && (end == start || tokens + rests[end].tokens.count <= batchTokens) {
                tokens += rests[end].tokens.count
                end += 1
            }
            let requests = try (start..<end).map { k -> ForwardRequest in
                let r = rests[k]
                let seq = try prefixes[r.group].map { try $0.fork(capacity: r.tokens.count) } ?? engine.newSequence(capacity: r.tokens.count)
                return ForwardRequest(sequence: seq, tokens: r.tokens, logits: .last)
            }
            let states = try engine.forward(requests, output: .hiddenStates)
            for (k, h) in zip(start..<end, states) {
                (out.floatPointer + rests[k].index * dim).update(from: h!.contiguous().floatPointer, count: dim)
            }
            start = end
            onProgress?(start)
        }
        return out
    }

    /// How `hiddenStates` shares prefills: the sequences sorted (so that those with a common
    /// prefix stand together, which samples dealt round-robin over response orders do not;
    /// `order[k]` is the index of the k-th sorted sequence) and the `prefixGroups` of that sorted
    /// list. `minimum` 0 keeps the given order and shares nothing.
    static func prefixPlan(_ sequences: [[Int32]], minimum: Int) -> (order: [Int], groups: [(range: Range<Int>, shared: Int)]) {
        guard minimum > 0 else { return (Array(sequences.indices), sequences.indices.map { ($0..<$0 + 1, 0) }) }
        let order = sequences.indices.sorted { sequences[$0].lexicographicallyPrecedes(sequences[$1]) }
        return (order, prefixGroups(order.map { sequences[$0] }, minimum: minimum))
    }

    /// Runs of consecutive sequences whose common prefix, short of each one's last token, is at
    /// least `minimum` tokens: (the run, the prefix length), or (one sequence, 0).
    static func prefixGroups(_ sequences: [[Int32]], minimum: Int) -> [(range: Range<Int>, shared: Int)] {
        func common(_ a: [Int32], _ b: [Int32]) -> Int {
            var n = 0
            while n < a.count && n < b.count && a[n] == b[n] { n += 1 }
            return n
        }
        var groups: [(range: Range<Int>, shared: Int)] = []
        var i = 0
        while i < sequences.count {
            var shared = sequences[i].count - 1, j = i + 1
            while j < sequences.count {
                let s = min(shared, common(sequences[i], sequences[j]), sequences[j].count - 1)
                if s < minimum { break }
                shared = s
                j += 1
            }
            groups.append(j - i > 1 ? (i..<j, shared) : (i..<i + 1, 0))
            i = j
        }
        return groups
    }
}
