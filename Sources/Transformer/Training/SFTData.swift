import Foundation
import Jinja

// Supervised fine-tuning data in TRL's conventions (SFTTrainer with completion-only loss): JSONL
// files of conversations or prompt/completion pairs, rendered with the model's own chat template
// and tokenised with a mask of the tokens whose loss counts.
//
// Formats, one JSON object per line (blank lines skipped, other keys ignored):
//   {"messages": [{"role": ..., "content": ...}, ...]}      conversational: assistant turns trained
//   {"prompt": "...", "completion": "..."}                   standard: the completion + EOS trained
//   {"prompt": [messages], "completion": [messages]}         conversational prompt-completion
// Only string `content` is read; other message fields (tool calls, content parts) are not passed to
// the template.

/// A problem with fine-tuning data (see `DataError`).
public typealias SFTDataError = DataError

/// What to do with an example of more than `context` tokens. Never silent: each is counted or refused.
public enum OverlongPolicy: String, Sendable, CaseIterable {
    /// Keep the first `context` tokens (counted in `truncated`). An example whose trainable targets
    /// are all cut away is dropped instead (counted in `dropped`): it would teach nothing.
    case truncate
    /// Skip the example (counted in `dropped`).
    case drop
    /// Throw an error naming the line and its length.
    case refuse
}

/// One tokenised training example.
public struct SFTExample: Equatable, Sendable {
    public var tokens: [Int32]
    /// Same length as `tokens`: true on tokens whose loss counts (the assistant's / completion's).
    /// Token t is predicted from tokens[..<t], so `trainable[0]` never matters.
    public var trainable: [Bool]
    /// The 1-based line of the file it came from.
    public var line: Int
    /// The length before truncation, if it was truncated.
    public var truncatedFrom: Int?

    public init(tokens: [Int32], trainable: [Bool], line: Int, truncatedFrom: Int? = nil) {
        precondition(tokens.count == trainable.count, "tokens and trainable differ in length")
        self.tokens = tokens
        self.trainable = trainable
        self.line = line
        self.truncatedFrom = truncatedFrom
    }

    /// How many tokens are trained targets (trainable positions 1..<n).
    public var trainableTargets: Int { trainable.dropFirst().reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Next-token pairs: inputs = tokens[0..<n-1], targets = tokens[1..<n] with `ignoreIndex` where
    /// `trainable[1..<n]` is false. Both have n-1 entries.
    public func inputsAndTargets(ignoreIndex: Int32 = -100) -> ([Int32], [Int32]) {
        guard tokens.count > 1 else { return ([], []) }
        let inputs = Array(tokens.dropLast())
        let targets = (1..<tokens.count).map { trainable[$0] ? tokens[$0] : ignoreIndex }
        return (inputs, targets)
    }
}

extension Collection where Element == SFTExample {
    /// Tokens over all examples.
    public var tokenCount: Int { reduce(0) { $0 + $1.tokens.count } }
    /// Trained targets over all examples.
    public var trainableTargetCount: Int { reduce(0) { $0 + $1.trainableTargets } }
}

/// Turns one JSON line into tokens and a trainable mask (before any length limit).
///
/// Conversations (`messages`): for each assistant message i, prefix = render(messages[..<i],
/// addGenerationPrompt: true) and upto = render(messages[...i], addGenerationPrompt: false); the text
/// between them is the assistant's turn, including its end-of-turn text (`<|im_end|>\n`) so that the
/// model learns to stop, and is trainable; the rest (system, user, tool turns, generation prompts) is
/// not. Each rendering must extend the previous one ("prefix-stable"), and the parts together must
/// be render(all messages); a template that rewrites earlier turns (e.g. strips past reasoning) is
/// refused rather than trained on text it never shows the model.
///
/// The parts are tokenised one after another with special tokens parsed (`Tokenizer.encode(parts:)`),
/// so a turn starts on a token boundary exactly as it does when generating after the prompt. The
/// tokenizer's BOS is prepended, untrained, when the model adds one (`add_bos_token`) and the text
/// does not already start with it.
///
/// Standard prompt-completion (strings): prompt then completion, parsed the same way (TRL's tokenizer
/// also parses special tokens in text), then EOS appended and trained unless the completion already
/// ends with it. Unlike TRL, which tokenises prompt + completion as one text, the completion always
/// starts on a token boundary.
///
/// Conversational prompt-completion: the conversation prompt + completion, with the assistant
/// messages of the completion trained as above (the first one's prefix is the prompt rendered with
/// the generation prompt, as TRL does). TRL would also train non-assistant messages of a completion;
/// here only assistant turns are ever trained.
public struct SFTEncoder {
    public let tokenizer: Tokenizer
    public let template: ModelChatTemplate
    /// The date templates that print today's date see (fixed, so renderings are reproducible).
    public let now: Date

    public init(
        tokenizer: Tokenizer, template: ModelChatTemplate,
        now: Date = Date(timeIntervalSince1970: 1_735_689_600)
    ) {
        self.tokenizer = tokenizer
        self.template = template
        self.now = now
    }

