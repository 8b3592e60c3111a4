import ArgumentParser
import Foundation
import Reward
import SPCT

/// `grm data judgements`: reference judgements for labelled items (the cold start of SPCT).
struct DataJudgements: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judgements",
        abstract: "Write reference judgements for labelled items as SFT chat data (the cold start of SPCT).",
        discussion: """
            For each item and a seeded shuffle of its responses, writes the judge's prompt and a judgement \
            in the exact output format (Specific Criteria with weights, Analysis, Scores: \\boxed{...}). \
            The analysis names the verifiable fact the synthetic suite knows (the correct sum, the right \
            order, the constraint broken); the scores follow the label, the best response strictly \
            highest. This is machine-written reference data, a stand-in for the judgements of a stronger \
            model; `grm train sft` trains on it directly.
            """)

    @Option(help: "Labelled items (JSONL).") var data: String
    @Option(help: "Output SFT data (JSONL with messages), written atomically.") var out: String
    @Option(help: "Judgements per item, each with its own shuffle of the responses.") var variants: Int = 1
    @Option(help: "Seed of the shuffles, criteria and phrasings.") var seed: UInt64 = 1
    @Option(
        name: .customLong("judge-template"),
        help:
            "The judging prompt the data is written with: standard or compact (train the judge with --adapter-meta judge.template=NAME so the judge commands use it)."
    )
    var judgeTemplate = "standard"
    @Flag(
        inversion: .prefixedNo,
        help:
            "End each response's verdict with its score, which the \\boxed{} line repeats (a small judge learns the link; off: the first recipe's format)."
    )
    var inlineScores = true
    @Flag(
        help:
            "Set each response's claim beside the true one before its verdict (\"has 300 + 31 = 313 against 300 + 31 = 331: wrong\", \"has 4 < 8 < 84 > 46: wrong\"), right responses as well as wrong ones."
    )
    var sideBySide = false
    @Flag(
        help:
            "Quote each response before its verdict where the category allows (instructions: the response, its words counted for a word count; ordering: the pair that breaks the order, or none)."
    )
    var quote = false

    func validate() throws {
        guard variants >= 1 else { throw ValidationError("--variants must be at least 1") }
    }

    func run() throws {
        do {
            let items = try RewardItemReader.readAll(path: data).items
            let writer = ColdStartWriter(
                builder: JudgePromptBuilder(templates: try JudgePromptTemplates.named(judgeTemplate)), seed: seed, inlineScores: inlineScores,
                sideBySide: sideBySide, quote: quote)
            let file = try AtomicFileWriter(path: out)
            var count = 0
            var fallbacks = 0
            var byCategory: [String: Int] = [:]
            for item in items {
                for v in 0..<variants {
                    let example = writer.example(for: item, variant: v)
                    if !example.checksAgreed { fallbacks += 1 }
                    try file.write(try example.jsonLine() + "\n")
                    count += 1
                    byCategory[item.category ?? "(none)", default: 0] += 1
                }
            }
            try file.commit()
            printError(
                "wrote \(count) judgements for \(items.count) items to \(out): "
                    + byCategory.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    + (fallbacks > 0 ? "; \(fallbacks) judged from the label alone (the checks disagreed)" : ""))
        } catch let error as RewardDataError {
            printError("grm data judgements: \(error)")
            throw ExitCode(2)
        }
    }
}
