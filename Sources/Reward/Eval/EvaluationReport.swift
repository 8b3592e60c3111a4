import Foundation

/// Accuracy at one k (voting over the first k samples of every item), with and without the meta RM.
public struct CurvePoint: Codable, Equatable, Sendable {
    public var k: Int
    public var voting: AccuracyStats
    /// Meta-RM-guided voting (top `metaKeep` of the k), when ratings exist.
    public var meta: AccuracyStats?
    public var metaKeep: Int?
    /// Voting@k accuracy per category (nil in reports written before it was recorded).
    public var categories: [CategoryAccuracy]?
    /// Meta-guided voting@k per category (nil without a meta RM).
    public var metaCategories: [CategoryAccuracy]? = nil
}

/// Accuracy for one category.
public struct CategoryAccuracy: Codable, Equatable, Sendable {
    public var category: String
    public var stats: AccuracyStats
}

/// The result of evaluating a reward model on a labelled set, as JSON (Codable) and Markdown.
public struct EvaluationReport: Codable, Equatable, Sendable {
    /// Free-form descriptions (model file, data file, ...).
    public var model: String?
    public var dataset: String?
    /// Samples per item and how they voted.
    public var config: VotingConfig?
    public var overall: AccuracyStats
    public var categories: [CategoryAccuracy]
    public var samples: SampleStats
    /// Accuracy against k (prefixes of the samples), for k in the requested list.
    public var curve: [CurvePoint]

    public init(
        model: String? = nil, dataset: String? = nil, config: VotingConfig? = nil, overall: AccuracyStats,
        categories: [CategoryAccuracy], samples: SampleStats, curve: [CurvePoint]
    ) {
        self.model = model
        self.dataset = dataset
        self.config = config
        self.overall = overall
        self.categories = categories
        self.samples = samples
        self.curve = curve
    }

    /// Tallies judgements: overall and per-category accuracy of the full vote, per-sample
    /// statistics, and the accuracy-vs-k curve for each k in `curveKs` not above the samples taken.
    public static func build(
        _ judgements: [RewardJudgement], curveKs: [Int] = [], config: VotingConfig? = nil,
        model: String? = nil, dataset: String? = nil
    ) -> EvaluationReport {
        var tally = AccuracyTally()
        var samples = SampleStats()
        for j in judgements {
            tally.add(j.outcome, category: j.item.category)
            j.samples.forEach { samples.add($0, best: j.item.bestIndex) }
        }
        let maxK = judgements.map(\.samples.count).min() ?? 0
        let hasMeta = !judgements.isEmpty && judgements.allSatisfy { $0.metaRatings != nil }
        let curve: [CurvePoint] = Array(Set(curveKs.filter { $0 >= 1 && $0 <= maxK })).sorted().map { k in
            var voting = AccuracyTally()
            var meta = AccuracyTally()
            let keep = config?.metaKeep.map { min($0, k) } ?? max(1, k / 2)
            for j in judgements {
                voting.add(Voting.outcome(j.vote(firstK: k), for: j.item), category: j.item.category)
                if hasMeta {
                    meta.add(Voting.outcome(j.vote(firstK: k, useMeta: true, metaKeep: keep), for: j.item), category: j.item.category)
                }
            }
            return CurvePoint(
                k: k, voting: voting.overall, meta: hasMeta ? meta.overall : nil, metaKeep: hasMeta ? keep : nil,
                categories: voting.categories.map { CategoryAccuracy(category: $0.name, stats: $0.stats) },
                metaCategories: hasMeta ? meta.categories.map { CategoryAccuracy(category: $0.name, stats: $0.stats) } : nil)
        }
        return EvaluationReport(
            model: model, dataset: dataset, config: config, overall: tally.overall,
            categories: tally.categories.map { CategoryAccuracy(category: $0.name, stats: $0.stats) },
            samples: samples, curve: curve)
    }

    /// Pretty-printed JSON with sorted keys.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// Accuracy by category (then overall) as a Markdown table, followed by the curve if any.
    public func markdown() -> String {
        var rows = categories.map { ($0.category, $0.stats) }
        rows.append(("**overall**", overall))
        var out = MarkdownTable.render(
            header: ["category", "items", "accuracy %", "95% CI", "wrong", "ties", "parse failures"],
            alignRight: [false, true, true, true, true, true, true],
            rows: rows.map { name, s in
                [
                    name, String(s.total), MarkdownTable.percent(s.accuracy), MarkdownTable.interval(s.interval95),
                    String(s.wrong), String(s.ties), String(s.parseFailures)
                ]
            })
        out +=
            "\n"
            + String(
                format: "samples: %d, parsed %.1f%%, single-sample accuracy %.1f%%",
                samples.samples, samples.parseRate * 100, samples.sampleAccuracy * 100)
        if !samples.failures.isEmpty {
            out +=
                " (failures: "
                + samples.failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        out += "\n"
        if let forced = samples.forcedSummary { out += forced + "\n" }
        if let position = samples.positionSummary { out += position + "\n" }
        if !curve.isEmpty {
            let meta = curve.contains { $0.meta != nil }
            var header = ["k", "voting@k %", "95% CI"]
            if meta { header += ["MetaRM@k %", "95% CI", "kept"] }
            out +=
                "\n"
                + MarkdownTable.render(
                    header: header, alignRight: header.map { _ in true },
                    rows: curve.map { p in
                        var row = [String(p.k), MarkdownTable.percent(p.voting.accuracy), MarkdownTable.interval(p.voting.interval95)]
                        if meta {
                            row += p.meta.map { [MarkdownTable.percent($0.accuracy), MarkdownTable.interval($0.interval95)] } ?? ["", ""]
                            row.append(p.metaKeep.map(String.init) ?? "")
                        }
                        return row
                    })
        }
        return out
    }
}

/// A GitHub-flavoured Markdown table with columns padded to line up.
public enum MarkdownTable {
    public static func render(header: [String], alignRight: [Bool], rows: [[String]]) -> String {
        let columns = header.count
        func escape(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        let cells = ([header] + rows).map { row in (0..<columns).map { $0 < row.count ? escape(row[$0]) : "" } }
        let widths = (0..<columns).map { c in max(3, cells.map { $0[c].count }.max() ?? 3) }
        func pad(_ s: String, _ c: Int) -> String {
            let fill = String(repeating: " ", count: widths[c] - s.count)
            return c < alignRight.count && alignRight[c] ? fill + s : s + fill
        }
        var lines = ["| " + (0..<columns).map { pad(cells[0][$0], $0) }.joined(separator: " | ") + " |"]
        lines.append(
            "|"
                + (0..<columns).map { c in
                    let dashes = String(repeating: "-", count: widths[c])
                    return c < alignRight.count && alignRight[c] ? " " + dashes.dropLast() + ": " : " " + dashes + " "
                }.joined(separator: "|") + "|")
        for row in cells.dropFirst() {
            lines.append("| " + (0..<columns).map { pad(row[$0], $0) }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func percent(_ x: Double) -> String { String(format: "%.1f", x * 100) }

    public static func interval(_ ci: (low: Double, high: Double)) -> String {
        String(format: "%.1f-%.1f", ci.low * 100, ci.high * 100)
    }
}