    /// The example of one JSON line (`line` is only recorded). Throws `SFTDataError` without a
    /// location for a malformed line; the loader adds the file and line.
    public func encode(json text: String, line: Int = 0) throws -> SFTExample {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw SFTDataError("not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw SFTDataError("not a JSON object") }
        let hasMessages = dict["messages"] != nil
        let hasPair = dict["prompt"] != nil && dict["completion"] != nil
        var parts: [(text: [UInt8], trained: Bool)]
        var appendEOS = false
        switch (hasMessages, hasPair) {
        case (true, true):
            throw SFTDataError(#"has both "messages" and "prompt"/"completion"; give one format"#)
        case (false, false):
            throw SFTDataError(#"has neither "messages" nor both "prompt" and "completion""#)
        case (true, false):
            let messages = try Self.messages(dict["messages"]!, key: "messages")
            guard messages.contains(where: { $0.role == "assistant" }) else {
                throw SFTDataError(#""messages" has no "assistant" message"#)
            }
            parts = try chatParts(messages, trainFrom: 0)
        case (false, true):
            if let prompt = dict["prompt"] as? String, let completion = dict["completion"] as? String {
                parts = [(Array(prompt.utf8), false), (Array(completion.utf8), true)]
                appendEOS = true
            } else if dict["prompt"] is [Any], dict["completion"] is [Any] {
                let prompt = try Self.messages(dict["prompt"]!, key: "prompt")
                let completion = try Self.messages(dict["completion"]!, key: "completion")
                guard completion.contains(where: { $0.role == "assistant" }) else {
                    throw SFTDataError(#""completion" has no "assistant" message"#)
                }
                parts = try chatParts(prompt + completion, trainFrom: prompt.count)
            } else {
                throw SFTDataError(#""prompt" and "completion" must both be strings or both be message lists"#)
            }
        }

        let ids = tokenizer.encode(parts: parts.map(\.text), parseSpecial: true)
        var tokens: [Int32] = [], trainable: [Bool] = []
        if tokenizer.addBOS, let bos = tokenizer.bos, ids.first(where: { !$0.isEmpty })?.first != bos {
            tokens.append(bos)
            trainable.append(false)
        }
        for (partIDs, part) in zip(ids, parts) {
            tokens += partIDs
            trainable += Array(repeating: part.trained, count: partIDs.count)
        }
        if appendEOS, let eos = tokenizer.eos, tokens.last != eos || trainable.last != true {
            tokens.append(eos)
            trainable.append(true)
        }
        let example = SFTExample(tokens: tokens, trainable: trainable, line: line)
        guard example.trainableTargets > 0 else {
            throw SFTDataError(appendEOS ? "the completion has no tokens" : "the assistant turns have no tokens")
        }
        return example
    }

    /// A JSON message list as ChatMessages; `key` names the list in errors.
    static func messages(_ value: Any, key: String) throws -> [ChatMessage] {
        guard let list = value as? [Any] else { throw SFTDataError("\"\(key)\" is not a list") }
        guard !list.isEmpty else { throw SFTDataError("\"\(key)\" is empty") }
        return try list.enumerated().map { i, item in
            guard let m = item as? [String: Any] else { throw SFTDataError("\"\(key)\"[\(i)] is not an object") }
            guard let role = m["role"] as? String else { throw SFTDataError("\"\(key)\"[\(i)] has no string \"role\"") }
            guard let content = m["content"] as? String else {
                throw SFTDataError("\"\(key)\"[\(i)] has no string \"content\"")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    /// The rendering of `messages` cut into parts, the assistant turns at index >= `trainFrom`
    /// trainable (see the type's comment). Compares bytes, not Characters: String's `hasPrefix`
    /// uses canonical equivalence, which could match a prefix of a different byte length.
    func chatParts(_ messages: [ChatMessage], trainFrom: Int) throws -> [(text: [UInt8], trained: Bool)] {
        func render(_ m: ArraySlice<ChatMessage>, _ generationPrompt: Bool) throws -> [UInt8] {
            do {
                return Array(try template.render(messages: Array(m), addGenerationPrompt: generationPrompt, now: now).utf8)
            } catch let e as ChatTemplateError {
                throw SFTDataError("\(e)")
            }
        }
        func unstable(_ what: String) -> SFTDataError {
            SFTDataError("the chat template is not prefix-stable: \(what)")
        }
        var parts: [(text: [UInt8], trained: Bool)] = []
        var done: [UInt8] = []  // the text the parts so far make up
        for i in messages.indices where i >= trainFrom && messages[i].role == "assistant" {
            let prefix = try render(messages[..<i], true)
            let upto = try render(messages[...i], false)
            guard prefix.starts(with: done) else {
                throw unstable("messages[..<\(i)] with the generation prompt does not extend the earlier turns' text")
            }
            guard upto.starts(with: prefix) else {
                throw unstable("messages[...\(i)] does not extend messages[..<\(i)] with the generation prompt")
            }
            parts.append((Array(prefix[done.count...]), false))
            parts.append((Array(upto[prefix.count...]), true))
            done = upto
        }
        let full = try render(messages[...], false)
        guard full.starts(with: done) else {
            throw unstable("the whole conversation does not extend the text up to its last trained turn")
        }
        parts.append((Array(full[done.count...]), false))
        return parts
    }
}

/// Fine-tuning examples loaded from JSONL, with the counts a run should report.
///
/// Every line is parsed, rendered and tokenised when loading, so a malformed line fails before any
/// training work, with the file, the 1-based line number and the problem
/// (`train.jsonl:17: "messages"[2] has no string "content"`).
public struct SFTDataset: Sendable {
    public var examples: [SFTExample]
    /// Non-blank lines read.
    public var lines: Int
    /// Examples cut to `context` tokens (and kept).
    public var truncated: Int
    /// Examples skipped: over `context` with `.drop`, or with every trained target cut by `.truncate`.
    public var dropped: Int

    /// Tokens of the kept examples.
    public var tokens: Int { examples.tokenCount }
    /// Trained targets of the kept examples.
    public var trainableTokens: Int { examples.trainableTargetCount }

    public init(examples: [SFTExample], lines: Int, truncated: Int = 0, dropped: Int = 0) {
        self.examples = examples
        self.lines = lines
        self.truncated = truncated
        self.dropped = dropped
    }

    /// Loads a JSONL file (see `SFTEncoder` for the formats and the trainable mask).
    /// - Parameter context: the most tokens an example may have (≥ 2); longer ones follow `overlong`.
    public static func load(
        path: String, tokenizer: Tokenizer, template: ModelChatTemplate, context: Int,
        overlong: OverlongPolicy, now: Date = Date(timeIntervalSince1970: 1_735_689_600)
    ) throws -> SFTDataset {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SFTDataError(file: path, "cannot read the file")
        }
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { bytes -> String in
            let trimmed = bytes.last == 0x0D ? bytes.dropLast() : bytes[...]
            return String(decoding: trimmed, as: UTF8.self)
        }
        return try SFTDataset(
            jsonLines: lines, file: path, tokenizer: tokenizer, template: template,
            context: context, overlong: overlong, now: now)
    }

    /// Examples from JSON lines (line k of `jsonLines` is line k+1 of `file`, which names it in errors).
    public init(
        jsonLines: [String], file: String = "<input>", tokenizer: Tokenizer, template: ModelChatTemplate,
        context: Int, overlong: OverlongPolicy, now: Date = Date(timeIntervalSince1970: 1_735_689_600)
    ) throws {
        precondition(context >= 2, "context must be at least 2 tokens")
        let encoder = SFTEncoder(tokenizer: tokenizer, template: template, now: now)
        self.init(examples: [], lines: 0)
        for (k, text) in jsonLines.enumerated() {
            if text.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            let line = k + 1
            lines += 1
            var example: SFTExample
            do {
                example = try encoder.encode(json: text, line: line)
            } catch let e as SFTDataError {
                throw SFTDataError(file: file, line: line, e.reason)
            } catch {
                throw SFTDataError(file: file, line: line, "\(error)")
            }
            let n = example.tokens.count
            if n > context {
                switch overlong {
                case .refuse:
                    throw SFTDataError(
                        file: file, line: line,
                        "\(n) tokens, more than the context of \(context) (overlong policy: refuse)")
                case .drop:
                    dropped += 1
                    continue
                case .truncate:
                    example = SFTExample(
                        tokens: Array(example.tokens.prefix(context)),
                        trainable: Array(example.trainable.prefix(context)), line: line, truncatedFrom: n)
                    if example.trainableTargets == 0 {
                        dropped += 1
                        continue
                    }
                    truncated += 1
                }
            }
            examples.append(example)
        }
    }

    /// A deterministic hold-out split, for when no validation file is given: a seeded shuffle picks
    /// round(fraction × count) examples (at least 1 when fraction > 0, leaving at least 1 for
    /// training; none from fewer than 2 examples). Both parts keep file order and are disjoint.
    public func split(validationFraction: Double, seed: UInt64) -> (train: [SFTExample], validation: [SFTExample]) {
        precondition(validationFraction >= 0 && validationFraction < 1, "validation fraction must be in [0, 1)")
        let n = examples.count
        guard n >= 2, validationFraction > 0 else { return (examples, []) }
        let count = min(max(Int((validationFraction * Double(n)).rounded()), 1), n - 1)
        var held = [Bool](repeating: false, count: n)
        for i in seededPermutation(n, seed: seed ^ 0x7661_6C69_6461_7465).prefix(count) { held[i] = true }
        return (
            examples.indices.filter { !held[$0] }.map { examples[$0] },
            examples.indices.filter { held[$0] }.map { examples[$0] }
        )
    }
}
