import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Reward

/// Accuracy statistics, the Wilson interval against published values, the report's JSON and
/// Markdown, and the SVG plot.
final class EvaluationTests: XCTestCase {
    func testWilsonAgainstPublishedValues() {
        // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I (method 3).
        let cases: [(Int, Int, Double, Double)] = [
            (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0000, 0.1611), (1, 29, 0.0061, 0.1718),
            (0, 10, 0.0000, 0.2775), (8, 10, 0.4902, 0.9433), (50, 100, 0.4038, 0.5962), (20, 20, 0.8389, 1.0)
        ]
        for (x, n, low, high) in cases {
            let ci = Wilson.interval(successes: x, total: n)
            XCTAssertEqual(ci.low, low, accuracy: 5e-5, "\(x)/\(n)")
            XCTAssertEqual(ci.high, high, accuracy: 5e-5, "\(x)/\(n)")
        }
        XCTAssertEqual(Wilson.interval(successes: 0, total: 0).low, 0)
        XCTAssertEqual(Wilson.interval(successes: 0, total: 0).high, 1)
    }

    func testAccuracyCountsTiesAndFailuresAsWrong() throws {
        var tally = AccuracyTally()
        let outcomes: [(ItemOutcome, String?)] = [
            (.correct, "a"), (.correct, "a"), (.wrong, "a"), (.tie, "b"),
            (.parseFailure, "b"), (.correct, nil)
        ]
        for (o, c) in outcomes { tally.add(o, category: c) }
        XCTAssertEqual(tally.overall.total, 6)
        XCTAssertEqual(tally.overall.correct, 3)
        XCTAssertEqual(tally.overall.accuracy, 0.5)
        XCTAssertEqual(tally.overall.ties, 1)
        XCTAssertEqual(tally.overall.parseFailures, 1)
        XCTAssertEqual(tally.categories.map(\.name), ["a", "b", "uncategorised"])
        XCTAssertEqual(tally.byCategory["a"]!.accuracy, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(tally.byCategory["b"]!.accuracy, 0)
    }

    /// Judgements from a scripted judge: items in two categories, some tied, some unparsable.
    func judgements(meta: Bool) throws -> [RewardJudgement] {
        var items: [RewardItem] = []
        for i in 0..<12 {
            items.append(
                try RewardItem(
                    id: "i\(i)", category: i % 2 == 0 ? "even" : "odd", query: "q\(i)",
                    responses: ["answer 0", "answer 1"], label: .best(i % 3 == 0 ? 1 : 0)))
        }
        // Samples prefer response 0 strongly; sample 1 of every item cannot be parsed.
        let judge = ScriptedJudge { shown, _, j in
            j == 1 ? "no scores" : ScriptedJudge.output(shown.map { $0 == 0 ? 8 : (j == 0 ? 8 : 3) })
        }
        struct Late: TrajectoryScorer {
            func rate(_ samples: [JudgeSample], for item: RewardItem) throws -> [Double] { samples.map { Double($0.index) } }
        }
        let grm = GenerativeRewardModel(generator: judge, metaScorer: meta ? Late() : nil)
        return try grm.judge(items, config: VotingConfig(k: 4, orders: 1, seed: 3))
    }

    func testReportFromJudgements() throws {
        let report = EvaluationReport.build(
            try judgements(meta: true), curveKs: [1, 2, 4, 8], config: VotingConfig(k: 4),
            model: "scripted", dataset: "unit")
        // 8 items have response 0 best: right; 4 have response 1 best: wrong (sample 0 ties, the rest favour 0).
        XCTAssertEqual(report.overall.total, 12)
        XCTAssertEqual(report.overall.correct, 8)
        XCTAssertEqual(report.overall.wrong, 4)
        XCTAssertEqual(report.categories.map(\.category), ["even", "odd"])
        XCTAssertEqual(report.samples.samples, 48)
        XCTAssertEqual(report.samples.parsed, 36)
        XCTAssertEqual(report.samples.failures, ["no-scores": 12])
        // Samples 2 and 3 of each item put response 0 on top; sample 0 ties, sample 1 fails.
        XCTAssertEqual(report.samples.topByPosition?.reduce(0, +), 24)
        XCTAssertEqual(report.samples.bestByPosition?.reduce(0, +), 24)
        XCTAssertEqual(report.curve.map(\.k), [1, 2, 4], "k above the samples taken is left out")
        // k = 1: sample 0 ties on every item; k = 2: sample 1 is unparsable, still a tie.
        XCTAssertEqual(report.curve[0].voting.ties, 12)
        XCTAssertEqual(report.curve[1].voting.ties, 12)
        XCTAssertEqual(report.curve[2].voting.correct, 8)
        XCTAssertEqual(report.curve[2].metaKeep, 2)
        XCTAssertEqual(report.curve[2].meta?.correct, 8)

        // JSON round trip, with the derived fields written out.
        let json = try report.jsonText()
        XCTAssertTrue(json.contains("\"low95\""))
        XCTAssertTrue(json.contains("\"accuracy\" : 0.66666"))
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: Data(json.utf8))
        XCTAssertEqual(decoded, report)

        let md = report.markdown()
        XCTAssertTrue(md.contains("| category "), md)
        XCTAssertTrue(md.contains("| **overall** |"), md)
        XCTAssertTrue(md.contains("66.7"), md)
        XCTAssertTrue(md.contains("MetaRM@k %"), md)
        XCTAssertTrue(md.contains("no-scores 12"), md)
        XCTAssertTrue(md.contains("top score by position shown: 1st "), md)
        let rows = md.split(separator: "\n").filter { $0.hasPrefix("|") }
        XCTAssertEqual(Set(rows.prefix(5).map(\.count)).count, 1, "columns line up:\n\(md)")
    }

