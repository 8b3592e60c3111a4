import Foundation
import XCTest
@testable import Reward

/// A judge that reads the prompt like a model would: it finds the framed responses in the order
/// shown and scores them with a script that sees which original response sits where.
final class ScriptedJudge: JudgeGenerator {
    /// (original indices in shown order, request seed, sample number in the request) -> output text.
    var script: (_ shown: [Int], _ seed: UInt64, _ sample: Int) -> String
    var calls: [[JudgeRequest]] = []
    var dropOneSample = false

    init(script: @escaping (_ shown: [Int], _ seed: UInt64, _ sample: Int) -> String) { self.script = script }

    /// Responses are written "answer <i>" so the original index can be read back from the prompt.
    static func shownOriginals(_ prompt: String) -> [Int] {
        var out: [Int] = []
        var rest = prompt[...]
        while let r = rest.range(of: "] \nanswer ") ?? rest.range(of: "]\nanswer ") {
            let digits = rest[r.upperBound...].prefix { $0.isNumber }
            out.append(Int(digits)!)
            rest = rest[r.upperBound...]
        }
        return out
    }

    static func output(_ scores: [Int]) -> String {
        "Specific Criteria: Correctness (Weight: 100%)\nAnalysis: checked.\nScores: \\boxed{"
            + scores.map(String.init).joined(separator: ", ") + "}"
    }

    func generate(_ requests: [JudgeRequest], settings: GenerationSettings) throws -> [[String]] {
        calls.append(requests)
        return requests.map { r in
            let shown = ScriptedJudge.shownOriginals(r.prompt)
            let n = dropOneSample ? r.samples - 1 : r.samples
            return (0..<n).map { script(shown, r.seed, $0) }
        }
    }
}

final class GenerativeRewardModelTests: XCTestCase {
    func item(_ n: Int, best: Int, id: String = "x") throws -> RewardItem {
        try RewardItem(
            id: id, category: "cat", query: "Which is best?", responses: (0..<n).map { "answer \($0)" },
            label: .best(best))
    }

    func testScoresAreMappedBackToOriginalOrder() throws {
        // The judge gives original response i the score 10 - i, wherever it is shown.
        let judge = ScriptedJudge { shown, _, _ in ScriptedJudge.output(shown.map { 10 - $0 }) }
        let grm = GenerativeRewardModel(generator: judge)
        let result = try grm.judge(try item(4, best: 0), config: VotingConfig(k: 8, seed: 11))
        XCTAssertEqual(result.samples.count, 8)
        for s in result.samples {
            XCTAssertEqual(s.scores, [10, 9, 8, 7])
            XCTAssertTrue(s.isCorrect)
            XCTAssertEqual(s.principles, [Principle(name: "Correctness", weight: 1)])
            XCTAssertEqual(s.analysis, "checked.")
            // The raw parsed scores are in shown order.
            XCTAssertEqual(s.output.scores, .success(s.order.shownToOriginal.map { 10 - $0 }))
        }
        XCTAssertGreaterThan(Set(result.samples.map(\.order)).count, 1, "samples should see different orders")
        XCTAssertEqual(result.vote.totals, [80, 72, 64, 56])
        XCTAssertEqual(result.vote.pick, 0)
        XCTAssertEqual(result.outcome, .correct)
        XCTAssertEqual(result.voters, Array(0..<8))
    }

    func testPositionBiasedJudgeIsCaughtByShuffling() throws {
        // A judge that always prefers whatever is shown first: with shuffling its votes spread out.
        let judge = ScriptedJudge { shown, _, _ in ScriptedJudge.output(shown.indices.map { $0 == 0 ? 9 : 2 }) }
        let grm = GenerativeRewardModel(generator: judge)
        let unshuffled = try grm.judge(try item(2, best: 1), config: VotingConfig(k: 6, shuffle: false))
        XCTAssertEqual(unshuffled.vote.totals, [54, 12])
        XCTAssertEqual(unshuffled.outcome, .wrong)
        XCTAssertEqual(judge.calls.last!.count, 1, "without shuffling all samples share one prompt")
        let shuffled = try grm.judge(try item(2, best: 1), config: VotingConfig(k: 6, seed: 5))
        XCTAssertEqual(shuffled.vote.totals.reduce(0, +), 66)
        for s in shuffled.samples { XCTAssertEqual(s.scores![s.order.shownToOriginal[0]], 9) }
    }

