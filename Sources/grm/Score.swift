import ArgumentParser
import Foundation
import Reward
import Transformer

/// `grm score`: judge items with k samples and show or save every trajectory and the vote.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score responses with the generative reward model (k sampled judgements and their vote) or a scalar one (--rm).",
        discussion: """
            Items come from --data (JSONL; a listwise item without "best"/"scores" or a single one without \
            "label" is scored without a label) or from the command line (--prompt TEXT --response A \
            --response B ...; no label). Each sample shows the responses in its own shuffled order; its \
            scores are mapped back to the original order and summed. The pick is the response with the \
            highest sum (none on a tie). Without --out the result is printed readably (--json: JSON lines); \
            --out writes JSONL atomically.

            --rm RM.gguf scores with a scalar reward model over --model instead: one reward per response; \
            the pick is the strictly highest reward (none on a tie), and a single response labelled 0/1 \
            is predicted 1 when its reward is above 0.
            """)

    @OptionGroup var judge: JudgeModelOptions
    @Option(help: "Items to score (JSONL; labels optional).")
    var data: String?
    @Option(help: "One query to judge (with --response, repeatable).")
    var prompt: String?
    @Option(name: .customLong("response"), help: "A response to --prompt (repeat for each response).")
    var responses: [String] = []
    @Option(help: "Samples per item.")
    var k = 8
    @Option(help: "Sampling temperature (0 = greedy: every sample is the same).")
    var temperature: Float = 0.5
    @Option(help: "Score only the first N items of --data.")
    var limit: Int?
    @Flag(help: "Skip malformed lines of --data (reported and counted) instead of stopping.")
    var skipInvalid = false
    @Option(help: "Write the scored items here as JSONL (atomically).")
    var out: String?
    @Flag(help: "Print JSON (one object per item) instead of the readable form.")
    var json = false
    @Option(help: "A scalar or semi-scalar reward model (grm train rm) over --model: one reward per response instead of judgements.")
    var rm: String?

    func validate() throws {
        try judge.validateJudge()
        if (data == nil) == (prompt == nil) { throw ValidationError("give either --data FILE or --prompt TEXT with --response") }
        if prompt != nil && responses.isEmpty { throw ValidationError("--prompt needs at least one --response") }
        if data != nil && !responses.isEmpty { throw ValidationError("--response goes with --prompt, not --data") }
        if k < 1 { throw ValidationError("--k must be at least 1") }
        if !(temperature >= 0) || !temperature.isFinite { throw ValidationError("--temperature must be finite and >= 0") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if rm != nil && (judge.lora != nil || judge.orders != nil || judge.meta != nil) {
            throw ValidationError("--rm: the reward model file carries its own adapter; --lora, --orders and --meta are the generative judge's")
        }
    }

    func run() throws {
        if let rm { return try scoreScalar(rm) }
        let items: [RewardItem]
        let labelled = data != nil
        if let data {
            items = try readJudgeItems(path: data, skipInvalid: skipInvalid, limit: limit, command: "grm score", allowUnlabelled: true).items
        } else {
            // No label is known: the placeholder only satisfies RewardItem and is never reported.
            items = [try RewardItem(query: prompt!, responses: responses, label: responses.count == 1 ? .binary(0) : .best(0))]
        }
        let config = VotingConfig(
            k: k, orders: judge.orders, metaKeep: judge.metaKeep, seed: judge.seed,
            settings: judge.generation(temperature: temperature))
        let (engine, grm) = try judge.load()
        let progress = ProgressLine(showAccuracy: false) { engine.totalGeneratedTokens + engine.piecesInCall }
        engine.onText = { _ in progress.tick() }
        let writer = try out.map { try AtomicFileWriter(path: $0) }
        var shown = 0
        do {
            let result = try RewardEvaluator(model: grm, tokenCounter: { engine.totalGeneratedTokens }).judgeAll(
                items, config: config, batchItems: judge.batchItems, run: "scoring", progress: { progress.update($0) },
                onChunk: { chunk in
                    for j in chunk {
                        let known = labelled && j.item.isLabelled
                        let line = try j.scoredJSON(labelled: known).serialized()
                        if let writer {
                            try writer.write(line + "\n")
                        } else {
                            progress.clear()
                            shown += 1
                            print(json ? line : Score.readable(j, number: shown, labelled: known))
                        }
                    }
                })
            progress.finish()
            try writer?.commit()
            let t = result.timing
            let known = result.judgements.filter { labelled && $0.item.isLabelled }
            let right = known.filter(\.isCorrect).count
            printError(
                String(
                    format: "grm score: %d items x %d samples in %.1f s (%.1f tok/s)", t.items, k, t.seconds,
                    t.tokensPerSecond ?? 0)
                    + (known.isEmpty ? "" : ", \(right)/\(known.count) labelled items right") + (out.map { "; wrote \($0)" } ?? ""))
        } catch let error as RewardDataError {
            progress.finish()
            printError("grm score: \(error)")
            throw ExitCode(2)
        }
    }

    /// Whitespace runs collapsed, cut to `limit` characters.
    static func excerpt(_ text: String, limit: Int = 400) -> String {
        let flat = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return flat.count <= limit ? flat : String(flat.prefix(limit)) + " ..."
    }

    /// One judged item for people: the query and responses, the principles and an analysis excerpt
    /// of one sample (the first parsed one that has principles), every sample's scores, the sums and the pick.
    static func readable(_ j: RewardJudgement, number: Int, labelled: Bool) -> String {
        let item = j.item
        var lines: [String] = []
        var title = "=== Item \(number)"
        if let id = item.id { title += " (\(id)" + (item.category.map { ", \($0)" } ?? "") + ")" }
        lines.append(title + " ===")
        lines.append("Query: " + excerpt(item.query, limit: 300))
        for (i, r) in item.responses.enumerated() { lines.append("  Response \(i + 1): " + excerpt(r, limit: 200)) }
        let shownSample =
            j.samples.first { $0.scores != nil && !$0.principles.isEmpty }
            ?? j.samples.first { !$0.principles.isEmpty } ?? j.samples[0]
        lines.append("Principles (sample \(shownSample.index + 1)):")
        if shownSample.principles.isEmpty {
            lines.append("  (none found)")
        } else {
            for p in shownSample.principles.prefix(8) {
                var s = "  - " + p.name
                if let w = p.weight { s += String(format: " (%g%%)", w * 100) }
                if !p.detail.isEmpty { s += ": " + excerpt(p.detail, limit: 160) }
                lines.append(s)
            }
            if shownSample.principles.count > 8 { lines.append("  ... (\(shownSample.principles.count - 8) more)") }
        }
        lines.append("Analysis (sample \(shownSample.index + 1)): " + (shownSample.analysis.map { excerpt($0) } ?? "(none found)"))
        lines.append("Samples:")
        for (i, s) in j.samples.enumerated() {
            let shownOrder = s.order.shownToOriginal.map { String($0 + 1) }.joined(separator: ",")
            // With a meta RM: its rating (a logit) and whether the sample is among those that vote.
            let meta = j.metaRatings.map { String(format: "  meta %+.2f ", $0[i]) + (j.voters.contains(i) ? "kept" : "dropped") } ?? ""
            if let scores = s.scores {
                lines.append(
                    "  #\(s.index + 1) shown as [\(shownOrder)]: scores \(scores)" + (s.forced ? " (forced)" : "")
                        + (labelled ? (s.isCorrect ? "  right" : "  wrong") : "") + meta)
            } else {
                lines.append(
                    "  #\(s.index + 1) shown as [\(shownOrder)]: parse failure (\(s.parseError?.description ?? "?"))" + (s.forced ? " (forced)" : "")
                        + meta)
            }
        }
        let whose = j.metaRatings == nil ? "parsed sample(s)" : "sample(s) the meta RM kept"
        var verdict = "Summed scores: \(j.vote.totals) over \(j.vote.voters) \(whose) -> "
        if item.responses.count == 1 {
            verdict += j.vote.predictedLabel.map { "predicted label \($0)" } ?? (j.vote.voters == 0 ? "no vote" : "undecided (tie)")
        } else {
            verdict += j.vote.pick.map { "pick: Response \($0 + 1)" } ?? (j.vote.voters == 0 ? "no pick (nothing parsed)" : "no pick (tie)")
        }
        lines.append(verdict)
        if labelled {
            let label: String
            switch item.label {
            case .binary(let l): label = "label \(l)"
            default: label = item.bestIndex.map { "best is Response \($0 + 1)" } ?? "no unique best"
            }
            lines.append("Label: \(label) -> \(j.outcome.rawValue)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `--rm`: rewards from a scalar head, one prefill per response.
    func scoreScalar(_ rmPath: String) throws {
        if let t = judge.threads { try EngineOptions.useThreads(t, option: "--threads") }
        if let a = judge.activations { try EngineOptions.useActivations(a) }
        let items =
            try data.map {
                try readJudgeItems(path: $0, skipInvalid: skipInvalid, limit: limit, command: "grm score", allowUnlabelled: true).items
            }
            ?? [try RewardItem(query: prompt!, responses: responses, label: responses.count == 1 ? .binary(0) : .best(0))]
        // Labels are known only for items read from --data that have one.
        let known = items.map { data != nil && $0.isLabelled }
        let scorer = try ScalarRewardScorer(rewardModel: rmPath, base: judge.model)
        let start = Date()
        let total = items.reduce(0) { $0 + $1.responses.count }
        let rewards = try scorer.rewards(
            items, onCritiques: { done, all in FileHandle.standardError.write(Data("\rgrm score: critiques \(done)/\(all)".utf8)) }
        ) { done in
            FileHandle.standardError.write(Data("\rgrm score: \(done)/\(total) responses".utf8))
        }
        printError("")
        let seconds = Date().timeIntervalSince(start)
        let writer = try out.map { try AtomicFileWriter(path: $0) }
        var right = 0
        for (n, (item, r)) in zip(items, rewards).enumerated() {
            let pick = ScalarRewardScorer.pick(r)
            let outcome = known[n] ? ScalarRewardScorer.outcome(r, for: item) : nil
            if outcome == .correct { right += 1 }
            var o: [String: Any] = ["rewards": r.map(Double.init), "pick": pick ?? NSNull()]
            if item.responses.count == 1 { o["predicted_label"] = ScalarRewardScorer.predictedLabel(r[0]) }
            if let id = item.id { o["id"] = id }
            if let outcome {
                o["correct"] = outcome == .correct
                o["outcome"] = outcome.rawValue
            }
            let line = String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
            if let writer {
                try writer.write(line + "\n")
            } else if json {
                print(line)
            } else {
                var lines = ["=== Item \(n + 1)" + (item.id.map { " (\($0)" + (item.category.map { ", \($0)" } ?? "") + ")" } ?? "") + " ==="]
                lines.append("Query: " + Score.excerpt(item.query, limit: 300))
                for (i, resp) in item.responses.enumerated() {
                    lines.append(String(format: "  Response %d (reward %+.4f): ", i + 1, r[i]) + Score.excerpt(resp, limit: 200))
                }
                let verdict =
                    item.responses.count == 1
                    ? "Predicted label \(ScalarRewardScorer.predictedLabel(r[0])) (reward above 0: 1)"
                    : (pick.map { "Pick: Response \($0 + 1)" } ?? "No pick (tie)")
                lines.append(verdict + (outcome.map { $0 == .correct ? "  right" : "  wrong" } ?? ""))
                print(lines.joined(separator: "\n") + "\n")
            }
        }
        try writer?.commit()
        let labelled = known.filter { $0 }.count
        printError(
            String(
                format: "grm score: %d items, %d responses in %.1f s (%.1f responses/s)", items.count, total, seconds,
                Double(total) / max(seconds, 1e-9))
                + (labelled > 0 ? ", \(right)/\(labelled) labelled items right" : "") + (out.map { "; wrote \($0)" } ?? ""))
    }
}
