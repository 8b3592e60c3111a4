import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// `grm eval --rm` and `grm score --rm`'s library path: a scalar reward model's outcomes and
/// report (on a reward model whose rewards are known by hand), unlabelled JSONL items scored,
/// and malformed lines refused with their line numbers.
final class ScalarEvaluationTests: XCTestCase {
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    func testOutcomeRule() throws {
        let pair = try RewardItem(query: "q", responses: ["a", "b"], label: .best(0))
        XCTAssertEqual(ScalarRewardScorer.outcome([1, 0.5], for: pair), .correct)
        XCTAssertEqual(ScalarRewardScorer.outcome([0.5, 1], for: pair), .wrong)
        XCTAssertEqual(ScalarRewardScorer.outcome([1, 1], for: pair), .tie, "a tie at the top is wrong")
        XCTAssertEqual(ScalarRewardScorer.outcome([.nan, 1], for: pair), .tie, "NaN picks nothing")
        let three = try RewardItem(query: "q", responses: ["a", "b", "c"], label: .scores([1, 3, 2]))
        XCTAssertEqual(ScalarRewardScorer.outcome([0, 2, 2], for: three), .tie)
        XCTAssertEqual(ScalarRewardScorer.outcome([0, 3, 2], for: three), .correct)
        let yes = try RewardItem(query: "q", responses: ["a"], label: .binary(1))
        let no = try RewardItem(query: "q", responses: ["a"], label: .binary(0))
        XCTAssertEqual(ScalarRewardScorer.outcome([0.01], for: yes), .correct)
        XCTAssertEqual(ScalarRewardScorer.outcome([0], for: yes), .wrong, "a reward of exactly 0 predicts 0")
        XCTAssertEqual(ScalarRewardScorer.outcome([0], for: no), .correct)
        XCTAssertEqual(ScalarRewardScorer.outcome([-2], for: no), .correct)
    }

    /// Items whose outcomes follow by hand from the digit reward model (a response ending in
    /// digit d gets (d - 5) / 10 * unit):
    ///   math:  7 vs 3, best 7: right | 2, 9, 4, best 2: wrong (9 wins) | 6, 6, best 2nd: tie
    ///   facts: 8 labelled 1: right (+0.3) | 5 labelled 0: right (exactly 0 is not above 0) |
    ///          1 labelled 1: wrong (-0.4) | 9, 1, 3 with scores 1, 5, 2: wrong (9 wins, 1 is best)
    ///   (none): 7 vs 0, best 7: right
    static func handItems() throws -> [RewardItem] {
        [
            try RewardItem(
                id: "m1", category: "math", prompt: [.init(role: "user", content: "q")], responses: ["x 7", "x 3"], label: .best(0), format: .pairwise
            ),
            try RewardItem(id: "m2", category: "math", query: "q", responses: ["a 2", "b 9", "c 4"], label: .best(0)),
            try RewardItem(id: "m3", category: "math", query: "q", responses: ["a 6", "b 6"], label: .best(1)),
            try RewardItem(id: "f1", category: "facts", query: "q", responses: ["answer 8"], label: .binary(1)),
            try RewardItem(id: "f2", category: "facts", query: "q", responses: ["answer 5"], label: .binary(0)),
            try RewardItem(id: "f3", category: "facts", query: "q", responses: ["answer 1"], label: .binary(1)),
            try RewardItem(id: "f4", category: "facts", query: "q", responses: ["p 9", "q 1", "r 3"], label: .scores([1, 5, 2])),
            try RewardItem(id: "u1", query: "q", responses: ["y 7", "n 0"], label: .best(0))
        ]
    }

