import ArgumentParser
import Foundation
import Reward

/// `grm eval`: accuracy of the generative reward model on labelled items, greedy against voting@k;
/// with `--rm`, of a scalar reward model in the same report format.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a reward model on labelled JSONL items: the generative model's greedy and voting@k accuracy, or a scalar one's (--rm).",
        discussion: """
            Two runs over the items: greedy (temperature 0, one sample) and one sampled run of K = max(k) \
            samples at --temperature; accuracy at each smaller k votes with the first k samples. An item is \
            right only if the labelled best response gets the strictly highest summed score (ties and \
            parse failures count as wrong, and are reported on their own). Prints a Markdown table; \
            --out writes the JSON report and an SVG plot of accuracy against k beside it (.svg).

            --rm RM.gguf (a scalar or semi-scalar reward model from `grm train rm`, over --model, the base it \
            was trained on) replaces both runs with one "scalar" run: one reward per response, one prefill each \
            (a semi-scalar model first writes each response's critique; its time is in the wall time). An \
            item is right when the labelled best response has the strictly highest reward (a tie is \
            wrong); a single response labelled 0/1 is predicted 1 when its reward is above 0, else 0. \
            The same table, JSON report and plot are written, with scoring throughput (responses/s) and \
            wall time; --k, --temperature, --max-tokens, --seed, --batch-items and --orders do not apply.
            """)

    @OptionGroup var judge: JudgeModelOptions
    @Option(help: "Labelled items (JSONL: pairwise, listwise or single; see `grm data synth`).")
    var data: String
    @Option(name: .customLong("k"), help: "Comma-separated voting sizes; the sampled run draws the largest.")
    var ks = "1,4,8"
    @Option(help: "Temperature of the sampled run.")
    var temperature: Float = 0.5
    @Option(help: "Judge only the first N items.")
    var limit: Int?
    @Flag(help: "Skip malformed input lines (reported and counted) instead of stopping.")
    var skipInvalid = false
    @Option(help: "Write the JSON report here (atomically), and the plot beside it with the extension .svg.")
    var out: String?
    @Option(help: "A scalar or semi-scalar reward model (grm train rm) over --model: evaluate its rewards instead of judgements.")
    var rm: String?

    func voteSizes() throws -> [Int] {
        let parts = ks.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try parts.map { p in
            guard let v = Int(p), v >= 1 else { throw ValidationError("--k: \"\(p)\" is not a positive integer") }
            return v
        }
    }

    func validate() throws {
        try judge.validateJudge()
        _ = try voteSizes()
        if !(temperature > 0) || !temperature.isFinite {
            throw ValidationError("--temperature must be above 0 (the greedy run is always done)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let out, Eval.plotPath(for: out) == out { throw ValidationError("--out \(out): the plot would overwrite the report") }
        if rm != nil && (judge.lora != nil || judge.orders != nil || judge.meta != nil) {
            throw ValidationError("--rm: the reward model file carries its own adapter; --lora, --orders and --meta are the generative judge's")
        }
    }

    /// `report.json` -> `report.svg` (a name without extension gets `.svg` appended).
    static func plotPath(for out: String) -> String {
        let ns = out as NSString
        return ns.pathExtension.isEmpty ? out + ".svg" : ns.deletingPathExtension + ".svg"
    }

    func run() throws {
        if let rm { return try evaluateScalar(rm) }
        let (items, skipped) = try readJudgeItems(path: data, skipInvalid: skipInvalid, limit: limit, command: "grm eval")
        let settings = EvaluationSettings(
            ks: try voteSizes(), temperature: temperature, topP: judge.topP, maxTokens: judge.maxTokens,
            seed: judge.seed, batchItems: judge.batchItems, orders: judge.orders, metaKeep: judge.metaKeep,
            stopLoops: judge.stopLoops, forceScores: judge.forceScores)
        let maxK = settings.maxK
        printError(
            "grm eval: \(items.count) items; greedy, then \(maxK) samples per item at temperature "
                + String(format: "%g", temperature) + "; max \(judge.maxTokens) tokens per sample")
        let (engine, grm) = try judge.load()
        let progress = ProgressLine { engine.totalGeneratedTokens + engine.piecesInCall }
        engine.onText = { _ in progress.tick() }
        let evaluator = RewardEvaluator(model: grm, tokenCounter: { engine.totalGeneratedTokens })
        let report: RewardEvaluationReport
        do {
            report = try evaluator.evaluate(
                items, settings: settings, model: (judge.model as NSString).lastPathComponent,
                dataset: (data as NSString).lastPathComponent, skippedLines: skipped,
                progress: { progress.update($0) })
            progress.finish()
        } catch let error as RewardDataError {
            progress.finish()
            printError("grm eval: \(error)")
            throw ExitCode(2)
        }
        try write(report)
    }

    /// Prints the Markdown tables; with --out, writes the JSON report and the plot.
    func write(_ report: RewardEvaluationReport) throws {
        print(report.markdown(), terminator: "")
        if let out {
            let svg = Eval.plotPath(for: out)
            try AtomicFileWriter.write(try report.jsonText(), to: out)
            try report.accuracyPlot(title: "Accuracy against k: \((data as NSString).lastPathComponent)").write(to: svg)
            printError("grm eval: wrote \(out) and \(svg)")
        }
    }

    /// `--rm`: a scalar reward model's rewards, one "scalar" run in the same report.
    func evaluateScalar(_ rmPath: String) throws {
        if let t = judge.threads { try EngineOptions.useThreads(t, option: "--threads") }
        if let a = judge.activations { try EngineOptions.useActivations(a) }
        let (items, skipped) = try readJudgeItems(path: data, skipInvalid: skipInvalid, limit: limit, command: "grm eval")
        let scorer = try ScalarRewardScorer(rewardModel: rmPath, base: judge.model)
        let total = items.reduce(0) { $0 + $1.responses.count }
        printError("grm eval: \(items.count) items, \(total) responses; scalar reward model \(rmPath)")
        let kind = scorer.critic == nil ? "scalar" : "semi-scalar"
        let report = try ScalarRewardEvaluation.evaluate(
            items, scorer: scorer,
            model: "\((rmPath as NSString).lastPathComponent) (\(kind)) on \((judge.model as NSString).lastPathComponent)",
            dataset: (data as NSString).lastPathComponent, skippedLines: skipped,
            onCritiques: { done, all in FileHandle.standardError.write(Data("\rgrm eval: critiques \(done)/\(all)".utf8)) }
        ) { done in FileHandle.standardError.write(Data("\rgrm eval: \(done)/\(total) responses".utf8)) }
        let t = report.scalar!.timing
        printError(
            String(
                format: "\rgrm eval: %d items, %d responses scored in %.1f s (%.1f responses/s)", t.items, total, t.seconds,
                t.responsesPerSecond ?? 0))
        try write(report)
    }
}
