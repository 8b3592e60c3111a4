import ArgumentParser
import Foundation
import Tensor

@main
struct GRM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grm",
        abstract: "swift-grm: a CPU tensor engine and generalist reward model.",
        subcommands: [])
}
