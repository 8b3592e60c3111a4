import ArgumentParser
import Foundation
import Tensor
import Transformer

/// Sampling options shared by `generate` and `chat`.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Most tokens to generate.")
    var maxTokens = 256
    @Option(help: "Temperature (0 = greedy).")
    var temperature: Float = 0
    @Option(help: "Keep the K most likely tokens (0 = off).")
    var topK = 0
    @Option(help: "Keep the smallest set of tokens with probability >= P (1 = off).")
    var topP: Float = 1
    @Option(help: "Drop tokens less likely than M x the most likely one (0 = off).")
    var minP: Float = 0
    @Option(help: "Repetition penalty over the last 64 tokens (1 = off).")
    var repeatPenalty: Float = 1
    @Option(help: "Random seed.")
    var seed: UInt64 = 0
    @Option(help: "Stop when this text appears (repeatable).")
    var stop: [String] = []
    @Option(help: "Context length to allocate (default: the model's).")
    var context: Int?

    var parameters: SamplingParameters {
        SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP,
            repetitionPenalty: repeatPenalty, seed: seed)
    }
    var stopCondition: StopCondition { StopCondition(stopStrings: stop, maxTokens: maxTokens) }
}

/// `grm generate`: continue a prompt (a user message under the chat template, or raw text).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a GGUF model.")

    @Option(help: "GGUF model file.")
    var model: String
    @Option(help: "The prompt text.")
    var prompt: String?
    @Option(help: "Read the prompt from this file.")
    var promptFile: String?
    @Flag(help: "Feed the prompt as is (special tokens such as <|im_start|> parsed) instead of as a chat message.")
    var raw = false
    @Option(help: "Independent samples of the same prompt, decoded together.")
    var samples = 1
    @Flag(help: "Print {\"ids\": [...], \"text\": \"...\"} (one object per sample) instead of streaming text.")
    var json = false
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        if (prompt == nil) == (promptFile == nil) { throw ValidationError("give either --prompt TEXT or --prompt-file FILE") }
        if samples < 1 { throw ValidationError("--samples must be at least 1") }
        if sampling.maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() throws {
        var text = prompt ?? ""
        if let promptFile {
            guard let data = FileManager.default.contents(atPath: promptFile) else { throw ValidationError("cannot read \(promptFile)") }
            text = String(decoding: data, as: UTF8.self)
        }
        try engine.apply()
        let file = try GGUFFile(path: model)
        let generator = Generator(
            engine: try LlamaInference(
                gguf: file, kvType: try engine.kvType, contextLength: sampling.context,
                adapter: try engine.adapter(base: file), adapterScale: engine.loraScale),
            tokenizer: try Tokenizer(metadata: file.metadata))
        let ids =
            raw
            ? generator.promptIDs(raw: text)
            : try generator.promptIDs(messages: [ChatMessage(role: "user", content: text)], template: ModelChatTemplate(metadata: file.metadata))
        let start = DispatchTime.now().uptimeNanoseconds
        let stream = !json && samples == 1
        let out = try generator.generate(
            [GenerationRequest(prompt: ids, samples: samples)], sampling: sampling.parameters,
            stop: sampling.stopCondition
        ) { _, _, piece in
            if stream { FileHandle.standardOutput.write(Data(piece.utf8)) }
        }[0]
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if json {
            for g in out {
                struct Out: Encodable {
                    let ids: [Int32]
                    let text: String
                    let logprobs: [Float]
                    let finish: String
                }
                let data = try JSONEncoder().encode(Out(ids: g.ids, text: g.text, logprobs: g.logprobs, finish: "\(g.reason)"))
                print(String(decoding: data, as: UTF8.self))
            }
        } else if stream {
            print("")
        } else {
            for (i, g) in out.enumerated() { print("--- sample \(i + 1)\n\(g.text)") }
        }
        let generated = out.map(\.ids.count).reduce(0, +)
        printError(
            String(
                format: "[%d prompt tokens, %d generated in %.2f s: %.1f tokens/s]", ids.count, generated, seconds,
                Double(generated) / max(seconds, 1e-9)))
    }
}

/// `grm chat`: an interactive, streamed, multi-turn conversation.
struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Chat with a GGUF model (type /exit or end input to quit).")

    @Option(help: "GGUF model file.")
    var model: String
    @Option(help: "A system message to start with.")
    var system: String?
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var engine: EngineOptions

    func run() throws {
        try engine.apply()
        let file = try GGUFFile(path: model)
        let generator = Generator(
            engine: try LlamaInference(
                gguf: file, kvType: try engine.kvType, contextLength: sampling.context,
                adapter: try engine.adapter(base: file), adapterScale: engine.loraScale),
            tokenizer: try Tokenizer(metadata: file.metadata))
        // Each turn forks the last reply's cache: only the end of the reply and the new message are prefilled.
        generator.keepContinuations = true
        let template = try ModelChatTemplate(metadata: file.metadata)
        var messages: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        var turn: UInt64 = 0
        while true {
            FileHandle.standardError.write(Data("> ".utf8))
            guard let line = readLine(strippingNewline: true) else { break }
            if line == "/exit" { break }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            messages.append(ChatMessage(role: "user", content: line))
            let ids = try generator.promptIDs(messages: messages, template: template)
            var params = sampling.parameters
            params.seed &+= turn
            turn += 1
            do {
                let reply = try generator.generate([GenerationRequest(prompt: ids)], sampling: params, stop: sampling.stopCondition) { _, _, piece in
                    FileHandle.standardOutput.write(Data(piece.utf8))
                }[0][0]
                print("")
                messages.append(ChatMessage(role: "assistant", content: reply.text))
            } catch let error as ModelError {
                printError("error: \(error)")
                messages.removeLast()
            }
        }
    }
}
