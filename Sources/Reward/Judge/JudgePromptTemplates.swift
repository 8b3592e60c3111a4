import Foundation
import Transformer

/// The texts of the pointwise GRM's judging prompt, in one place so they are easy to change.
///
/// The structure is the paper's (DeepSeek-GRM): instructions, general criteria, the conversation,
/// the responses framed `[The Begin of Response i] ... [The End of Response i]`, and output
/// requirements asking for `Specific Criteria:` (principles with weights), `Analysis:` and
/// `Scores: \boxed{...}`. Placeholders in `{braces}` are filled by `JudgePromptBuilder`.
public struct JudgePromptTemplates: Sendable, Equatable {
    /// The name a judge adapter records (`grm.adapter.judge.template`) and `--judge-template` takes.
    public var name: String
    /// Instructions for n >= 2 responses scored 1-10. Placeholders: `{conversation}`, `{responses}`,
    /// `{count}`, `{example}` (e.g. `\boxed{x, x}`).
    public var multi: String
    /// Instructions for one response scored 0 (wrong) or 1 (right). Placeholders: `{conversation}`,
    /// `{responses}`.
    public var single: String
    /// One framed response. Placeholders: `{index}` (1-based), `{response}`.
    public var responseFrame: String
    /// One conversation turn. Placeholders: `{role}` (capitalised), `{content}`.
    public var turn: String
    /// Appended for hinted sampling (rejective fine-tuning). Placeholder: `{index}` (1-based).
    public var hint: String
    /// Optional system message put before the user message holding the instructions.
    public var system: String?

    public init(
        name: String = "custom", multi: String, single: String, responseFrame: String, turn: String, hint: String,
        system: String?
    ) {
        self.name = name
        self.multi = multi
        self.single = single
        self.responseFrame = responseFrame
        self.turn = turn
        self.hint = hint
        self.system = system
    }

    /// The adapter metadata key (under `grm.adapter.`) naming the template a judge was trained on.
    public static let metadataKey = "judge.template"

    /// Every built-in template, by name.
    public static let builtIn: [JudgePromptTemplates] = [.standard, .compact]

    /// The template a judge adapter records it was trained on (`grm.adapter.judge.template`), the
    /// standard one when it records none (or there is no adapter).
    public static func recorded(in adapter: LoRAAdapter?) throws -> JudgePromptTemplates {
        try named(adapter?.metadata[metadataKey] ?? "standard")
    }

    /// The built-in template called `name`.
    public static func named(_ name: String) throws -> JudgePromptTemplates {
        guard let t = builtIn.first(where: { $0.name == name }) else {
            throw RewardDataError("unknown judge template \"\(name)\"; known: \(builtIn.map(\.name).joined(separator: ", "))")
        }
        return t
    }

    public static let standard = JudgePromptTemplates(
        name: "standard",
        multi: """
            You are a skilled expert at scoring responses. Given the context of a conversation (the last \
            turn is the user's query) and {count} responses from the assistant, judge how well each response \
            serves the user.

            First state the specific criteria that matter for this query, each with a weight (for example \
            "Accuracy (Weight: 40%)"), building on the general criteria below. Then analyse every response \
            against those criteria. Finally give each response one overall score: an integer from 1 to 10, \
            where 1 means it meets the criteria not at all, 6 only in part and 10 perfectly. Be strict: a \
            response that is wrong on a verifiable point cannot score well, however well it is written, \
            and length alone is not a merit.

            #### General Criteria ####
            1. Instruction adherence: does the response do exactly what was asked, within every constraint?
            2. Correctness: are its facts, calculations and reasoning right?
            3. Helpfulness: is it useful, complete and clear for this user?
            4. Harmlessness: does it avoid unsafe, deceptive or offensive content?

            #### Conversation Context ####
            {conversation}

            #### Responses to be Scored ####
            {responses}

            #### Output Format Requirements ####
            Write exactly three parts:
            Specific Criteria: <the criteria for this query, each with its weight>
            Analysis: <how each response does against the criteria>
            Scores: <the {count} scores in the order of the responses, comma-separated inside \\boxed{}, \
            e.g. {example}>
            """,
        single: """
            You are a skilled expert at checking responses. Given the context of a conversation (the last \
            turn is the user's query) and one response from the assistant, decide whether the response is \
            correct: whether it answers the query right and meets every constraint the user set.

            First state the specific criteria that decide correctness for this query, each with a weight \
            (for example "Correct final answer (Weight: 70%)"). Then analyse the response against them. \
            Finally score it 1 if it is correct and 0 if it is not.

            #### Conversation Context ####
            {conversation}

            #### Response to be Checked ####
            {responses}

            #### Output Format Requirements ####
            Write exactly three parts:
            Specific Criteria: <the criteria for this query, each with its weight>
            Analysis: <how the response does against the criteria>
            Scores: <1 if correct, 0 if not, inside \\boxed{}, e.g. \\boxed{1}>
            """,
        responseFrame: """
            [The Begin of Response {index}]
            {response}
            [The End of Response {index}]
            """,
        turn: "{role}: {content}",
        hint: "\n\nThe best response is: Response {index}",
        system: nil)

    /// The same three-part output in under a third of the standard template's instruction tokens
    /// (99 against 326 SmolLM2 tokens, placeholders empty): a judge trained on it reads mostly the
    /// query and the responses, which makes every training example and every judgement cheaper. The instructions come first so that items share them as
    /// a prefix; what varies per item (the count, the example) comes after the responses.
    public static let compact = JudgePromptTemplates(
        name: "compact",
        multi: """
            Judge the assistant's responses to the user's last message. Check every verifiable point \
            (facts, calculations, order, constraints); a response that is wrong on one cannot score well.

            {conversation}

            {responses}

            Write three parts:
            Specific Criteria: the criteria for this query, each with its weight
            Analysis: check each response against them
            Scores: {count} integers from 1 to 10, one per response in order, inside \\boxed{}, e.g. {example}
            """,
        single: """
            Judge whether the assistant's response to the user's last message is correct: right on every \
            verifiable point and within every constraint the user set.

            {conversation}

            {responses}

            Write three parts:
            Specific Criteria: the criteria for this query, each with its weight
            Analysis: check the response against them
            Scores: 1 if it is correct, 0 if not, inside \\boxed{}, e.g. \\boxed{1}
            """,
        responseFrame: """
            [Response {index}]
            {response}
            [End of Response {index}]
            """,
        turn: "{role}: {content}",
        hint: "\n\nThe best response is: Response {index}",
        system: nil)
}
