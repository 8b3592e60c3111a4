import Foundation
import XCTest
@testable import Jinja
@testable import Transformer

/// Chat templates against jinja2 as Hugging Face configures it (Fixtures/chat-templates.json, from
/// make_chat_fixtures.py): the templates of SmolLM2 (the default GGUF's), Qwen2.5, Llama 3.2 and
/// Gemma 3 over several conversations, small templates for single constructs, errors, and
/// unsupported constructs refused by name.
final class ChatTemplateTests: XCTestCase {
    struct Fixture: Decodable {
        let now: String
        let cases: [Case]
        let snippets: [Snippet]
    }

    struct Case: Decodable {
        let name: String
        let template: String
        let add_generation_prompt: Bool
        let bos_token: String?
        let eos_token: String?
        let expected: String?
        let error: String?
    }

    struct Snippet: Decodable {
        let name: String
        let source: String
        let expected: String?
        let error: String?
    }

    /// The fixture file parsed twice: typed, and as JinjaValues (messages and tools keep key order).
    static let raw: String = String(
        decoding: FileManager.default.contents(atPath: fixturePath("chat-templates.json")) ?? Data(),
        as: UTF8.self)
    static let fixture: Fixture = try! JSONDecoder().decode(Fixture.self, from: Data(raw.utf8))
    static let values: JinjaValue = try! JinjaValue.parseJSON(raw)

    /// 2025-03-09 14:05:07 in the local time zone, as the fixtures' strftime_now.
    static let now: Date = {
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (2025, 3, 9, 14, 5, 7)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone.current
        return cal.date(from: c)!
    }()

    static func templateSource(_ name: String) throws -> String {
        try String(contentsOfFile: fixturePath("chat_templates/\(name).jinja"), encoding: .utf8)
    }

    private func field(_ v: JinjaValue, _ key: String) -> JinjaValue? {
        if case .object(let o) = v { return o[key] }
        return nil
    }

    /// Runs every case of one template; returns (matched, total).
    private func runCases(_ template: String) throws -> (Int, Int) {
        let t = try ChatTemplate(source: Self.templateSource(template))
        guard case .array(let all)? = field(Self.values, "cases") else {
            XCTFail("fixture missing")
            return (0, 0)
        }
        var matched = 0, total = 0
        for (c, v) in zip(Self.fixture.cases, all) where c.template == template {
            total += 1
            let messages = field(v, "messages")!
            let tools = field(v, "tools")
            do {
                let out = try t.render(
                    messages: messages, tools: tools, addGenerationPrompt: c.add_generation_prompt,
                    bosToken: c.bos_token, eosToken: c.eos_token, now: Self.now)
                if let expected = c.expected {
                    XCTAssertEqual(out, expected, c.name)
                    if out == expected { matched += 1 }
                } else {
                    XCTFail("\(c.name): rendered, but jinja2 raised \(c.error ?? "")")
                }
            } catch let e as ChatTemplateError {
                if let error = c.error {
                    // raise_exception's message must be ours too; other errors only need to be errors.
                    if case .raised(let m) = e {
                        XCTAssertEqual("TemplateError: \(m)", error, c.name)
                        if "TemplateError: \(m)" == error { matched += 1 }
                    } else {
                        XCTAssertFalse(error.hasPrefix("TemplateError"), "\(c.name): \(e) but jinja2 raised \(error)")
                        if !error.hasPrefix("TemplateError") { matched += 1 }
                    }
                } else {
                    XCTFail("\(c.name): \(e)")
                }
            }
        }
        return (matched, total)
    }

    func testSmolLM2Template() throws {
        let (m, n) = try runCases("smollm2")
        XCTAssertEqual(n, 6)
        XCTAssertEqual(m, n)
    }

    func testQwen25Template() throws {
        let (m, n) = try runCases("qwen2.5")
        XCTAssertEqual(n, 6)
        XCTAssertEqual(m, n)
    }

