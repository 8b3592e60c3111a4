import Foundation
import XCTest
@testable import Transformer

/// Fine-tuning data: the trainable mask of conversations and prompt/completion pairs, malformed
/// lines named by number, overlong policies, the next-token shift, padded batches as a pure
/// function of (seed, step), and the validation split. A tiny byte-level vocabulary built here
/// (every byte, ChatML's control tokens, a few merges) and the ChatML fallback template; the real
/// SmolLM2 file when it is present.
final class SFTDataTests: XCTestCase {
    // ids: 0 <|endoftext|> (EOS), 1 <|im_start|>, 2 <|im_end|>, 3 <s>, then the 256 byte tokens, then merges.
    static let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>"]
    static let merges = ["H i", "Ġ t", "h e", "Ġt he", "e r", "Ġthe r", "a s", "i s"]

    static func metadata(extra: [(String, GGUFValue)] = []) -> GGUFMetadata {
        let bytes = (0..<256).map { String(UnicodeScalar(ByteLevel.byteToScalar[$0])!) }
        let merged = merges.map { $0.replacingOccurrences(of: " ", with: "") }
        let tokens = specials + bytes + merged
        let types = [Int32](repeating: 3, count: specials.count) + [Int32](repeating: 1, count: bytes.count + merged.count)
        var m = GGUFMetadata([
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", .array(.string(tokens))),
            ("tokenizer.ggml.token_type", .array(.int32(types))),
            ("tokenizer.ggml.merges", .array(.string(merges))),
            ("tokenizer.ggml.eos_token_id", .uint32(0))
        ])
        for (k, v) in extra { m[k] = v }
        return m
    }

    static let tokenizer = try! Tokenizer(metadata: metadata())
    static let chatML = try! ModelChatTemplate(metadata: metadata())

    var tok: Tokenizer { Self.tokenizer }

    func load(
        _ lines: [String], context: Int = 1000, overlong: OverlongPolicy = .refuse,
        tokenizer: Tokenizer = SFTDataTests.tokenizer, template: ModelChatTemplate = SFTDataTests.chatML
    ) throws -> SFTDataset {
        try SFTDataset(
            jsonLines: lines, file: "train.jsonl", tokenizer: tokenizer, template: template,
            context: context, overlong: overlong)
    }

