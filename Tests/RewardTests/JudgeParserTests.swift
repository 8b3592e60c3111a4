import XCTest
@testable import Reward

/// Reading scores, principles and analysis out of judge outputs, including malformed ones.
final class JudgeParserTests: XCTestCase {
    func scores(_ text: String, _ n: Int) -> Result<[Int], ScoreParseError> {
        JudgeOutputParser.scores(in: text, count: n, range: JudgeOutputParser.scoreRange(responses: n))
    }

    func testBoxedScores() {
        XCTAssertEqual(scores("Scores: \\boxed{8, 3}", 2), .success([8, 3]))
        XCTAssertEqual(scores("\\boxed{ 10 ,1,\n5 }", 3), .success([10, 1, 5]))
        XCTAssertEqual(scores("Scores: \\boxed{1}", 1), .success([1]))
        XCTAssertEqual(scores("Scores: \\boxed{0}", 1), .success([0]))
    }

    func testLastBoxedWins() {
        let text = "Response 1 might get \\boxed{9, 2} but after thought: Scores: \\boxed{4, 7}"
        XCTAssertEqual(scores(text, 2), .success([4, 7]))
        // A last \boxed{ cut off mid-way (truncated output) does not count; the one before does.
        XCTAssertEqual(scores("\\boxed{6, 5} ... Scores: \\boxed{7, ", 2), .success([6, 5]))
        // Nested braces are matched.
        XCTAssertEqual(scores("\\boxed{\\text{8}, 3}", 2), .failure(.notAnInteger("\\text{8}")))
    }

    func testBracketFallback() {
        XCTAssertEqual(scores("Scores: [6, 9]", 2), .success([6, 9]))
        XCTAssertEqual(scores("I compare [The Begin of Response 1] with [2, 5].", 2), .success([2, 5]))
        // The last bracket is the one read, even if an earlier one would parse.
        XCTAssertEqual(scores("[3, 4] and then [final]", 2), .failure(.wrongCount(expected: 2, found: 1)))
        // A boxed answer beats a later bracket.
        XCTAssertEqual(scores("\\boxed{3, 4} [5, 6]", 2), .success([3, 4]))
    }

    func testFailures() {
        XCTAssertEqual(scores("Scores: 8, 3", 2), .failure(.noScores))
        XCTAssertEqual(scores("", 2), .failure(.noScores))
        XCTAssertEqual(scores("\\boxed{8}", 2), .failure(.wrongCount(expected: 2, found: 1)))
        XCTAssertEqual(scores("\\boxed{8, 3, 2}", 2), .failure(.wrongCount(expected: 2, found: 3)))
        XCTAssertEqual(scores("\\boxed{}", 2), .failure(.wrongCount(expected: 2, found: 0)))
        XCTAssertEqual(scores("\\boxed{8,}", 2), .failure(.notAnInteger("")))
        XCTAssertEqual(scores("\\boxed{8.5, 3}", 2), .failure(.notAnInteger("8.5")))
        XCTAssertEqual(scores("\\boxed{8/10, 3/10}", 2), .failure(.notAnInteger("8/10")))
        XCTAssertEqual(scores("\\boxed{eight, 3}", 2), .failure(.notAnInteger("eight")))
        XCTAssertEqual(scores("\\boxed{11, 3}", 2), .failure(.outOfRange(11, 1...10)))
        XCTAssertEqual(scores("\\boxed{0, 3}", 2), .failure(.outOfRange(0, 1...10)))
        XCTAssertEqual(scores("\\boxed{-2, 3}", 2), .failure(.outOfRange(-2, 1...10)))
        XCTAssertEqual(scores("\\boxed{2}", 1), .failure(.outOfRange(2, 0...1)))
        XCTAssertEqual(scores("\\boxed{99999999999999999999, 1}", 2), .failure(.notAnInteger("99999999999999999999")))
        XCTAssertEqual(scores("\\boxed{٣, 1}", 2), .failure(.notAnInteger("٣")))
    }

    func testFullOutput() {
        let text = """
            Specific Criteria:
            1. Correctness of the final answer (Weight: 50%): the sum must be right.
            2. Clarity of working (Weight: 30%)
            - Brevity (weight 0.2)
            Analysis: Response 1 adds correctly. Response 2 drops a carry, so 1215 becomes 1115.
            It is otherwise clear.
            Scores: \\boxed{9, 3}
            """
        let out = JudgeOutputParser.parse(text, responses: 2)
        XCTAssertEqual(out.scores, .success([9, 3]))
        XCTAssertEqual(
            out.principles,
            [
                Principle(name: "Correctness of the final answer", weight: 0.5, detail: "the sum must be right"),
                Principle(name: "Clarity of working", weight: 0.3),
                Principle(name: "Brevity", weight: 0.2)
            ])
        XCTAssertEqual(out.analysis, "Response 1 adds correctly. Response 2 drops a carry, so 1215 becomes 1115.\nIt is otherwise clear.")
        XCTAssertTrue(out.criteriaText!.hasPrefix("1. Correctness"))
    }

    func testPrinciplesOnOneLineAndMarkdown() {
        let text = "**Specific Criteria:** Accuracy (Weight: 60%), Format compliance (Weight: 40%)\n**Analysis:** fine\n**Scores:** \\boxed{5, 6}"
        let out = JudgeOutputParser.parse(text, responses: 2)
        XCTAssertEqual(out.principles.map(\.name), ["Accuracy", "Format compliance"])
        XCTAssertEqual(out.principles.map(\.weight), [0.6, 0.4])
        XCTAssertEqual(out.analysis, "fine")
        XCTAssertEqual(out.scores, .success([5, 6]))
    }

    func testPrincipleWeightForms() {
        let text = "Specific Criteria:\n- Safety (30%)\n- Step 2 is right\n- Tone: Weight = 15%\nAnalysis: x"
        let p = JudgeOutputParser.principles(in: text).principles
        XCTAssertEqual(
            p,
            [
                Principle(name: "Safety", weight: 0.3), Principle(name: "Step 2 is right", weight: nil),
                Principle(name: "Tone", weight: 0.15)
            ])
    }

    func testMissingSections() {
        let out = JudgeOutputParser.parse("Just \\boxed{3, 4}", responses: 2)
        XCTAssertNil(out.criteriaText)
        XCTAssertEqual(out.principles, [])
        XCTAssertNil(out.analysis)
        XCTAssertEqual(out.scores, .success([3, 4]))
        // Analysis without a Scores: marker ends at the boxed answer.
        XCTAssertEqual(JudgeOutputParser.analysis(in: "Analysis: both fine \\boxed{3, 4}"), "both fine")
        // Criteria without Analysis end at Scores.
        XCTAssertEqual(
            JudgeOutputParser.principles(in: "Specific Criteria: Truth (Weight: 100%) Scores: \\boxed{1}").principles,
            [Principle(name: "Truth", weight: 1)])
    }
}
