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

    /// Final-norm hidden states [sequences.count, dim] at each sequence's last token (rows in the
    /// order of `sequences`): prefills of up to `batchTokens` tokens together (one forward pass,
    /// each sequence its own cache). Stretches of `sharePrefix` tokens or more that several
    /// sequences begin with (a system prompt, an item's prompt before its responses, a judging
    /// prompt before its samples), wherever they stand in the list, are prefilled once and their
    /// caches forked (`PrefixTree`); 0 turns this off. A sequence longer than the model's context
    /// is refused naming it. `onProgress` gets the sequences done.
    public static func hiddenStates(
        engine: LlamaInference, sequences: [[Int32]], batchTokens: Int = 2048, sharePrefix: Int = 16,
        onProgress: ((Int) -> Void)? = nil
    ) throws -> Tensor {
        let dim = engine.config.dim
        let out = Tensor.uninitialized([sequences.count, dim])
        for (i, s) in sequences.enumerated() where s.isEmpty || s.count > engine.config.contextLength {
            throw RewardDataError("sequence \(i) has \(s.count) tokens; the model takes 1 to \(engine.config.contextLength)")
        }
        // Trees over chunks of the sorted list, so that the shared caches alive at once stay
        // bounded (a chunk's nodes hold at most its tokens).
        let order = sharePrefix > 0 ? PrefixTree.sorted(sequences, members: Array(sequences.indices)) : Array(sequences.indices)
        let chunkTokens = max(batchTokens, 16_384)
        var done = 0, chunkStart = 0
        while chunkStart < order.count {
            var chunkEnd = chunkStart, tokens = 0
            while chunkEnd < order.count && (chunkEnd == chunkStart || tokens + sequences[order[chunkEnd]].count <= chunkTokens) {
                tokens += sequences[order[chunkEnd]].count
                chunkEnd += 1
            }
            let tree = PrefixTree(sequences, members: Array(order[chunkStart..<chunkEnd]), minimum: sharePrefix)
            var caches = [KVSequence?](repeating: nil, count: tree.nodes.count)
            // Nodes level by level (each forks its parent's finished cache), batched.
            let byLevel = tree.nodes.indices.sorted { (tree.nodes[$0].level, $0) < (tree.nodes[$1].level, $1) }
            try forEachBatch(
                byLevel, tokens: { tree.nodes[$0].range.count }, limit: batchTokens, sameBatch: { tree.nodes[$0].level == tree.nodes[$1].level }
            ) { batch in
                let requests = try batch.map { n -> ForwardRequest in
                    let node = tree.nodes[n]
                    let seq =
                        try node.parent.map { try caches[$0]!.fork(capacity: node.range.count) } ?? engine.newSequence(capacity: node.range.count)
                    caches[n] = seq
                    return ForwardRequest(sequence: seq, tokens: Array(sequences[node.sequence][node.range]), logits: .none)
                }
                _ = try engine.forward(requests, output: .hiddenStates)
            }
            // Every sequence's own rest, its state at the last token.
            try forEachBatch(
                Array(tree.leaves.indices), tokens: { sequences[tree.leaves[$0].sequence].count - tree.leaves[$0].start }, limit: batchTokens
            ) { batch in
                let requests = try batch.map { l -> ForwardRequest in
                    let leaf = tree.leaves[l]
                    let rest = Array(sequences[leaf.sequence][leaf.start...])
                    let seq = try leaf.parent.map { try caches[$0]!.fork(capacity: rest.count) } ?? engine.newSequence(capacity: rest.count)
                    return ForwardRequest(sequence: seq, tokens: rest, logits: .last)
                }
                let states = try engine.forward(requests, output: .hiddenStates)
                for (l, h) in zip(batch, states) {
                    (out.floatPointer + tree.leaves[l].sequence * dim).update(from: h!.contiguous().floatPointer, count: dim)
                }
                done += batch.count
                onProgress?(done)
            }
            chunkStart = chunkEnd
        }
        return out
    }

    /// Calls `body` with consecutive runs of `work` whose `tokens` add up to at most `limit` (a
    /// longer one alone), and which `sameBatch` accepts pairwise with the run's first.
    private static func forEachBatch(
        _ work: [Int], tokens: (Int) -> Int, limit: Int, sameBatch: (Int, Int) -> Bool = { _, _ in true },
        _ body: ([Int]) throws -> Void
    ) rethrows {
        var start = 0
        while start < work.count {
            var end = start, total = 0
            while end < work.count
                && (end == start || (total + tokens(work[end]) <= limit && sameBatch(work[start], work[end])))
            {
                total += tokens(work[end])
                end += 1
            }
            try body(Array(work[start..<end]))
            start = end
        }
    }
}
