import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// Generation on the default model: greedy equals llama.cpp's f32 continuation, samples are
/// reproducible and independent of batching, stop conditions hold, log-probabilities are the model's.
final class GeneratorTests: XCTestCase {
    // Exact activations whatever GRM_QMM_ACT says: these check llama.cpp f32 references and
    // batching independence, which hold on exact activations.
    /// Every test on exact activations, whatever GRM_QMM_ACT says.
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }
    func generator() throws -> Generator { Generator(engine: try smolLM2Engine(), tokenizer: try smolLM2Tokenizer()) }

    func testGreedyMatchesLlamaCppAndStopsAtEndOfTurn() throws {
        let g = try generator()
        let cases = try SmolLM2InferenceTests.cases("smollm2-f32-llamacpp.json")
        let out = try g.generate(
            cases.map { GenerationRequest(prompt: $0.tokens) }, sampling: .greedy,
            stop: StopCondition(maxTokens: 16))
        for (c, gen) in zip(cases, out) {
            let want = Array(c.greedy.prefix(16))
            XCTAssertEqual(gen[0].ids, want, "greedy (batched prompts) for \(c.prompt.suffix(30).debugDescription)")
            if want.count < 16 {
                XCTAssertEqual(gen[0].reason, .token(want.last!))
                XCTAssertFalse(gen[0].text.contains("<|im_end|>"))
            } else {
                XCTAssertEqual(gen[0].reason, .length)
            }
            XCTAssertEqual(gen[0].text, g.tokenizer.decodeText(want.filter { $0 != 2 && $0 != 0 }))
        }
    }

    func testSamplesAreReproducibleAndIndependentOfBatching() throws {
        let g = try generator()
        let p1 = try g.promptIDs(
            messages: [ChatMessage(role: "user", content: "Name a colour.")],
            template: ModelChatTemplate(path: SmolLM2.path))
        let p2 = g.promptIDs(raw: "Once upon a time")
        let params = SamplingParameters(temperature: 0.9, topK: 40, topP: 0.95, seed: 11)
        let stop = StopCondition(maxTokens: 12)
        let alone = try g.generate([GenerationRequest(prompt: p1, samples: 4)], sampling: params, stop: stop)[0]
        let again = try g.generate([GenerationRequest(prompt: p1, samples: 4)], sampling: params, stop: stop)[0]
        XCTAssertEqual(alone, again)
        let mixed = try g.generate(
            [GenerationRequest(prompt: p2, samples: 2), GenerationRequest(prompt: p1, samples: 4)],
            sampling: params, stop: stop)
        XCTAssertEqual(mixed[1].map(\.ids), alone.map(\.ids), "batching with another prompt changes nothing")
        XCTAssertGreaterThan(Set(alone.map(\.ids)).count, 1, "different samples differ")
        // Log-probabilities are the model's: recompute them with a plain forward pass.
        let s = alone[0]
        let logits = try g.engine.logits(p1 + s.ids.dropLast(), allPositions: true).scalars()
        let vocab = g.engine.config.vocabSize
        for (i, id) in s.ids.enumerated() {
            let row = Array(logits[(p1.count - 1 + i) * vocab..<(p1.count + i) * vocab])
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            XCTAssertEqual(s.logprobs[i], row[Int(id)] - lse, accuracy: 2e-3, "logprob of token \(i)")
        }
    }

    func testPromptsSharingAPrefixArePrefilledOnce() throws {
        let g = try generator()
        let head = "<|im_start|>system\nYou are a careful judge of answers. Compare them and say which one is right.<|im_end|>\n<|im_start|>user\n"
        let prompts = ["Which is larger, 7 or 9?", "Which is smaller, 7 or 9?", "Which is larger, 7 or 9?"].map {
            g.promptIDs(raw: head + $0 + "<|im_end|>\n<|im_start|>assistant\n")
        }
        let requests = prompts.map { GenerationRequest(prompt: $0, samples: 2) }
        let params = SamplingParameters(temperature: 0.7, seed: 5)
        let shared = try g.generate(requests, sampling: params, stop: StopCondition(maxTokens: 8))
        let sharedTokens = g.prefilledTokens
        g.sharedPrefixMinimum = Int.max
        g.promptCacheTokens = 0  // nothing from the first call either
        defer { g.sharedPrefixMinimum = 16 }
        let separate = try g.generate(requests, sampling: params, stop: StopCondition(maxTokens: 8))
        XCTAssertEqual(g.prefilledTokens, prompts[0].count + prompts[1].count, "identical prompts still share one cache")
        let common = zip(prompts[0], prompts[1]).prefix { $0 == $1 }.count
        XCTAssertEqual(sharedTokens, prompts[0].count + prompts[1].count - common, "the third prompt is the first one's twin")
        XCTAssertEqual(shared.map { $0.map(\.ids) }, separate.map { $0.map(\.ids) })
        XCTAssertEqual(shared[0], shared[2], "identical prompts with one seed give identical samples")
    }

    /// The prefill tree: prompts of one call share prefixes level by level (the instructions, then
    /// a first response, as response orders of one judge prompt do) after a prefix from an earlier
    /// call's prompt; each prompt prefills only past its longest match, and the samples are those
    /// of prompts prefilled alone.
    func testPrefillTreeSharesEveryLevel() throws {
        let g = try generator()
        let head = "<|im_start|>system\nYou judge answers: say which answer is right, and why, in one line.<|im_end|>\n<|im_start|>user\n"
        let earlier = g.promptIDs(raw: head + "Warm-up: is two more than one?<|im_end|>\n<|im_start|>assistant\n")
        _ = try g.generate([GenerationRequest(prompt: earlier)], sampling: .greedy, stop: StopCondition(maxTokens: 2))
        let question = "Question: what is the capital of France? "
        let prompts = [
            "Answer A: the capital of France is Paris. Answer B: it is Lyon.",
            "Answer B: it is Lyon. Answer A: the capital of France is Paris.",
            "Answer A: the capital of France is Paris. Answer B: it is Marseille.",
            "Answer A: the capital of France is Paris. Answer B: it is Marseille, the port.",
            "Answer B: it is Lyon. Answer A: the capital of France is Paris."
        ].map { g.promptIDs(raw: head + question + $0 + "<|im_end|>\n<|im_start|>assistant\n") }
        func common(_ a: [Int32], _ b: [Int32]) -> Int { zip(a, b).prefix { $0 == $1 }.count }
        let plan = g.prefixPlan(prompts)
        XCTAssertEqual(plan[0], .init(parent: .cached(entry: 0, shared: common(earlier, prompts[0])), runs: true, wave: 0))
        XCTAssertEqual(plan[1], .init(parent: .request(0, shared: common(prompts[0], prompts[1])), runs: true, wave: 1))
        XCTAssertEqual(plan[2], .init(parent: .request(0, shared: common(prompts[0], prompts[2])), runs: true, wave: 1))
        XCTAssertEqual(plan[3], .init(parent: .request(2, shared: common(prompts[2], prompts[3])), runs: true, wave: 2))
        XCTAssertEqual(plan[4], .init(parent: .request(1, shared: prompts[4].count), runs: false, wave: 1), "a twin")
        XCTAssertGreaterThan(common(prompts[0], prompts[2]), common(prompts[0], prompts[1]), "the first answer is shared too")
        XCTAssertGreaterThan(common(earlier, prompts[0]), 16)
        let requests = prompts.map { GenerationRequest(prompt: $0, samples: 2) }
        let params = SamplingParameters(temperature: 0.7, seed: 9)
        let shared = try g.generate(requests, sampling: params, stop: StopCondition(maxTokens: 6))
        XCTAssertEqual(
            g.prefilledTokens,
            zip(plan.prefix(4), prompts).reduce(0) { $0 + $1.1.count - $1.0.parent.shared })
        let alone = try generator()
        alone.promptCacheTokens = 0
        alone.sharedPrefixMinimum = Int.max
        let separate = try alone.generate(requests, sampling: params, stop: StopCondition(maxTokens: 6))
        XCTAssertEqual(alone.prefilledTokens, prompts.prefix(4).reduce(0) { $0 + $1.count })
        XCTAssertEqual(shared.map { $0.map(\.ids) }, separate.map { $0.map(\.ids) })
        for (x, y) in zip(shared.joined(), separate.joined()) {
            for (p, q) in zip(x.logprobs, y.logprobs) { XCTAssertEqual(p, q, accuracy: 1e-4) }
        }
    }

    /// A later call reuses earlier prompts' caches: a chat's next turn prefills only what it adds,
    /// an identical prompt prefills nothing, and the results equal a fresh generator's.
    func testPromptCacheAcrossCalls() throws {
        let g = try generator()
        let fresh = try generator()
        fresh.promptCacheTokens = 0
        let template = try ModelChatTemplate(metadata: try GGUFFile(path: SmolLM2.path).metadata)
        var messages = [ChatMessage(role: "user", content: "Name a colour.")]
        let stop = StopCondition(maxTokens: 12)
        let first = try g.promptIDs(messages: messages, template: template)
        let reply = try g.generate([GenerationRequest(prompt: first)], sampling: SamplingParameters(temperature: 0), stop: stop)[0][0]
        XCTAssertEqual(g.prefilledTokens, first.count)
        XCTAssertEqual(g.promptCacheUsage.prompts, 1)
        messages.append(ChatMessage(role: "assistant", content: reply.text))
        messages.append(ChatMessage(role: "user", content: "And another one?"))
        let second = try g.promptIDs(messages: messages, template: template)
        XCTAssertEqual(Array(second.prefix(first.count)), first, "the next turn extends the first prompt")
        let cachedReply = try g.generate([GenerationRequest(prompt: second)], sampling: SamplingParameters(temperature: 0), stop: stop)[0][0]
        XCTAssertEqual(g.prefilledTokens, second.count - first.count, "only the reply and the new message are prefilled")
        let freshReply = try fresh.generate([GenerationRequest(prompt: second)], sampling: SamplingParameters(temperature: 0), stop: stop)[0][0]
        XCTAssertEqual(fresh.prefilledTokens, second.count)
        XCTAssertEqual(cachedReply.ids, freshReply.ids)
        // The same prompt again: nothing to prefill, the same samples.
        let params = SamplingParameters(temperature: 0.8, seed: 3)
        let a = try g.generate([GenerationRequest(prompt: second, samples: 2)], sampling: params, stop: stop)
        XCTAssertEqual(g.prefilledTokens, 0)
        let b = try fresh.generate([GenerationRequest(prompt: second, samples: 2)], sampling: params, stop: stop)
        XCTAssertEqual(a[0].map(\.ids), b[0].map(\.ids))
        XCTAssertEqual(a[0].map(\.text), b[0].map(\.text))
        // The prefix's cache came from a shorter prefill than the fresh one: f32 rounding only.
        for (x, y) in zip(a[0], b[0]) {
            for (p, q) in zip(x.logprobs, y.logprobs) { XCTAssertEqual(p, q, accuracy: 1e-4) }
        }
        // The budget: the oldest prompts go first, the most recent always stays; 0 empties it.
        g.promptCacheTokens = 1
        XCTAssertEqual(g.promptCacheUsage.prompts, 1)
        XCTAssertEqual(g.promptCacheUsage.tokens, second.count)
        g.promptCacheTokens = 0
        XCTAssertEqual(g.promptCacheUsage.prompts, 0)
        _ = try g.generate([GenerationRequest(prompt: second)], sampling: SamplingParameters(temperature: 0), stop: stop)
        XCTAssertEqual(g.prefilledTokens, second.count)
    }

    /// With `keepContinuations`, a prompt that continues a sample (its tokens, then a cue, as the
    /// judge's forced scores) forks that sample's cache and prefills only what follows, with a
    /// fresh generator's results; kept samples are not prompts, calls without the setting leave
    /// them, a later call with it replaces them, and a budget of 0 drops them.
    func testKeptSamplesAreContinued() throws {
        let g = try generator()
        g.keepContinuations = true
        let fresh = try generator()
        fresh.promptCacheTokens = 0
        let prompt = g.promptIDs(raw: "Write one sentence about the history of Paris, the capital city of France, and its river:")
        let stop = StopCondition(maxTokens: 10)
        let samples = try g.generate(
            [GenerationRequest(prompt: prompt, samples: 3)], sampling: SamplingParameters(temperature: 0.8, seed: 5),
            stop: stop)[0]
        XCTAssertEqual(g.continuationCount, 3)
        XCTAssertEqual(g.promptCacheUsage.prompts, 1, "kept samples are not prompts")
        let cue = g.tokenizer.encode(" Answer:", addSpecial: false, parseSpecial: false)
        let follow = samples.map { GenerationRequest(prompt: prompt + $0.ids + cue) }
        g.keepContinuations = false
        let cued = try g.generate(follow, sampling: .greedy, stop: StopCondition(maxTokens: 4))
        // Per distinct prompt: the sample's last token (never fed) and the cue.
        XCTAssertEqual(g.prefilledTokens, Set(follow.map(\.prompt)).count * (1 + cue.count))
        XCTAssertEqual(g.continuationCount, 3, "a call without the setting leaves them")
        let want = try fresh.generate(follow, sampling: .greedy, stop: StopCondition(maxTokens: 4))
        XCTAssertEqual(cued.map { $0.map(\.ids) }, want.map { $0.map(\.ids) })
        g.keepContinuations = true
        _ = try g.generate(
            [GenerationRequest(prompt: prompt, samples: 2)], sampling: SamplingParameters(temperature: 0.8, seed: 6), stop: stop)
        XCTAssertEqual(g.continuationCount, 2, "the new call's samples replace the earlier ones")
        g.promptCacheTokens = 0
        XCTAssertEqual(g.continuationCount, 0)
        // A chat's next turn (as `grm chat`): the reply's tokens come from its kept cache, so the
        // turn prefills less than with the prompt cache alone, and replies as a fresh generator.
        g.promptCacheTokens = 2048
        let plain = try generator()
        let template = try ModelChatTemplate(metadata: try GGUFFile(path: SmolLM2.path).metadata)
        var messages = [ChatMessage(role: "user", content: "Name a colour.")]
        let first = try g.promptIDs(messages: messages, template: template)
        let chat = StopCondition(maxTokens: 12)
        let reply = try g.generate([GenerationRequest(prompt: first)], sampling: .greedy, stop: chat)[0][0]
        _ = try plain.generate([GenerationRequest(prompt: first)], sampling: .greedy, stop: chat)
        messages.append(ChatMessage(role: "assistant", content: reply.text))
        messages.append(ChatMessage(role: "user", content: "And another one?"))
        let second = try g.promptIDs(messages: messages, template: template)
        let next = try g.generate([GenerationRequest(prompt: second)], sampling: .greedy, stop: chat)[0][0]
        _ = try plain.generate([GenerationRequest(prompt: second)], sampling: .greedy, stop: chat)
        XCTAssertLessThan(g.prefilledTokens, plain.prefilledTokens, "the reply is not prefilled again")
        let alone = try fresh.generate([GenerationRequest(prompt: second)], sampling: .greedy, stop: chat)[0][0]
        XCTAssertEqual(next.ids, alone.ids)
    }

    func testStopStringsAndLimits() throws {
        let g = try generator()
        let prompt = g.promptIDs(raw: "<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n<|im_start|>assistant\n")
        let full = try g.generate([GenerationRequest(prompt: prompt)], sampling: .greedy, stop: StopCondition(maxTokens: 40))[0][0]
        XCTAssertTrue(full.text.contains("5"), full.text)
        var streamed = ""
        let cut = try g.generate(
            [GenerationRequest(prompt: prompt)], sampling: .greedy,
            stop: StopCondition(stopStrings: ["5"], maxTokens: 40)
        ) { _, _, t in streamed += t }[0][0]
        XCTAssertEqual(cut.reason, .string(index: 0))
        XCTAssertEqual(cut.text, String(full.text[..<full.text.range(of: "5")!.lowerBound]))
        XCTAssertEqual(streamed, cut.text)
        let short = try g.generate([GenerationRequest(prompt: prompt)], sampling: .greedy, stop: StopCondition(maxTokens: 3))[0][0]
        XCTAssertEqual(short.ids, Array(full.ids.prefix(3)))
        XCTAssertEqual(short.reason, .length)
        // A loop stop cuts greedy decoding where the definition first finds a loop, and only there.
        let chant = g.promptIDs(raw: "The farmer said: no, no, no, no, no, no, no, no,")
        let long = try g.generate([GenerationRequest(prompt: chant)], sampling: .greedy, stop: StopCondition(maxTokens: 120))[0][0]
        let loop = RepetitionStop()
        let first = try XCTUnwrap(SamplingTests.firstLoop(long.ids, loop), "the model should loop: \(long.text)")
        let looped = try g.generate(
            [GenerationRequest(prompt: chant)], sampling: .greedy, stop: StopCondition(maxTokens: 120, repetition: loop))[0][0]
        XCTAssertEqual(looped.ids, Array(long.ids.prefix(first.end)))
        XCTAssertEqual(looped.reason, .repetition(period: first.period))
        XCTAssertEqual(looped.text, g.tokenizer.decodeText(looped.ids))
        // A prompt as long as the context is refused before any work.
        let small = Generator(engine: try LlamaInference(path: SmolLM2.path, contextLength: 8), tokenizer: g.tokenizer)
        XCTAssertThrowsError(try small.generate([GenerationRequest(prompt: prompt)], sampling: .greedy, stop: StopCondition())) { e in
            XCTAssertTrue("\(e)".contains("context is 8"), "\(e)")
        }
    }
}