    func testLlama32Template() throws {
        let (m, n) = try runCases("llama3.2")
        XCTAssertEqual(n, 7)
        XCTAssertEqual(m, n)
    }

    func testGemma3Template() throws {
        let (m, n) = try runCases("gemma3")
        XCTAssertEqual(n, 7)
        XCTAssertEqual(m, n)
    }

    func testConstructSnippets() throws {
        XCTAssertEqual(Self.fixture.snippets.count, 623)  // 23 constructs, 300 whitespace mixes, 300 expressions
        var refused: [String] = []
        for s in Self.fixture.snippets {
            do {
                let t = try ChatTemplate(source: s.source)
                guard
                    case .array(let messages)? = field(Self.values, "cases").flatMap({ v -> JinjaValue? in
                        if case .array(let a) = v { return field(a[1], "messages") }  // MULTI
                        return nil
                    })
                else {
                    XCTFail("fixture missing")
                    return
                }
                let out = try t.render(
                    messages: .array(messages), tools: nil, addGenerationPrompt: true,
                    bosToken: "<|im_start|>", eosToken: "<|im_end|>", now: Self.now)
                XCTAssertEqual(out, s.expected, s.name)
                if s.expected == nil { XCTFail("\(s.name): rendered \(out.debugDescription), jinja2 raised \(s.error ?? "")") }
            } catch let e as ChatTemplateError {
                if case .unsupported = e, s.name.hasPrefix("random expression") {
                    // Refusing is allowed (never a different output); count where jinja2 rendered.
                    if s.expected != nil { refused.append("\(s.source) -> \(e)") }
                    continue
                }
                XCTAssertNotNil(s.error, "\(s.name): \(e)")
                if case .raised(let m) = e { XCTAssertEqual("TemplateError: \(m)", s.error, s.name) }
            }
        }
        // Of the random expressions jinja2 renders, few may be refused (Python reprs, big ints...).
        XCTAssertLessThan(refused.count, 15, refused.joined(separator: "\n"))
    }

