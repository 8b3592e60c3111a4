import ArgumentParser
import Foundation
import Reward
import Transformer

/// Options shared by `grm eval` and `grm score`: the model and how it generates.
struct JudgeModelOptions: ParsableArguments {
    @Option(help: "GGUF model file (the judge).")
    var model: String
    @Option(help: "Most tokens per judge sample (a sample cut short usually has no scores: a parse failure).")
    var maxTokens = 512
    @Option(help: "Base seed for response shuffles and sampling.")
    var seed: UInt64 = 0
    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold of the sampled judgements (1: off).")
    var topP: Float = 1
    @Option(help: "Items per generator call (the engine decodes all their samples as one batch).")
    var batchItems = 4
    @Option(
        help: ArgumentHelp(
            "Response orders per item: the samples are dealt round-robin over this many shuffles, and the samples of one order share its prompt's prefill (default: a shuffle per sample, as the paper).",
            discussion:
                "Each order past the first prefills everything from its first response on again; with 3 or more responses, 8 samples can mean 8 such prefills."
        ))
    var orders: Int?
    @Flag(
        inversion: .prefixedNo,
        help: "Stop a sample whose last tokens repeat a block (a loop never reaches its scores).")
    var stopLoops = true
    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "A sample without any scores (cut off by the budget or a loop) is cued with \"Scores: \\boxed{\" and the judge writes them (counted as forced).",
            discussion: "Off, such a sample is a parse failure (and does not vote)."))
    var forceScores = true
    @Option(help: "Threads (default: GRM_THREADS or every core).")
    var threads: Int?
    @Option(help: EngineOptions.activationsHelp)
    var activations: String?
    @Option(name: .customLong("kv"), help: "KV cache type: f32 (default) or f16 (as llama.cpp: faster attention, keys and values rounded to f16).")
    var kvCache = "f32"
    @Option(help: EngineOptions.loraHelp)
    var lora: String?
    @Option(help: EngineOptions.loraScaleHelp)
    var loraScale: Float = 1
    @Option(name: .customLong("judge-template"), help: EngineOptions.judgeTemplateHelp)
    var judgeTemplate: String?
    @Option(help: "A meta reward model (grm spct metarm) over --model: rate every sample, vote with the --meta-keep best rated.")
    var meta: String?
    @Option(name: .customLong("meta-keep"), help: "With --meta: samples kept for the vote (default: half of k, at least 1).")
    var metaKeep: Int?

    func validateJudge() throws {
        if maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if batchItems < 1 { throw ValidationError("--batch-items must be at least 1") }
        if let orders, orders < 1 { throw ValidationError("--orders must be at least 1") }
        if let metaKeep, metaKeep < 1 { throw ValidationError("--meta-keep must be at least 1") }
        _ = try EngineOptions.kvType(kvCache)
        if metaKeep != nil && meta == nil { throw ValidationError("--meta-keep needs --meta") }
    }

    /// Generation settings at `temperature` with these options' budget, loop stop and forcing.
    func generation(temperature: Float) -> GenerationSettings {
        GenerationSettings(temperature: temperature, topP: topP, maxTokens: maxTokens, stopLoops: stopLoops, forceScores: forceScores)
    }

    /// The engine-backed judge and the reward model using the model's chat template.
    func load() throws -> (engine: EngineJudgeGenerator, grm: GenerativeRewardModel) {
        if let t = threads { try EngineOptions.useThreads(t, option: "--threads") }
        if let a = activations { try EngineOptions.useActivations(a) }
        let adapter = try EngineOptions.loadAdapter(lora, scale: loraScale)
        let (engine, chat) = try EngineJudgeGenerator.load(
            model: model, adapter: adapter, adapterScale: loraScale, kvType: try EngineOptions.kvType(kvCache))
        let templates = try EngineOptions.judgeTemplates(judgeTemplate, adapter: adapter)
        let metaScorer = try meta.map { try MetaRewardModel(file: $0, base: model) }
        if let metaScorer, metaScorer.input.builder.templates.name != templates.name {
            throw ValidationError(
                "--meta was trained on the \(metaScorer.input.builder.templates.name) judge template, the judge uses \(templates.name)")
        }
        if let meta { printError("meta: \(meta): rating every sample, voting with the \(metaKeep.map(String.init) ?? "k/2") best rated") }
        return (
            engine,
            GenerativeRewardModel(
                generator: engine, builder: JudgePromptBuilder(templates: templates, chat: chat), metaScorer: metaScorer)
        )
    }
}

