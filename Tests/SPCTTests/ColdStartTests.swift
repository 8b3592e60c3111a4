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
        var categories: Set<String> = []
        var disagreements: [String] = []
        for (n, item) in items.enumerated() {
            // Both built-in prompts, and claims beside the truth or not, on alternate items.
            let writer = ColdStartWriter(
                builder: JudgePromptBuilder(templates: n % 2 == 0 ? .standard : .compact), seed: 9, sideBySide: n % 3 == 0,
                quote: n % 5 == 0)
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
        XCTAssertTrue(j.contains("Working: 300 + 700 = 1000; 5 + 8 = 13; 1000 + 13 = 1013."), j)
        XCTAssertTrue(j.contains("ends with 1014, not 1013"), j)
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

    /// The working a judge is taught to write is the responses' own decomposition, step by step,
    /// and a wrong response is named by its first wrong step (a carry, a slipped hundred, a slipped
    /// digit in the total), for sums, differences and products.
    func testArithmeticWorkingNamesTheFirstWrongStep() throws {
        let writer = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 1)
        func judgement(_ query: String, _ responses: [String], best: Int) throws -> String {
            try writer.example(for: RewardItem(category: "arithmetic", query: query, responses: responses, label: .best(best))).judgement
        }
        let add = try judgement(
            "Compute 663 + 937.",
            [
                "663 + 937 = (600 + 900) + (63 + 37) = 1500 + 100 = 1600. Answer: 1600.",
                "663 + 937 = (600 + 900) + (63 + 37) = 1600 + 100 = 1700. Answer: 1700.",
                "663 + 937 = (600 + 900) + (63 + 37) = 1500 + 90 = 1590. Answer: 1590.",
                "663 + 937 = (600 + 900) + (63 + 37) = 1500 + 100 = 6100. Answer: 6100."
            ], best: 0)
        XCTAssertTrue(add.contains("Working: 600 + 900 = 1500; 63 + 37 = 100; 1500 + 100 = 1600."), add)
        for reason in ["has 1600 for 600 + 900, not 1500", "has 90 for 63 + 37, not 100", "ends with 6100, not 1600"] {
            XCTAssertTrue(add.contains(reason), "\(reason): \(add)")
        }
        // A difference with a borrow, and a product: (query, right response, wrong one, working, reason).
        let cases = [
            (
                "What is 527 - 345?", "527 - 345 = (500 - 300) + (27 - 45) = 200 - 18 = 182. Answer: 182.",
                "527 - 345 = (500 - 300) + (27 - 45) = 200 + 18 = 218. Answer: 218.",
                "Working: 500 - 300 = 200; 27 - 45 = -18; 200 - 18 = 182.", "has 18 for 27 - 45, not -18"
            ),
            (
                "Calculate 26 times 86.", "26 × 86 = 26 × 80 + 26 × 6 = 2080 + 156 = 2236. So the result is 2236.",
                "26 × 86 = 26 × 80 + 26 × 6 = 3080 + 156 = 3236. So the result is 3236.",
                "Working: 26 × 80 = 2080; 26 × 6 = 156; 2080 + 156 = 2236.", "has 3080 for 26 × 80, not 2080"
            )
        ]
        for (query, right, wrong, working, reason) in cases {
            let j = try judgement(query, [right, wrong], best: 0)
            XCTAssertTrue(j.contains(working) && j.contains(reason), "\(working) / \(reason): \(j)")
        }
    }

    /// Lists are checked a neighbour at a time (the first pair out of order), spelling tasks spell
    /// the word out first, and conversions show the factor and the product.
    func testOrderingSpellingAndUnitsShowTheirWorking() throws {
        let writer = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 1)
        func judgement(_ category: String, _ query: String, _ responses: [String], best: Int) throws -> String {
            try writer.example(for: RewardItem(category: category, query: query, responses: responses, label: .best(best))).judgement
        }
        // (category, query, responses, best, what the judgement must say)
        let cases: [(String, String, [String], Int, [String])] = [
            (
                "ordering", "Sort these words alphabetically: falcon, napkin, dolphin.",
                ["In alphabetical order: dolphin, falcon, napkin.", "In alphabetical order: falcon, napkin, dolphin."], 0,
                ["puts napkin before dolphin, but dolphin comes before napkin alphabetically", "keeps every neighbour in order"]
            ),
            (
                "ordering", "Sort these numbers in descending order: 7, 120, 45.",
                ["In descending order: 120, 45, 7.", "In descending order: 7, 45, 120."], 0, ["puts 7 before 45, but 45 is larger than 7"]
            ),
            (
                "spelling", "How many times does the letter \"g\" appear in \"dragon\"?",
                ["Occurrences of \"g\" in \"dragon\": 2.", "Occurrences of \"g\" in \"dragon\": 1."], 1,
                ["\"dragon\" is d-r-a-g-o-n: \"g\" appears 1 time."]
            ),
            (
                "spelling", "Write \"dragon\" backwards.",
                ["Reversed, \"dragon\" becomes \"nogard\".", "Reversed, \"dragon\" becomes \"ngoard\"."], 0,
                ["from the end: n-o-g-a-r-d, so \"nogard\""]
            ),
            (
                "units", "How many quarts are in 10.9 US gallons?",
                [
                    "One US gallon is 2 quarts. Multiplying: 10.9 × 2 = 21.8, so the answer is 21.8 quarts.",
                    "One US gallon is 4 quarts. Multiplying: 10.9 × 4 = 43.6, so the answer is 43.6 quarts."
                ], 1, ["The factor is 4: 10.9 × 4 = 43.6 quarts.", "uses the factor 2 instead of 4"]
            )
        ]
        for (category, query, responses, best, says) in cases {
            let j = try judgement(category, query, responses, best: best)
            for part in says { XCTAssertTrue(j.contains(part), "\(part): \(j)") }
        }
    }

    /// A judge adapter records the prompt it was trained on; the judge commands read it back, and a
    /// name this build does not know is refused by name.
    func testJudgeTemplateIsRecordedInTheAdapter() throws {
        XCTAssertEqual(try JudgePromptTemplates.recorded(in: nil).name, "standard")
        let plain = LoRAAdapter(architecture: "llama", alpha: 8)
        XCTAssertEqual(try JudgePromptTemplates.recorded(in: plain).name, "standard")
        let compact = LoRAAdapter(architecture: "llama", alpha: 8, metadata: [JudgePromptTemplates.metadataKey: "compact"])
        XCTAssertEqual(try JudgePromptTemplates.recorded(in: compact), .compact)
        let unknown = LoRAAdapter(architecture: "llama", alpha: 8, metadata: [JudgePromptTemplates.metadataKey: "fancy"])
        XCTAssertThrowsError(try JudgePromptTemplates.recorded(in: unknown)) { e in
            XCTAssertTrue("\(e)".contains("unknown judge template \"fancy\""), "\(e)")
        }
        // The compact prompt is a fraction of the standard one and asks for the same three parts.
        let item = try RewardItem(category: "facts", query: "Symbol of gold?", responses: ["Au.", "Ag."], label: .best(0))
        let order = try ResponseOrder([0, 1])
        let short = JudgePromptBuilder(templates: .compact).instructions(for: item, order: order)
        let long = JudgePromptBuilder(templates: .standard).instructions(for: item, order: order)
        XCTAssertLessThan(short.count * 2, long.count)
        for part in ["Specific Criteria:", "Analysis:", "Scores:", "\\boxed{x, x}", "[Response 2]\nAg."] {
            XCTAssertTrue(short.contains(part), "\(part): \(short)")
        }
    }

    /// Each verdict ends with its response's score and the `\boxed{}` line repeats them in the order
    /// shown; without inline scores the judgement is the same text less those endings.
    func testInlineScoresMatchTheScoresLine() throws {
        var synth = try RewardSynthesizer(seed: 5, split: .train)
        for item in try synth.generate(60) {
            let with = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 4).example(for: item)
            let without = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 4, inlineScores: false).example(for: item)
            let inline = ReferenceChecks.matches(", score (\\d+)\\.", with.judgement).map { Int($0[1])! }
            let shown = try JudgeOutputParser.parse(with.judgement, responses: item.responses.count).scores.get()
            XCTAssertEqual(inline, shown, with.judgement)
            XCTAssertEqual(with.judgement.replacingOccurrences(of: ", score \\d+\\.", with: ".", options: .regularExpression), without.judgement)
            XCTAssertEqual(with.order, without.order)
        }
    }

    /// Side by side, every verdict sets the response's claim beside the truth in the same shape,
    /// right responses as well as wrong ones, and lists are compared a neighbour at a time up to
    /// the first pair out of order.
    func testSideBySideSetsEachClaimBesideTheTruth() throws {
        let writer = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 1, sideBySide: true)
        // (category, query, responses, best, what the judgement must say)
        let cases: [(String, String, [String], Int, [String])] = [
            (
                "arithmetic", "Calculate 638 minus 307.",
                [
                    "638 - 307 = (600 - 300) + (38 - 7) = 300 + 31 = 331. So the result is 331.",
                    "638 - 307 = (600 - 300) + (38 - 7) = 300 + 31 = 313. So the result is 313."
                ], 0, ["has 300 + 31 = 331 against 300 + 31 = 331", "has 300 + 31 = 313 against 300 + 31 = 331"]
            ),
            (
                "units", "Express 123 dozen in eggs.",
                [
                    "There are 12 eggs in one dozen, so 123 dozen = 123 × 12 = 1376 eggs.",
                    "There are 12 eggs in one dozen, so 123 dozen = 123 × 12 = 1476 eggs."
                ], 1, ["has 123 × 12 = 1376 against 123 × 12 = 1476", "has 123 × 12 = 1476 against 123 × 12 = 1476"]
            ),
            (
                "ordering", "Arrange in ascending order: 201, 8, 84, 12, 46.",
                ["In ascending order: 8, 12, 84, 201, 46.", "In ascending order: 8, 12, 46, 84, 201."], 1,
                ["has 8 < 12 < 84 < 201 > 46", "has 8 < 12 < 46 < 84 < 201"]
            ),
            (
                "ordering", "Put the following numbers in descending order: 4, 185, 107",
                ["In descending order: 185, 107, 4.", "In descending order: 4, 107, 185."], 0, ["has 185 > 107 > 4", "has 4 < 107"]
            ),
            (
                "ordering", "Sort these words alphabetically: falcon, napkin, dolphin.",
                ["In alphabetical order: dolphin, falcon, napkin.", "In alphabetical order: falcon, napkin, dolphin."], 0,
                ["has dolphin < falcon < napkin", "has falcon < napkin > dolphin"]
            ),
            (
                "spelling", "How many times does the letter \"g\" appear in \"dragon\"?",
                ["Occurrences of \"g\" in \"dragon\": 2.", "Occurrences of \"g\" in \"dragon\": 1."], 1,
                ["\"dragon\" is d-r-a-g-o-n", "gives 2 against 1", "gives 1 against 1"]
            ),
            (
                "facts", "Which chemical element has the symbol Zn?",
                ["Zn is the symbol for arsenic.", "Zn is the symbol for zinc."], 1,
                ["says arsenic against zinc", "says zinc against zinc"]
            )
        ]
        for c in cases {
            let (item, e) = try judged(c, by: writer)
            // The same item without: the error named for wrong responses only, as before.
            let before = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 1).example(for: item)
            XCTAssertFalse(before.judgement.contains(" against "), before.judgement)
            XCTAssertEqual(before.order, e.order)
        }
        // A broken constraint has nothing to set beside: its reason stays.
        let banned = try RewardItem(
            category: "instructions", query: "Describe a baker in a single sentence. Do not use the word \"old\".",
            responses: ["The baker cleaned the boat.", "The old baker cleaned the boat."], label: .best(0))
        XCTAssertTrue(writer.example(for: banned).judgement.contains("\"old\""))
    }

    /// Quoting: instruction verdicts copy the response (or count its words) before deciding, and
    /// ordering's chain names the pair that breaks the order or says none does; other categories
    /// are written as side by side alone.
    func testQuotedVerdictsCopyTheResponseBeforeDeciding() throws {
        let writer = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 1, sideBySide: true, quote: true)
        let cases: [(String, String, [String], Int, [String])] = [
            (
                "instructions", "Describe a singer and a garden in one sentence written entirely in uppercase.",
                ["THE SINGER SAW THE GARDEN every DAY.", "THE SINGER SAW THE GARDEN EVERY DAY."], 1,
                [
                    "reads \"THE SINGER SAW THE GARDEN every DAY.\", where \"every\" is in lower case",
                    "reads \"THE SINGER SAW THE GARDEN EVERY DAY.\", all in capitals"
                ]
            ),
            (
                "instructions", "Write one sentence about a window without using the word \"famous\".",
                ["The window noticed the famous student.", "The window cleaned the small clock."], 1,
                [
                    "reads \"The window noticed the famous student.\", which has \"famous\"",
                    "reads \"The window cleaned the small clock.\", without \"famous\""
                ]
            ),
            (
                "instructions", "Write one sentence of exactly 5 words that includes the word \"cat\".",
                ["The cat sat down quietly.", "The dog sat down.", "The dog sat down quietly."], 0,
                [
                    "counts The 1, cat 2, sat 3, down 4, quietly 5: 5 words, with \"cat\"",
                    "counts The 1, dog 2, sat 3, down 4: 4 words, not 5",
                    "counts The 1, dog 2, sat 3, down 4, quietly 5: 5 words, but no \"cat\""
                ]
            ),
            (
                "instructions", "List exactly 2 colours, one per line, each line starting with \"- \". Write nothing else.",
                ["- red\n- blue", "* red\n* blue", "- red\n- blue\n- green"], 0,
                [
                    "reads \"- red / - blue\": 2 lines, each starting with \"-\"",
                    "reads \"* red / * blue\", lines starting with \"*\", not \"-\"",
                    "reads \"- red / - blue / - green\": 3 lines, not 2"
                ]
            ),
            (
                "instructions",
                "Return only a valid JSON object with two keys: \"name\" set to the string \"Ana\" and \"age\" set to the number 30.",
                ["{\"name\": \"Ana\", \"age\": 30", "{\"name\": \"Ana\", \"age\": 30}"], 1,
                ["reads {\"name\": \"Ana\", \"age\": 30, and it is missing the closing brace", "reads {\"name\": \"Ana\", \"age\": 30}, valid JSON"]
            ),
            (
                "ordering", "Arrange in ascending order: 201, 8, 84, 12, 46.",
                ["In ascending order: 8, 12, 84, 201, 46.", "In ascending order: 8, 12, 46, 84, 201."], 1,
                ["has 8 < 12 < 84 < 201 > 46, and 201 > 46 breaks the order", "has 8 < 12 < 46 < 84 < 201, every pair in order"]
            ),
            (
                "arithmetic", "Calculate 638 minus 307.",
                [
                    "638 - 307 = (600 - 300) + (38 - 7) = 300 + 31 = 331. So the result is 331.",
                    "638 - 307 = (600 - 300) + (38 - 7) = 300 + 31 = 313. So the result is 313."
                ], 0, ["has 300 + 31 = 331 against 300 + 31 = 331", "has 300 + 31 = 313 against 300 + 31 = 331"]
            )
        ]
        for c in cases {
            let (item, e) = try judged(c, by: writer)
            let sideBySide = ColdStartWriter(builder: JudgePromptBuilder(templates: .compact), seed: 1, sideBySide: true).example(for: item)
            XCTAssertEqual(sideBySide.order, e.order)
            if c.0 == "arithmetic" { XCTAssertEqual(sideBySide.judgement, e.judgement, "no quoted form: side by side as before") }
        }
    }

    /// A case's item (category, query, responses, best, what the judgement must say) judged by
    /// `writer`: every phrase present, and the scores parse and follow the label.
    func judged(_ c: (String, String, [String], Int, [String]), by writer: ColdStartWriter) throws -> (RewardItem, ColdStartExample) {
        let item = try RewardItem(category: c.0, query: c.1, responses: c.2, label: .best(c.3))
        let e = writer.example(for: item)
        for part in c.4 { XCTAssertTrue(e.judgement.contains(part), "\(part): \(e.judgement)") }
        let scores = try JudgeOutputParser.parse(e.judgement, responses: c.2.count).scores.get()
        XCTAssertTrue(Correctness.isCorrect(e.order.toOriginal(scores), for: item), e.judgement)
        return (item, e)
    }
}