    /// A JSON line from an object.
    func line(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func chat(_ turns: [(String, String)]) -> String {
        line(["messages": turns.map { ["role": $0.0, "content": $0.1] }])
    }

    /// The text of ids, token by token (no detokeniser clean-up).
    func text(_ ids: some Sequence<Int32>, _ t: Tokenizer = SFTDataTests.tokenizer) -> String {
        String(decoding: ids.flatMap { t.piece($0) }, as: UTF8.self)
    }

    /// The texts of the maximal runs of trainable tokens.
    func trainedRuns(_ e: SFTExample, _ t: Tokenizer = SFTDataTests.tokenizer) -> [String] {
        var runs: [[Int32]] = [], current: [Int32] = []
        for (id, trained) in zip(e.tokens, e.trainable) {
            if trained {
                current.append(id)
            } else if !current.isEmpty {
                runs.append(current)
                current = []
            }
        }
        if !current.isEmpty { runs.append(current) }
        return runs.map { text($0, t) }
    }

    // MARK: conversations

    func testChatMLMaskCoversExactlyTheAssistantTurn() throws {
        let turns = [("system", "Be brief"), ("user", "Hi"), ("assistant", "Hi there")]
        let e = try XCTUnwrap(load([chat(turns)]).examples.first)
        let rendered = try Self.chatML.render(
            messages: turns.map { ChatMessage(role: $0.0, content: $0.1) },
            addGenerationPrompt: false)
        XCTAssertEqual(e.tokens, tok.encode(rendered, parseSpecial: true))
        XCTAssertEqual(trainedRuns(e), ["Hi there<|im_end|>\n"])
        XCTAssertEqual(
            text(zip(e.tokens, e.trainable).filter { !$0.1 }.map(\.0)),
            "<|im_start|>system\nBe brief<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(e.line, 1)
        XCTAssertTrue(e.tokens.contains(1) && e.tokens.contains(2))  // control tokens parsed to their ids
    }

    func testMultiTurnTrainsEveryAssistantTurn() throws {
        let turns = [("user", "Hi"), ("assistant", "Hi there"), ("user", "is it"), ("assistant", "it is")]
        let d = try load([chat(turns)])
        let e = try XCTUnwrap(d.examples.first)
        XCTAssertEqual(trainedRuns(e), ["Hi there<|im_end|>\n", "it is<|im_end|>\n"])
        let rendered = try Self.chatML.render(
            messages: turns.map { ChatMessage(role: $0.0, content: $0.1) },
            addGenerationPrompt: false)
        XCTAssertEqual(e.tokens, tok.encode(rendered, parseSpecial: true))
        XCTAssertEqual(d.trainableTokens, e.trainableTargets)
        XCTAssertEqual(d.tokens, e.tokens.count)
    }

    func testOtherRolesAreNeverTrained() throws {
        let e = try XCTUnwrap(
            load([chat([("user", "Hi"), ("assistant", "as"), ("tool", "is"), ("assistant", "he")])])
                .examples.first)
        XCTAssertEqual(trainedRuns(e), ["as<|im_end|>\n", "he<|im_end|>\n"])
    }

    func testModelTemplatesFromFixtures() throws {
        let ends = ["smollm2": "<|im_end|>\n", "qwen2.5": "<|im_end|>\n", "llama3.2": "<|eot_id|>", "gemma3": "<end_of_turn>\n"]
        for (name, end) in ends {
            let source = try String(contentsOfFile: fixturePath("chat_templates/\(name).jinja"), encoding: .utf8)
            let template = try ModelChatTemplate(metadata: Self.metadata(extra: [("tokenizer.chat_template", .string(source))]))
            let e = try XCTUnwrap(
                load(
                    [
                        chat([
                            ("user", "Hi"), ("assistant", "Hi there"), ("user", "is it"),
                            ("assistant", "it is")
                        ])
                    ], template: template
                ).examples.first)
            XCTAssertEqual(trainedRuns(e), ["Hi there" + end, "it is" + end], name)
        }
    }

    func testTemplateThatIsNotPrefixStableIsRefused() throws {
        // The generation prompt opens "bot" turns, but an assistant turn renders as "assistant".
        let source = """
            {%- for m in messages -%}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor -%}
            {%- if add_generation_prompt -%}{{ '<|im_start|>bot\\n' }}{%- endif -%}
            """
        let template = try ModelChatTemplate(metadata: Self.metadata(extra: [("tokenizer.chat_template", .string(source))]))
        XCTAssertThrowsError(try load(["", chat([("user", "Hi"), ("assistant", "Hi there")])], template: template)) {
            let d = "\($0)"
            XCTAssertTrue(d.hasPrefix("train.jsonl:2: the chat template is not prefix-stable"), d)
        }
    }

    // MARK: prompt/completion

    func testStandardPromptCompletionAppendsEOS() throws {
        let d = try load([
            line(["prompt": "Hi", "completion": " there"]),
            line(["prompt": "Hi", "completion": " there<|endoftext|>"])
        ])
        let expected = tok.encode("Hi") + tok.encode(" there") + [0]
        for e in d.examples {
            XCTAssertEqual(e.tokens, expected)
            XCTAssertEqual(e.trainable, tok.encode("Hi").map { _ in false } + tok.encode(" there").map { _ in true } + [true])
        }
    }

    func testStandardPromptCompletionAddsBOSWhenTheModelAsks() throws {
        let withBOS = try Tokenizer(
            metadata: Self.metadata(extra: [
                ("tokenizer.ggml.bos_token_id", .uint32(3)),
                ("tokenizer.ggml.add_bos_token", .bool(true))
            ]))
        let e = try XCTUnwrap(load([line(["prompt": "Hi", "completion": "as"])], tokenizer: withBOS).examples.first)
        XCTAssertEqual(e.tokens, [3] + tok.encode("Hi") + tok.encode("as") + [0])
        XCTAssertEqual(e.trainable, [false] + tok.encode("Hi").map { _ in false } + tok.encode("as").map { _ in true } + [true])
        // Not twice when the text starts with it.
        let f = try XCTUnwrap(load([line(["prompt": "<s>Hi", "completion": "as"])], tokenizer: withBOS).examples.first)
        XCTAssertEqual(f.tokens, e.tokens)
    }

    func testSentencePieceCompletionContinuesTheText() throws {
        // No space prefix at the start of a part that continues plain text, as in the joined text.
        let spm = try Tokenizer(
            metadata: GGUFMetadata([
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.tokens", .array(.string(SentencePieceTests.tokens))),
                ("tokenizer.ggml.token_type", .array(.int32(SentencePieceTests.types))),
                ("tokenizer.ggml.scores", .array(.float32(SentencePieceTests.scores)))
            ]))
        XCTAssertEqual(spm.encode(parts: [Array("ab".utf8), Array("c".utf8)]), [[13], [9]])
        XCTAssertEqual(spm.encode(parts: [Array("ab</s>".utf8), Array("ab".utf8)], parseSpecial: true), [[13, 2], [13]])
        let e = try XCTUnwrap(load([line(["prompt": "ab", "completion": "c"])], tokenizer: spm).examples.first)
        XCTAssertEqual(e.tokens, [1, 13, 9, 2])  // BOS, ▁ab, c, EOS
        XCTAssertEqual(e.trainable, [false, false, true, true])
    }

    func testConversationalPromptCompletion() throws {
        let prompt = [["role": "user", "content": "Hi"]], completion = [["role": "assistant", "content": "Hi there"]]
        let d = try load([
            line(["prompt": prompt, "completion": completion]),
            chat([("user", "Hi"), ("assistant", "Hi there")])
        ])
        XCTAssertEqual(d.examples[0].tokens, d.examples[1].tokens)
        XCTAssertEqual(d.examples[0].trainable, d.examples[1].trainable)
        XCTAssertEqual(trainedRuns(d.examples[0]), ["Hi there<|im_end|>\n"])
        // An assistant turn inside the prompt is context, not trained.
        let longer = try load([
            line([
                "prompt": [
                    ["role": "user", "content": "Hi"], ["role": "assistant", "content": "as"],
                    ["role": "user", "content": "is"]
                ],
                "completion": [["role": "assistant", "content": "he"]]
            ])
        ])
        XCTAssertEqual(trainedRuns(longer.examples[0]), ["he<|im_end|>\n"])
    }

    // MARK: malformed lines

    func testMalformedLinesNameTheirLine() throws {
        let good = chat([("user", "Hi"), ("assistant", "Hi there")])
        let cases: [(String, String)] = [
            ("{not json", "not valid JSON"),
            ("[1, 2]", "not a JSON object"),
            (#""text""#, "not a JSON object"),
            (#"{"text": "Hi"}"#, #"neither "messages" nor both "prompt" and "completion""#),
            (#"{"messages": [], "prompt": "a", "completion": "b"}"#, "both"),
            (#"{"messages": "Hi"}"#, #""messages" is not a list"#),
            (#"{"messages": []}"#, #""messages" is empty"#),
            (#"{"messages": ["Hi"]}"#, #""messages"[0] is not an object"#),
            (#"{"messages": [{"role": "user", "content": "Hi"}, {"content": "a"}]}"#, #""messages"[1] has no string "role""#),
            (
                #"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": 3}]}"#,
                #""messages"[1] has no string "content""#
            ),
            (#"{"messages": [{"role": "user", "content": "Hi"}]}"#, #"no "assistant" message"#),
            (#"{"prompt": "Hi", "completion": [{"role": "assistant", "content": "a"}]}"#, "must both be strings"),
            (
                #"{"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "user", "content": "a"}]}"#,
                #""completion" has no "assistant" message"#
            ),
            (#"{"prompt": [{"role": "user", "content": "Hi"}], "completion": []}"#, #""completion" is empty"#)
        ]
        for (bad, reason) in cases {
            XCTAssertThrowsError(try load([good, "", "  ", good, bad, good])) { error in
                let d = "\(error)"
                XCTAssertTrue(d.hasPrefix("train.jsonl:5: ") && d.contains(reason), "\(bad) -> \(d)")
                XCTAssertEqual((error as? SFTDataError)?.line, 5)
            }
        }
        // No completion tokens: an empty completion and no EOS to append (a vocabulary too small for
        // llama.cpp's default EOS id 11).
        let noEOS = try Tokenizer(
            metadata: GGUFMetadata([
                ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("gpt-2")),
                ("tokenizer.ggml.tokens", .array(.string(["a", "b"]))), ("tokenizer.ggml.merges", .array(.string([])))
            ]))
        XCTAssertNil(noEOS.eos)
        XCTAssertThrowsError(try load([line(["prompt": "a", "completion": ""])], tokenizer: noEOS)) {
            XCTAssertEqual("\($0)", "train.jsonl:1: the completion has no tokens")
        }
    }

    func testLoadFromFileSkipsBlankLinesAndCountsLines() throws {
        let path = NSTemporaryDirectory() + "sft-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let content = [
            chat([("user", "Hi"), ("assistant", "as")]), "", line(["prompt": "Hi", "completion": "is"]), "",
            #"{"messages": 1}"#
        ].joined(separator: "\r\n")
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SFTDataset.load(path: path, tokenizer: tok, template: Self.chatML, context: 100, overlong: .refuse)) {
            XCTAssertEqual("\($0)", "\(path):5: \"messages\" is not a list")
        }
        try content.replacingOccurrences(of: #"{"messages": 1}"#, with: "").write(toFile: path, atomically: true, encoding: .utf8)
        let d = try SFTDataset.load(path: path, tokenizer: tok, template: Self.chatML, context: 100, overlong: .refuse)
        XCTAssertEqual(d.lines, 2)
        XCTAssertEqual(d.examples.map(\.line), [1, 3])
        XCTAssertThrowsError(
            try SFTDataset.load(
                path: path + ".missing", tokenizer: tok, template: Self.chatML,
                context: 100, overlong: .refuse))
    }

    // MARK: length

    func testOverlongPolicies() throws {
        let short = line(["prompt": "Hi", "completion": "as"])  // Hi, as, EOS
        let long = line(["prompt": "Hi", "completion": "as is as is"])  // 9 tokens, trained from the 2nd
        let promptHeavy = line(["prompt": "Hi Hi Hi Hi Hi Hi", "completion": "as"])  // an 11-token prompt
        let lengths = try load([short, long, promptHeavy]).examples.map(\.tokens.count)
        XCTAssertEqual(lengths, [3, 9, 13])

        let truncated = try load([short, long, promptHeavy], context: 8, overlong: .truncate)
        XCTAssertEqual(truncated.lines, 3)
        XCTAssertEqual(truncated.truncated, 1)
        XCTAssertEqual(truncated.dropped, 1)  // promptHeavy: its trained tokens were all cut
        XCTAssertEqual(truncated.examples.map(\.line), [1, 2])
        let cut = truncated.examples[1]
        XCTAssertEqual(cut.tokens.count, 8)
        XCTAssertEqual(cut.truncatedFrom, lengths[1])
        XCTAssertEqual(cut.tokens, Array(try load([long]).examples[0].tokens.prefix(8)))

        let dropped = try load([short, long, promptHeavy], context: 8, overlong: .drop)
        XCTAssertEqual(dropped.truncated, 0)
        XCTAssertEqual(dropped.dropped, 2)
        XCTAssertEqual(dropped.examples.map(\.line), [1])

        XCTAssertThrowsError(try load([short, long], context: 8, overlong: .refuse)) {
            XCTAssertEqual("\($0)", "train.jsonl:2: \(lengths[1]) tokens, more than the context of 8 (overlong policy: refuse)")
        }
        XCTAssertEqual(try load([short], context: 3, overlong: .refuse).examples.count, 1)  // exactly the context fits
    }

    func testInputsAndTargetsShiftByOne() {
        let e = SFTExample(tokens: [10, 11, 12, 13, 14], trainable: [false, false, true, true, false], line: 1)
        let (x, y) = e.inputsAndTargets()
        XCTAssertEqual(x, [10, 11, 12, 13])
        XCTAssertEqual(y, [-100, 12, 13, -100])
        XCTAssertEqual(e.inputsAndTargets(ignoreIndex: -1).1, [-1, 12, 13, -1])
        XCTAssertEqual(e.trainableTargets, 2)
    }

    // MARK: batches and splits

    func examples(_ n: Int) -> [SFTExample] {
        (0..<n).map { i in
            let len = 2 + i % 5
            return SFTExample(tokens: (0..<len).map { Int32(100 * i + $0) }, trainable: (0..<len).map { $0 >= 1 }, line: i + 1)
        }
    }

    func testBatchesArePaddedWithTheIgnoreIndex() {
        let ex = [
            SFTExample(tokens: [5, 6, 7, 8], trainable: [false, false, true, true], line: 1),
            SFTExample(tokens: [9, 10], trainable: [false, true], line: 2)
        ]
        let b = SFTBatch(padding: ex, padID: 0, ignoreIndex: -100)
        XCTAssertEqual(b.rows, 2)
        XCTAssertEqual(b.length, 3)
        XCTAssertEqual(b.inputs, [5, 6, 7, 9, 0, 0])
        XCTAssertEqual(b.targets, [-100, 7, 8, 10, -100, -100])
        XCTAssertEqual(b.trainableTargets, 3)
        let v = SFTBatcher.sequentialBatches(ex + ex, batchSize: 3)
        XCTAssertEqual(v.map(\.rows), [3, 1])
        XCTAssertEqual(v[1].inputs, [9])
    }

    func testBatchOfAStepIsAPureFunctionOfSeedAndStep() {
        let ex = examples(10)
        let a = SFTBatcher(examples: ex, batchSize: 4, seed: 7), b = SFTBatcher(examples: ex, batchSize: 4, seed: 7)
        XCTAssertEqual(a.batchesPerEpoch, 3)
        // Recomputed out of order (as when resuming), the same batches.
        for s in [11, 0, 5, 3, 11] { XCTAssertEqual(a.batch(at: s), b.batch(at: s)) }
        for epoch in 0..<3 {
            let steps = (0..<3).map { a.batch(at: epoch * 3 + $0) }
            XCTAssertEqual(steps.map(\.rows), [4, 4, 2])
            XCTAssertEqual(steps.flatMap(\.examples).sorted(), Array(0..<10))  // each example once per epoch
            XCTAssertEqual(steps.flatMap(\.examples), a.order(epoch: epoch))
            XCTAssertTrue(steps.allSatisfy { $0.epoch == epoch })
            for batch in steps {
                XCTAssertEqual(batch.length, batch.examples.map { ex[$0].tokens.count - 1 }.max())
                XCTAssertEqual(batch.trainableTargets, batch.targets.filter { $0 != -100 }.count)
            }
        }
        XCTAssertNotEqual(a.order(epoch: 0), a.order(epoch: 1))
        XCTAssertNotEqual(a.order(epoch: 0), SFTBatcher(examples: ex, batchSize: 4, seed: 8).order(epoch: 0))
    }

    func testValidationSplitIsDeterministicAndDisjoint() throws {
        let d = SFTDataset(examples: examples(20), lines: 20)
        let (train, val) = d.split(validationFraction: 0.25, seed: 3)
        XCTAssertEqual(val.count, 5)
        XCTAssertEqual(train.count, 15)
        XCTAssertEqual(Set(train.map(\.line)).union(val.map(\.line)), Set(1...20))
        XCTAssertTrue(Set(train.map(\.line)).isDisjoint(with: val.map(\.line)))
        XCTAssertEqual(train.map(\.line), train.map(\.line).sorted())
        let again = d.split(validationFraction: 0.25, seed: 3)
        XCTAssertEqual(again.validation, val)
        XCTAssertEqual(again.train, train)
        XCTAssertNotEqual(d.split(validationFraction: 0.25, seed: 4).validation.map(\.line), val.map(\.line))
        XCTAssertEqual(d.split(validationFraction: 0.001, seed: 3).validation.count, 1)
        XCTAssertEqual(d.split(validationFraction: 0, seed: 3).validation.count, 0)
        XCTAssertEqual(SFTDataset(examples: examples(1), lines: 1).split(validationFraction: 0.5, seed: 3).validation.count, 0)
    }

    // MARK: the real model

    func testSmolLM2ChatMask() throws {
        let path = SmolLM2.path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("model missing: \(path)") }
        let file = try GGUFFile(path: path)
        let t = try Tokenizer(file: file)
        let template = try ModelChatTemplate(metadata: file.metadata)
        let turns = [("user", "Hi"), ("assistant", "Hi there")]
        let e = try XCTUnwrap(load([chat(turns)], tokenizer: t, template: template).examples.first)
        let rendered = try template.render(
            messages: turns.map { ChatMessage(role: $0.0, content: $0.1) },
            addGenerationPrompt: false, now: Date(timeIntervalSince1970: 1_735_689_600))
        XCTAssertEqual(e.tokens, t.encode(rendered, parseSpecial: true))
        let trained = zip(e.tokens, e.trainable).filter(\.1).map(\.0)
        XCTAssertEqual(trained, t.encode("Hi there<|im_end|>\n", parseSpecial: true))
        XCTAssertEqual(trainedRuns(e, t), ["Hi there<|im_end|>\n"])
    }
}
