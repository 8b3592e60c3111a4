import Foundation
import Jinja

/// One chat message. `content` is usually a string; templates that take content parts (Gemma 3's
/// `[{"type": "text", "text": ...}]`) or tool calls can be given any JSON-like value through
/// `extra` or `ChatTemplate.render(messagesJSON:...)`.
public struct ChatMessage: Equatable, Sendable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    var value: JinjaValue { .object(JinjaObject([("role", .string(role)), ("content", .string(content))])) }
}

/// A model's chat template (`tokenizer.chat_template`, Jinja), rendered the way Hugging Face's
/// `apply_chat_template` renders it: jinja2 with `trim_blocks` and `lstrip_blocks`, the
/// `raise_exception` and `strftime_now` globals, `namespace()`, loop controls, and `tojson` as
/// `json.dumps(ensure_ascii=False)`. The context is HF's: `messages`, `tools` (None unless given),
/// `documents` (None), `add_generation_prompt`, `bos_token`, `eos_token`.
///
/// Only a subset of Jinja is implemented (the Jinja target; docs/tokenizers-and-templates.md); a template that uses
/// anything else fails with `ChatTemplateError.unsupported` naming the construct, when parsed or
/// when the unsupported part is reached, never with a silently different prompt.
///
///     let t = try ChatTemplate(source: file.metadata.string("tokenizer.chat_template")!)
///     let prompt = try t.render(messages: [ChatMessage(role: "user", content: "Hi")],
///                               addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
public struct ChatTemplate {
    public let source: String
    let program: JinjaTemplate

    /// ChatML, used when a GGUF file has no `tokenizer.chat_template` (llama.cpp's fallback too).
    public static let chatML = """
        {%- for message in messages -%}
        {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}
        {%- endfor -%}
        {%- if add_generation_prompt -%}
        {{- '<|im_start|>assistant\\n' -}}
        {%- endif -%}
        """

    /// Parses a template; throws `ChatTemplateError` for invalid or unsupported syntax.
    public init(source: String) throws {
        self.source = source
        program = try JinjaTemplate(source: source)
    }

    /// Renders the prompt for `messages`.
    /// - Parameter now: the time `strftime_now` reports (Llama 3.x puts today's date in the prompt).
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String? = nil,
        eosToken: String? = nil, now: Date = Date()
    ) throws -> String {
        try render(
            messages: .array(messages.map(\.value)), tools: nil, addGenerationPrompt: addGenerationPrompt,
            bosToken: bosToken, eosToken: eosToken, extra: [:], now: now)
    }

    /// Renders messages (and optionally tools) given as JSON text: an array of message objects with
    /// any fields (`content` parts, `tool_calls`, ...); key order is kept for `tojson`.
    public func render(
        messagesJSON: String, toolsJSON: String? = nil, addGenerationPrompt: Bool,
        bosToken: String? = nil, eosToken: String? = nil, now: Date = Date()
    ) throws -> String {
        let messages = try JinjaValue.parseJSON(messagesJSON)
        guard case .array = messages else {
            throw ChatTemplateError.invalidJSON("messages must be an array of message objects")
        }
        let tools = try toolsJSON.map { try JinjaValue.parseJSON($0) }
        return try render(
            messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
            bosToken: bosToken, eosToken: eosToken, extra: [:], now: now)
    }

    /// Renders with arbitrary values; `extra` adds template variables (e.g. `date_string`).
    public func render(
        messages: JinjaValue, tools: JinjaValue?, addGenerationPrompt: Bool, bosToken: String?,
        eosToken: String?, extra: [String: JinjaValue] = [:], now: Date = Date()
    ) throws -> String {
        var globals: [String: JinjaValue] = [
            "messages": messages,
            "tools": tools ?? .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": bosToken.map { .string($0) } ?? .none,
            "eos_token": eosToken.map { .string($0) } ?? .none
        ]
        for (k, v) in extra { globals[k] = v }
        return try program.render(globals: globals, now: now)
    }
}

/// A GGUF model's chat template with the model's BOS/EOS token texts.
public struct ModelChatTemplate {
    public let template: ChatTemplate
    /// False when the file has no `tokenizer.chat_template` and a built-in template or ChatML is used instead.
    public let fromModel: Bool
    /// The built-in template used for a file without one whose architecture has a known template
    /// ("gemma3"), or nil.
    public let builtin: String?
    public let bosToken: String?
    public let eosToken: String?

    public init(path: String) throws {
        try self.init(metadata: GGUFFile(path: path).metadata)
    }

    public init(metadata m: GGUFMetadata) throws {
        if let source = m.string("tokenizer.chat_template") {
            template = try ChatTemplate(source: source)
            fromModel = true
            builtin = nil
        } else if let known = BuiltinChatTemplates.forArchitecture(m.string("general.architecture")) {
            template = try ChatTemplate(source: known.source)
            fromModel = false
            builtin = known.name
        } else {
            template = try ChatTemplate(source: ChatTemplate.chatML)
            fromModel = false
            builtin = nil
        }
        let tokens = m.strings("tokenizer.ggml.tokens")
        func text(_ key: String) -> String? {
            guard let id = m.int(key), let tokens, id >= 0, id < tokens.count else { return nil }
            return tokens[id]
        }
        bosToken = text("tokenizer.ggml.bos_token_id")
        eosToken = text("tokenizer.ggml.eos_token_id")
    }

    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, now: Date = Date()) throws -> String {
        try template.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt,
            bosToken: bosToken, eosToken: eosToken, now: now)
    }

    public func render(
        messagesJSON: String, toolsJSON: String? = nil, addGenerationPrompt: Bool,
        now: Date = Date()
    ) throws -> String {
        try template.render(
            messagesJSON: messagesJSON, toolsJSON: toolsJSON, addGenerationPrompt: addGenerationPrompt,
            bosToken: bosToken, eosToken: eosToken, now: now)
    }
}
