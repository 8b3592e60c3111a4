import ArgumentParser
import Foundation
import Reward

/// `grm eval`: accuracy of the generative reward model on labelled items, greedy against voting@k.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate the generative reward model on labelled JSONL items: greedy and voting@k accuracy.",
        discussion: """
            Two runs over the items: greedy (temperature 0, one sample) and one sampled run of K = max(k)
            samples at --temperature; accuracy at each smaller k votes with the first k samples. An item is
            right only if the labelled best response gets the strictly highest summed score (ties and
            parse failures count as wrong, and are reported on their own). Prints a Markdown table;
            --out writes the JSON report and an SVG plot of accuracy against k beside it (.svg).
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
    }

    /// `report.json` -> `report.svg` (a name without extension gets `.svg` appended).
    static func plotPath(for out: String) -> String {
        let ns = out as NSString
        return ns.pathExtension.isEmpty ? out + ".svg" : ns.deletingPathExtension + ".svg"
    }

    func run() throws {
        let (items, skipped) = try readJudgeItems(path: data, skipInvalid: skipInvalid, limit: limit, command: "grm eval")
        let settings = EvaluationSettings(
            ks: try voteSizes(), temperature: temperature, maxTokens: judge.maxTokens,
            seed: judge.seed, batchItems: judge.batchItems, orders: judge.orders)
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
        print(report.markdown(), terminator: "")
        if let out {
            let svg = Eval.plotPath(for: out)
            try AtomicFileWriter.write(try report.jsonText(), to: out)
            try report.accuracyPlot(title: "Accuracy against k: \((data as NSString).lastPathComponent)").write(to: svg)
            printError("grm eval: wrote \(out) and \(svg)")
        }
    }
}
