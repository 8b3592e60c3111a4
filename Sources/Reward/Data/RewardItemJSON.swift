import Foundation
import Transformer

/// Reading and writing `RewardItem` as one JSON object (one JSONL line).
///
/// Accepted layouts (`prompt` is a string or a list of `{"role", "content"}` messages; optional
/// `id` (string or integer) and `category` (or RewardBench's `subset`)):
/// * pairwise `{"prompt", "chosen", "rejected"}`; `chosen`/`rejected` may be strings, one message,
///   or (TRL's conversational form) message lists; without `prompt`, two full conversations that
///   share everything but their last assistant message (TRL's implicit-prompt form);
/// * listwise `{"prompt", "responses": [...], "best": i}` and/or `"scores": [...]`;
/// * single `{"prompt", "response", "label": 0|1}` (`true`/`false` accepted).
///
/// Pairwise and listwise items may carry a numeric `margin` (TRL's RewardTrainer column), used by
/// Bradley-Terry training (`RewardItem.margin`). With `allowUnlabelled` (scoring), a listwise
/// item without `best`/`scores` or a single one without `label` is read as unlabelled
/// (`isLabelled` false).
extension RewardItem {
    /// Decodes one JSON line; errors say which field is wrong and why.
    public init(jsonLine: String, allowUnlabelled: Bool = false) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(jsonLine) } catch let e as JSONValueError { throw RewardDataError(e.reason) }
        try self.init(json: value, allowUnlabelled: allowUnlabelled)
    }

    public init(json: JSONValue, allowUnlabelled: Bool = false) throws {
        guard case let .object(pairs) = json else { throw RewardDataError("expected a JSON object, got \(json.kindName)") }
        let keys = Set(pairs.map(\.key))
        func fail(_ reason: String) -> RewardDataError { RewardDataError(reason) }

        var id: String?
        switch json["id"] {
        case nil, .null?: id = nil
        case let .string(s)?: id = s
        case let .integer(i)?: id = String(i)
        case let other?: throw fail("id must be a string or an integer, got \(other.kindName)")
        }
        var category: String?
        for key in ["category", "subset"] where category == nil {
            switch json[key] {
            case nil, .null?: break
            case let .string(s)?: category = s
            case let other?: throw fail("\(key) must be a string, got \(other.kindName)")
            }
        }

        let hasPairwise = keys.contains("chosen") || keys.contains("rejected")
        let hasListwise = keys.contains("responses")
        let hasSingle = keys.contains("response")
        let kinds = [hasPairwise, hasListwise, hasSingle].filter { $0 }.count
        if kinds == 0 { throw fail("no responses: expected \"chosen\"/\"rejected\", \"responses\" or \"response\"") }
        if kinds > 1 { throw fail("mixes item kinds: use only one of \"chosen\"/\"rejected\", \"responses\", \"response\"") }

        var prompt: [ChatMessage]?
        if let p = json["prompt"] { prompt = try RewardItem.messages(p, field: "prompt") }

        let responses: [String]
        let label: RewardLabel
        let format: RewardItemFormat
        var labelled = true
        if hasPairwise {
            guard let c = json["chosen"] else { throw fail("missing \"chosen\"") }
            guard let r = json["rejected"] else { throw fail("missing \"rejected\"") }
            if prompt == nil {
                // Implicit prompt: both are conversations that differ only in the final reply.
                guard case let .array(ca) = c, case let .array(ra) = r else {
                    throw fail("missing \"prompt\" (allowed only when chosen and rejected are both message lists)")
                }
                let cm = try RewardItem.messages(.array(ca), field: "chosen")
                let rm = try RewardItem.messages(.array(ra), field: "rejected")
                guard cm.count >= 2, cm.count == rm.count, Array(cm.dropLast()) == Array(rm.dropLast()) else {
                    throw fail("missing \"prompt\" and chosen/rejected do not share a conversation before their last message")
                }
                guard cm.last!.role == "assistant", rm.last!.role == "assistant" else {
                    throw fail("chosen and rejected must end with an assistant message")
                }
                prompt = Array(cm.dropLast())
                responses = [cm.last!.content, rm.last!.content]
            } else {
                responses = [try RewardItem.response(c, field: "chosen"), try RewardItem.response(r, field: "rejected")]
            }
            label = .best(0)
            format = .pairwise
        } else if hasListwise {
            guard case let .array(items)? = json["responses"] else {
                throw fail("responses must be an array, got \(json["responses"]!.kindName)")
            }
            responses = try items.enumerated().map { try RewardItem.response($1, field: "responses[\($0)]") }
            let best: Int?
            switch json["best"] {
            case nil, .null?: best = nil
            case let .integer(i)?: best = i
            case let other?: throw fail("best must be an integer index, got \(other.kindName)")
            }
            var scores: [Double]?
            switch json["scores"] {
            case nil, .null?: scores = nil
            case let .array(a)?:
                scores = try a.enumerated().map { i, v in
                    guard let d = v.doubleValue else { throw fail("scores[\(i)] must be a number, got \(v.kindName)") }
                    return d
                }
            case let other?: throw fail("scores must be an array of numbers, got \(other.kindName)")
            }
            switch (best, scores) {
            case (nil, nil) where allowUnlabelled:
                label = responses.count == 1 ? .binary(0) : .best(0)
                labelled = false
            case (nil, nil): throw fail("a listwise item needs \"best\" or \"scores\"")
            case let (b?, nil): label = .best(b)
            case let (nil, s?): label = .scores(s)
            case let (b?, s?):
                if s.count == responses.count, let top = RewardItem.uniqueArgmax(s), top != b {
                    throw fail("best = \(b) disagrees with scores, whose maximum is at \(top)")
                }
                label = .scores(s)
            }
            format = .listwise
        } else {
            responses = [try RewardItem.response(json["response"]!, field: "response")]
            switch json["label"] {
            case nil where allowUnlabelled, .null? where allowUnlabelled:
                label = .binary(0)
                labelled = false
            case nil: throw fail("a single-response item needs \"label\" (0 or 1)")
            case let .integer(i)?: label = .binary(i)
            case let .bool(b)?: label = .binary(b ? 1 : 0)
            case let other?: throw fail("label must be 0 or 1, got \(other.kindName)")
            }
            format = .single
        }
        var margin: Double?
        switch json["margin"] {
        case nil, .null?: margin = nil
        case let v?:
            guard let d = v.doubleValue else { throw fail("margin must be a number, got \(v.kindName)") }
            guard format != .single else { throw fail("margin applies to pairwise and listwise items, not a single response") }
            margin = d
        }
        guard let prompt else { throw fail("missing \"prompt\"") }
        try self.init(id: id, category: category, prompt: prompt, responses: responses, label: label, format: format, margin: margin)
        isLabelled = labelled
        if let problem = validationProblem { throw fail(problem) }
    }

    /// A prompt: a string (one user message) or a non-empty list of messages.
    static func messages(_ v: JSONValue, field: String) throws -> [ChatMessage] {
        switch v {
        case let .string(s): return [ChatMessage(role: "user", content: s)]
        case let .array(items):
            if items.isEmpty { throw RewardDataError("\(field) is an empty message list") }
            return try items.enumerated().map { try message($1, field: "\(field)[\($0)]") }
        default: throw RewardDataError("\(field) must be a string or a list of messages, got \(v.kindName)")
        }
    }

    static func message(_ v: JSONValue, field: String) throws -> ChatMessage {
        guard case .object = v else { throw RewardDataError("\(field) must be a {\"role\", \"content\"} object, got \(v.kindName)") }
        guard case let .string(role)? = v["role"], !role.isEmpty else {
            throw RewardDataError("\(field).role must be a non-empty string")
        }
        guard case let .string(content)? = v["content"] else {
            throw RewardDataError("\(field).content must be a string, got \(v["content"]?.kindName ?? "nothing")")
        }
        return ChatMessage(role: role, content: content)
    }

    /// A response: a string, one message object, or a list holding one assistant message.
    static func response(_ v: JSONValue, field: String) throws -> String {
        switch v {
        case let .string(s): return s
        case .object: return try message(v, field: field).content
        case let .array(items):
            guard items.count == 1 else {
                throw RewardDataError("\(field) is a list of \(items.count) messages; a response must be one message")
            }
            return try message(items[0], field: "\(field)[0]").content
        default: throw RewardDataError("\(field) must be a string or a message, got \(v.kindName)")
        }
    }

    /// The item as a JSON object in its format (prompt as a string when it is one user message).
    public var json: JSONValue {
        var pairs: [(key: String, value: JSONValue)] = []
        if let id { pairs.append(("id", .string(id))) }
        if let category { pairs.append(("category", .string(category))) }
        if prompt.count == 1 && prompt[0].role == "user" {
            pairs.append(("prompt", .string(prompt[0].content)))
        } else {
            pairs.append(
                (
                    "prompt",
                    .array(
                        prompt.map {
                            .object([("role", .string($0.role)), ("content", .string($0.content))])
                        })
                ))
        }
        switch (format, label) {
        case (.single, _) where !isLabelled:
            pairs.append(("response", .string(responses[0])))
        case (_, _) where !isLabelled:
            pairs.append(("responses", .array(responses.map { .string($0) })))
        case (.pairwise, .best(0)) where responses.count == 2:
            pairs.append(("chosen", .string(responses[0])))
            pairs.append(("rejected", .string(responses[1])))
        case let (_, .binary(l)) where responses.count == 1:
            pairs.append(("response", .string(responses[0])))
            pairs.append(("label", .integer(l)))
        case let (_, .scores(s)):
            pairs.append(("responses", .array(responses.map { .string($0) })))
            pairs.append(("scores", .array(s.map { $0 == $0.rounded() && abs($0) < 1e15 ? .integer(Int($0)) : .number($0) })))
        default:
            pairs.append(("responses", .array(responses.map { .string($0) })))
            pairs.append(("best", .integer(bestIndex ?? 0)))
        }
        if let margin { pairs.append(("margin", margin == margin.rounded() && abs(margin) < 1e15 ? .integer(Int(margin)) : .number(margin))) }
        return .object(pairs)
    }

    /// One JSONL line (without the newline).
    public func jsonLine() throws -> String { try json.serialized() }
}
