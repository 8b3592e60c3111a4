import Foundation
import Transformer

/// How a judging prompt is wrapped for the model: its chat template and BOS/EOS texts.
public struct JudgeChatFormat {
    public let template: ChatTemplate
    public let bosToken: String?
    public let eosToken: String?
    /// The date templates that print today's date see (fixed, so prompts are reproducible).
    public let now: Date

    public init(
        template: ChatTemplate, bosToken: String?, eosToken: String?,
        now: Date = Date(timeIntervalSince1970: 1_735_689_600)
    ) {
        self.template = template
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.now = now
    }

    /// A GGUF model's template (ChatML when the file has none).
    public init(model: ModelChatTemplate, now: Date = Date(timeIntervalSince1970: 1_735_689_600)) {
        self.init(template: model.template, bosToken: model.bosToken, eosToken: model.eosToken, now: now)
    }

    /// ChatML without BOS (what llama.cpp falls back to).
    public static func chatML() -> JudgeChatFormat {
        // The built-in template is known to parse.
        JudgeChatFormat(template: try! ChatTemplate(source: ChatTemplate.chatML), bosToken: nil, eosToken: nil)
    }

    /// The prompt text for `messages`, ending with the header of the assistant's turn (or, with
    /// `addGenerationPrompt: false`, with the last message's turn closed as the template closes it).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        try template.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken,
            now: now)
    }
}

/// Builds the pointwise GRM's judging prompt for an item with its responses shown in a given order.
public struct JudgePromptBuilder {
    public var templates: JudgePromptTemplates
    public var chat: JudgeChatFormat

    public init(templates: JudgePromptTemplates = .standard, chat: JudgeChatFormat = .chatML()) {
        self.templates = templates
        self.chat = chat
    }

    /// The judging instructions (the user message's text).
    /// - Parameters:
    ///   - order: `order[j]` is the original index of the response shown as Response j+1.
    ///   - hint: for hinted sampling, the original index of the best response.
    public func instructions(for item: RewardItem, order: ResponseOrder, hint: Int? = nil) -> String {
        precondition(order.count == item.responses.count, "order has \(order.count) entries for \(item.responses.count) responses")
        let conversation = item.prompt.map { m in
            JudgePromptBuilder.fill(templates.turn, ["role": JudgePromptBuilder.roleName(m.role), "content": m.content])
        }.joined(separator: "\n\n")
        let responses = order.shownToOriginal.enumerated().map { shown, original in
            JudgePromptBuilder.fill(
                templates.responseFrame,
                ["index": String(shown + 1), "response": item.responses[original]])
        }.joined(separator: "\n")
        let n = item.responses.count
        var text: String
        if n == 1 {
            text = JudgePromptBuilder.fill(templates.single, ["conversation": conversation, "responses": responses])
        } else {
            let example = "\\boxed{" + Array(repeating: "x", count: n).joined(separator: ", ") + "}"
            text = JudgePromptBuilder.fill(
                templates.multi,
                [
                    "conversation": conversation, "responses": responses,
                    "count": String(n), "example": example
                ])
        }
        if let hint {
            text += JudgePromptBuilder.fill(templates.hint, ["index": String(order.shownPosition(ofOriginal: hint) + 1)])
        }
        return text
    }

    /// The chat messages given to the model.
    public func messages(for item: RewardItem, order: ResponseOrder, hint: Int? = nil) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        if let system = templates.system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: instructions(for: item, order: order, hint: hint)))
        return messages
    }

    /// The final prompt text, rendered through the chat template.
    public func prompt(for item: RewardItem, order: ResponseOrder, hint: Int? = nil) throws -> String {
        try chat.render(messages(for: item, order: order, hint: hint))
    }

    /// The judging conversation with `judgement` as the assistant's finished turn: what a
    /// semi-scalar head or a meta RM reads (the prompt `prompt(for:order:)` gives, then the
    /// judgement and the template's end of turn).
    public func conversation(for item: RewardItem, order: ResponseOrder, judgement: String) throws -> String {
        try chat.render(
            messages(for: item, order: order) + [ChatMessage(role: "assistant", content: judgement)], addGenerationPrompt: false)
    }

    static func roleName(_ role: String) -> String {
        role.prefix(1).uppercased() + role.dropFirst()
    }

    /// Replaces `{name}` placeholders in one pass: text put in is never searched again, so a
    /// response containing `{count}` stays as written. Unknown `{...}` are left alone.
    public static func fill(_ template: String, _ values: [String: String]) -> String {
        var out = ""
        var rest = template[...]
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let after = rest.index(after: open)
            if let close = rest[after...].firstIndex(of: "}"), let value = values[String(rest[after..<close])] {
                out += value
                rest = rest[rest.index(after: close)...]
            } else {
                out += "{"
                rest = rest[after...]
            }
        }
        out += rest
        return out
    }
}
