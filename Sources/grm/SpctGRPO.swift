import ArgumentParser
import Foundation
import Reward
import SPCT
import Tensor
import Transformer

/// `grm spct grpo`: rule-based GRPO of the judge's LoRA adapter.
struct SpctGRPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Rule-based GRPO: sample judgements with the current policy, reward +1/-1 by the rule, update the LoRA adapter.",
        discussion: """
            Each step draws --items-per-step items (a seeded order, epoch after epoch) and samples --group judgements \
            per item with the current adapter, each on a fresh shuffle of the responses. A judgement is rewarded +1 \
            when the labelled best response gets the strictly highest score (one response: the score equals its \
            label) and -1 otherwise, a parse failure included (no format reward). Advantages are normalised within \
            each item's group; a group with equal rewards gives no policy gradient. The loss is PPO's clipped \
            token-level objective plus --beta times the k3 KL estimator against the starting adapter, averaged over \
            each judgement's tokens, then over judgements. Every step is logged (mean reward, accuracy, parse rate, \
            KL, length, tokens/s) to stderr and to OUT.log.jsonl, with a plot of accuracy and KL per step (OUT.svg).
            """)

    @Option(help: "The base model (GGUF).") var model: String
    @Option(help: "The starting adapter (the RFT judge): the initial policy and the frozen KL reference.") var lora: String
    @Option(help: "Labelled items (JSONL).") var data: String
    @Option(help: "Where to write the trained adapter (GGUF), atomically.") var out: String
    @Option(help: "Judgements sampled per item.") var group: Int = 4
    @Option(name: .customLong("items-per-step"), help: "Items per step.") var itemsPerStep: Int = 8
    @Option(help: "Weight of the KL penalty against the starting adapter.") var beta: Float = 0.08
    @Option(help: "PPO's clip range of the probability ratio.") var clip: Float = 0.2
    @Option(help: "Peak learning rate (AdamW; warm-up then cosine decay).") var lr: Float = 1e-5
    @Option(help: "Linear warm-up steps.") var warmup: Int = 0
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold.") var topP: Float = 1
    @Option(name: .customLong("max-tokens"), help: "Most tokens per judgement.") var maxTokens: Int = 256
    @Option(help: "Optimiser steps.") var steps: Int
    @Option(name: .customLong("updates-per-rollout"), help: "Optimiser updates per batch of rollouts (the ratio moves from 1 after the first).")
    var updatesPerRollout: Int = 1
    @Option(name: .customLong("micro-batch"), help: "Judgements per forward and backward (memory).") var microBatch: Int = 4
    @Option(help: "Longest prompt plus judgement in tokens.") var ctx: Int = 1024
    @Option(name: .customLong("adapter-type"), help: "Type of the written adapter's tensors: f32 or f16.") var adapterType = "f16"
    @Option(help: "Checkpoint file (GGUF: adapter, AdamW state, step), written atomically.") var checkpoint: String?
    @Option(name: .customLong("save-every"), help: "Steps between checkpoints (0: only at the end).") var saveEvery: Int = 0
    @Option(help: "Continue from this checkpoint (same model, items and settings).") var resume: String?
    @Option(help: "Seed of the item order, the shuffles and the sampling.") var seed: UInt64 = 1
    @Option(name: .customLong("judge-template"), help: EngineOptions.judgeTemplateHelp) var judgeTemplate: String?
    @Option(help: "Threads (default: GRM_THREADS or every core).") var threads: Int?
    @Flag(help: "Print one JSON object with the last step's figures at the end.") var json = false

    func validate() throws {
        guard ["f32", "f16"].contains(adapterType) else { throw ValidationError("--adapter-type must be f32 or f16") }
        if saveEvery > 0 && checkpoint == nil { throw ValidationError("--save-every needs --checkpoint") }
        guard saveEvery >= 0, ctx > 1 else { throw ValidationError("--save-every must be non-negative and --ctx above 1") }
    }

    func run() throws {
        if let threads { try EngineOptions.useThreads(threads, option: "--threads") }
        let items = try readJudgeItems(path: data, skipInvalid: false, limit: nil, command: "grm spct grpo").items
        let file = try GGUFFile(path: model)
        let start = try LoRAAdapter(gguf: lora, base: file)
        var settings = GRPOSettings(steps: steps)
        settings.group = group
        settings.itemsPerStep = itemsPerStep
        settings.beta = beta
        settings.clip = clip
        settings.learningRate = lr
        settings.warmupSteps = warmup
        settings.updatesPerRollout = updatesPerRollout
        settings.microBatch = microBatch
        settings.generation = GenerationSettings(temperature: temperature, topP: topP, maxTokens: maxTokens)
        settings.seed = seed
        let templates = try EngineOptions.judgeTemplates(judgeTemplate, adapter: start)
        let builder = JudgePromptBuilder(templates: templates, chat: JudgeChatFormat(model: try ModelChatTemplate(metadata: file.metadata)))
        let trainer: GRPOTrainer
        do {
            trainer = try GRPOTrainer(file: file, start: start, items: items, builder: builder, settings: settings, contextLength: ctx)
        } catch let e as RewardDataError { throw ValidationError("\(e)") }
        let identity = ["grpo.base": try SHA256.file(model), "grpo.start": try SHA256.file(lora)]
        if let resume {
            try trainer.resume(from: resume, metadata: identity)
            printError("resumed from \(resume) at step \(trainer.step)")
        }
        printError(
            "grpo: \(items.count) items, \(steps) steps of \(itemsPerStep) items x \(group) judgements; beta \(beta), clip \(clip), lr \(lr)")
        let logPath = out + ".log.jsonl"
        var log =
            (try? String(contentsOfFile: logPath, encoding: .utf8)).map { text in
                text.split(separator: "\n").filter { line in
                    // On resume, keep the steps the checkpoint already has.
                    guard let d = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let s = d["step"] as? Int
                    else { return false }
                    return s <= trainer.step
                }.map(String.init)
            } ?? []
        if resume == nil { log = [] }
        let t0 = Date()
        let first = trainer.step
        var last = GRPOStepStats()
        while trainer.step < steps {
            last = try trainer.trainStep()
            let elapsed = Date().timeIntervalSince(t0)
            let eta = elapsed / Double(trainer.step - first) * Double(steps - trainer.step)
            printError(
                String(
                    format:
                        "step %d/%d  reward %+.3f  acc %.1f%%  parsed %.1f%%  kl %.4f  len %.0f  flat %d/%d  sample %.0f tok/s  train %.0f tok/s  ETA %@",
                    last.step, steps, last.meanReward, last.accuracy * 100, last.parseRate * 100, last.kl, last.meanLength,
                    last.flatGroups, itemsPerStep, last.samplingTokensPerSecond, last.trainingTokensPerSecond,
                    ProgressLine.duration(eta)))
            log.append(try stepJSON(last))
            try AtomicFileWriter.write(log.joined(separator: "\n") + "\n", to: logPath)
            try plot(log).write(to: out + ".svg")
            if let checkpoint, (saveEvery > 0 && trainer.step % saveEvery == 0) || trainer.step == steps {
                try trainer.save(to: checkpoint, metadata: identity)
            }
        }
        let adapter = trainer.policy.loraAdapter(metadata: [
            "base": (model as NSString).lastPathComponent, "start": (lora as NSString).lastPathComponent, "steps": "\(trainer.step)",
            JudgePromptTemplates.metadataKey: templates.name
        ])
        try adapter.write(gguf: out, type: adapterType == "f16" ? .f16 : .f32, name: "GRM judge GRPO LoRA")
        printError("wrote \(out), the step log \(logPath) and its plot \(out).svg")
        if json { print(try stepJSON(last)) }
    }

    func stepJSON(_ s: GRPOStepStats) throws -> String {
        let o: [String: Any] = [
            "step": s.step, "mean_reward": s.meanReward, "accuracy": s.accuracy, "parse_rate": s.parseRate, "kl": s.kl,
            "mean_length": s.meanLength, "flat_groups": s.flatGroups, "loss": s.loss, "lr": Double(s.learningRate),
            "grad_norm": Double(s.gradientNorm), "sampling_tokens_per_second": s.samplingTokensPerSecond,
            "training_tokens_per_second": s.trainingTokensPerSecond
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Accuracy and parse rate (%) per step, from the log lines.
    func plot(_ lines: [String]) -> SVGLinePlot {
        let rows = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        func series(_ name: String, _ key: String) -> SVGLinePlot.Series {
            SVGLinePlot.Series(
                name: name,
                points: rows.compactMap { r in
                    guard let s = r["step"] as? Int, let v = r[key] as? Double else { return nil }
                    return SVGLinePlot.Point(x: Double(s), y: v * 100)
                })
        }
        return SVGLinePlot(
            title: "GRPO: rollouts per step", xLabel: "step", yLabel: "%",
            series: [series("accuracy", "accuracy"), series("parsed", "parse_rate")], yRange: 0...100)
    }
}
