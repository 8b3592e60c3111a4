import Foundation
import Reward
import Transformer

/// Training data of a meta reward model: judgements sampled from the judge on labelled items,
/// each labelled 1 when the rule finds it correct (the labelled best response strictly highest;
/// one response: the score equals its label) and 0 otherwise, a parse failure included.
///
/// Sampled judgements are kept as `grm score`'s JSONL (`RewardJudgement.scoredJSON`, one line per
/// item, in item order, every sample with its response order and text), written after every chunk;
/// a later run reads the lines back, checks that each belongs to its item, re-labels the samples
/// by the rule and samples only the items past the end of the file.
public struct MetaRewardSampler {
    public let grm: GenerativeRewardModel
    public var config: VotingConfig
    public var batchItems: Int

    public init(grm: GenerativeRewardModel, config: VotingConfig, batchItems: Int) {
        self.grm = grm
        self.config = config
        self.batchItems = batchItems
    }

    /// The judged items: those in `path` (when it exists) and then newly sampled ones, saved to
    /// `path` after every chunk. `onChunk` gets the items done and the total.
    public func judgements(
        for items: [RewardItem], path: String, onChunk: ((Int, Int) -> Void)? = nil
    ) throws -> (judgements: [RewardJudgement], sampled: Int) {
        var out = try read(path, items: items)
        let reused = out.count
        var lines = try out.map { try $0.scoredJSON().serialized() }
        while out.count < items.count {
            let chunk = Array(items[out.count..<min(items.count, out.count + batchItems)])
            let judged = try grm.judge(chunk, config: config)
            out += judged
            lines += try judged.map { try $0.scoredJSON().serialized() }
            try AtomicFileWriter.write(lines.map { $0 + "\n" }.joined(), to: path)
            onChunk?(out.count, items.count)
        }
        return (out, items.count - reused)
    }

    /// Reads the judged items saved in `path` (none when it does not exist): line n must be item
    /// n (same id and responses) with `config.k` samples; anything else is an error naming the
    /// line. The samples are parsed, labelled and voted on as the model concludes fresh ones.
    public func read(_ path: String, items: [RewardItem]) throws -> [RewardJudgement] {
        let k = config.k
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let reader = try LineReader(path: path)
        var out: [RewardJudgement] = []
        var line = 0
        while let bytes = try reader.nextLine() {
            line += 1
            if bytes.isEmpty { continue }
            func fail(_ why: String) -> RewardDataError { RewardDataError(file: path, line: line, why) }
            guard out.count < items.count else { throw fail("more judged items than the \(items.count) items given") }
            let item = items[out.count]
            let value: JSONValue
            do { value = try JSONValue.parse(bytes) } catch { throw fail("not JSON: \(error)") }
            let id: JSONValue = item.id.map { .string($0) } ?? .null
            guard value["id"] == id, value["responses"] == .array(item.responses.map { .string($0) }) else {
                throw fail("this line judges another item than item \(out.count + 1) of the data (different id or responses)")
            }
            guard case let .array(samples)? = value["samples"], samples.count == k else {
                throw fail("expected \(k) samples (the run's --samples)")
            }
            var parsed: [JudgeSample] = []
            for (i, s) in samples.enumerated() {
                guard case let .string(text)? = s["text"], case let .array(orderValues)? = s["order"] else {
                    throw fail("sample \(i + 1) needs \"text\" and \"order\"")
                }
                let indices = orderValues.compactMap { v -> Int? in if case let .integer(n) = v { return n } else { return nil } }
                guard indices.count == orderValues.count, let order = try? ResponseOrder(indices), order.count == item.responses.count else {
                    throw fail("sample \(i + 1) has no valid response order")
                }
                parsed.append(GenerativeRewardModel.sample(text, index: i, group: i, order: order, item: item))
            }
            out.append(try grm.conclude(item, samples: parsed, config: config))
        }
        return out
    }

    /// Every sample of `judgements` with its item and its rule label (1 correct, 0 not).
    public static func trajectories(_ judgements: [RewardJudgement]) -> [(item: RewardItem, sample: JudgeSample, label: Float)] {
        judgements.flatMap { j in j.samples.map { (j.item, $0, $0.isCorrect ? Float(1) : 0) } }
    }
}
