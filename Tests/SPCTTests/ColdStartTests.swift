import Foundation
import XCTest
@testable import Reward
@testable import SPCT
import Tensor
import Transformer

/// Reference judgements: the exact output format, scores that follow the label, analyses that name
/// the fact, for every synthetic category and for items of other categories.
final class ColdStartTests: XCTestCase {
    func testJudgementsParseAndFollowTheLabelInEveryCategory() throws {
        var synth = try RewardSynthesizer(seed: 3, split: .train, singleFraction: 0.25)
        let items = try synth.generate(600)
        let writer = ColdStartWriter(builder: JudgePromptBuilder(), seed: 9)
        var categories: Set<String> = []
        var disagreements: [String] = []
        for item in items {
            for variant in 0..<2 {
                let e = writer.example(for: item, variant: variant)
                let output = JudgeOutputParser.parse(e.judgement, responses: item.responses.count)
                let shown = try output.scores.get()
                XCTAssertTrue(Correctness.isCorrect(e.order.toOriginal(shown), for: item), "\(item.id ?? "") \(e.judgement)")
                XCTAssertTrue((2...4).contains(output.principles.count), e.judgement)
                let total = output.principles.compactMap(\.weight).reduce(0, +)
                XCTAssertEqual(total, 1, accuracy: 1e-9, "weights sum to 100%: \(e.judgement)")
                XCTAssertNotNil(output.analysis)
                // Short: every token costs at training and judging time (~120 tokens is ~600 characters).
                XCTAssertLessThan(e.judgement.count, 900, e.judgement)
                // The prompt is the judge's own, for the shuffle the judgement was written for.
                XCTAssertEqual(e.prompt, writer.builder.messages(for: item, order: e.order))
                XCTAssertEqual(e.messages.last?.role, "assistant")
                if !e.checksAgreed { disagreements.append("\(item.id ?? ""): \(item.responses)") }
                categories.insert(item.category ?? "")
            }
        }
        XCTAssertEqual(categories, Set(SynthCategory.allCases.map(\.rawValue)))
        XCTAssertEqual(disagreements, [], "the category checks agree with every synthetic label")
    }

    func testAnalysesNameTheVerifiableFact() throws {
        let writer = ColdStartWriter(builder: JudgePromptBuilder(), seed: 1)
        let sum = try RewardItem(
            category: "arithmetic", query: "What is 305 + 708?",
            responses: ["... = 1000 + 13 = 1014. The answer is 1014.", "... = 1000 + 13 = 1013. The answer is 1013."],
            label: .best(1))
        let j = writer.example(for: sum).judgement
        XCTAssertTrue(j.contains("305 + 708 = 1013."), j)
        XCTAssertTrue(j.contains("gives 1014, not 1013"), j)
        let json = try RewardItem(
            category: "instructions",
            query: "Return only a valid JSON object with two keys: \"name\" set to the string \"Ana\" and \"age\" set to the number 30.",
            responses: ["{\"name\": \"Ana\", \"age\": 30,}", "{\"name\": \"Ana\", \"age\": \"30\"}", "{\"name\": \"Ana\", \"age\": 30}"],
            label: .best(2))
        let jj = writer.example(for: json).judgement
        XCTAssertTrue(jj.contains("trailing comma") && jj.contains("as a string"), jj)
        let words = try RewardItem(
            category: "instructions", query: "Write one sentence of exactly 5 words that includes the word \"cat\".",
            responses: ["The cat sat down quietly.", "The dog sat down quietly."], label: .best(0))
        XCTAssertTrue(writer.example(for: words).judgement.contains("does not include \"cat\""))
        // A category the checks do not know: verdicts from the label, scores as ever.
        let chat = try RewardItem(category: "chat", query: "Say hi", responses: ["Hi!", "No."], label: .best(0))
        let e = writer.example(for: chat)
        XCTAssertTrue(e.checksAgreed)
        XCTAssertTrue(Correctness.isCorrect(e.order.toOriginal(try JudgeOutputParser.parse(e.judgement, responses: 2).scores.get()), for: chat))
        // Single responses score 1 or 0.
        let single = try RewardItem(category: "facts", query: "Capital of France?", responses: ["Paris."], label: .binary(1))
        XCTAssertTrue(writer.example(for: single).judgement.hasSuffix("\\boxed{1}"))
    }

    func testSFTLineRoundTripsThroughTheEncoder() throws {
        let item = try RewardItem(id: "x", category: "facts", query: "Symbol of gold?", responses: ["Au.", "Ag."], label: .best(0))
        let line = try ColdStartWriter(builder: JudgePromptBuilder(), seed: 2).example(for: item).jsonLine()
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        XCTAssertEqual(object["id"] as? String, "x")
        let messages = object["messages"] as! [[String: String]]
        XCTAssertEqual(messages.map { $0["role"]! }, ["user", "assistant"])
        XCTAssertTrue(messages[1]["content"]!.hasPrefix("Specific Criteria:"))
    }
}
