import Foundation

/// How long a run took and how much it generated (or, for a scalar reward model, scored).
public struct RunTiming: Codable, Equatable, Sendable {
    /// Wall time of the run (generation, parsing and voting, or scoring; model loading excluded).
    public var seconds: Double
    public var items: Int
    /// Generated trajectories (items x samples per item; 0 for a scalar reward model).
    public var samples: Int
    /// Generated tokens, when the generator counts them.
    public var generatedTokens: Int?
    /// Responses scored, for a scalar reward model (one prefill and one reward each).
    public var responses: Int?

    public init(seconds: Double, items: Int, samples: Int, generatedTokens: Int?, responses: Int? = nil) {
        self.seconds = seconds
        self.items = items
        self.samples = samples
        self.generatedTokens = generatedTokens
        self.responses = responses
    }

    /// Judged items (one judgement = one item's vote over its samples) per minute.
    public var judgementsPerMinute: Double { seconds > 0 ? Double(items) * 60 / seconds : 0 }
    /// Sampled trajectories per minute.
    public var samplesPerMinute: Double { seconds > 0 ? Double(samples) * 60 / seconds : 0 }
    public var tokensPerSecond: Double? { generatedTokens.map { seconds > 0 ? Double($0) / seconds : 0 } }
    /// Responses scored per second (a scalar reward model's throughput).
    public var responsesPerSecond: Double? { responses.map { seconds > 0 ? Double($0) / seconds : 0 } }

    enum CodingKeys: String, CodingKey {
        case seconds, items, samples, generatedTokens, judgementsPerMinute, samplesPerMinute, tokensPerSecond
        case responses, responsesPerSecond
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(items, forKey: .items)
        try c.encode(samples, forKey: .samples)
        try c.encodeIfPresent(generatedTokens, forKey: .generatedTokens)
        try c.encode(judgementsPerMinute, forKey: .judgementsPerMinute)
        try c.encode(samplesPerMinute, forKey: .samplesPerMinute)
        try c.encodeIfPresent(tokensPerSecond, forKey: .tokensPerSecond)
        try c.encodeIfPresent(responses, forKey: .responses)
        try c.encodeIfPresent(responsesPerSecond, forKey: .responsesPerSecond)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seconds = try c.decode(Double.self, forKey: .seconds)
        items = try c.decode(Int.self, forKey: .items)
        samples = try c.decode(Int.self, forKey: .samples)
        generatedTokens = try c.decodeIfPresent(Int.self, forKey: .generatedTokens)
        responses = try c.decodeIfPresent(Int.self, forKey: .responses)
    }
}

/// One pass over the data: greedy (temperature 0, one sample), sampled (K samples at a
/// temperature), or "scalar" (a scalar reward model: one reward per response, nothing sampled;
/// temperature 0 and k 1 by convention).
public struct EvaluationRun: Codable, Equatable, Sendable {
    /// "greedy", "sampled" or "scalar".
    public var name: String
    public var temperature: Float
    /// The nucleus threshold of a sampled run that used one (below 1); nil: none.
    public var topP: Float?
    /// Samples per item.
    public var k: Int
    /// Accuracy of the full vote (overall, per category) and, for the sampled run, against k.
    public var report: EvaluationReport
    public var timing: RunTiming

    public init(name: String, temperature: Float, topP: Float? = nil, k: Int, report: EvaluationReport, timing: RunTiming) {
        self.name = name
        self.temperature = temperature
        self.topP = topP
        self.k = k
        self.report = report
        self.timing = timing
    }
}

/// Progress of a run, reported after every chunk of items.
public struct EvaluationProgress: Equatable, Sendable {
    public var run: String
    public var itemsDone: Int
    public var itemsTotal: Int
    /// Items right so far (under the run's full vote).
    public var correct: Int
    /// Seconds since the run started.
    public var seconds: Double

    public init(run: String, itemsDone: Int, itemsTotal: Int, correct: Int, seconds: Double) {
        self.run = run
        self.itemsDone = itemsDone
        self.itemsTotal = itemsTotal
        self.correct = correct
        self.seconds = seconds
    }

    public var accuracy: Double { itemsDone > 0 ? Double(correct) / Double(itemsDone) : 0 }
    /// Seconds left at the rate so far (nil before the first chunk is done).
    public var eta: Double? {
        itemsDone > 0 ? seconds / Double(itemsDone) * Double(itemsTotal - itemsDone) : nil
    }
}

