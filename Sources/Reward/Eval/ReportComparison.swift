import Foundation

/// Several reward models' evaluations on the same items side by side, as the DeepSeek-GRM paper
/// tabulates them: one row per model (scalar and semi-scalar RMs, judges after each training
/// stage), columns greedy, voting@k and meta-guided voting@k, with 95% intervals; accuracy per
/// category; and the wall time per judgement. A scalar or semi-scalar model's single run (one
/// reward per response) fills its "greedy" cell and has no voting.
public struct ReportComparison {
    public struct Row {
        public var label: String
        public var report: RewardEvaluationReport
        public init(label: String, report: RewardEvaluationReport) {
            self.label = label
            self.report = report
        }
    }

    public var rows: [Row]

    /// Refuses reports of different item counts or datasets (their accuracies would not compare).
    public init(rows: [Row]) throws {
        guard let first = rows.first else { throw RewardDataError("nothing to compare: no report given") }
        for r in rows.dropFirst() where r.report.items != first.report.items || r.report.dataset != first.report.dataset {
            throw RewardDataError(
                "\(r.label): \(r.report.items) items of \(r.report.dataset ?? "?"), but \(first.label) has \(first.report.items) of "
                    + "\(first.report.dataset ?? "?"): reports must cover the same items")
        }
        self.rows = rows
    }

    /// The single-pass run of a row: greedy judging, or a scalar model's rewards.
    static func single(_ r: RewardEvaluationReport) -> EvaluationRun? { r.greedy ?? r.scalar }

    /// Every k some row voted with, and every k some row has a meta-guided vote for.
    var ks: [Int] { Array(Set(rows.flatMap { $0.report.sampled?.report.curve.map(\.k) ?? [] })).sorted() }
    var metaKs: [Int] {
        Array(Set(rows.flatMap { $0.report.sampled?.report.curve.filter { $0.meta != nil }.map(\.k) ?? [] })).sorted()
    }

    static func cell(_ s: AccuracyStats?) -> String {
        guard let s, s.total > 0 else { return "-" }
        return MarkdownTable.percent(s.accuracy) + " (" + MarkdownTable.interval(s.interval95) + ")"
    }

    /// Overall accuracy per row and column, then greedy (single-pass) and largest-k voting accuracy
    /// per category, then the seconds per judgement of each run.
    public func markdown() -> String {
        let ks = ks, metaKs = metaKs
        var out = "Accuracy % (95% Wilson interval) on \(rows[0].report.items) items"
        out += rows[0].report.dataset.map { " of \($0)" } ?? ""
        out += "; ties and parse failures count as wrong. A scalar model's one reward per response is its greedy column.\n\n"
        let header = ["model", "greedy"] + ks.map { "voting@\($0)" } + metaKs.map { "meta@\($0)" }
        out += MarkdownTable.render(
            header: header, alignRight: [false] + Array(repeating: true, count: header.count - 1),
            rows: rows.map { row in
                let curve = row.report.sampled?.report.curve ?? []
                return [row.label, Self.cell(Self.single(row.report)?.report.overall)]
                    + ks.map { k in Self.cell(curve.first { $0.k == k }?.voting) }
                    + metaKs.map { k in
                        guard let p = curve.first(where: { $0.k == k }), let m = p.meta else { return "-" }
                        return Self.cell(m) + " keep \(p.metaKeep ?? 0)"
                    }
            })
        let categories = Array(Set(rows.flatMap { r in (Self.single(r.report)?.report.categories ?? []).map(\.category) })).sorted()
        if !categories.isEmpty {
            out += "\nBy category: greedy (single pass) / voting at each row's largest k / meta-guided voting there, if any.\n\n"
            out += MarkdownTable.render(
                header: ["model"] + categories, alignRight: [false] + Array(repeating: true, count: categories.count),
                rows: rows.map { row in
                    let single = Self.single(row.report)?.report.categories ?? []
                    let last = row.report.sampled?.report.curve.last
                    func percent(_ list: [CategoryAccuracy]?, _ c: String) -> String? {
                        list?.first { $0.category == c }.map { MarkdownTable.percent($0.stats.accuracy) }
                    }
                    return [row.label]
                        + categories.map { c in
                            [percent(single, c) ?? "-", percent(last?.categories, c), percent(last?.metaCategories, c)]
                                .compactMap { $0 }.joined(separator: " / ")
                        }
                })
        }
        out += "\nWall time per judged item (seconds; loading excluded).\n\n"
        out += MarkdownTable.render(
            header: ["model", "single pass s/item", "sampled run s/item", "samples/item"], alignRight: [false, true, true, true],
            rows: rows.map { row in
                func perItem(_ run: EvaluationRun?) -> String {
                    guard let t = run?.timing, t.items > 0 else { return "-" }
                    return String(format: "%.2f", t.seconds / Double(t.items))
                }
                return [row.label, perItem(Self.single(row.report)), perItem(row.report.sampled), row.report.sampled.map { String($0.k) } ?? "-"]
            })
        return out
    }

    /// Accuracy against k: each judge's voting curve (and meta-guided curve), and each scalar
    /// model as a flat line over the plotted k range.
    public func plot(title: String = "Accuracy against k") -> SVGLinePlot {
        let ks = ks
        let span = [Double(ks.first ?? 1), Double(max(ks.last ?? 1, 2))]
        func point(_ k: Double, _ s: AccuracyStats) -> SVGLinePlot.Point {
            let ci = s.interval95
            return .init(x: k, y: s.accuracy * 100, low: ci.low * 100, high: ci.high * 100)
        }
        var series: [SVGLinePlot.Series] = []
        for row in rows {
            if let curve = row.report.sampled?.report.curve, !curve.isEmpty {
                series.append(.init(name: "\(row.label): voting", points: curve.map { point(Double($0.k), $0.voting) }))
                let meta = curve.compactMap { p in p.meta.map { point(Double(p.k), $0) } }
                if !meta.isEmpty { series.append(.init(name: "\(row.label): meta", points: meta)) }
            } else if let s = Self.single(row.report)?.report.overall {
                series.append(.init(name: row.label, points: span.map { point($0, s) }))
            }
        }
        return SVGLinePlot(title: title, xLabel: "k (samples per item)", yLabel: "accuracy (%)", series: series, logX: true)
    }
}
