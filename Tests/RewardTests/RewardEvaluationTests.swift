import Foundation
import XCTest
@testable import Reward

/// A judge scripted per item and sample that also sees the generation settings; it counts
/// "tokens" (10 per text) like an engine would.
final class SettingsAwareJudge: JudgeGenerator {
    /// (the first response's "answer <n>" number, request seed, sample in request, settings) -> text.
    let script: (_ item: Int, _ seed: UInt64, _ sample: Int, _ settings: GenerationSettings) -> String
    var calls: [(requests: [JudgeRequest], settings: GenerationSettings)] = []
    var tokens = 0
    /// Calls in order: "forget", or the temperature of a generate call.
    var events: [String] = []

    init(script: @escaping (_ item: Int, _ seed: UInt64, _ sample: Int, _ settings: GenerationSettings) -> String) {
        self.script = script
    }

    func generate(_ requests: [JudgeRequest], settings: GenerationSettings) throws -> [[String]] {
        calls.append((requests, settings))
        events.append("T=\(settings.temperature)")
        return requests.map { r in
            let item = ScriptedJudge.shownOriginals(r.prompt)[0]
            return (0..<r.samples).map { j in
                tokens += 10
                return script(item, r.seed, j, settings)
            }
        }
    }

    func forgetEarlierPrompts() { events.append("forget") }
}

final class RewardEvaluationTests: XCTestCase {
    /// Single-response items (one order, one request each, so sample j of the request is sample j
    /// of the item), numbered through their response text. Items 0-3 are in category a, 4-5 in b;
    /// all are labelled 1 except item 5 (0).
    func singleItems() throws -> [RewardItem] {
        try (0..<6).map { i in
            try RewardItem(
                id: "s\(i)", category: i < 4 ? "a" : "b", query: "Is answer \(i) right?",
                responses: ["answer \(i)"], label: .binary(i == 5 ? 0 : 1))
        }
    }

    /// Sampled 0/1 scores per item (nil = unparsable). With labels 1,1,1,1,1,0 the votes come out:
    /// k=1: C W C PF C C (4/6), k=2: C tie tie W tie C (2/6), k=4: C C tie W tie tie (2/6).
    static let sampled: [[Int?]] = [[1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 0, 1], [nil, 0, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]]

    func scriptedJudge() -> SettingsAwareJudge {
        SettingsAwareJudge { item, _, j, settings in
            if settings.temperature == 0 {
                // Greedy: always "right" (1), but item 3 cannot be parsed. Item 5 (label 0) is then wrong.
                return item == 3 ? "I am not sure." : "Analysis: fine.\nScores: \\boxed{1}"
            }
            guard let s = RewardEvaluationTests.sampled[item][j] else { return "Scores: none" }
            return "Specific Criteria: Truth (Weight: 100%)\nAnalysis: sample \(j).\nScores: \\boxed{\(s)}"
        }
    }