/// What `RewardEvaluator.evaluate` runs.
public struct EvaluationSettings: Equatable, Sendable {
    /// Voting sizes to report; the sampled run draws max(ks) samples per item.
    public var ks: [Int]
    /// Temperature of the sampled run (the greedy run uses 0).
    public var temperature: Float
    public var topP: Float
    public var maxTokens: Int
    public var seed: UInt64
    /// Items per generator call (the engine batches every sequence of a call).
    public var batchItems: Int
    /// Response orders per item in the sampled run (`VotingConfig.orders`; nil: one per sample).
    public var orders: Int?
    /// With a meta RM: samples kept for each meta-guided vote (`VotingConfig.metaKeep`; at each k
    /// of the curve at most k).
    public var metaKeep: Int?
    /// `GenerationSettings.stopLoops` and `forceScores`, for both runs.
    public var stopLoops: Bool
    public var forceScores: Bool

    public init(
        ks: [Int] = [1, 4, 8], temperature: Float = 0.5, topP: Float = 1, maxTokens: Int = 512, seed: UInt64 = 0,
        batchItems: Int = 4, orders: Int? = nil, metaKeep: Int? = nil, stopLoops: Bool = false, forceScores: Bool = false
    ) {
        self.stopLoops = stopLoops
        self.forceScores = forceScores
        self.orders = orders
        self.metaKeep = metaKeep
        self.ks = ks
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.seed = seed
        self.batchItems = batchItems
    }

    /// The generation settings of a run at `temperature`: the budget, loop stop and forcing of both runs.
    func generation(temperature: Float, topP: Float) -> GenerationSettings {
        GenerationSettings(temperature: temperature, topP: topP, maxTokens: maxTokens, stopLoops: stopLoops, forceScores: forceScores)
    }

    /// Why the settings cannot run, or nil.
    public var problem: String? {
        if ks.isEmpty { return "no k given" }
        if let bad = ks.first(where: { $0 < 1 }) { return "k = \(bad): every k must be at least 1" }
        if !(temperature >= 0) || !temperature.isFinite { return "temperature \(temperature) must be finite and >= 0" }
        if !(topP > 0 && topP <= 1) { return "top-p \(topP) must be in (0, 1]" }
        if maxTokens < 1 { return "max tokens \(maxTokens) must be at least 1" }
        if batchItems < 1 { return "batch items \(batchItems) must be at least 1" }
        if let orders, orders < 1 { return "orders = \(orders): need at least 1" }
        return nil
    }

    /// Samples per item of the sampled run.
    public var maxK: Int { ks.max() ?? 1 }
    /// The distinct ks in increasing order.
    public var sortedKs: [Int] { Array(Set(ks)).sorted() }
}

/// Runs a generative reward model over labelled items, in chunks of `batchItems` items per
/// generator call, and times it.
public final class RewardEvaluator {
    public let model: GenerativeRewardModel
    /// Generated tokens so far over all calls, when the generator counts them (for throughput).
    public var tokenCounter: (() -> Int)?