/// Reads and validates every item before any work. A malformed line stops with its line number
/// and reason, unless `skipInvalid`: then it is reported on stderr, skipped and counted. With
/// `allowUnlabelled` (scoring) items without a label are read too.
func readJudgeItems(
    path: String, skipInvalid: Bool, limit: Int?, command: String, allowUnlabelled: Bool = false
) throws -> (items: [RewardItem], skipped: Int) {
    do {
        let reader = try RewardItemReader(path: path, skipInvalid: skipInvalid, allowUnlabelled: allowUnlabelled)
        var items: [RewardItem] = []
        while let item = try reader.read() { items.append(item) }
        for e in reader.skippedErrors { printError("\(command): skipped \(e)") }
        if reader.skipped > reader.skippedErrors.count {
            printError("\(command): ... and \(reader.skipped - reader.skippedErrors.count) more malformed lines skipped")
        }
        if reader.skipped > 0 { printError("\(command): \(reader.skipped) malformed line(s) skipped") }
        if let limit { items = Array(items.prefix(limit)) }
        if items.isEmpty { throw RewardDataError(file: path, "no items to judge") }
        return (items, reader.skipped)
    } catch let error as RewardDataError {
        printError("\(command): \(error)")
        throw ExitCode(2)
    }
}

/// A progress line on stderr, rewritten in place with \r: items done/total, accuracy so far, ETA
/// and generated tokens/s. On a terminal it also refreshes while a chunk is generating (tokens/s is
/// then counted in text pieces, about one per token, until the chunk's exact count is known).
final class ProgressLine {
    let tokens: () -> Int
    let showAccuracy: Bool
    let live = isatty(2) != 0
    private var current: EvaluationProgress?
    private var runStart = 0.0
    private var tokensAtStart = 0
    private var lastDraw = 0.0
    private var lastWidth = 0

    init(showAccuracy: Bool = true, tokens: @escaping () -> Int) {
        self.showAccuracy = showAccuracy
        self.tokens = tokens
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600
            ? String(format: "%dh%02dm", t / 3600, t / 60 % 60)
            : t >= 60 ? String(format: "%dm%02ds", t / 60, t % 60) : "\(t)s"
    }

    /// A chunk finished (or a run started, with 0 items done).
    func update(_ p: EvaluationProgress) {
        if p.itemsDone == 0 || p.run != current?.run {
            if current != nil { finish() }
            runStart = ProgressLine.now()
            tokensAtStart = tokens()
        }
        current = p
        draw()
    }

    /// Text arrived: redraw at most 4 times a second, and only on a terminal.
    func tick() {
        guard live, current != nil, ProgressLine.now() - lastDraw >= 0.25 else { return }
        draw()
    }

    private func draw() {
        guard let p = current else { return }
        let now = ProgressLine.now()
        lastDraw = now
        let elapsed = now - runStart
        var line = "\(p.run.isEmpty ? "" : p.run + " ")\(p.itemsDone)/\(p.itemsTotal) items"
        if showAccuracy, p.itemsDone > 0 { line += String(format: "  acc %.1f%%", p.accuracy * 100) }
        line += "  " + ProgressLine.duration(elapsed)
        if let eta = p.eta { line += "  ETA " + ProgressLine.duration(max(0, eta - (elapsed - p.seconds))) }
        if elapsed > 0 { line += String(format: "  %.1f tok/s", Double(tokens() - tokensAtStart) / elapsed) }
        let pad = max(0, lastWidth - line.count)
        lastWidth = line.count
        FileHandle.standardError.write(Data(("\r" + line + String(repeating: " ", count: pad)).utf8))
    }

    /// Erases the line (before other output); the next update draws it again.
    func clear() {
        guard lastWidth > 0 else { return }
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: lastWidth) + "\r").utf8))
        lastWidth = 0
    }

    /// Ends the line of the current run.
    func finish() {
        guard current != nil else { return }
        if lastWidth == 0 { draw() }
        FileHandle.standardError.write(Data("\n".utf8))
        current = nil
        lastWidth = 0
    }
}
