import Foundation

/// `grm eval --rm`: a scalar reward model evaluated into the generative model's report format
/// (`RewardEvaluationReport` with one "scalar" run), so scalar and generative results compare in
/// one table, JSON and plot.
///
/// The rule (`ScalarRewardScorer.outcome`): an item is right when the labelled best response has
/// the strictly highest reward (a tie is wrong and counted as a tie), or, for a single response
/// labelled 0/1, when its reward is above 0 exactly for label 1. Nothing is sampled or parsed, so
/// the run has no k, no sample statistics and no parse failures. Position bias does not apply:
/// each response is scored in its own prefill, so the order of an item's responses cannot change
/// its rewards or its outcome.
public enum ScalarRewardEvaluation {
    /// The report of `rewards` (one list per item, one reward per response, in item order) on
    /// labelled `items`; `seconds` is the scoring's wall time. An unlabelled item or a reward list
    /// of the wrong length is refused naming the item.
    public static func report(
        items: [RewardItem], rewards: [[Float]], seconds: Double, model: String? = nil, dataset: String? = nil,
        skippedLines: Int = 0
    ) throws -> RewardEvaluationReport {
        guard items.count == rewards.count else {
            throw RewardDataError("\(rewards.count) reward lists for \(items.count) items")
        }
        var tally = AccuracyTally()
        for (n, (item, r)) in zip(items, rewards).enumerated() {
            guard item.isLabelled else { throw RewardDataError("item \(n + 1)\(item.id.map { " (\($0))" } ?? ""): no label to evaluate against") }
            guard r.count == item.responses.count else {
                throw RewardDataError("item \(n + 1): \(r.count) rewards for \(item.responses.count) responses")
            }
            tally.add(ScalarRewardScorer.outcome(r, for: item), category: item.category)
        }
        let responses = items.reduce(0) { $0 + $1.responses.count }
        let run = EvaluationRun(
            name: "scalar", temperature: 0, k: 1,
            report: EvaluationReport(
                model: model, dataset: dataset, overall: tally.overall,
                categories: tally.categories.map { CategoryAccuracy(category: $0.name, stats: $0.stats) },
                samples: SampleStats(), curve: []),
            timing: RunTiming(seconds: seconds, items: items.count, samples: 0, generatedTokens: nil, responses: responses))
        return RewardEvaluationReport(model: model, dataset: dataset, items: items.count, skippedLines: skippedLines, scalar: run)
    }

    /// Scores every response of `items` with `scorer` (a semi-scalar one's critiques, then batched
    /// prefills; timed from the first critique or token to the last reward, loading excluded) and
    /// reports. `onCritiques` gets the critiques done and their total, `onProgress` the responses
    /// prefilled.
    public static func evaluate(
        _ items: [RewardItem], scorer: ScalarRewardScorer, model: String? = nil, dataset: String? = nil,
        skippedLines: Int = 0, onCritiques: ((Int, Int) -> Void)? = nil, onProgress: ((Int) -> Void)? = nil
    ) throws -> RewardEvaluationReport {
        if let n = items.firstIndex(where: { !$0.isLabelled }) { throw RewardDataError("item \(n + 1): no label to evaluate against") }
        let start = DispatchTime.now().uptimeNanoseconds
        let rewards = try scorer.rewards(items, onCritiques: onCritiques, onProgress: onProgress)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return try report(
            items: items, rewards: rewards, seconds: seconds, model: model, dataset: dataset, skippedLines: skippedLines)
    }
}