    public init(model: GenerativeRewardModel, tokenCounter: (() -> Int)? = nil) {
        self.model = model
        self.tokenCounter = tokenCounter
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Judges `items` with `config`, `batchItems` items per generator call; `progress` is called
    /// after each chunk and `onChunk` with each chunk's judgements (in item order).
    public func judgeAll(
        _ items: [RewardItem], config: VotingConfig, batchItems: Int, run: String = "",
        progress: ((EvaluationProgress) -> Void)? = nil,
        onChunk: (([RewardJudgement]) throws -> Void)? = nil
    ) throws -> (judgements: [RewardJudgement], timing: RunTiming) {
        guard batchItems >= 1 else { throw RewardDataError("batch items = \(batchItems): need at least 1") }
        let start = RewardEvaluator.now()
        let tokens0 = tokenCounter?()
        var out: [RewardJudgement] = []
        out.reserveCapacity(items.count)
        var correct = 0
        progress?(EvaluationProgress(run: run, itemsDone: 0, itemsTotal: items.count, correct: 0, seconds: 0))
        var i = 0
        while i < items.count {
            let chunk = Array(items[i..<min(items.count, i + batchItems)])
            let judged = try model.judge(chunk, config: config)
            try onChunk?(judged)
            correct += judged.filter(\.isCorrect).count
            out += judged
            i += chunk.count
            progress?(
                EvaluationProgress(
                    run: run, itemsDone: i, itemsTotal: items.count, correct: correct,
                    seconds: RewardEvaluator.now() - start))
        }
        let tokens = tokens0.flatMap { t0 in tokenCounter.map { $0() - t0 } }
        return (
            out,
            RunTiming(
                seconds: RewardEvaluator.now() - start, items: items.count,
                samples: out.reduce(0) { $0 + $1.samples.count }, generatedTokens: tokens)
        )
    }

    /// The greedy run (temperature 0, one sample per item, never rated by a meta RM) and one
    /// sampled run of max(ks) samples per item, whose first k samples give the accuracy at every
    /// smaller k. Each run starts with
    /// the generator's prompt cache empty: the sampled run would otherwise find the greedy run's
    /// last prompts there (its first response order is greedy's) and skip their prefill, and its
    /// time would not compare with greedy's.
    public func evaluate(
        _ items: [RewardItem], settings: EvaluationSettings, model modelName: String? = nil,
        dataset: String? = nil, skippedLines: Int = 0,
        progress: ((EvaluationProgress) -> Void)? = nil
    ) throws -> RewardEvaluationReport {
        if let problem = settings.problem { throw RewardDataError(problem) }
        let greedyConfig = VotingConfig(
            k: 1, seed: settings.seed,
            settings: settings.generation(temperature: 0, topP: 1))
        model.generator.forgetEarlierPrompts()
        // A meta RM has nothing to choose from one greedy sample: it rates the sampled run only.
        let meta = model.metaScorer
        model.metaScorer = nil
        let greedyRun = Result { try judgeAll(items, config: greedyConfig, batchItems: settings.batchItems, run: "greedy", progress: progress) }
        model.metaScorer = meta
        let g = try greedyRun.get()
        let greedy = EvaluationRun(
            name: "greedy", temperature: 0, k: 1,
            report: EvaluationReport.build(
                g.judgements, config: greedyConfig, model: modelName,
                dataset: dataset),
            timing: g.timing)
        let sampledConfig = VotingConfig(
            k: settings.maxK, orders: settings.orders, metaKeep: settings.metaKeep, seed: settings.seed,
            settings: settings.generation(temperature: settings.temperature, topP: settings.topP))
        model.generator.forgetEarlierPrompts()
        let s = try judgeAll(items, config: sampledConfig, batchItems: settings.batchItems, run: "sampled", progress: progress)
        let sampled = EvaluationRun(
            name: "sampled", temperature: settings.temperature, topP: settings.topP < 1 ? settings.topP : nil, k: settings.maxK,
            report: EvaluationReport.build(
                s.judgements, curveKs: settings.ks, config: sampledConfig,
                model: modelName, dataset: dataset),
            timing: s.timing)
        return RewardEvaluationReport(
            model: modelName, dataset: dataset, items: items.count, skippedLines: skippedLines,
            ks: settings.sortedKs, maxTokens: settings.maxTokens, seed: settings.seed,
            batchItems: settings.batchItems, orders: settings.orders, greedy: greedy, sampled: sampled)
    }
}

/// `grm eval`'s result, per category with 95% intervals and timings: greedy against voting@k for
/// the generative reward model, or one "scalar" run for a scalar reward model (`grm eval --rm`),
/// so that both compare in one format. The generation settings (`maxTokens`, `seed`,
/// `batchItems`, `orders`, `ks`) are the generative model's and absent (empty `ks`) for a scalar one.
public struct RewardEvaluationReport: Codable, Equatable, Sendable {
    public var model: String?
    public var dataset: String?
    /// Items evaluated, and input lines skipped as malformed.
    public var items: Int
    public var skippedLines: Int
    public var ks: [Int]
    public var maxTokens: Int?
    public var seed: UInt64?
    public var batchItems: Int?
    /// Response orders per item of the sampled run (nil: one per sample).
    public var orders: Int?
    /// The generative model's runs.
    public var greedy: EvaluationRun?
    public var sampled: EvaluationRun?
    /// A scalar reward model's one run.
    public var scalar: EvaluationRun?

    public init(
        model: String?, dataset: String?, items: Int, skippedLines: Int, ks: [Int], maxTokens: Int, seed: UInt64,
        batchItems: Int, orders: Int? = nil, greedy: EvaluationRun, sampled: EvaluationRun
    ) {
        self.orders = orders
        self.model = model
        self.dataset = dataset
        self.items = items
        self.skippedLines = skippedLines
        self.ks = ks
        self.maxTokens = maxTokens
        self.seed = seed
        self.batchItems = batchItems
        self.greedy = greedy
        self.sampled = sampled
    }