    func testSamplesGroupedByOrderIntoRequests() throws {
        let judge = ScriptedJudge { shown, _, _ in ScriptedJudge.output(shown.map { $0 == 1 ? 8 : 4 }) }
        let grm = GenerativeRewardModel(generator: judge)
        let items = [try item(3, best: 1, id: "a"), try item(3, best: 1, id: "b"), try item(2, best: 1, id: "c")]
        let config = VotingConfig(k: 5, orders: 2, seed: 9)
        let results = try grm.judge(items, config: config)
        XCTAssertEqual(judge.calls.count, 1, "one batch for all items")
        let requests = judge.calls[0]
        XCTAssertEqual(requests.map(\.samples).reduce(0, +), 15)
        XCTAssertEqual(Set(requests.map(\.seed)).count, requests.count)
        var next = 0
        for r in results {
            XCTAssertEqual(r.samples.map(\.index), Array(0..<5))
            // Samples dealt round-robin over 2 shuffles: 0, 2, 4 share one order, 1 and 3 the other.
            XCTAssertEqual(r.samples[0].order, r.samples[2].order)
            XCTAssertEqual(r.samples[2].order, r.samples[4].order)
            XCTAssertEqual(r.samples[1].order, r.samples[3].order)
            // One request per distinct order, and samples of one request share it.
            let groups = Set(r.samples.map(\.group))
            XCTAssertEqual(groups.count, Set(r.samples.map(\.order)).count)
            for a in r.samples { for b in r.samples where a.group == b.group { XCTAssertEqual(a.order, b.order) } }
            XCTAssertEqual(
                requests[next..<(next + groups.count)].map(\.samples),
                groups.sorted().map { g in r.samples.filter { $0.group == g }.count })
            next += groups.count
            XCTAssertEqual(r.outcome, .correct)
        }
        XCTAssertEqual(next, requests.count)
        // A pair has two orders: k = 8 samples need at most 2 prompts; 3 responses at most 6.
        _ = try grm.judge(items[2], config: VotingConfig(k: 8, seed: 2))
        XCTAssertEqual(judge.calls.last!.count, 2)
        XCTAssertEqual(judge.calls.last!.map(\.samples).reduce(0, +), 8)
        _ = try grm.judge(items[0], config: VotingConfig(k: 32, seed: 2))
        XCTAssertEqual(judge.calls.last!.count, 6)
        // An item is shuffled the same way alone as in a batch.
        let alone = try grm.judge(items[1], config: config)
        XCTAssertEqual(alone.samples.map(\.order), results[1].samples.map(\.order))
        let bRequests = Set(results[1].samples.map(\.group)).count
        let aRequests = Set(results[0].samples.map(\.group)).count
        XCTAssertEqual(judge.calls[3].map(\.seed), Array(requests.map(\.seed)[aRequests..<(aRequests + bRequests)]))
    }

    func testTiesAndParseFailuresCountWrong() throws {
        // Samples alternate: a vote for 0, a vote for 1 (a tie overall).
        let tieJudge = ScriptedJudge { shown, _, j in
            let favourite = j % 2
            return ScriptedJudge.output(shown.map { $0 == favourite ? 9 : 3 })
        }
        let tie = try GenerativeRewardModel(generator: tieJudge).judge(
            try item(2, best: 0),
            config: VotingConfig(k: 4, orders: 1, seed: 1))
        XCTAssertEqual(tie.vote.totals, [24, 24])
        XCTAssertEqual(tie.outcome, .tie)
        XCTAssertFalse(tie.isCorrect)

        // Unparsable samples do not vote; none parsable is a parse failure.
        let halfBroken = ScriptedJudge { shown, _, j in
            j % 2 == 0 ? "Scores: \\boxed{9}" : ScriptedJudge.output(shown.map { $0 == 0 ? 7 : 2 })
        }
        let partial = try GenerativeRewardModel(generator: halfBroken).judge(
            try item(2, best: 0),
            config: VotingConfig(k: 4, orders: 1))
        XCTAssertEqual(partial.voters, [1, 3])
        XCTAssertEqual(partial.samples[0].parseError, .wrongCount(expected: 2, found: 1))
        XCTAssertEqual(partial.outcome, .correct)
        let broken = ScriptedJudge { _, _, _ in "I cannot decide." }
        let failed = try GenerativeRewardModel(generator: broken).judge(try item(2, best: 0), config: VotingConfig(k: 3))
        XCTAssertEqual(failed.outcome, .parseFailure)
    }

