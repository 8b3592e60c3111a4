import ArgumentParser
import Foundation
import Tensor

@main
struct GRM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grm",
        abstract: "swift-grm: a CPU tensor engine and generalist reward model.",
        subcommands: [
            Info.self, Inspect.self, Tokenize.self, Detokenize.self, Template.self, BenchCommand.self,
            TrainCommand.self, TrainToy.self, TrainBench.self, Logits.self, Generate.self, Chat.self, DataCommand.self,
            Eval.self, Report.self, Score.self, Merge.self, Interpolate.self, SpctCommand.self
        ])
}

/// Standard error, for progress and diagnostics that must not mix with JSON on stdout.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