    /// A scalar reward model's report: its one run, no generation settings.
    public init(model: String?, dataset: String?, items: Int, skippedLines: Int, scalar: EvaluationRun) {
        self.model = model
        self.dataset = dataset
        self.items = items
        self.skippedLines = skippedLines
        ks = []
        self.scalar = scalar
    }

    /// Wall time of the sampled (k = max) run over the greedy run's.
    public var sampledOverGreedyTime: Double? {
        guard let greedy, let sampled, greedy.timing.seconds > 0 else { return nil }
        return sampled.timing.seconds / greedy.timing.seconds
    }

    /// The runs present, in report order (greedy, sampled, scalar).
    public var runs: [EvaluationRun] { [greedy, sampled, scalar].compactMap { $0 } }

    enum CodingKeys: String, CodingKey {
        case model, dataset, items, skippedLines, ks, maxTokens, seed, batchItems, orders, greedy, sampled, scalar
        case sampledOverGreedyTime
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encodeIfPresent(dataset, forKey: .dataset)
        try c.encode(items, forKey: .items)
        try c.encode(skippedLines, forKey: .skippedLines)
        try c.encode(ks, forKey: .ks)
        try c.encodeIfPresent(maxTokens, forKey: .maxTokens)
        try c.encodeIfPresent(seed, forKey: .seed)
        try c.encodeIfPresent(batchItems, forKey: .batchItems)
        try c.encodeIfPresent(orders, forKey: .orders)
        try c.encodeIfPresent(greedy, forKey: .greedy)
        try c.encodeIfPresent(sampled, forKey: .sampled)
        try c.encodeIfPresent(scalar, forKey: .scalar)
        try c.encodeIfPresent(sampledOverGreedyTime, forKey: .sampledOverGreedyTime)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        dataset = try c.decodeIfPresent(String.self, forKey: .dataset)
        items = try c.decode(Int.self, forKey: .items)
        skippedLines = try c.decode(Int.self, forKey: .skippedLines)
        ks = try c.decode([Int].self, forKey: .ks)
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        batchItems = try c.decodeIfPresent(Int.self, forKey: .batchItems)
        orders = try c.decodeIfPresent(Int.self, forKey: .orders)
        greedy = try c.decodeIfPresent(EvaluationRun.self, forKey: .greedy)
        sampled = try c.decodeIfPresent(EvaluationRun.self, forKey: .sampled)
        scalar = try c.decodeIfPresent(EvaluationRun.self, forKey: .scalar)
        if runs.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .items, in: c, debugDescription: "no run (greedy, sampled or scalar)")
        }
    }

    /// Pretty-printed JSON with sorted keys.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// One column per run/k: (header, overall stats, stats by category, the run's share of
    /// parsed samples; nil when nothing was sampled).
    var columns: [(title: String, overall: AccuracyStats, byCategory: [String: AccuracyStats], parsed: Double?)] {
        func byCategory(_ c: [CategoryAccuracy]) -> [String: AccuracyStats] {
            Dictionary(uniqueKeysWithValues: c.map { ($0.category, $0.stats) })
        }
        func parsed(_ r: EvaluationRun) -> Double? { r.report.samples.samples > 0 ? r.report.samples.parseRate : nil }
        var out: [(title: String, overall: AccuracyStats, byCategory: [String: AccuracyStats], parsed: Double?)] = []
        if let greedy { out.append(("greedy", greedy.report.overall, byCategory(greedy.report.categories), parsed(greedy))) }
        if let sampled {
            for p in sampled.report.curve {
                out.append(("voting@\(p.k)", p.voting, byCategory(p.categories ?? []), parsed(sampled)))
            }
            // Meta-guided voting, overall and per category (blank cells for reports without them).
            for p in sampled.report.curve {
                if let meta = p.meta {
                    out.append(("meta@\(p.k) keep \(p.metaKeep ?? 0)", meta, byCategory(p.metaCategories ?? []), parsed(sampled)))
                }
            }
        }
        if let scalar { out.append(("scalar", scalar.report.overall, byCategory(scalar.report.categories), parsed(scalar))) }
        return out
    }

    static func cell(_ s: AccuracyStats?) -> String {
        guard let s, s.total > 0 else { return "" }
        return MarkdownTable.percent(s.accuracy) + " (" + MarkdownTable.interval(s.interval95) + ")"
    }

    /// Accuracy % (95% interval) by category for each run (greedy and each k, or scalar), how the
    /// overall misses split into wrong picks, ties and parse failures, and the timings.
    public func markdown() -> String {
        let cols = columns
        let names = Set(runs.flatMap { $0.report.categories.map(\.category) }).sorted()
        var rows: [[String]] = names.map { name in
            let n = runs.first?.report.categories.first { $0.category == name }?.stats.total ?? 0
            return [name, String(n)] + cols.map { RewardEvaluationReport.cell($0.byCategory[name]) }
        }
        rows.append(["**overall**", String(items)] + cols.map { RewardEvaluationReport.cell($0.overall) })
        var out = "Accuracy % (95% Wilson interval); ties and parse failures count as wrong.\n\n"
        out += MarkdownTable.render(
            header: ["category", "items"] + cols.map(\.title),
            alignRight: [false] + Array(repeating: true, count: cols.count + 1), rows: rows)
        out +=
            "\n"
            + MarkdownTable.render(
                header: ["run", "correct", "wrong", "ties", "parse failures", "samples parsed %"],
                alignRight: [false, true, true, true, true, true],
                rows: cols.map { c in
                    [
                        c.title, String(c.overall.correct), String(c.overall.wrong), String(c.overall.ties),
                        String(c.overall.parseFailures), c.parsed.map(MarkdownTable.percent) ?? "-"
                    ]
                })
        let positions = runs.flatMap { r in
            [r.report.samples.forcedSummary, r.report.samples.positionSummary].compactMap { $0.map { "\(r.name) samples: \($0)" } }
        }
        if !positions.isEmpty { out += "\n" + positions.joined(separator: "\n") + "\n" }
        // Generation figures for runs that sampled, scoring figures for a scalar model's run.
        let sampledAny = runs.contains { $0.timing.samples > 0 }, scored = runs.contains { $0.timing.responses != nil }
        var header = ["run"] + (sampledAny ? ["samples/item"] : []) + ["wall s", "judgements/min"]
        if sampledAny { header += ["samples/min", "tokens/s"] }
        if scored { header.append("responses/s") }
        if greedy != nil { header.append("time vs greedy") }
        out +=
            "\n"
            + MarkdownTable.render(
                header: header, alignRight: [false] + Array(repeating: true, count: header.count - 1),
                rows: runs.map { r in
                    let t = r.timing, sampledRun = t.samples > 0
                    let nucleus = r.topP.map { ", top-p " + String(format: "%g", $0) } ?? ""
                    var row = [r.name == "scalar" ? "scalar" : "\(r.name) (T=\(String(format: "%g", r.temperature))\(nucleus))"]
                    if sampledAny { row.append(sampledRun ? String(r.k) : "-") }
                    row += [String(format: "%.1f", t.seconds), String(format: "%.1f", t.judgementsPerMinute)]
                    if sampledAny {
                        row.append(sampledRun ? String(format: "%.1f", t.samplesPerMinute) : "-")
                        row.append(t.tokensPerSecond.map { String(format: "%.1f", $0) } ?? (sampledRun ? "" : "-"))
                    }
                    if scored { row.append(t.responsesPerSecond.map { String(format: "%.1f", $0) } ?? "-") }
                    if greedy != nil {
                        row.append(
                            r.name == "greedy"
                                ? "1.00x" : r.name == "sampled" ? sampledOverGreedyTime.map { String(format: "%.2fx", $0) } ?? "" : "-")
                    }
                    return row
                })
        if skippedLines > 0 { out += "\n\(skippedLines) malformed input line(s) skipped.\n" }
        return out
    }

    /// Accuracy (%) against k with 95% intervals: voting@k, greedy as a point at k = 1, and a
    /// scalar reward model (one reward per response, no k) as a point at k = 1.
    public func accuracyPlot(title: String = "Accuracy against k") -> SVGLinePlot {
        var plot =
            sampled?.report.accuracyPlot(title: title)
            ?? SVGLinePlot(title: title, xLabel: "k (samples per item)", yLabel: "accuracy (%)", series: [], logX: true)
        for (name, run) in [("greedy", greedy), ("scalar", scalar)] {
            guard let run else { continue }
            let s = run.report.overall, ci = s.interval95
            plot.series.append(.init(name: name, points: [.init(x: 1, y: s.accuracy * 100, low: ci.low * 100, high: ci.high * 100)]))
        }
        return plot
    }
}