    /// Position bias: where each parsed sample put its strictly highest score, beside where the
    /// labelled best response stood; ties and unparsable samples are not counted.
    func testPositionBiasCountsWhereTheTopScoreStood() throws {
        let item = try RewardItem(query: "q", responses: ["a", "b", "c"], label: .best(2))
        func sample(_ order: [Int], _ text: String) throws -> JudgeSample {
            let o = try ResponseOrder(order)
            let output = JudgeOutputParser.parse(text, responses: 3)
            let shown = try? output.scores.get()
            return JudgeSample(
                index: 0, group: 0, order: o, text: text, output: output, scores: shown.map { o.toOriginal($0) }, isCorrect: false)
        }
        var stats = SampleStats()
        stats.add(try sample([0, 1, 2], "Scores: \\boxed{1, 9, 2}"), best: item.bestIndex)
        stats.add(try sample([2, 0, 1], "Scores: \\boxed{3, 9, 1}"), best: item.bestIndex)
        stats.add(try sample([1, 2, 0], "Scores: \\boxed{5, 5, 1}"), best: item.bestIndex)
        stats.add(try sample([1, 0, 2], "no scores"), best: item.bestIndex)
        XCTAssertEqual(stats.topByPosition, [0, 2])
        XCTAssertEqual(stats.bestByPosition, [1, 0, 1])
        XCTAssertEqual(
            stats.positionSummary,
            "top score by position shown: 1st 0%, 2nd 100%, 3rd 0% (the best response there: 1st 50%, 2nd 0%, 3rd 50%)")
        XCTAssertEqual(stats.samples, 4)
        // Reports written before the counts decode, without them.
        let old = #"{"samples":2,"parsed":1,"correct":1,"failures":{"no-scores":1}}"#
        let decoded = try JSONDecoder().decode(SampleStats.self, from: Data(old.utf8))
        XCTAssertNil(decoded.topByPosition)
        XCTAssertNil(decoded.positionSummary)
        XCTAssertNil(decoded.forced)
        XCTAssertNil(decoded.forcedSummary)
    }

    func testReportWithoutMeta() throws {
        let report = EvaluationReport.build(try judgements(meta: false), curveKs: [4])
        XCTAssertNil(report.curve[0].meta)
        XCTAssertFalse(report.markdown().contains("MetaRM"))
    }

    func testDecodingRejectsInconsistentCounts() {
        let bad = #"{"total":3,"correct":1,"wrong":0,"ties":0,"parseFailures":0,"accuracy":0.3,"low95":0,"high95":1}"#
        XCTAssertThrowsError(try JSONDecoder().decode(AccuracyStats.self, from: Data(bad.utf8)))
    }

    func testMarkdownTable() {
        let t = MarkdownTable.render(header: ["a", "number"], alignRight: [false, true], rows: [["x|y", "1"], ["long name", "12345678"]])
        XCTAssertEqual(
            t,
            """
            | a         |   number |
            | --------- | -------: |
            | x\\|y      |        1 |
            | long name | 12345678 |

            """)
    }

    final class XMLCheck: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        var texts: [String] = []
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            elements[name, default: 0] += 1
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { texts.append(string) }
    }

    func testSVGIsWellFormed() throws {
        let report = EvaluationReport.build(try judgements(meta: true), curveKs: [1, 2, 4])
        var plot = report.accuracyPlot(title: "Accuracy <&> k")
        let svg = plot.render()
        let check = XMLCheck()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = check
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")\n\(svg)")
        XCTAssertEqual(check.elements["svg"], 1)
        XCTAssertEqual(check.elements["polyline"], 3, "axes + two series")
        XCTAssertEqual(check.elements["circle"], 6)
        XCTAssertTrue(check.texts.joined().contains("Accuracy <&> k"))
        XCTAssertTrue(check.texts.contains("MetaRM@k"))
        // Degenerate input still gives a valid document.
        plot.series = [SVGLinePlot.Series(name: "one", points: [.init(x: 1, y: 50)])]
        XCTAssertTrue(XMLParser(data: Data(plot.render().utf8)).parse())
        plot.series = []
        XCTAssertTrue(XMLParser(data: Data(plot.render().utf8)).parse())

        let path = NSTemporaryDirectory() + "plot-\(UUID().uuidString).svg"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try report.accuracyPlot().write(to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), report.accuracyPlot().render())
    }

    func testTicks() {
        XCTAssertEqual(SVGLinePlot.ticks(0...100), [0, 20, 40, 60, 80, 100])
        XCTAssertEqual(SVGLinePlot.ticks(61.3...67.9), [62, 64, 66])
        XCTAssertEqual(SVGLinePlot.ticks(5...5), [5])
    }
}
