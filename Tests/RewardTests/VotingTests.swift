import Tensor
import XCTest
@testable import Reward

/// The correctness rule, voting@k, meta-RM selection and response shuffling.
final class VotingTests: XCTestCase {
    func item(_ n: Int, best: Int) throws -> RewardItem {
        try RewardItem(query: "q", responses: (0..<n).map { "r\($0)" }, label: .best(best))
    }

    func testCorrectnessRule() throws {
        let it = try item(3, best: 1)
        XCTAssertTrue(Correctness.isCorrect([2, 9, 8], for: it))
        XCTAssertFalse(Correctness.isCorrect([2, 9, 9], for: it), "a tie with the best is wrong")
        XCTAssertFalse(Correctness.isCorrect([10, 9, 8], for: it))
        XCTAssertFalse(Correctness.isCorrect(nil, for: it), "unparsable is wrong")
        XCTAssertFalse(Correctness.isCorrect([9, 8], for: it), "wrong count is wrong")
        XCTAssertEqual(Correctness.reward([1, 2, 1], for: it), 1)
        XCTAssertEqual(Correctness.reward(nil, for: it), -1)
        let single = try RewardItem(query: "q", responses: ["r"], label: .binary(0))
        XCTAssertTrue(Correctness.isCorrect([0], for: single))
        XCTAssertFalse(Correctness.isCorrect([1], for: single))
        let scored = try RewardItem(query: "q", responses: ["a", "b", "c"], label: .scores([3, 1, 2]))
        XCTAssertTrue(Correctness.isCorrect([7, 2, 6], for: scored))
        XCTAssertFalse(Correctness.isCorrect([6, 2, 7], for: scored))
    }

    func testVotingSumsAndTies() throws {
        let v = Voting.vote([[8, 3], [4, 6], [7, 7]], responses: 2)
        XCTAssertEqual(v.totals, [19, 16])
        XCTAssertEqual(v.voters, 3)
        XCTAssertEqual(v.pick, 0)
        XCTAssertFalse(v.isTie)

        let tie = Voting.vote([[8, 3], [3, 8]], responses: 2)
        XCTAssertEqual(tie.totals, [11, 11])
        XCTAssertNil(tie.pick)
        XCTAssertTrue(tie.isTie)
        XCTAssertEqual(Voting.outcome(tie, for: try item(2, best: 0)), .tie)

        // A tie below the top does not matter.
        XCTAssertEqual(Voting.vote([[9, 2, 2]], responses: 3).pick, 0)
        // Samples of the wrong length are ignored; none left is a parse failure.
        let none = Voting.vote([[1, 2, 3]], responses: 2)
        XCTAssertEqual(none.voters, 0)
        XCTAssertEqual(Voting.outcome(none, for: try item(2, best: 0)), .parseFailure)
        XCTAssertEqual(Voting.outcome(Voting.vote([[3, 9]], responses: 2), for: try item(2, best: 0)), .wrong)
    }

    func testSingleResponseMajority() throws {
        let yes = try RewardItem(query: "q", responses: ["r"], label: .binary(1))
        XCTAssertEqual(Voting.vote([[1], [1], [0]], responses: 1).predictedLabel, 1)
        XCTAssertEqual(Voting.vote([[0], [1], [0]], responses: 1).predictedLabel, 0)
        let half = Voting.vote([[0], [1]], responses: 1)
        XCTAssertNil(half.predictedLabel)
        XCTAssertEqual(Voting.outcome(half, for: yes), .tie)
        XCTAssertEqual(Voting.outcome(Voting.vote([[1]], responses: 1), for: yes), .correct)
        XCTAssertEqual(Voting.outcome(Voting.vote([[0]], responses: 1), for: yes), .wrong)
    }

    func testMetaSelect() {
        // Keeps the best rated parsed samples; equal ratings go to the earlier sample.
        XCTAssertEqual(
            Voting.metaSelect(ratings: [0.1, 0.9, 0.5, 0.9, 0.99], parsed: [true, true, true, true, false], keep: 2),
            [1, 3])
        XCTAssertEqual(Voting.metaSelect(ratings: [0.5, 0.5, 0.5], parsed: [true, true, true], keep: 2), [0, 1])
        XCTAssertEqual(Voting.metaSelect(ratings: [.nan, 0.1], parsed: [true, true], keep: 1), [1])
        XCTAssertEqual(Voting.metaSelect(ratings: [0.3, 0.2], parsed: [true, true], keep: 5), [0, 1])
    }

    func testResponseOrderMapping() throws {
        XCTAssertThrowsError(try ResponseOrder([0, 0, 1]))
        XCTAssertThrowsError(try ResponseOrder([1, 2]))
        let o = try ResponseOrder([2, 0, 1])
        // Shown: Response 1 = original 2, Response 2 = original 0, Response 3 = original 1.
        XCTAssertEqual(o.toShown(["a", "b", "c"]), ["c", "a", "b"])
        XCTAssertEqual(o.toOriginal([9, 5, 1]), [5, 1, 9])
        XCTAssertEqual(o.shownPosition(ofOriginal: 2), 0)
        var rng = SeededRandom(seed: 3)
        var firstShown = [Int](repeating: 0, count: 4)
        for _ in 0..<4000 {
            let r = ResponseOrder.random(4, rng: &rng)
            XCTAssertEqual(r.shownToOriginal.sorted(), [0, 1, 2, 3])
            let values = (0..<4).map { _ in rng.nextInt(100) }
            XCTAssertEqual(r.toOriginal(r.toShown(values)), values)
            firstShown[r.shownToOriginal[0]] += 1
        }
        // Each original lands first about 1000 times (binomial sd ~27).
        for c in firstShown { XCTAssertEqual(Double(c), 1000, accuracy: 120, "\(firstShown)") }
    }
}