    func testGreedyAndSampledRunsWithCurvePerCategory() throws {
        let judge = scriptedJudge()
        let evaluator = RewardEvaluator(model: GenerativeRewardModel(generator: judge), tokenCounter: { judge.tokens })
        var progress: [EvaluationProgress] = []
        let settings = EvaluationSettings(ks: [4, 1, 2, 2], temperature: 0.7, maxTokens: 77, seed: 5, batchItems: 4)
        let report = try evaluator.evaluate(
            try singleItems(), settings: settings, model: "m.gguf", dataset: "d.jsonl",
            skippedLines: 2, progress: { progress.append($0) })

        // Greedy: one sample at temperature 0; sampled: max k = 4 samples at 0.7; chunks of 4 items.
        XCTAssertEqual(judge.calls.count, 4)
        XCTAssertEqual(judge.calls.map(\.settings.temperature), [0, 0, 0.7, 0.7])
        // Each run starts without the other's cached prompts (the sampled run's time is its own).
        XCTAssertEqual(judge.events, ["forget", "T=0.0", "T=0.0", "forget", "T=0.7", "T=0.7"])
        XCTAssertEqual(judge.calls.map(\.settings.maxTokens), [77, 77, 77, 77])
        XCTAssertEqual(judge.calls.map(\.settings.topP), [1, 1, 1, 1])
        XCTAssertEqual(judge.calls.map { $0.requests.count }, [4, 2, 4, 2])
        XCTAssertEqual(judge.calls.map { $0.requests.map(\.samples).reduce(0, +) }, [4, 2, 16, 8])

        let g = report.greedy!
        XCTAssertEqual(g.k, 1)
        XCTAssertEqual(g.report.overall.total, 6)
        XCTAssertEqual(g.report.overall.correct, 4)
        XCTAssertEqual(g.report.overall.wrong, 1)
        XCTAssertEqual(g.report.overall.parseFailures, 1)
        XCTAssertEqual(g.report.categories.map(\.category), ["a", "b"])
        XCTAssertEqual(g.report.categories.map(\.stats.correct), [3, 1])

        let s = report.sampled!
        XCTAssertEqual(s.k, 4)
        XCTAssertEqual(report.ks, [1, 2, 4])
        XCTAssertEqual(s.report.curve.map(\.k), [1, 2, 4])
        XCTAssertEqual(s.report.curve.map(\.voting.correct), [4, 2, 2])
        XCTAssertEqual(s.report.curve.map(\.voting.ties), [0, 3, 3])
        XCTAssertEqual(s.report.curve.map(\.voting.parseFailures), [1, 0, 0])
        XCTAssertEqual(s.report.curve.map(\.voting.wrong), [1, 1, 1])
        XCTAssertEqual(s.report.curve.map { $0.categories!.map(\.category) }, [["a", "b"], ["a", "b"], ["a", "b"]])
        XCTAssertEqual(s.report.curve.map { $0.categories!.map(\.stats.correct) }, [[2, 2], [1, 1], [2, 0]])
        XCTAssertEqual(s.report.curve.map { $0.categories!.map(\.stats.total) }, [[4, 2], [4, 2], [4, 2]])
        // The full vote is the k = 4 point.
        XCTAssertEqual(s.report.overall, s.report.curve.last!.voting)
        XCTAssertEqual(s.report.samples.samples, 24)
        XCTAssertEqual(s.report.samples.parsed, 23)

        XCTAssertEqual(g.timing.items, 6)
        XCTAssertEqual(g.timing.samples, 6)
        XCTAssertEqual(g.timing.generatedTokens, 60)
        XCTAssertEqual(s.timing.samples, 24)
        XCTAssertEqual(s.timing.generatedTokens, 240)
        XCTAssertGreaterThan(s.timing.seconds, 0)
        XCTAssertNotNil(report.sampledOverGreedyTime)
        XCTAssertEqual(s.timing.judgementsPerMinute, 6 * 60 / s.timing.seconds, accuracy: 1e-9)

        XCTAssertEqual(progress.map(\.run), ["greedy", "greedy", "greedy", "sampled", "sampled", "sampled"])
        XCTAssertEqual(progress.map(\.itemsDone), [0, 4, 6, 0, 4, 6])
        XCTAssertEqual(progress.map(\.correct), [0, 3, 4, 0, 2, 2])
        XCTAssertTrue(progress.allSatisfy { $0.itemsTotal == 6 })
        XCTAssertNil(progress[0].eta)
        XCTAssertEqual(progress[2].eta, 0)

        // JSON round trip, Markdown and the plot.
        let decoded = try JSONDecoder().decode(RewardEvaluationReport.self, from: Data(try report.jsonText().utf8))
        XCTAssertEqual(decoded, report)
        let json = try JSONValue.parse(try report.jsonText())
        XCTAssertEqual(json["skippedLines"], .integer(2))
        XCTAssertNotNil(json["sampledOverGreedyTime"]?.doubleValue)
        XCTAssertEqual(json["sampled"]?["timing"]?["samples"], .integer(24))
        XCTAssertNotNil(json["greedy"]?["timing"]?["judgementsPerMinute"]?.doubleValue)
        let md = report.markdown()
        XCTAssertTrue(md.contains("| category    | items |"), md)
        XCTAssertTrue(md.contains("voting@1") && md.contains("voting@2") && md.contains("voting@4"), md)
        XCTAssertTrue(md.contains("| **overall** |     6 | 66.7 ("), md)
        XCTAssertTrue(md.contains("2 malformed input line(s) skipped"), md)
        let plot = report.accuracyPlot()
        XCTAssertEqual(plot.series.map(\.name), ["voting@k", "greedy"])
        XCTAssertEqual(plot.series[0].points.map(\.x), [1, 2, 4])
        XCTAssertEqual(plot.series[0].points[1].y, 100.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(plot.series[1].points[0].y, 400.0 / 6, accuracy: 1e-9)
    }

    func testChunkingDoesNotChangeJudgements() throws {
        let settings = { (batch: Int) in EvaluationSettings(ks: [1, 4], temperature: 0.5, seed: 2, batchItems: batch) }
        let a = try RewardEvaluator(model: GenerativeRewardModel(generator: scriptedJudge()))
            .evaluate(try singleItems(), settings: settings(1))
        let bJudge = scriptedJudge()
        let b = try RewardEvaluator(model: GenerativeRewardModel(generator: bJudge))
            .evaluate(try singleItems(), settings: settings(100))
        XCTAssertEqual(bJudge.calls.count, 2, "one call per run")
        XCTAssertEqual(a.sampled!.report.curve, b.sampled!.report.curve)
        XCTAssertEqual(a.greedy!.report.overall, b.greedy!.report.overall)
        XCTAssertNil(a.greedy!.timing.generatedTokens, "no token counter, no token figures")
    }

    /// `orders` deals the sampled run's samples over that many shuffles per item: items of four
    /// responses make at most that many prompts (one request each), the greedy run one; the report
    /// records it.
    func testOrdersBoundThePromptsPerItem() throws {
        let items = try (0..<3).map { i in
            try RewardItem(
                id: "m\(i)", category: "a", query: "Which is right (\(i))?",
                responses: (0..<4).map { "answer \(10 * i + $0)" }, label: .best(0))
        }
        for orders in [nil, 2, 1] as [Int?] {
            let judge = SettingsAwareJudge { _, _, _, _ in "Scores: \\boxed{1, 2, 3, 4}" }
            let report = try RewardEvaluator(model: GenerativeRewardModel(generator: judge)).evaluate(
                items, settings: EvaluationSettings(ks: [1, 8], seed: 3, batchItems: 1, orders: orders))
            let sampled = judge.calls.filter { $0.settings.temperature > 0 }
            XCTAssertEqual(sampled.count, 3)
            for call in sampled {
                XCTAssertEqual(call.requests.map(\.samples).reduce(0, +), 8)
                let prompts = Set(call.requests.map(\.prompt)).count
                XCTAssertEqual(prompts, call.requests.count, "equal shuffles share one request")
                if let orders { XCTAssertLessThanOrEqual(prompts, orders) } else { XCTAssertGreaterThan(prompts, 2) }
            }
            XCTAssertEqual(report.orders, orders)
            let decoded = try JSONDecoder().decode(RewardEvaluationReport.self, from: Data(try report.jsonText().utf8))
            XCTAssertEqual(decoded.orders, orders)
        }
    }

    /// A meta RM rates the sampled run's judgements only (the greedy run has one sample to keep),
    /// and its keep setting reaches the curve.
    func testMetaRatesOnlyTheSampledRun() throws {
        final class Counting: TrajectoryScorer {
            var rated: [Int] = []
            func rate(_ samples: [JudgeSample], for item: RewardItem) throws -> [Double] {
                rated.append(samples.count)
                return samples.map { -Double($0.index) }
            }
        }
        let meta = Counting()
        let grm = GenerativeRewardModel(generator: scriptedJudge(), metaScorer: meta)
        let report = try RewardEvaluator(model: grm).evaluate(
            try singleItems(), settings: EvaluationSettings(ks: [1, 4], temperature: 0.7, batchItems: 4, metaKeep: 1))
        XCTAssertEqual(meta.rated, Array(repeating: 4, count: 6), "6 items x 4 samples, nothing from the greedy run")
        XCTAssertNotNil(grm.metaScorer, "restored after the greedy run")
        XCTAssertEqual(report.sampled?.report.curve.map(\.metaKeep), [1, 1])
        XCTAssertNil(report.greedy?.report.curve.first?.meta)
    }

    /// A nucleus threshold applies to the sampled run only, and is recorded with it (and shown in
    /// its table row); without one the report is as before (no topP).
    func testTopPOnlyForTheSampledRun() throws {
        let judge = scriptedJudge()
        let evaluator = RewardEvaluator(model: GenerativeRewardModel(generator: judge))
        let report = try evaluator.evaluate(
            try singleItems(), settings: EvaluationSettings(ks: [1, 2], temperature: 0.5, topP: 0.9, batchItems: 100))
        XCTAssertEqual(judge.calls.map(\.settings.topP), [1, 0.9])
        XCTAssertNil(report.greedy?.topP)
        XCTAssertEqual(report.sampled?.topP, 0.9)
        XCTAssertTrue(report.markdown().contains("sampled (T=0.5, top-p 0.9)"), report.markdown())
        let plain = try RewardEvaluator(model: GenerativeRewardModel(generator: scriptedJudge()))
            .evaluate(try singleItems(), settings: EvaluationSettings(ks: [1, 2], batchItems: 100))
        XCTAssertNil(plain.sampled?.topP)
        let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(plain)) as? [String: Any]
        let sampled = try XCTUnwrap(object?["sampled"] as? [String: Any])
        XCTAssertNil(sampled["topP"], "no run-level topP without one")
    }

