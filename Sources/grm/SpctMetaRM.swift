import ArgumentParser
import Foundation
import Reward
import SPCT
import Tensor
import Transformer

/// `grm spct metarm`: a meta reward model for guided voting.
struct SpctMetaRM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metarm",
        abstract: "Train a meta reward model: a pointwise head that rates the judge's sampled judgements (binary cross-entropy).",
        discussion: """
            The judge (--model with --lora) samples --samples judgements per training item, each on a fresh shuffle \
            of the responses, at --temperature. Each is labelled by the rule: 1 when the labelled best response gets \
            the strictly highest score (one response: the score equals its label), 0 otherwise (a parse failure \
            too). The samples are saved as `grm score` JSONL (--trajectories, default OUT.trajectories.jsonl) after \
            every chunk; a later run reuses the lines there and samples only the rest. The head then reads the \
            final-norm state at the end of each judging conversation (the judge's prompt with the responses in the \
            sample's order, then the judgement) on the judge's frozen backbone, and trains with binary \
            cross-entropy. --out holds the head, the judge's adapter (the meta RM's backbone) and the judge \
            template. Use it with `grm eval --meta OUT --meta-keep N` or `grm score --meta OUT`.
            """)

    @Option(help: "The base model (GGUF).") var model: String
    @Option(help: "The judge's LoRA adapter (GGUF): it samples the judgements and is the meta RM's backbone.") var lora: String
    @Option(help: "Labelled items (JSONL) to sample on.") var data: String
    @Option(help: "Where to write the meta reward model (GGUF), atomically.") var out: String
    @Option(help: "Judgements sampled per item.") var samples: Int = 8
    @Option(help: "Sampling temperature (the paper votes over samples at 0.5).") var temperature: Float = 0.5
    @Option(name: .customLong("max-tokens"), help: "Most tokens per judgement.") var maxTokens: Int = 256
    @Option(name: .customLong("batch-items"), help: "Items per generator call.") var batchItems: Int = 8
    @Option(help: "Use only the first N items.") var limit: Int?
    @Option(help: "The sampled judgements (JSONL; default OUT.trajectories.jsonl), reused when present.") var trajectories: String?
    @Option(help: "Passes over the judgements.") var epochs: Double = 3
    @Option(help: "Judgements per step.") var batch: Int = 64
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(help: "Seed of the shuffles, the sampling, the head and the order.") var seed: UInt64 = 1
    @Option(help: "Threads (default: GRM_THREADS or every core).") var threads: Int?
    @Option(name: .customLong("kv"), help: "KV cache type of the sampling: f32 (default) or f16.") var kvCache = "f32"
    @Option(name: .customLong("judge-template"), help: EngineOptions.judgeTemplateHelp) var judgeTemplate: String?
    @Flag(help: "Print one JSON object with the results at the end.") var json = false

    func validate() throws {
        guard samples >= 1, maxTokens >= 1, batchItems >= 1, batch >= 1, epochs > 0 else {
            throw ValidationError("--samples, --max-tokens, --batch-items, --batch and --epochs must be positive")
        }
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be positive") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        if let threads { try EngineOptions.useThreads(threads, option: "--threads") }
        let start = Date()
        let items = try readJudgeItems(path: data, skipInvalid: false, limit: limit, command: "grm spct metarm").items
        let adapter = try EngineOptions.loadAdapter(lora, scale: 1)!
        let (judge, chat) = try EngineJudgeGenerator.load(model: model, adapter: adapter, kvType: try EngineOptions.kvType(kvCache))
        let templates = try EngineOptions.judgeTemplates(judgeTemplate, adapter: adapter)
        let grm = GenerativeRewardModel(generator: judge, builder: JudgePromptBuilder(templates: templates, chat: chat))
        let config = VotingConfig(
            k: samples, seed: seed, settings: GenerationSettings(temperature: temperature, topP: 1, maxTokens: maxTokens))
        let path = trajectories ?? out + ".trajectories.jsonl"
        let t0 = Date()
        let (judged, sampled) = try MetaRewardSampler(grm: grm, config: config, batchItems: batchItems).judgements(for: items, path: path) {
            done, total in
            let elapsed = Date().timeIntervalSince(t0)
            FileHandle.standardError.write(
                Data(String(format: "\rmetarm: sampled %d/%d items (%.1f judgements/min)", done, total, 60 * Double(done * samples) / elapsed).utf8))
        }
        let sampleSeconds = Date().timeIntervalSince(t0)
        let trajectories = MetaRewardSampler.trajectories(judged)
        let labels = trajectories.map(\.label)
        let positives = labels.filter { $0 == 1 }.count
        printError(
            String(
                format: "\nmetarm: %d judgements of %d items (%d sampled now, %.0f s; reused from %@): %d correct (%.1f%%), %d parse failures",
                trajectories.count, items.count, sampled * samples, sampleSeconds, path, positives,
                100 * Double(positives) / Double(max(1, trajectories.count)), trajectories.filter { $0.sample.scores == nil }.count))
        guard positives > 0 && positives < trajectories.count else {
            printError("metarm: every judgement has the same label: nothing to learn")
            throw ExitCode(1)
        }

        let config0 = judge.generator.engine.config
        let head = ScalarHead(dim: config0.dim, bias: true, seed: seed)
        let meta = try MetaRewardModel(
            engine: judge.generator.engine, input: JudgementInput(builder: grm.builder, tokenizer: judge.generator.tokenizer), head: head)
        let sequences = try trajectories.map { try meta.input.tokens(item: $0.item, order: $0.sample.order, judgement: $0.sample.text) }
        let t1 = Date()
        let features = try meta.hiddenStates(sequences) { done in
            FileHandle.standardError.write(Data("\rmetarm: hidden states \(done)/\(sequences.count)".utf8))
        }
        printError(String(format: "\nmetarm: %d hidden states in %.1f s", sequences.count, Date().timeIntervalSince(t1)))
        let steps = max(1, Int((epochs * Double(trajectories.count) / Double(batch)).rounded(.up)))
        let training = HeadOnlyTraining(steps: steps, pairsPerStep: batch, learningRate: lr, centerCoefficient: 0, seed: seed)
        let losses = try training.train(head, features: features, objective: .binary(labels)) { step, loss in
            if step % max(1, steps / 10) == 0 || step == steps { printError(String(format: "metarm: step %d/%d  loss %.4f", step, steps, loss)) }
        }
        let logits = try head.rewards(features)
        let accuracy = BinaryCrossEntropy.accuracy(logits: logits, labels: labels)
        let sha = try SHA256.file(model)
        try RewardModelFile(
            kind: .meta, architecture: config0.architecture, head: head, adapter: adapter, baseName: (model as NSString).lastPathComponent,
            baseSHA256: sha, judgeTemplate: templates.multi,
            metadata: [
                "judge": (lora as NSString).lastPathComponent, "data": (data as NSString).lastPathComponent, "items": "\(items.count)",
                "samples": "\(samples)", "temperature": "\(temperature)", "steps": "\(steps)",
                "train_accuracy": String(format: "%.4f", accuracy)
            ]
        ).write(gguf: out, adapterType: try EngineOptions.storedType(ofAdapter: lora))
        printError(
            String(
                format: "metarm: wrote %@ (training accuracy %.1f%%, final loss %.4f, %.0f s in all)", out, accuracy * 100, losses.last ?? 0,
                Date().timeIntervalSince(start)))
        if json {
            let o: [String: Any] = [
                "items": items.count, "judgements": trajectories.count, "correct": positives, "steps": steps,
                "train_accuracy": accuracy, "final_loss": Double(losses.last ?? 0), "sampling_seconds": sampleSeconds,
                "seconds": Date().timeIntervalSince(start), "out": out
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
        }
    }
}