    /// Rates samples by how much they favour response 0 (a stand-in for a learned meta RM).
    struct FavourZero: TrajectoryScorer {
        func rate(_ samples: [JudgeSample], for item: RewardItem) throws -> [Double] {
            samples.map { s in s.scores.map { Double($0[0] - $0[1]) } ?? 0 }
        }
    }

    func testMetaRMKeepsTopRatedSamples() throws {
        // 3 of 5 samples favour response 1 (wrong), 2 favour response 0 (the best) and rate well.
        let narrowJudge = ScriptedJudge { shown, _, j in
            ScriptedJudge.output(shown.map { j < 3 ? ($0 == 1 ? 9 : 5) : ($0 == 0 ? 8 : 6) })
        }
        let voted = try GenerativeRewardModel(generator: narrowJudge).judge(
            try item(2, best: 0),
            config: VotingConfig(k: 5, orders: 1))
        XCTAssertEqual(voted.vote.totals, [31, 39])
        XCTAssertEqual(voted.outcome, .wrong)
        let meta = try GenerativeRewardModel(generator: narrowJudge, metaScorer: FavourZero())
            .judge(try item(2, best: 0), config: VotingConfig(k: 5, orders: 1, metaKeep: 2))
        XCTAssertEqual(meta.voters, [3, 4])
        XCTAssertEqual(meta.metaRatings, [-4, -4, -4, 2, 2])
        XCTAssertEqual(meta.vote.totals, [16, 12])
        XCTAssertEqual(meta.outcome, .correct)
        // Prefix votes for curves: the first 3 samples alone are wrong, all 5 with the meta RM right.
        XCTAssertEqual(Voting.outcome(meta.vote(firstK: 3), for: meta.item), .wrong)
        XCTAssertEqual(Voting.outcome(meta.vote(firstK: 5, useMeta: true, metaKeep: 2), for: meta.item), .correct)
    }

    func testSingleResponseItems() throws {
        let judge = ScriptedJudge { _, _, j in "Analysis: ok\nScores: \\boxed{\(j == 0 ? 0 : 1)}" }
        let it = try RewardItem(query: "q", responses: ["answer 0"], label: .binary(1))
        let r = try GenerativeRewardModel(generator: judge).judge(it, config: VotingConfig(k: 3))
        XCTAssertEqual(judge.calls[0].map(\.samples), [3], "one response has one order: one prompt")
        XCTAssertEqual(r.vote.totals, [2])
        XCTAssertEqual(r.vote.predictedLabel, 1)
        XCTAssertEqual(r.outcome, .correct)
        XCTAssertEqual(r.samples.map(\.isCorrect), [false, true, true])
    }

    func testGeneratorMistakesAreErrors() throws {
        let judge = ScriptedJudge { _, _, _ in "" }
        judge.dropOneSample = true
        XCTAssertThrowsError(try GenerativeRewardModel(generator: judge).judge(try item(2, best: 0), config: VotingConfig(k: 2)))
        XCTAssertThrowsError(try GenerativeRewardModel(generator: judge).judge(try item(2, best: 0), config: VotingConfig(k: 0)))
    }
}

/// A judge that loops (no scores) on even samples, answers on odd ones, and finishes a cued
/// prompt with the scores it would have given: the best response 9, the others 2.
final class LoopingJudge: JudgeGenerator {
    static let loop = "Specific Criteria: Correctness (Weight: 100%)\nAnalysis: Response 1 has 8" + String(repeating: " < 12", count: 20)
    var calls: [(requests: [JudgeRequest], settings: GenerationSettings)] = []
    let best: Int
    /// Prompts longer than this many characters do not fit (nil: every prompt fits).
    var room: Int?
    init(best: Int) { self.best = best }