    func testBadSettingsAreRefused() throws {
        let evaluator = RewardEvaluator(model: GenerativeRewardModel(generator: scriptedJudge()))
        for bad in [
            EvaluationSettings(ks: []), EvaluationSettings(ks: [0, 2]), EvaluationSettings(batchItems: 0),
            EvaluationSettings(maxTokens: 0), EvaluationSettings(temperature: -1), EvaluationSettings(orders: 0),
            EvaluationSettings(topP: 0), EvaluationSettings(topP: 1.5)
        ] {
            XCTAssertThrowsError(try evaluator.evaluate(try singleItems(), settings: bad)) { e in
                XCTAssertTrue(e is RewardDataError, "\(e)")
            }
        }
    }

    func testScoredJSONShape() throws {
        // Sample 1 cannot be parsed; the others score the original response 1 highest, so the
        // summed scores pick it; the label says 0 is best.
        let judge = ScriptedJudge { shown, _, j in
            j == 1 ? "Specific Criteria: none\nScores: \\boxed{4}" : ScriptedJudge.output(shown.map { $0 == 1 ? 7 : 5 })
        }
        let item = try RewardItem(
            id: "p1", category: "cat", query: "Which?", responses: ["answer 0", "answer 1"],
            label: .best(0))
        let j = try GenerativeRewardModel(generator: judge).judge(item, config: VotingConfig(k: 3, orders: 1, seed: 4))
        let line = try j.scoredJSON().serialized()
        XCTAssertFalse(line.contains("\n"))
        let v = try JSONValue.parse(line)
        XCTAssertEqual(v["id"], .string("p1"))
        XCTAssertEqual(v["category"], .string("cat"))
        XCTAssertEqual(v["prompt"], .string("Which?"))
        XCTAssertEqual(v["responses"], .array([.string("answer 0"), .string("answer 1")]))
        XCTAssertEqual(v["label"], .object([("best", .integer(0))]))
        guard case let .array(samples)? = v["samples"] else { return XCTFail("no samples") }
        XCTAssertEqual(samples.count, 3)
        XCTAssertEqual(samples.map { $0["index"] }, [.integer(0), .integer(1), .integer(2)])
        XCTAssertEqual(samples[0]["scores"], .array([.integer(5), .integer(7)]), "original order")
        XCTAssertEqual(samples[0]["parsed"], .bool(true))
        XCTAssertEqual(samples[0]["parseError"], .null)
        XCTAssertEqual(samples[0]["forced"], .bool(false))
        XCTAssertEqual(samples[0]["correct"], .bool(false))
        XCTAssertEqual(samples[0]["analysis"], .string("checked."))
        XCTAssertEqual(
            samples[0]["principles"],
            .array([
                .object([
                    ("detail", .string("")), ("name", .string("Correctness")),
                    ("weight", .integer(1))
                ])
            ]))
        XCTAssertEqual(samples[0]["order"], .array(j.samples[0].order.shownToOriginal.map { .integer($0) }))
        XCTAssertNotNil(samples[0]["text"])
        XCTAssertEqual(samples[1]["scores"], .null)
        XCTAssertEqual(samples[1]["parsed"], .bool(false))
        XCTAssertEqual(samples[1]["parseError"]?["kind"], .string("wrong-count"))
        XCTAssertEqual(v["totals"], .array([.integer(10), .integer(14)]))
        XCTAssertEqual(v["voters"], .integer(2))
        XCTAssertEqual(v["best"], .integer(1))
        XCTAssertEqual(v["predictedLabel"], .null)
        XCTAssertEqual(v["outcome"], .string("wrong"))

        // Without a label: no label, correctness or outcome; a tie has no best.
        let tieJudge = ScriptedJudge { shown, _, j in ScriptedJudge.output(shown.map { $0 == j % 2 ? 9 : 3 }) }
        let tie = try GenerativeRewardModel(generator: tieJudge).judge(item, config: VotingConfig(k: 2, orders: 1))
        let u = try JSONValue.parse(try tie.scoredJSON(labelled: false).serialized())
        XCTAssertEqual(u["label"], .null)
        XCTAssertEqual(u["outcome"], .null)
        XCTAssertEqual(u["best"], .null)
        XCTAssertEqual(u["totals"], .array([.integer(12), .integer(12)]))
        guard case let .array(us)? = u["samples"] else { return XCTFail("no samples") }
        XCTAssertEqual(us.map { $0["correct"] }, [.null, .null])
    }
}
