import ArgumentParser
import Foundation
import Reward
import Tensor
import Transformer

/// `grm train`: training commands on GGUF models.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune GGUF models on the CPU.",
        subcommands: [TrainSFT.self, TrainRM.self])
}

struct TrainSFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning on chat data (JSONL: messages, or prompt/completion), loss on the assistant's tokens only.",
        discussion: """
            LoRA (the default) keeps the base weights frozen in their stored type and trains adapters on the chosen \
            projections; --out is then a llama.cpp LoRA adapter GGUF (load it with --lora, or merge it with grm merge). \
            --full trains every weight as f32 and --out is the whole model GGUF (the base's metadata kept).
            """)

    @Option(help: "The base model (GGUF: llama or qwen2).") var model: String
    @Option(help: "Training data (JSONL).") var data: String
    @Option(help: "Validation data (JSONL). Without it, --val-fraction of the training data is held out.") var val: String?
    @Option(name: .customLong("val-fraction"), help: "Share of the training data held out for validation when --val is not given (0: none).")
    var valFraction: Double = 0.05
    @Option(help: "Where to write the adapter (LoRA) or the model (--full), atomically.") var out: String

    @Option(name: .customLong("lora-rank"), help: "LoRA rank r.") var loraRank: Int = 16
    @Option(name: .customLong("lora-alpha"), help: "LoRA alpha (the update is scaled by alpha / r).") var loraAlpha: Float = 32
    @Option(name: .customLong("lora-targets"), help: "Projections to adapt: any of q,k,v,o,gate,up,down, or all.")
    var loraTargets: String = "q,k,v,o,gate,up,down"
    @Option(
        name: .customLong("init-lora"),
        help:
            "Start from this LoRA adapter (llama.cpp GGUF): its factors, rank, alpha and targets replace --lora-rank, --lora-alpha and --lora-targets."
    )
    var initLora: String?
    @Flag(
        inversion: .prefixedNo,
        help: "Recompute each block's activations in the backward (TRL's default): less memory for one more forward per step (see docs/training.md).")
    var gradientCheckpointing = true
    @Option(help: EngineOptions.trainingActivationsHelp) var activations: String = "exact"
    @Flag(help: "Full fine-tuning: every weight (embeddings and norms included) as f32 master weights (default --lr 2e-5).") var full = false
    @Option(name: .customLong("adapter-type"), help: "Type of the written adapter's tensors: f32 or f16.") var adapterType: String = "f32"
    @Option(name: .customLong("out-type"), help: "Type of the matrices of a --full model written: f32 or f16.") var outType: String = "f32"

    @Option(help: "Optimiser steps (default: --epochs worth).") var steps: Int?
    @Option(help: "Passes over the training data (when --steps is not given).") var epochs: Double = 1
    @Option(help: "Sequences per micro-batch (each padded to the longest in it).") var batch: Int = 8
    @Option(help: "Longest sequence in tokens.") var ctx: Int = 512
    @Option(help: "What to do with a longer sequence: truncate, drop or refuse (counted either way).") var overlong: String = "truncate"
    @Option(help: "Peak learning rate (default 2e-4 with LoRA, 2e-5 with --full).") var lr: Float?
    @Option(help: "Linear warm-up steps (then cosine decay to 0).") var warmup: Int = 10
    @Option(help: "Micro-batches per optimiser step (gradient accumulation).") var accum: Int = 1
    @Option(name: .customLong("weight-decay"), help: "AdamW's decoupled weight decay (norms and biases exempt).") var weightDecay: Float = 0
    @Option(name: .customLong("eval-every"), help: "Steps between validation losses (0: only at the end).") var evalEvery: Int = 50
    @Option(help: "Checkpoint file (GGUF: trainable weights, AdamW state, step), written atomically.") var checkpoint: String?
    @Option(name: .customLong("save-every"), help: "Steps between checkpoints (0: only at the end).") var saveEvery: Int = 0
    @Option(help: "Continue from this checkpoint (same model, data and settings).") var resume: String?
    @Option(help: "Seed of the LoRA initialisation, the data order and the validation split.") var seed: UInt64 = 1
    @Option(
        name: .customLong("adapter-meta"),
        help:
            "KEY=VALUE recorded in the written adapter as grm.adapter.KEY (repeatable), e.g. judge.template=compact. An --init-lora adapter's judge.template carries over."
    )
    var adapterMeta: [String] = []
    @Option(help: "Threads (default: GRM_THREADS or every core).") var threads: Int?
    @Flag(help: "Print one JSON object with the results at the end.") var json = false

    func validate() throws {
        guard batch > 0, ctx >= 2, accum > 0, warmup >= 0, evalEvery >= 0, saveEvery >= 0 else {
            throw ValidationError("--batch and --accum must be positive, --ctx at least 2, --warmup, --eval-every and --save-every non-negative")
        }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive") }
        guard epochs > 0 else { throw ValidationError("--epochs must be positive") }
        guard valFraction >= 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard ["f32", "f16"].contains(adapterType), ["f32", "f16"].contains(outType) else {
            throw ValidationError("--adapter-type and --out-type must be f32 or f16")
        }
        _ = try EngineOptions.activationMode(activations)
        guard OverlongPolicy(rawValue: overlong) != nil else { throw ValidationError("--overlong must be truncate, drop or refuse") }
        if saveEvery > 0 && checkpoint == nil { throw ValidationError("--save-every needs --checkpoint") }
        if initLora != nil && full { throw ValidationError("--init-lora starts LoRA training; it cannot be used with --full") }
        for m in adapterMeta where m.split(separator: "=", maxSplits: 1).count != 2 || m.hasPrefix("=") {
            throw ValidationError("--adapter-meta \"\(m)\": expected KEY=VALUE")
        }
        if full && !adapterMeta.isEmpty { throw ValidationError("--adapter-meta describes an adapter; --full writes a model") }
    }

    func run() throws {
        if let threads { try EngineOptions.useThreads(threads, option: "--threads") }
        let file = try GGUFFile(path: model)
        // Sequences never exceed the model's own context, whatever --ctx asks for.
        let nativeContext = try LlamaConfig(gguf: file).contextLength
        let ctx = min(self.ctx, nativeContext)
        if ctx < self.ctx { printError("--ctx \(self.ctx) is beyond the model's context of \(nativeContext) tokens: using \(ctx)") }
        let tokenizer = try Tokenizer(metadata: file.metadata)
        let template = try ModelChatTemplate(metadata: file.metadata)
        let policy = OverlongPolicy(rawValue: overlong)!
        // Every line is read and checked before any training work.
        let trainSet = try SFTDataset.load(path: data, tokenizer: tokenizer, template: template, context: ctx, overlong: policy)
        var trainExamples = trainSet.examples, valExamples: [SFTExample] = []
        if let val {
            valExamples = try SFTDataset.load(path: val, tokenizer: tokenizer, template: template, context: ctx, overlong: policy).examples
        } else if valFraction > 0 {
            (trainExamples, valExamples) = trainSet.split(validationFraction: valFraction, seed: seed)
        }
        guard !trainExamples.isEmpty else { throw ValidationError("\(data): no training example left (\(trainSet.dropped) dropped)") }
        printError(
            "data: \(data): \(trainSet.lines) lines, \(trainExamples.count) training and \(valExamples.count) validation examples, "
                + "\(trainSet.truncated) truncated and \(trainSet.dropped) dropped at --ctx \(ctx) (--overlong \(overlong)); "
                + "\(trainExamples.trainableTargetCount) of \(trainExamples.tokenCount) training tokens trained")

        let initial = try initLora.map { try LoRAAdapter(gguf: $0, base: file) }
        var mode: FineTuningMode =
            full
            ? .full
            : .lora(LoRASettings(rank: loraRank, alpha: loraAlpha, targets: try LoRATarget.parse(loraTargets), seed: seed))
        if let initial {
            var s = try LoRASettings(matching: initial, layers: try LlamaConfig(gguf: file).layers)
            s.seed = seed
            mode = .lora(s)
        }
        let net = try LlamaModel(gguf: file, mode: mode, contextLength: ctx)
        if let initial { try net.loadLoRA(initial) }
        let loraTargets =
            initial.map { _ in LoRATarget.allCases.filter { net.layers[0].lora[$0] != nil }.map(\.rawValue).joined(separator: ",") }
            ?? self.loraTargets
        let (loraRank, loraAlpha) = initial.map { a in (a.pairs.first!.value.rank, a.alpha) } ?? (self.loraRank, self.loraAlpha)
        net.gradientCheckpointing = gradientCheckpointing
        let padID = tokenizer.eos ?? 0
        let batcher = SFTBatcher(examples: trainExamples, batchSize: batch, seed: seed, padID: padID)
        let valBatches = SFTBatcher.sequentialBatches(valExamples, batchSize: batch, padID: padID)
        let totalSteps = steps ?? max(1, Int((epochs * Double(batcher.batchesPerEpoch) / Double(accum)).rounded(.up)))
        var settings = SFTSettings(
            steps: totalSteps, accumulation: accum, learningRate: lr ?? (full ? 2e-5 : 2e-4), warmupSteps: warmup, weightDecay: weightDecay)
        settings.clipNorm = 1
        settings.activations = try EngineOptions.activationMode(activations)
        let trainer = try SFTTrainer(model: net, settings: settings) { batcher.batch(at: $0) }
        let c = net.config
        printError(
            "model: \(model): \(c.architecture), \(c.layers) layers, width \(c.dim); "
                + (full ? "full fine-tuning" : "LoRA r \(loraRank), alpha \(loraAlpha) on \(loraTargets)")
                + ": \(net.parameters.reduce(0) { $0 + $1.count }) trainable parameters; \(totalSteps) steps of \(accum) x \(batch) sequences")

        // What a checkpoint must agree on besides the trainer's own settings.
        let identity = [
            "sft.data": trainExamples.map { "\($0.tokens)\($0.trainable.map { $0 ? 1 : 0 })" }.joined().stableDigest,
            "sft.seed": "\(seed)", "sft.batch": "\(batch)", "sft.ctx": "\(ctx)",
            "sft.base": try SHA256.file(model), "sft.init": try initLora.map { try SHA256.file($0) } ?? "none"
        ]
        if let resume {
            try trainer.resume(from: resume, metadata: identity)
            printError("resumed from \(resume) at step \(trainer.step)")
        }

        let progress = Progress(total: totalSteps, start: trainer.step)
        var recent: [Float] = []
        var valLoss: Float? = nil
        var tokens = 0
        let start = Date()
        while trainer.step < totalSteps {
            let r = try trainer.trainStep()
            tokens += r.tokens
            recent = Array((recent + [r.loss]).suffix(10))
            let evalNow = trainer.step == totalSteps || (evalEvery > 0 && trainer.step % evalEvery == 0)
            if evalNow && !valBatches.isEmpty { valLoss = try trainer.evaluate(valBatches) }
            progress.report(
                step: trainer.step, loss: r.loss, validation: valLoss.map { String(format: "%.4f", $0) }, lr: r.learningRate, tokens: tokens,
                elapsed: Date().timeIntervalSince(start), forceLine: evalNow)
            if let checkpoint, (saveEvery > 0 && trainer.step % saveEvery == 0) || trainer.step == totalSteps {
                try trainer.save(to: checkpoint, metadata: identity)
            }
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(start)

        let name = "\(file.metadata.string("general.name") ?? "model") SFT"
        if full {
            try net.writeModel(to: out, base: file.metadata, type: outType == "f16" ? .f16 : .f32, name: name)
        } else {
            var metadata = [
                "base": (model as NSString).lastPathComponent, "data": (data as NSString).lastPathComponent,
                "steps": "\(trainer.step)", "targets": loraTargets
            ]
            // The prompt a judge was trained on stays with it through further training.
            if let t = initial?.metadata[JudgePromptTemplates.metadataKey] { metadata[JudgePromptTemplates.metadataKey] = t }
            for m in adapterMeta {
                let kv = m.split(separator: "=", maxSplits: 1).map(String.init)
                metadata[kv[0]] = kv[1]
            }
            let adapter = net.loraAdapter(metadata: metadata)
            try adapter.write(gguf: out, type: adapterType == "f16" ? .f16 : .f32, name: name + " LoRA")
        }
        let trainLoss = recent.isEmpty ? nil : recent.reduce(0, +) / Float(recent.count)
        printError(
            "wrote \(out)" + (trainLoss.map { String(format: "; train loss %.4f (last %d steps)", $0, recent.count) } ?? "")
                + (valLoss.map { String(format: ", validation loss %.4f", $0) } ?? ""))
        if json {
            var o: [String: Any] = [
                "steps": trainer.step, "tokens_per_second": seconds > 0 ? Double(tokens) / seconds : 0,
                "peak_resident_bytes": peakResidentBytes(), "seconds": seconds, "out": out,
                "mode": full ? "full" : "lora", "train_examples": trainExamples.count,
                "validation_examples": valExamples.count, "truncated": trainSet.truncated, "dropped": trainSet.dropped
            ]
            o["train_loss"] = trainLoss.map { Double($0) } ?? NSNull()
            o["val_loss"] = valLoss.map { Double($0) } ?? NSNull()
            let bytes = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
            print(String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// A progress line: rewritten in place on a terminal, one line per validation (or every 10% of
/// the run) otherwise, so logs stay short.
final class Progress {
    let total: Int, start: Int
    let terminal = isatty(2) != 0
    private var lastLine = 0

    init(total: Int, start: Int) {
        self.total = total
        self.start = start
    }

    /// `validation` is shown as it comes (a loss, or an accuracy with its label); `tokens` 0 hides the rate.
    func report(step: Int, loss: Float, validation: String?, lr: Float, tokens: Int, elapsed: Double, forceLine: Bool) {
        let done = step - start
        let rate = Double(tokens) / max(elapsed, 1e-9)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - step) : 0
        let line =
            String(format: "step %d/%d  loss %.4f  ", step, total, loss) + "val \(validation ?? "-")"
            + String(format: "  lr %.2e", lr) + (tokens > 0 ? String(format: "  %.0f tok/s", rate) : "") + "  ETA \(Progress.duration(eta))"
        if terminal {
            FileHandle.standardError.write(Data(("\r" + line + "   ").utf8))
            if forceLine { printError("") }
        } else if forceLine || step == total || step - lastLine >= max(1, total / 10) {
            lastLine = step
            printError(line)
        }
    }

    func finish() { if terminal { printError("") } }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t / 60 % 60))m" : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}