    func fits(_ prompt: String, generating tokens: Int) -> Bool { room.map { prompt.count + tokens <= $0 } ?? true }

    func generate(_ requests: [JudgeRequest], settings: GenerationSettings) throws -> [[String]] {
        calls.append((requests, settings))
        return requests.map { r in
            let scores = ScriptedJudge.shownOriginals(r.prompt).map { $0 == best ? 9 : 2 }
            if r.prompt.hasSuffix(ScoreCue.cue) {
                return [scores.map(String.init).joined(separator: ", ") + "} and then \\boxed{1, 1}"]
            }
            return (0..<r.samples).map { j in
                j == 3 ? "Scores: \\boxed{5}" : j % 2 == 0 ? LoopingJudge.loop : ScriptedJudge.output(scores)
            }
        }
    }
}

extension GenerativeRewardModelTests {
    func testSamplesWithoutScoresAreCuedAndFinishedByTheJudge() throws {
        let item = try item(3, best: 2)
        let settings = GenerationSettings(temperature: 0.5, maxTokens: 100, stopLoops: true, forceScores: true)
        let judge = LoopingJudge(best: 2)
        let grm = GenerativeRewardModel(generator: judge)
        let config = VotingConfig(k: 6, orders: 1, seed: 4, settings: settings)
        let result = try grm.judge(item, config: config)
        XCTAssertEqual(judge.calls.count, 2, "one call for the samples, one for every cued sample")
        let first = judge.calls[0].requests[0], cued = judge.calls[1]
        XCTAssertEqual(cued.requests.count, 3, "samples 0, 2 and 4 looped")
        XCTAssertEqual(cued.settings.maxTokens, ScoreCue.maxTokens(responses: 3))
        XCTAssertFalse(cued.settings.stopLoops || cued.settings.forceScores)
        XCTAssertEqual(cued.settings.temperature, 0.5)
        let prefix = ScoreCue.prefix(LoopingJudge.loop)
        XCTAssertEqual(prefix, "Specific Criteria: Correctness (Weight: 100%)\nAnalysis: Response 1 has 8 < 12\nScores: \\boxed{")
        for r in cued.requests {
            XCTAssertEqual(r.prompt, first.prompt + prefix)
            XCTAssertEqual(r.samples, 1)
        }
        XCTAssertEqual(Set(cued.requests.map(\.seed)).count, 3, "each cued sample draws its own stream")
        for s in result.samples {
            switch s.index {
            case 0, 2, 4:
                XCTAssertTrue(s.forced)
                XCTAssertEqual(s.scores, [2, 2, 9])
                XCTAssertTrue(s.isCorrect)
                XCTAssertTrue(s.text.hasPrefix(prefix) && s.text.hasSuffix("}") && !s.text.contains("then"), s.text)
            case 3:
                XCTAssertFalse(s.forced, "a wrong count is the judge's answer, not cued")
                XCTAssertEqual(s.parseError, .wrongCount(expected: 3, found: 1))
            default:
                XCTAssertFalse(s.forced)
                XCTAssertEqual(s.scores, [2, 2, 9])
            }
        }
        XCTAssertEqual(result.voters, [0, 1, 2, 4, 5])
        XCTAssertEqual(result.outcome, .correct)
        var stats = SampleStats()
        for s in result.samples { stats.add(s, best: 2) }
        XCTAssertEqual(stats.forced, 3)
        XCTAssertEqual(stats.forcedCorrect, 3)
        XCTAssertEqual(stats.forcedSummary, "scores forced (none of their own): 3 samples (3 right)")

        // Off: the looped samples are parse failures and nothing else is asked of the generator.
        let plain = LoopingJudge(best: 2)
        var off = config
        off.settings.forceScores = false
        let unforced = try GenerativeRewardModel(generator: plain).judge(item, config: off)
        XCTAssertEqual(plain.calls.count, 1)
        XCTAssertEqual(unforced.samples.filter { $0.parseError == .noScores }.map(\.index), [0, 2, 4])
        XCTAssertEqual(unforced.voters, [1, 5])
        var none = SampleStats()
        for s in unforced.samples { none.add(s, best: 2) }
        XCTAssertNil(none.forced)
        XCTAssertNil(none.forcedSummary)

        // A shuffle per sample: each cued prompt is its own sample's prompt and the cue, and the
        // items of a batch keep the budget of their own response count.
        let shuffled = LoopingJudge(best: 2)
        var perSample = config
        perSample.orders = nil
        let pair = try self.item(2, best: 1, id: "pair")
        let both = try GenerativeRewardModel(generator: shuffled).judge([item, pair], config: perSample)
        let plans = try [item, pair].map { try GenerativeRewardModel(generator: shuffled).plan($0, config: perSample) }
        XCTAssertGreaterThan(plans[0].count, 1)
        let cueCalls = shuffled.calls.dropFirst()
        XCTAssertEqual(cueCalls.map(\.settings.maxTokens), [ScoreCue.maxTokens(responses: 2), ScoreCue.maxTokens(responses: 3)])
        for (call, x) in zip(cueCalls, [1, 0]) {
            // Which samples loop depends on their place in their request; every one of them is cued.
            let looped = both[x].samples.filter(\.forced)
            XCTAssertFalse(looped.isEmpty)
            XCTAssertEqual(call.requests.count, looped.count)
            XCTAssertFalse(both[x].samples.contains { $0.parseError == .noScores })
            for (r, s) in zip(call.requests, looped) {
                let own = plans[x].first { $0.sampleIndices.contains(s.index) }!
                XCTAssertEqual(r.prompt, own.request.prompt + prefix)
            }
        }

        // No room left for the cue (the context is full): those samples stay parse failures.
        let full = LoopingJudge(best: 2)
        full.room = first.prompt.count + prefix.count - 1
        let crowded = try GenerativeRewardModel(generator: full).judge(item, config: config)
        XCTAssertEqual(full.calls.count, 1)
        XCTAssertEqual(crowded.samples.filter { $0.parseError == .noScores }.map(\.index), [0, 2, 4])
        XCTAssertFalse(crowded.samples.contains { $0.forced })
    }

