import ArgumentParser
import Foundation
import Reward
import SPCT
import Transformer

/// `grm spct ...`: Self-Principled Critique Tuning.
struct SpctCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spct",
        abstract: "Self-Principled Critique Tuning of the generative judge (shared/docs/spct.md).",
        subcommands: [SpctRFT.self, SpctGRPO.self, SpctMetaRM.self])
}

/// `grm spct rft`: rejective sampling from the current judge, then LoRA fine-tuning on what it kept.
struct SpctRFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rft",
        abstract: "Rejective fine-tuning: sample judgements, keep the correct ones, fine-tune on them (LoRA).",
        discussion: """
            For each item, --samples judgements are sampled (a fresh shuffle of the responses each) and labelled \
            by the rule: correct when the labelled best response gets the strictly highest score (one response: \
            the score equals its label); a parse failure is wrong. Items whose samples are all correct are \
            dropped as too easy; with --hint, items with none correct are sampled again with "The best response \
            is: Response j" appended, and correct hinted judgements are kept (trained on with the prompt without \
            the hint). The kept set is written as SFT data (--kept), every sample for inspection (--samples-out), \
            and the adapter given by --lora is then trained on the kept set as `grm train sft --init-lora` would, \
            with its progress line, checkpoints and resume. With --resume and an existing --kept file, the \
            sampling is not repeated.
            """)

    @Option(help: "The base model (GGUF).") var model: String
    @Option(help: "The starting judge's LoRA adapter (GGUF; e.g. the cold-start adapter).") var lora: String
    @Option(help: "Labelled items (JSONL) to sample on.") var data: String
    @Option(help: "Where to write the fine-tuned adapter (GGUF), atomically.") var out: String
    @Option(help: "Judgements sampled per item (N_RFT).") var samples: Int = 3
    @Option(help: "Sampling temperature.") var temperature: Float = 1
    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold.") var topP: Float = 1
    @Option(name: .customLong("max-tokens"), help: "Most tokens per judgement (a sample cut short is a parse failure).")
    var maxTokens: Int = 256
    @Flag(help: "Hinted sampling for items with no correct sample.") var hint = false
    @Option(name: .customLong("batch-items"), help: "Items per generator call (their samples decode as one batch).")
    var batchItems: Int = 8
    @Option(help: "The kept set, as SFT chat data (default: OUT.kept.jsonl).") var kept: String?
    @Option(name: .customLong("samples-out"), help: "Every sample with its verdict, JSONL (default: OUT.samples.jsonl).")
    var samplesOut: String?
    @Option(help: "Seed of the shuffles, the sampling and the training order.") var seed: UInt64 = 1

    @Option(help: "Training: passes over the kept set.") var epochs: Double = 1
    @Option(help: "Training: peak learning rate.") var lr: Float = 1e-4
    @Option(help: "Training: sequences per micro-batch.") var batch: Int = 4
    @Option(help: "Training: micro-batches per optimiser step.") var accum: Int = 2
    @Option(help: "Training: longest sequence in tokens (longer kept examples are dropped).") var ctx: Int = 1024
    @Option(name: .customLong("adapter-type"), help: "Type of the written adapter's tensors: f32 or f16.") var adapterType = "f16"
    @Flag(inversion: .prefixedNo, help: "Training: recompute each block's activations in the backward.")
    var gradientCheckpointing = false
    @Option(help: "Training checkpoint file (GGUF), written atomically.") var checkpoint: String?
    @Option(name: .customLong("save-every"), help: "Steps between checkpoints (0: only at the end).") var saveEvery: Int = 0
    @Option(help: "Continue training from this checkpoint (reuses an existing --kept file).") var resume: String?
    @Option(name: .customLong("kv"), help: "KV cache type of the sampling: f32 (default) or f16.") var kvCache = "f32"
    @Option(
        help:
            "Activations of the base's products, sampling and training: exact (f32), q8 (int8 per block; training as train sft --activations q8) or bf16 (q8 with prompts on AMX bf16 tiles). Default: GRM_QMM_ACT or exact for the sampling, exact for the training."
    )
    var activations: String?
    @Option(name: .customLong("judge-template"), help: EngineOptions.judgeTemplateHelp) var judgeTemplate: String?
    @Option(help: "Threads (default: GRM_THREADS or every core).") var threads: Int?
    @Flag(help: "Print one JSON object with the yield and the training results at the end.") var json = false

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive: rejective sampling needs samples that differ") }
        guard maxTokens >= 1, batchItems >= 1 else { throw ValidationError("--max-tokens and --batch-items must be at least 1") }
        guard ["f32", "f16"].contains(adapterType) else { throw ValidationError("--adapter-type must be f32 or f16") }
        if let activations { _ = try EngineOptions.activationMode(activations) }
    }

    func run() throws {
        if let threads { try EngineOptions.useThreads(threads, option: "--threads") }
        if let activations { try EngineOptions.useActivations(activations) }
        let keptPath = kept ?? out + ".kept.jsonl"
        let samplesPath = samplesOut ?? out + ".samples.jsonl"
        var yieldSummary: [String: Any] = [:]
        if resume != nil && FileManager.default.fileExists(atPath: keptPath) {
            printError("rft: resuming: the kept set \(keptPath) is reused, sampling skipped")
        } else {
            let yield = try sample(keptPath: keptPath, samplesPath: samplesPath)
            yieldSummary = [
                "items": yield.items, "kept_trajectories": yield.keptTrajectories, "samples": yield.samples,
                "correct_samples": yield.correctSamples, "parse_failures": yield.parseFailures,
                "hinted_samples": yield.hintedSamples, "correct_hinted": yield.correctHinted
            ]
            for f in RFTFate.allCases { yieldSummary[f.rawValue] = yield.fates[f] ?? 0 }
            guard yield.keptTrajectories > 0 else {
                printError("rft: nothing was kept: no adapter to train")
                throw ExitCode(1)
            }
        }
        var args = [
            "--model", model, "--data", keptPath, "--out", out, "--init-lora", lora, "--epochs", "\(epochs)",
            "--lr", "\(lr)", "--batch", "\(batch)", "--accum", "\(accum)", "--ctx", "\(ctx)", "--overlong", "drop",
            "--adapter-type", adapterType, "--val-fraction", "0", "--eval-every", "0", "--seed", "\(seed)",
            "--warmup", "5", gradientCheckpointing ? "--gradient-checkpointing" : "--no-gradient-checkpointing"
        ]
        if let activations { args += ["--activations", activations] }
        if let judgeTemplate { args += ["--adapter-meta", "\(JudgePromptTemplates.metadataKey)=\(judgeTemplate)"] }
        if let checkpoint { args += ["--checkpoint", checkpoint, "--save-every", "\(saveEvery)"] }
        if let resume { args += ["--resume", resume] }
        if json { args.append("--json") }
        printError("rft: fine-tuning on \(keptPath): grm train sft " + args.joined(separator: " "))
        if json && !yieldSummary.isEmpty {
            let bytes = try JSONSerialization.data(withJSONObject: ["rft_yield": yieldSummary], options: [.sortedKeys])
            print(String(decoding: bytes, as: UTF8.self))
        }
        try TrainSFT.parse(args).run()
    }

    /// Samples every item, writes the kept set and the samples, and reports the yield.
    func sample(keptPath: String, samplesPath: String) throws -> RFTYield {
        let items = try readJudgeItems(path: data, skipInvalid: false, limit: nil, command: "grm spct rft").items
        let adapter = try EngineOptions.loadAdapter(lora, scale: 1)
        let (engine, chat) = try EngineJudgeGenerator.load(model: model, adapter: adapter, kvType: try EngineOptions.kvType(kvCache))
        let templates = try EngineOptions.judgeTemplates(judgeTemplate, adapter: adapter)
        let grm = GenerativeRewardModel(generator: engine, builder: JudgePromptBuilder(templates: templates, chat: chat))
        let sampler = try RejectiveSampler(
            model: grm,
            settings: RFTSettings(
                samples: samples, generation: GenerationSettings(temperature: temperature, topP: topP, maxTokens: maxTokens),
                hint: hint, seed: seed))
        let keptFile = try AtomicFileWriter(path: keptPath)
        let samplesFile = try AtomicFileWriter(path: samplesPath)
        var yield = RFTYield()
        let progress = ProgressLine(showAccuracy: true) { engine.totalGeneratedTokens + engine.piecesInCall }
        engine.onText = { _ in progress.tick() }
        let start = Date()
        var lastLogged = 0
        var correctItems = 0
        for chunk in stride(from: 0, to: items.count, by: batchItems) {
            let batch = Array(items[chunk..<min(items.count, chunk + batchItems)])
            for r in try sampler.run(batch) {
                yield.add(r)
                if r.samples.contains(where: \.isCorrect) { correctItems += 1 }
                for e in r.kept { try keptFile.write(try e.jsonLine() + "\n") }
                try samplesFile.write(try samplesLine(r) + "\n")
            }
            let done = yield.items
            progress.update(
                EvaluationProgress(
                    run: "rft sampling", itemsDone: done, itemsTotal: items.count, correct: correctItems,
                    seconds: Date().timeIntervalSince(start)))
            if isatty(2) == 0 && (done - lastLogged >= max(1, items.count / 10) || done == items.count) {
                lastLogged = done
                printError(
                    "rft sampling \(done)/\(items.count) items, \(Int(Date().timeIntervalSince(start)))s, "
                        + String(format: "%.1f tok/s", Double(engine.totalGeneratedTokens) / max(1e-9, Date().timeIntervalSince(start))))
            }
        }
        progress.finish()
        try keptFile.commit()
        try samplesFile.commit()
        printError("rft: " + yield.summary + " (\(Int(Date().timeIntervalSince(start)))s); kept set: \(keptPath), samples: \(samplesPath)")
        return yield
    }

    /// One JSONL line per item: its id, fate, and every sample's text, scores and verdict.
    func samplesLine(_ r: RFTItemResult) throws -> String {
        func sample(_ s: JudgeSample, hinted: Bool) -> JSONValue {
            .object([
                ("order", .array(s.order.shownToOriginal.map { .integer($0) })), ("hinted", .bool(hinted)),
                ("scores", s.scores.map { .array($0.map { .integer($0) }) } ?? .null), ("correct", .bool(s.isCorrect)),
                ("text", .string(s.text))
            ])
        }
        return try JSONValue.object([
            ("id", r.item.id.map { .string($0) } ?? .null), ("category", r.item.category.map { .string($0) } ?? .null),
            ("fate", .string(r.fate.rawValue)),
            ("samples", .array(r.samples.map { sample($0, hinted: false) } + r.hinted.map { sample($0, hinted: true) }))
        ]).serialized()
    }
}
