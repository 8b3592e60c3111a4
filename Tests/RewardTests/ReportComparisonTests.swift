import Foundation
import XCTest
@testable import Reward

/// `grm report`'s comparison: rows of judges and scalar models on the same items.
final class ReportComparisonTests: XCTestCase {
    static func stats(_ outcomes: [ItemOutcome]) -> AccuracyStats {
        var s = AccuracyStats()
        outcomes.forEach { s.add($0) }
        return s
    }

    static func judge(items: Int = 4) -> RewardEvaluationReport {
        let greedy = stats([.correct, .wrong, .tie, .parseFailure])
        let curve = [
            CurvePoint(k: 1, voting: greedy, meta: nil, metaKeep: nil, categories: nil),
            CurvePoint(
                k: 2, voting: stats([.correct, .correct, .wrong, .wrong]), meta: stats([.correct, .correct, .correct, .wrong]), metaKeep: 1,
                categories: [CategoryAccuracy(category: "math", stats: stats([.correct, .correct, .wrong, .wrong]))],
                metaCategories: [CategoryAccuracy(category: "math", stats: stats([.correct, .correct, .correct, .wrong]))])
        ]
        let report = EvaluationReport(
            model: "judge", dataset: "test.jsonl", overall: greedy,
            categories: [CategoryAccuracy(category: "math", stats: greedy)], samples: SampleStats(), curve: [])
        let sampled = EvaluationReport(
            model: "judge", dataset: "test.jsonl", overall: greedy, categories: [], samples: SampleStats(), curve: curve)
        return RewardEvaluationReport(
            model: "judge", dataset: "test.jsonl", items: items, skippedLines: 0, ks: [1, 2], maxTokens: 64, seed: 0, batchItems: 4,
            greedy: EvaluationRun(
                name: "greedy", temperature: 0, k: 1, report: report, timing: RunTiming(seconds: 8, items: 4, samples: 4, generatedTokens: 100)),
            sampled: EvaluationRun(
                name: "sampled", temperature: 0.5, k: 2, report: sampled, timing: RunTiming(seconds: 12, items: 4, samples: 8, generatedTokens: 200)))
    }

    static func scalar() -> RewardEvaluationReport {
        let s = stats([.correct, .correct, .correct, .wrong])
        return RewardEvaluationReport(
            model: "rm", dataset: "test.jsonl", items: 4, skippedLines: 0,
            scalar: EvaluationRun(
                name: "scalar", temperature: 0, k: 1,
                report: EvaluationReport(
                    model: "rm", dataset: "test.jsonl", overall: s, categories: [CategoryAccuracy(category: "math", stats: s)],
                    samples: SampleStats(), curve: []),
                timing: RunTiming(seconds: 1, items: 4, samples: 0, generatedTokens: nil, responses: 10)))
    }

    func testTableAndPlotOfJudgesAndScalarModels() throws {
        let c = try ReportComparison(rows: [.init(label: "judge", report: Self.judge()), .init(label: "scalar", report: Self.scalar())])
        let md = c.markdown()
        XCTAssertTrue(md.contains("on 4 items of test.jsonl"), md)
        let lines = md.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.first { $0.hasPrefix("| model ") }).split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(header.filter { !$0.isEmpty }, ["model", "greedy", "voting@1", "voting@2", "meta@2"])
        let judgeRow = try XCTUnwrap(lines.first { $0.hasPrefix("| judge ") })
        XCTAssertTrue(
            judgeRow.contains("25.0 (") && judgeRow.contains("50.0 (") && judgeRow.contains("75.0 (") && judgeRow.contains("keep 1"), judgeRow)
        let scalarRow = try XCTUnwrap(lines.first { $0.hasPrefix("| scalar ") })
        XCTAssertTrue(scalarRow.contains("75.0 (") && scalarRow.contains(" - "), scalarRow)
        // By category: greedy / the largest k / meta there for the judge, the one pass for the scalar model.
        XCTAssertTrue(lines.contains { $0.hasPrefix("| judge ") && $0.contains("25.0 / 50.0 / 75.0") }, md)
        XCTAssertTrue(lines.contains { $0.hasPrefix("| scalar ") && $0.hasSuffix("75.0 |") }, md)
        // Seconds per item: 8 / 4 greedy, 12 / 4 sampled; 1 / 4 for the scalar model.
        XCTAssertTrue(lines.contains { $0.hasPrefix("| judge ") && $0.contains("2.00") && $0.contains("3.00") }, md)
        XCTAssertTrue(lines.contains { $0.hasPrefix("| scalar ") && $0.contains("0.25") }, md)

        let plot = c.plot()
        XCTAssertEqual(plot.series.map(\.name), ["judge: voting", "judge: meta", "scalar"])
        XCTAssertEqual(plot.series[2].points.map(\.x), [1, 2])
        XCTAssertEqual(plot.series[2].points.map(\.y), [75, 75])
        XCTAssertTrue(plot.render().contains("judge: meta"))

        XCTAssertThrowsError(try ReportComparison(rows: [.init(label: "a", report: Self.judge()), .init(label: "b", report: Self.judge(items: 5))])) {
            XCTAssertTrue("\($0)".contains("reports must cover the same items"), "\($0)")
        }
    }

    /// Long legend entries wrap onto rows below the plot instead of overlapping.
    func testLegendWraps() throws {
        let names = (0..<4).map { "a rather long series name no \($0)" }
        let plot = SVGLinePlot(
            title: "t", xLabel: "x", yLabel: "y",
            series: names.map { .init(name: $0, points: [.init(x: 1, y: 1), .init(x: 2, y: 2)]) })
        let svg = plot.render()
        var rows: Set<String> = []
        for name in names {
            let text = try XCTUnwrap(svg.range(of: "dominant-baseline=\"middle\">\(name)</text>"))
            let tag = svg[..<text.lowerBound].components(separatedBy: "<text ").last!
            rows.insert(String(tag.split(separator: " ").first { $0.hasPrefix("y=") }!))
        }
        XCTAssertEqual(rows.count, 2, svg)
    }
}