    func testLoopsAreCutToOneCopy() {
        XCTAssertEqual(ScoreCue.withoutLoop("Response 2 spells it " + String(repeating: "b-a-n-", count: 12)), "Response 2 spells it b-a-n-")
        // The shortest period wins (" ab", from where the repetition starts), not a longer block.
        XCTAssertEqual(ScoreCue.withoutLoop("x: " + String(repeating: "ab ", count: 30)), "x: ab")
        // A whole text that is one loop keeps its first copy.
        XCTAssertEqual(ScoreCue.withoutLoop(String(repeating: "yes ", count: 10)), "yes ")
        // Short repeats are text, not loops; nothing periodic at the end: unchanged.
        for text in ["banana", "n, a, n, a, n, a", "Response 1 has 3 < 5 < 9: in order. Response 2 has 9 > 5."] {
            XCTAssertEqual(ScoreCue.withoutLoop(text), text)
        }
        XCTAssertEqual(ScoreCue.prefix(""), ScoreCue.cue)
        XCTAssertEqual(ScoreCue.prefix("Analysis: ok.\n\n"), "Analysis: ok.\n" + ScoreCue.cue)
        XCTAssertEqual(ScoreCue.completion("7, 3} more }"), "7, 3}")
        XCTAssertEqual(ScoreCue.completion("7, 3"), "7, 3")
    }

    func testSettingsSavedBeforeForcingDecodeWithItOff() throws {
        let old = #"{"temperature": 0.5, "topP": 1, "maxTokens": 64}"#
        let s = try JSONDecoder().decode(GenerationSettings.self, from: Data(old.utf8))
        XCTAssertEqual(s, GenerationSettings(temperature: 0.5, topP: 1, maxTokens: 64))
        let new = GenerationSettings(maxTokens: 9, stopLoops: true, forceScores: true)
        XCTAssertEqual(try JSONDecoder().decode(GenerationSettings.self, from: JSONEncoder().encode(new)), new)
    }
}