    /// The default GGUF's template is the one the fixtures were rendered with, and the file-level API
    /// reads it with the model's BOS/EOS texts.
    func testDefaultModelTemplate() throws {
        let path = SmolLM2Weights.path
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("model file missing: \(path). Run `bash weights/fetch.sh`.")
            throw XCTSkip("model missing")
        }
        let model = try ModelChatTemplate(path: path)
        XCTAssertTrue(model.fromModel)
        XCTAssertEqual(model.template.source, try Self.templateSource("smollm2"))
        XCTAssertEqual(model.bosToken, "<|im_start|>")
        XCTAssertEqual(model.eosToken, "<|im_end|>")
        let out = try model.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        XCTAssertEqual(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    func testChatMLFallbackWhenNoTemplate() throws {
        let meta = GGUFMetadata([
            ("tokenizer.ggml.tokens", .array(.string(["<s>", "</s>"]))),
            ("tokenizer.ggml.bos_token_id", .uint32(0)), ("tokenizer.ggml.eos_token_id", .uint32(1))
        ])
        let model = try ModelChatTemplate(metadata: meta)
        XCTAssertFalse(model.fromModel)
        XCTAssertEqual(model.bosToken, "<s>")
        let messages = [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "U")]
        XCTAssertEqual(
            try model.render(messages: messages, addGenerationPrompt: false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n")
        XCTAssertEqual(
            try model.render(messages: messages, addGenerationPrompt: true),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")
    }

    /// A gemma3 file without a template gets Gemma 3's (the fixture's text, so the jinja2 renders
    /// of testGemma3Template hold for it); other architectures still get ChatML.
    func testBuiltinGemma3TemplateWhenTheFileHasNone() throws {
        XCTAssertEqual(BuiltinChatTemplates.gemma3 + "\n", try Self.templateSource("gemma3"))
        var meta = GGUFMetadata([
            ("general.architecture", .string("gemma3")),
            ("tokenizer.ggml.tokens", .array(.string(["<pad>", "<eos>", "<bos>"]))),
            ("tokenizer.ggml.bos_token_id", .uint32(2)), ("tokenizer.ggml.eos_token_id", .uint32(1))
        ])
        let model = try ModelChatTemplate(metadata: meta)
        XCTAssertFalse(model.fromModel)
        XCTAssertEqual(model.builtin, "gemma3")
        let messages = [
            ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: " U "), ChatMessage(role: "assistant", content: "A")
        ]
        XCTAssertEqual(
            try model.render(messages: messages, addGenerationPrompt: false),
            "<bos><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n")
        meta["general.architecture"] = .string("llama")
        XCTAssertNil(try ModelChatTemplate(metadata: meta).builtin)
    }

    func testUnsupportedConstructsAreNamed() {
        let refused: [(String, String)] = [
            ("{% macro m() %}x{% endmacro %}", "{% macro %}"),
            ("{% filter upper %}x{% endfilter %}", "{% filter %}"),
            ("{% set x %}a{% endset %}", "block {% set %}"),
            ("{{ 'x'|wordcount }}", "filter 'wordcount'"),
            ("{{ x is sameas y }}", "test 'sameas'"),
            ("{{ messages.append(1) }}", "list method 'append'"),
            ("{{ '%s' % 'a' }}", "'%' string formatting"),
            ("{{ 'a'.format() }}", "string method 'format'"),
            ("{{ messages }}", "printing a list"),
            ("{{ cycler(1) }}", "function 'cycler'"),
            ("{% for m in messages %}{{ loop.cycle('a') }}{% endfor %}", "loop.cycle"),
            ("{% raw %}x{% endraw %}", "{% raw %}"),
            ("{{ strftime_now('%Z') }}", "strftime code %Z")
        ]
        for (source, construct) in refused {
            do {
                let t = try ChatTemplate(source: source)
                let out = try t.render(messages: [ChatMessage(role: "user", content: "u")], addGenerationPrompt: false)
                XCTFail("\(source) rendered \(out.debugDescription)")
            } catch ChatTemplateError.unsupported(let what, _) {
                XCTAssertTrue(what.contains(construct), "\(source): \(what)")
            } catch {
                XCTFail("\(source): \(error)")
            }
        }
    }

    func testErrors() throws {
        XCTAssertThrowsError(try ChatTemplate(source: "{% if x %}")) {
            guard case ChatTemplateError.syntax = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try ChatTemplate(source: "{{ 'a' + }}"))
        XCTAssertThrowsError(try ChatTemplate(source: "{% frobnicate %}"))
        let t = try ChatTemplate(source: "{{ raise_exception('No ' + messages[0].role) }}")
        XCTAssertThrowsError(try t.render(messages: [ChatMessage(role: "tool", content: "")], addGenerationPrompt: false)) {
            XCTAssertEqual($0 as? ChatTemplateError, .raised("No tool"))
            XCTAssertEqual("\($0)", "chat template raised an exception: No tool")
        }
        XCTAssertThrowsError(try t.render(messagesJSON: #"[{"role": "user"#, addGenerationPrompt: false)) {
            guard case ChatTemplateError.invalidJSON = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try t.render(messagesJSON: #"{"role": "user"}"#, addGenerationPrompt: false)) {
            guard case ChatTemplateError.invalidJSON = $0 else { return XCTFail("\($0)") }
        }
        // Line numbers in messages.
        XCTAssertThrowsError(try ChatTemplate(source: "a\nb\n{{ x | }}")) {
            XCTAssertEqual($0 as? ChatTemplateError, .syntax("expected a filter name", line: 3))
        }
    }
}

enum SmolLM2Weights {
    /// <repo>/weights/SmolLM2-135M-Instruct.Q4_1.gguf, from this file's location.
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("weights/SmolLM2-135M-Instruct.Q4_1.gguf").path
}