    func testEvalReportOnAHandComputableRewardModel() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "scalar-eval")
        let (base, rm) = try TinyRewardModels.writeDigitRewardModel(dir: dir)
        let scorer = try ScalarRewardScorer(rewardModel: rm, base: base)
        let items = try Self.handItems()
        // The rewards are the hand-computed ones.
        let rewards = try scorer.rewards(items)
        for (item, r) in zip(items, rewards) {
            for (response, reward) in zip(item.responses, r) {
                let d = Float(Int(String(response.last!))!)
                XCTAssertEqual(reward, (d - 5) / 10 * TinyRewardModels.unit, accuracy: 1e-4, response)
            }
        }
        XCTAssertEqual(rewards[4], [0], "digit 5 scores exactly 0")

        var progress: [Int] = []
        let report = try ScalarRewardEvaluation.evaluate(
            items, scorer: scorer, model: "digit-rm.gguf", dataset: "hand.jsonl", skippedLines: 1
        ) { progress.append($0) }
        XCTAssertEqual(progress.last, 15, "15 responses")
        XCTAssertNil(report.greedy)
        XCTAssertNil(report.sampled)
        XCTAssertEqual(report.ks, [])
        XCTAssertNil(report.maxTokens)
        let run = try XCTUnwrap(report.scalar)
        XCTAssertEqual(run.name, "scalar")
        let overall = run.report.overall
        XCTAssertEqual([overall.total, overall.correct, overall.wrong, overall.ties, overall.parseFailures], [8, 4, 3, 1, 0])
        XCTAssertEqual(overall.accuracy, 0.5)
        let byCategory = Dictionary(uniqueKeysWithValues: run.report.categories.map { ($0.category, $0.stats) })
        XCTAssertEqual(run.report.categories.map(\.category), ["facts", "math", "uncategorised"])
        XCTAssertEqual([byCategory["math"]!.correct, byCategory["math"]!.wrong, byCategory["math"]!.ties], [1, 1, 1])
        XCTAssertEqual(byCategory["math"]!.accuracy, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual([byCategory["facts"]!.total, byCategory["facts"]!.correct, byCategory["facts"]!.wrong], [4, 2, 2])
        XCTAssertEqual(byCategory["facts"]!.accuracy, 0.5)
        XCTAssertEqual([byCategory["uncategorised"]!.total, byCategory["uncategorised"]!.correct], [1, 1])
        XCTAssertEqual(run.timing.responses, 15)
        XCTAssertEqual(run.timing.samples, 0, "nothing generated")
        XCTAssertGreaterThan(run.timing.seconds, 0)
        XCTAssertEqual(run.timing.responsesPerSecond!, 15 / run.timing.seconds, accuracy: 1e-9)

        // The generative report's table, JSON and plot, with one "scalar" column.
        let md = report.markdown()
        XCTAssertTrue(md.contains("| category      | items |             scalar |"), md)
        XCTAssertTrue(md.contains("| math          |     3 |    33.3 (6.1-79.2) |"), md)
        XCTAssertTrue(md.contains("| facts         |     4 |   50.0 (15.0-85.0) |"), md)
        XCTAssertTrue(md.contains("| **overall**   |     8 |   50.0 (21.5-78.5) |"), md)
        XCTAssertTrue(md.contains("| scalar |       4 |     3 |    1 |              0 |                - |"), md)
        XCTAssertTrue(md.contains("| run    | wall s | judgements/min | responses/s |"), md)
        XCTAssertFalse(md.contains("time vs greedy") || md.contains("tokens/s"), md)
        XCTAssertTrue(md.contains("1 malformed input line(s) skipped"), md)
        XCTAssertFalse(md.contains("greedy ("), md)
        let json = try JSONValue.parse(try report.jsonText())
        XCTAssertNil(json["greedy"])
        XCTAssertEqual(json["scalar"]?["timing"]?["responses"], .integer(15))
        XCTAssertNotNil(json["scalar"]?["timing"]?["responsesPerSecond"]?.doubleValue)
        XCTAssertEqual(json["scalar"]?["report"]?["overall"]?["correct"], .integer(4))
        let decoded = try JSONDecoder().decode(RewardEvaluationReport.self, from: Data(try report.jsonText().utf8))
        XCTAssertEqual(decoded, report)
        let plot = report.accuracyPlot()
        XCTAssertEqual(plot.series.map(\.name), ["scalar"])
        XCTAssertEqual(plot.series[0].points.map(\.y), [50])
        XCTAssertTrue(plot.render().contains("scalar"))
    }

    /// Position bias does not apply: each response is scored alone, so reordering an item's
    /// responses reorders its rewards and nothing else.
    func testRewardsDoNotDependOnResponseOrder() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "scalar-order")
        try TinyRewardModels.writeBase(to: dir + "base.gguf", seed: 5)
        let head = ScalarHead(dim: 32, bias: true, std: 0.5, seed: 6)
        try RewardModelFile(kind: .scalar, architecture: "llama", head: head, baseName: "base.gguf", baseSHA256: try SHA256.file(dir + "base.gguf"))
            .write(gguf: dir + "rm.gguf")
        let scorer = try ScalarRewardScorer(rewardModel: dir + "rm.gguf", base: dir + "base.gguf")
        let responses = ["first answer", "a second, longer answer", "3"]
        let forward = try scorer.rewards([try RewardItem(query: "Which?", responses: responses, label: .best(0))])[0]
        let backward = try scorer.rewards([try RewardItem(query: "Which?", responses: responses.reversed(), label: .best(2))])[0]
        XCTAssertEqual(forward, backward.reversed())
    }

    func write(_ text: String, _ dir: String, _ name: String) throws -> String {
        try text.write(toFile: dir + name, atomically: false, encoding: .utf8)
        return dir + name
    }

    /// JSONL items without a label are read for scoring (and scored); evaluation needs labels and
    /// refuses them by line; a malformed line is refused with its file and line number.
    func testUnlabelledItemsScoreAndMalformedLinesAreRefusedByLine() throws {
        let dir = try TinyRewardModels.temporaryDirectory(self, "scalar-unlabelled")
        let (base, rm) = try TinyRewardModels.writeDigitRewardModel(dir: dir)
        let path = try write(
            """
            {"id":"u1","prompt":"q","responses":["a 9","b 2"]}
            {"id":"u2","prompt":"q","response":"answer 7"}

            {"id":"l1","prompt":"q","chosen":"x 1","rejected":"y 8","margin":0.5}
            {"id":"u3","prompt":"q","response":"answer 2","label":null}
            {"id":"u4","prompt":"q","responses":["z 6"]}
            """, dir, "items.jsonl")
        let items = try RewardItemReader.readAll(path: path, allowUnlabelled: true).items
        XCTAssertEqual(items.map(\.isLabelled), [false, false, true, false, false])
        XCTAssertEqual(items[3].responses, ["answer 2"])
        XCTAssertEqual(try items[4].jsonLine(), #"{"id":"u4","prompt":"q","responses":["z 6"]}"#)
        XCTAssertEqual(items[2].margin, 0.5)
        // Written back without a placeholder label.
        XCTAssertEqual(try items[0].jsonLine(), #"{"id":"u1","prompt":"q","responses":["a 9","b 2"]}"#)
        XCTAssertEqual(try items[1].jsonLine(), #"{"id":"u2","prompt":"q","response":"answer 7"}"#)
        let scorer = try ScalarRewardScorer(rewardModel: rm, base: base)
        let rewards = try scorer.rewards(items)
        XCTAssertEqual(rewards.map(\.count), [2, 1, 2, 1, 1])
        XCTAssertEqual(ScalarRewardScorer.predictedLabel(rewards[4][0]), 1)
        XCTAssertEqual(ScalarRewardScorer.pick(rewards[0]), 0)
        XCTAssertEqual(ScalarRewardScorer.predictedLabel(rewards[1][0]), 1)
        XCTAssertEqual(ScalarRewardScorer.outcome(rewards[2], for: items[2]), .wrong)
        XCTAssertThrowsError(try ScalarRewardEvaluation.evaluate(items, scorer: scorer)) { e in
            XCTAssertTrue("\(e)".contains("item 1") && "\(e)".contains("no label"), "\(e)")
        }
        // Evaluation reads labels only: the first unlabelled line is refused by number.
        XCTAssertThrowsError(try RewardItemReader.readAll(path: path)) { e in
            XCTAssertTrue("\(e)".hasPrefix(path + ":1: ") && "\(e)".contains("\"best\" or \"scores\""), "\(e)")
        }

        // Malformed lines, each refused with its line number on the scoring path.
        let cases: [(String, Int, String)] = [
            (#"{"prompt":"q","chosen":"a","rejected":"b","margin":"big"}"#, 3, "margin must be a number, got a string"),
            (#"{"prompt":"q","responses":["a","b"],"best":0,"margin":[1]}"#, 3, "margin must be a number, got an array"),
            (#"{"prompt":"q","response":"a","label":1,"margin":1}"#, 3, "margin applies to pairwise and listwise items"),
            (#"{"prompt":"q","responses":["a","b"],"margin":1}"#, 3, "a margin needs a labelled preference"),
            (#"{"prompt":"q","responses":[]}"#, 3, "there are no responses"),
            (#"{"prompt":"q","chosen":"a""#, 3, "invalid JSON")
        ]
        for (n, (line, number, reason)) in cases.enumerated() {
            let bad = try write(#"{"prompt":"q","responses":["a 1","b 2"]}"# + "\n\n" + line + "\n", dir, "bad\(n).jsonl")
            XCTAssertThrowsError(try RewardItemReader.readAll(path: bad, allowUnlabelled: true)) { e in
                XCTAssertTrue("\(e)".hasPrefix("\(bad):\(number): ") && "\(e)".contains(reason), "\(e)")
            }
        }
    }
}
