import Transformer
import XCTest
@testable import Reward

/// The judging prompt: framing, response order, the single-response variant, hints, and rendering
/// through a chat template.
final class JudgePromptTests: XCTestCase {
    func testFramesResponsesInShownOrder() throws {
        let item = try RewardItem(
            prompt: [
                ChatMessage(role: "system", content: "Be exact."),
                ChatMessage(role: "user", content: "What is 2+2?")
            ],
            responses: ["four", "five", "twenty-two"], label: .best(0))
        let order = try ResponseOrder([2, 0, 1])
        let text = JudgePromptBuilder().instructions(for: item, order: order)
        XCTAssertTrue(text.contains("System: Be exact.\n\nUser: What is 2+2?"), text)
        XCTAssertTrue(
            text.contains(
                """
                [The Begin of Response 1]
                twenty-two
                [The End of Response 1]
                [The Begin of Response 2]
                four
                [The End of Response 2]
                [The Begin of Response 3]
                five
                [The End of Response 3]
                """), text)
        XCTAssertTrue(text.contains("Specific Criteria:"))
        XCTAssertTrue(text.contains("Analysis:"))
        XCTAssertTrue(text.contains("Scores: <the 3 scores"))
        XCTAssertTrue(text.contains("e.g. \\boxed{x, x, x}"), text)
        XCTAssertTrue(text.contains("integer from 1 to 10"))
        XCTAssertFalse(text.contains("{count}") || text.contains("{responses}") || text.contains("{conversation}"))
    }

    func testSingleResponseVariantAndHint() throws {
        let item = try RewardItem(query: "Capital of France?", responses: ["Paris."], label: .binary(1))
        let text = JudgePromptBuilder().instructions(for: item, order: .identity(1))
        XCTAssertTrue(text.contains("[The Begin of Response 1]\nParis.\n[The End of Response 1]"))
        XCTAssertTrue(text.contains("score it 1 if it is correct and 0 if it is not"))
        XCTAssertTrue(text.contains("\\boxed{1}"))

        let pair = try RewardItem(query: "q", responses: ["a", "b"], label: .best(1))
        // The hint names the best response by its shown position.
        let hinted = JudgePromptBuilder().instructions(for: pair, order: try ResponseOrder([1, 0]), hint: 1)
        XCTAssertTrue(hinted.hasSuffix("The best response is: Response 1"), hinted)
    }

    func testPlaceholdersInContentAreNotExpanded() throws {
        let item = try RewardItem(
            query: "Explain {count} and {responses}", responses: ["uses {index}", "{example}"],
            label: .best(0))
        let text = JudgePromptBuilder().instructions(for: item, order: .identity(2))
        XCTAssertTrue(text.contains("User: Explain {count} and {responses}"))
        XCTAssertTrue(text.contains("[The Begin of Response 1]\nuses {index}\n"))
        XCTAssertTrue(text.contains("[The Begin of Response 2]\n{example}\n"))
        XCTAssertEqual(JudgePromptBuilder.fill("{a}{b}{a}{", ["a": "{b}", "b": "x"]), "{b}x{b}{")
    }

    func testRenderedThroughChatTemplate() throws {
        let item = try RewardItem(query: "q", responses: ["a", "b"], label: .best(0))
        let builder = JudgePromptBuilder()
        let prompt = try builder.prompt(for: item, order: .identity(2))
        let body = builder.instructions(for: item, order: .identity(2))
        XCTAssertEqual(prompt, "<|im_start|>user\n" + body + "<|im_end|>\n<|im_start|>assistant\n")

        var custom = JudgePromptTemplates.standard
        custom.system = "You judge."
        custom.turn = "<{role}> {content}"
        let llamaLike = try ChatTemplate(
            source: """
                {{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}\
                {% if add_generation_prompt %}[assistant]{% endif %}
                """)
        let b2 = JudgePromptBuilder(templates: custom, chat: JudgeChatFormat(template: llamaLike, bosToken: "<s>", eosToken: "</s>"))
        let p2 = try b2.prompt(for: item, order: .identity(2))
        XCTAssertTrue(p2.hasPrefix("<s>[system]You judge.[user]"), p2)
        XCTAssertTrue(p2.contains("<User> q"))
        XCTAssertTrue(p2.hasSuffix("[assistant]"))
    }
}
