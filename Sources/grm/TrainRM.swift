import ArgumentParser
import Foundation
import Reward
import Tensor
import Transformer

/// `grm train rm`: a scalar reward model (Bradley-Terry head) on a GGUF backbone.
struct TrainRM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Train a scalar reward model: a Bradley-Terry value head on the last token's final-norm state.",
        discussion: """
            Items are reward JSONL (pairwise chosen/rejected, listwise best or scores). --head-only freezes the backbone: \
            hidden states are computed once per response and only the head trains (minutes). Otherwise the backbone \
            trains through LoRA (--lora-rank) with the head. An item's optional "margin" is subtracted inside the loss \
            of each of its pairs: -log sigmoid(r_chosen - r_rejected - margin). --out is one GGUF: the head, the adapter \
            if any, and the base file's name and SHA-256. --checkpoint/--save-every/--resume save and continue a run \
            exactly (same data, settings and base, checked by name).

            --head semi-scalar: the model first writes a critique of each response (the judge's single-response \
            prompt, greedy, at most --critique-tokens tokens), with the adapter --critic-lora if given (the trained \
            judge), and the head reads the last token of that judging conversation. Critiques are written once into \
            --critiques (JSONL, default OUT.critiques.jsonl), saved as they come and reused by later runs. The \
            backbone stays frozen (--head-only is required: training it would change the critiques the head was \
            fitted to); the critic's adapter, the judge template and the token cap go into --out.
            """)

    @Option(help: "Head kind: scalar or semi-scalar.") var head: String = "scalar"
    @Option(help: "The base model (GGUF).") var model: String
    @Option(help: "Training items (reward JSONL).") var data: String
    @Option(help: "Validation items (reward JSONL); pair accuracy is reported every --eval-every steps.") var val: String?
    @Option(help: "Where to write the reward model (GGUF), atomically.") var out: String
    @Flag(name: .customLong("head-only"), help: "Train the head alone on hidden states computed once.") var headOnly = false
    @Option(name: .customLong("lora-rank"), help: "LoRA rank of the backbone (without --head-only).") var loraRank: Int = 16
    @Option(name: .customLong("lora-alpha"), help: "LoRA alpha.") var loraAlpha: Float = 32
    @Flag(
        inversion: .prefixedNo,
        help: "With LoRA: recompute each block's activations in the backward (less memory for one more forward per step).")
    var gradientCheckpointing = true
    @Option(
        help:
            "Activations of the base's products: exact (f32), q8 (int8 per block) or bf16 (q8 with prompts on AMX bf16 tiles). With LoRA, training's products (as train sft --activations); with --head-only, the hidden states'. Default: exact for LoRA training, GRM_QMM_ACT or exact otherwise."
    )
    var activations: String?
    @Option(name: .customLong("adapter-type"), help: "With LoRA: type of the written adapter's tensors, f32 or f16.") var adapterType: String = "f32"
    @Option(help: "Optimiser steps (default: --epochs worth).") var steps: Int?
    @Option(help: "Passes over the training items (when --steps is not given).") var epochs: Double = 1
    @Option(help: "Items per step with LoRA; preference pairs per step with --head-only (a step there is one small product).") var batch: Int = 16
    @Option(help: "Peak learning rate (default 1e-3 head-only, 1e-4 with LoRA).") var lr: Float?
    @Option(help: "TRL's center_rewards_coefficient: weight of mean((r_chosen + r_rejected)^2).") var center: Float = 0.01
    @Flag(help: "Give the head a bias.") var bias = false
    @Option(help: "Longest response rendering in tokens (longer items are left out and counted).") var ctx: Int = 1024
    @Option(name: .customLong("eval-every"), help: "Steps between validation accuracies (0: only at the end).") var evalEvery: Int = 50
    @Option(help: "Checkpoint file (GGUF: the head, the adapters, AdamW state, step), written atomically.") var checkpoint: String?
    @Option(name: .customLong("save-every"), help: "Steps between checkpoints (0: only at the end).") var saveEvery: Int = 0
    @Option(help: "Continue from this checkpoint (same base, data and settings).") var resume: String?
    @Option(help: "Seed of the head, the adapters and the order.") var seed: UInt64 = 1
    @Option(name: .customLong("critic-lora"), help: "Semi-scalar: the LoRA adapter (GGUF) that writes the critiques (the trained judge).")
    var criticLora: String?
    @Option(name: .customLong("critique-tokens"), help: "Semi-scalar: generated tokens per critique at most.") var critiqueTokens = 128
    @Option(help: "Semi-scalar: the critique cache (JSONL; default OUT.critiques.jsonl).") var critiques: String?
    @Option(name: .customLong("critique-batch"), help: "Semi-scalar: responses critiqued per batched generator call.") var critiqueBatch = 8
    @Option(help: "Threads (default: GRM_THREADS or every core).") var threads: Int?
    @Flag(help: "Print one JSON object with the results at the end.") var json = false

    func validate() throws {
        guard head == "scalar" || head == "semi-scalar" else { throw ValidationError("--head \(head): scalar or semi-scalar") }
        if head == "semi-scalar" && !headOnly {
            throw ValidationError("--head semi-scalar needs --head-only: the critic's backbone stays frozen")
        }
        if head == "scalar" && criticLora != nil { throw ValidationError("--critic-lora is for --head semi-scalar") }
        guard critiqueTokens > 0, critiqueBatch > 0 else { throw ValidationError("--critique-tokens and --critique-batch must be positive") }
        guard batch > 0, ctx > 1, epochs > 0 else { throw ValidationError("--batch, --ctx and --epochs must be positive") }
        guard evalEvery >= 0, saveEvery >= 0 else { throw ValidationError("--eval-every and --save-every must not be negative") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive") }
        if saveEvery > 0 && checkpoint == nil { throw ValidationError("--save-every needs --checkpoint") }
        if let activations { _ = try EngineOptions.activationMode(activations) }
        guard ["f32", "f16"].contains(adapterType) else { throw ValidationError("--adapter-type must be f32 or f16") }
    }

    func run() throws {
        if let threads { try EngineOptions.useThreads(threads, option: "--threads") }
        if let activations { try EngineOptions.useActivations(activations) }
        let file = try GGUFFile(path: model)
        let tokenizer = try Tokenizer(metadata: file.metadata)
        let chatTemplate = try ModelChatTemplate(metadata: file.metadata)
        let input = ScalarRewardInput(tokenizer: tokenizer, template: chatTemplate)
        let trainItems = try RewardItemReader.readAll(path: data).items
        let valItems = try val.map { try RewardItemReader.readAll(path: $0).items } ?? []
        let sha = try SHA256.file(model)
        let critic = try criticLora.map { try EngineOptions.loadAdapter($0, scale: 1)! }
        // The critic writes in the judging prompt it was trained on (its adapter records it).
        let criticTemplates = try EngineOptions.judgeTemplates(nil, adapter: critic)
        // The frozen backbone of a head-only run (with the critic's adapter for a semi-scalar one).
        let engine = headOnly ? try LlamaInference(gguf: file, contextLength: ctx, adapter: critic) : nil
        let train: ScalarRewardExamples, heldOut: ScalarRewardExamples
        var criticIdentity = ""
        if head == "semi-scalar", let engine {
            criticIdentity = "\(sha) lora \(try criticLora.map { try SHA256.file($0) } ?? "none")"
            let writer = CritiqueWriter(
                engine: engine, tokenizer: tokenizer, chat: JudgeChatFormat(model: chatTemplate), templates: criticTemplates,
                maxTokens: critiqueTokens, batch: critiqueBatch)
            let judgement = JudgementInput(builder: writer.grm.builder, tokenizer: tokenizer)
            let cachePath = critiques ?? out + ".critiques.jsonl"
            var cache = try CritiqueCache(path: cachePath)
            func examples(_ items: [RewardItem], _ what: String) throws -> ScalarRewardExamples {
                let t0 = Date()
                let result = try writer.critiques(for: items, cache: cache, critic: criticIdentity) { c, done, total in
                    try c.write(to: cachePath, items: trainItems + valItems, critic: criticIdentity, maxTokens: critiqueTokens)
                    let perMinute = 60 * Double(done) / max(Date().timeIntervalSince(t0), 1e-9)
                    FileHandle.standardError.write(Data(String(format: "\r\(what): critiques %d/%d (%.1f/min)", done, total, perMinute).utf8))
                }
                cache = result.cache
                printError(
                    String(
                        format: "\r\(what): %d critiques (%d written now) in %.1f s", result.critiques.joined().count, result.generated,
                        Date().timeIntervalSince(t0)))
                return try ScalarRewardExamples(items: items, context: ctx) { i, j in
                    try judgement.tokens(
                        item: JudgementInput.singleResponseView(of: items[i], response: j), order: .identity(1), judgement: result.critiques[i][j])
                }
            }
            train = try examples(trainItems, "train")
            heldOut = try examples(valItems, "validation")
            try cache.write(to: cachePath, items: trainItems + valItems, critic: criticIdentity, maxTokens: critiqueTokens)
            printError("critiques: \(cachePath)")
        } else {
            train = try ScalarRewardExamples(items: trainItems, input: input, context: ctx)
            heldOut = try ScalarRewardExamples(items: valItems, input: input, context: ctx)
        }
        printError(
            "data: \(train.examples.count) training items (\(train.pairCount) pairs; \(train.tooLong) longer than --ctx "
                + "\(ctx) and \(train.withoutPairs) without pairs left out), \(heldOut.examples.count) validation items")
        // What a checkpoint must agree on besides the trainer's own settings and data.
        var identity = ["rm.base": sha, "rm.data": train.fingerprint, "rm.ctx": "\(ctx)", "rm.head": head]
        if head == "semi-scalar" { identity["rm.critic"] = criticIdentity + " tokens \(critiqueTokens)" }
        let start = Date()
        let config = try LlamaConfig(gguf: file)
        let rmHead = ScalarHead(dim: config.dim, bias: bias, seed: seed)
        var adapter: LoRAAdapter?
        var trainAccuracy: Double?, valAccuracy: Double?
        var totalSteps = 0
        if headOnly, let engine {
            func features(_ ex: ScalarRewardExamples, _ what: String) throws -> (Tensor, [PreferencePair]) {
                let (seqs, pairs) = ex.flattened
                let t0 = Date()
                let f = try ScalarRewardInput.hiddenStates(engine: engine, sequences: seqs) { done in
                    FileHandle.standardError.write(Data("\r\(what): hidden states \(done)/\(seqs.count)".utf8))
                }
                printError(
                    String(
                        format: "\r\(what): %d hidden states in %.1f s (%.1f responses/s)", seqs.count,
                        Date().timeIntervalSince(t0), Double(seqs.count) / max(Date().timeIntervalSince(t0), 1e-9)))
                return (f, pairs)
            }
            let (trainFeatures, trainPairs) = try features(train, "train")
            let (valFeatures, valPairs) = heldOut.examples.isEmpty ? (Tensor(zeros: [0, rmHead.dim]), []) : try features(heldOut, "validation")
            totalSteps = steps ?? max(1, Int((epochs * Double(trainPairs.count) / Double(batch)).rounded(.up)))
            let training = HeadOnlyTraining(steps: totalSteps, pairsPerStep: batch, learningRate: lr ?? 1e-3, centerCoefficient: center, seed: seed)
            let trainer = try HeadOnlyTrainer(head: rmHead, features: trainFeatures, pairs: trainPairs, settings: training)
            if let resume {
                try trainer.resume(from: resume, metadata: identity)
                printError("resumed from \(resume) at step \(trainer.step)")
            }
            while trainer.step < totalSteps {
                let loss = try trainer.trainStep()
                let step = trainer.step
                let evalNow = !valPairs.isEmpty && (step == totalSteps || (evalEvery > 0 && step % evalEvery == 0))
                if evalNow { valAccuracy = BradleyTerry.accuracy(rewards: try rmHead.rewards(valFeatures), pairs: valPairs) }
                if evalNow || step % max(1, totalSteps / 10) == 0 || step == totalSteps {
                    printError(
                        String(format: "step %d/%d  loss %.4f", step, totalSteps, loss)
                            + (valAccuracy.map { String(format: "  val accuracy %.1f%%", $0 * 100) } ?? ""))
                }
                if let checkpoint, (saveEvery > 0 && step % saveEvery == 0) || step == totalSteps {
                    try trainer.save(to: checkpoint, metadata: identity)
                }
            }
            if !valPairs.isEmpty && valAccuracy == nil {
                valAccuracy = BradleyTerry.accuracy(rewards: try rmHead.rewards(valFeatures), pairs: valPairs)
            }
            trainAccuracy = BradleyTerry.accuracy(rewards: try rmHead.rewards(trainFeatures), pairs: trainPairs)
        } else {
            let net = try LlamaModel(gguf: file, mode: .lora(LoRASettings(rank: loraRank, alpha: loraAlpha, seed: seed)), contextLength: ctx)
            net.gradientCheckpointing = gradientCheckpointing
            let per = (train.examples.count + batch - 1) / batch
            totalSteps = steps ?? max(1, Int((epochs * Double(per)).rounded(.up)))
            let trainer = try ScalarRewardTrainer(
                model: net, head: rmHead, data: train, steps: totalSteps, itemsPerStep: batch,
                learningRate: lr ?? 1e-4, centerCoefficient: center, seed: seed)
            trainer.activations = try activations.map { try EngineOptions.activationMode($0) } ?? .exact
            if let resume {
                try trainer.resume(from: resume, metadata: identity)
                printError("resumed from \(resume) at step \(trainer.step)")
            }
            let progress = Progress(total: totalSteps, start: trainer.step)
            let t0 = Date()
            while trainer.step < totalSteps {
                let r = try trainer.trainStep()
                let evalNow = trainer.step == totalSteps || (evalEvery > 0 && trainer.step % evalEvery == 0)
                if evalNow && !heldOut.examples.isEmpty { valAccuracy = try trainer.accuracy(heldOut) }
                progress.report(
                    step: trainer.step, loss: r.loss, validation: valAccuracy.map { String(format: "accuracy %.1f%%", $0 * 100) },
                    lr: trainer.schedule.rate(at: trainer.step - 1),
                    tokens: 0, elapsed: Date().timeIntervalSince(t0), forceLine: evalNow)
                if let checkpoint, (saveEvery > 0 && trainer.step % saveEvery == 0) || trainer.step == totalSteps {
                    try trainer.save(to: checkpoint, metadata: identity)
                }
            }
            progress.finish()
            if !heldOut.examples.isEmpty && valAccuracy == nil { valAccuracy = try trainer.accuracy(heldOut) }
            adapter = net.loraAdapter()
        }
        if head == "semi-scalar" { adapter = critic }
        let seconds = Date().timeIntervalSince(start)
        let rm = RewardModelFile(
            kind: head == "semi-scalar" ? .semiScalar : .scalar, architecture: config.architecture, head: rmHead, adapter: adapter,
            baseName: (model as NSString).lastPathComponent, baseSHA256: sha,
            judgeTemplate: head == "semi-scalar" ? criticTemplates.single : nil,
            critiqueTokens: head == "semi-scalar" ? critiqueTokens : nil,
            metadata: [
                "mode": headOnly ? "head-only" : "lora r \(loraRank)", "steps": "\(totalSteps)",
                "data": (data as NSString).lastPathComponent
            ].merging(criticLora.map { ["critic": ($0 as NSString).lastPathComponent] } ?? [:]) { a, _ in a })
        // A semi-scalar model's adapter is the critic's, frozen: kept in the critic file's own type.
        try rm.write(
            gguf: out,
            adapterType: head == "semi-scalar"
                ? try criticLora.map { try EngineOptions.storedType(ofAdapter: $0) } ?? .f32 : adapterType == "f16" ? .f16 : .f32)
        printError("wrote \(out)" + (valAccuracy.map { String(format: "; validation pair accuracy %.1f%%", $0 * 100) } ?? ""))
        if json {
            var o: [String: Any] = [
                "steps": totalSteps, "seconds": seconds, "mode": headOnly ? "head-only" : "lora",
                "train_items": train.examples.count, "train_pairs": train.pairCount,
                "peak_resident_bytes": peakResidentBytes(), "out": out
            ]
            o["train_accuracy"] = trainAccuracy ?? NSNull()
            o["val_accuracy"] = valAccuracy ?? NSNull()
            print(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
        }
    }
}
