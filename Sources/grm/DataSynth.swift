import ArgumentParser
import Foundation
import Reward

/// `grm data ...`: reward data tools.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Reward data: make synthetic labelled items and reference judgements.",
        subcommands: [DataSynth.self, DataJudgements.self])
}

/// `grm data synth`: deterministic synthetic reward items whose best response is known.
struct DataSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write synthetic reward items (JSONL, listwise: prompt, responses, best) with known best responses.",
        discussion: """
            Categories: \(SynthCategory.allCases.map(\.rawValue).joined(separator: ", ")).
            Splits (train 80%, validation 10%, test 10%, all) are fixed by a hash of each question, so
            different splits never share a question, whatever the seeds.
            """)

    @Option(help: "Number of items.") var n: Int
    @Option(help: "Seed: the same seed, categories and split give the same file.") var seed: UInt64 = 1
    @Option(help: "Comma-separated categories (default: all).") var categories: String?
    @Option(help: "Split: train, validation, test or all.") var split: String = "all"
    @Option(
        name: .customLong("single-fraction"),
        help: "Fraction of single-response items with a 0/1 label instead of 2-4 responses.")
    var singleFraction: Double = 0
    @Option(help: "Output JSONL file (written atomically).") var out: String

    func validate() throws {
        guard n >= 0 else { throw ValidationError("--n must be at least 0") }
        guard (0...1).contains(singleFraction) else { throw ValidationError("--single-fraction must be within 0...1") }
    }

    func run() throws {
        do {
            let cats = try categories.map(SynthCategory.parseList) ?? SynthCategory.allCases
            var synth = try RewardSynthesizer(
                seed: seed, categories: cats, split: SynthSplit.named(split),
                singleFraction: singleFraction)
            let writer = try RewardItemWriter(path: out)
            var byCategory: [String: Int] = [:]
            for _ in 0..<n {
                let item = try synth.next()
                byCategory[item.category ?? "", default: 0] += 1
                try writer.write(item)
            }
            try writer.commit()
            printError(
                "wrote \(writer.count) \(split) items to \(out): "
                    + byCategory.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        } catch let error as RewardDataError {
            printError("grm data synth: \(error)")
            throw ExitCode(2)
        }
    }
}
