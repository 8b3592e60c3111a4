import ArgumentParser
import Foundation
import Reward

/// `grm report`: several `grm eval` reports side by side.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put several `grm eval` JSON reports of the same items side by side: one table and one plot.",
        discussion: """
            Each --row LABEL=REPORT.json adds a row (in the order given): a generative judge's greedy, voting@k and \
            meta-guided voting columns, or a scalar or semi-scalar model's one reward per response (its greedy \
            column). Prints Markdown: overall accuracy with 95% intervals, accuracy by category (greedy / the \
            largest k), and the wall time per item. --out writes the Markdown, --plot an SVG of accuracy against k \
            (each judge's voting and meta-voting curve, each scalar model as a flat line). Reports of different \
            items are refused.
            """)

    @Option(name: .customLong("row"), help: "LABEL=PATH of a grm eval JSON report (repeat, in row order).")
    var rows: [String] = []
    @Option(help: "Write the Markdown here (atomically).") var out: String?
    @Option(help: "Write the SVG plot here (atomically).") var plot: String?
    @Option(help: "The plot's title.") var title = "Accuracy against k"

    func validate() throws {
        guard !rows.isEmpty else { throw ValidationError("give at least one --row LABEL=REPORT.json") }
        for r in rows where !r.contains("=") { throw ValidationError("--row \(r): expected LABEL=REPORT.json") }
    }

    func run() throws {
        do {
            let parsed = try rows.map { spec -> ReportComparison.Row in
                let eq = spec.firstIndex(of: "=")!
                let path = String(spec[spec.index(after: eq)...])
                let data: Data
                do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                    throw RewardDataError(file: path, "cannot read: \(error.localizedDescription)")
                }
                do {
                    return .init(label: String(spec[..<eq]), report: try JSONDecoder().decode(RewardEvaluationReport.self, from: data))
                } catch { throw RewardDataError(file: path, "not a grm eval report: \(error)") }
            }
            let comparison = try ReportComparison(rows: parsed)
            let text = comparison.markdown()
            print(text, terminator: "")
            if let out { try AtomicFileWriter.write(text, to: out) }
            if let plot { try comparison.plot(title: title).write(to: plot) }
        } catch let error as RewardDataError {
            printError("grm report: \(error)")
            throw ExitCode(2)
        }
    }
}
