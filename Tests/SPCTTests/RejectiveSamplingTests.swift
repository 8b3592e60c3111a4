import Foundation
import XCTest
@testable import Reward
@testable import SPCT
import Tensor
import Transformer

/// A judge whose behaviour each item's query sets: "easy" is always right, "mixed" right on every
/// other sample it writes for the item, "hard" right only with the hint, "hopeless" never (and
/// unparsable on every other sample).
final class ScriptedJudge: JudgeGenerator {
    private(set) var prompts: [String] = []
    private var written: [String: Int] = [:]

    func generate(_ requests: [JudgeRequest], settings: GenerationSettings) throws -> [[String]] {
        requests.map { r in
            prompts.append(r.prompt)
            // The shown order: where each response's text appears in the prompt.
            let shown = ["right", "wrong-1", "wrong-2"].compactMap { text -> (Int, String)? in
                r.prompt.range(of: "]\n" + text + "\n[").map { (r.prompt.distance(from: r.prompt.startIndex, to: $0.lowerBound), text) }
            }.sorted { $0.0 < $1.0 }.map(\.1)
            let hinted = r.prompt.contains("The best response is:")
            return (0..<r.samples).map { j in
                let kind = ["easy", "mixed", "hard", "hopeless"].first { r.prompt.contains("A \($0) question") } ?? ""
                let n = written[kind, default: 0]
                written[kind] = n + 1
                let right: Bool
                switch kind {
                case "easy": right = true
                case "mixed": right = n % 2 == 0
                case "hard": right = hinted
                default:
                    if n % 2 == 1 { return "Analysis: no idea." }
                    right = false
                }
                let scores = shown.map { ($0 == "right") == right ? 9 : 2 }
                return "Specific Criteria: Accuracy (Weight: 100%)\nAnalysis: sample \(j).\nScores: \\boxed{"
                    + scores.map(String.init).joined(separator: ", ") + "}"
            }
        }
    }
}

final class RejectiveSamplingTests: XCTestCase {
    func item(_ kind: String, best: Int = 0) throws -> RewardItem {
        var responses = ["wrong-1", "wrong-2"]
        responses.insert("right", at: best)
        return try RewardItem(id: kind, category: "test", query: "A \(kind) question", responses: responses, label: .best(best))
    }

    func testFatesAndWhatIsKept() throws {
        let judge = ScriptedJudge()
        let grm = GenerativeRewardModel(generator: judge)
        let items = [try item("easy"), try item("mixed", best: 1), try item("hard", best: 2), try item("hopeless")]
        let sampler = try RejectiveSampler(model: grm, settings: RFTSettings(samples: 3, hint: true, seed: 4))
        let results = try sampler.run(items)
        XCTAssertEqual(results.map(\.fate), [.tooEasy, .kept, .rescued, .discarded])
        XCTAssertEqual(results.map(\.kept.count), [0, 2, 3, 0])
        // Only items without a correct sample were hinted, one hinted sample per unhinted one.
        XCTAssertEqual(results.map(\.hinted.count), [0, 0, 3, 3])
        for r in results {
            for e in r.kept {
                // Kept trajectories are right under the rule, and train on the prompt without the hint.
                let shown = try JudgeOutputParser.parse(e.judgement, responses: 3).scores.get()
                XCTAssertTrue(Correctness.isCorrect(e.order.toOriginal(shown), for: r.item))
                XCTAssertEqual(e.prompt, grm.builder.messages(for: r.item, order: e.order))
                XCTAssertFalse(e.prompt.map(\.content).joined().contains("The best response is"))
            }
        }
        var yield = RFTYield()
        for r in results { yield.add(r) }
        XCTAssertEqual(yield.items, 4)
        XCTAssertEqual(yield.fates, [.tooEasy: 1, .kept: 1, .rescued: 1, .discarded: 1])
        XCTAssertEqual(yield.keptTrajectories, 5)
        XCTAssertEqual(yield.correctSamples, 3 + 2)
        XCTAssertEqual(yield.parseFailures, 1 + 2, "every other sample of the hopeless item, unhinted and hinted")
        XCTAssertTrue(yield.summary.contains("too-easy 1"), yield.summary)
    }

    func testWithoutHintsNothingIsRescued() throws {
        let grm = GenerativeRewardModel(generator: ScriptedJudge())
        let sampler = try RejectiveSampler(model: grm, settings: RFTSettings(samples: 2, hint: false))
        let results = try sampler.run([try item("hard"), try item("mixed")])
        XCTAssertEqual(results.map(\.fate), [.discarded, .kept])
        XCTAssertTrue(results[0].hinted.isEmpty)
    }

    /// The rule on ties and single responses, as rejective sampling applies it.
    func testCorrectnessRuleOnTiesAndSingleResponses() throws {
        let pair = try RewardItem(query: "q", responses: ["a", "b"], label: .best(0))
        let builder = JudgePromptBuilder()
        func sample(_ text: String, _ item: RewardItem) -> JudgeSample {
            GenerativeRewardModel.sample(text, index: 0, group: 0, order: .identity(item.responses.count), item: item)
        }
        XCTAssertFalse(sample("Scores: \\boxed{7, 7}", pair).isCorrect, "a tie with the best is wrong")
        XCTAssertTrue(sample("Scores: \\boxed{8, 7}", pair).isCorrect)
        let single = try RewardItem(query: "q", responses: ["a"], label: .binary(0))
        XCTAssertTrue(sample("\\boxed{0}", single).isCorrect)
        XCTAssertFalse(sample("\\boxed{1}", single).isCorrect)
        // A single response is never hinted (there is no best to name): no correct sample discards it.
        let r = RejectiveSampler.classify(single, samples: [sample("\\boxed{1}", single)], hinted: [], builder: builder)
        XCTAssertEqual(r.fate, .discarded)
    }
}
