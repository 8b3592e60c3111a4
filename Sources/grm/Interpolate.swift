import ArgumentParser
import Foundation
import Tensor
import Transformer

/// `grm interpolate`: a LoRA adapter on the straight line between two others.
struct Interpolate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the LoRA adapter (1 - t) * FROM + t * TO, factor by factor (weight-space ensembling of two adapters).",
        discussion: """
            Both adapters must adapt the same weights with the same shapes and alpha; the output keeps \
            FROM's metadata (its judge template, for example). Meant for adapters on one line of \
            training, one fine-tuned from the other, as WiSE-FT interpolates a fine-tuned model with \
            its start: t = 0 is FROM and t = 1 is TO, exactly.
            """)

    @Option(help: "The adapter at t = 0.") var from: String
    @Option(help: "The adapter at t = 1.") var to: String
    @Option(help: "Where on the line: 0 gives --from, 1 gives --to.") var t: Float = 0.5
    @Option(help: "The adapter to write (atomically).") var out: String
    @Option(help: "Type of the written factors: f32 or f16.") var type = "f16"

    func validate() throws {
        guard t.isFinite else { throw ValidationError("--t must be a finite number") }
        guard type == "f32" || type == "f16" else { throw ValidationError("--type must be f32 or f16") }
    }

    func run() throws {
        let a = try LoRAAdapter(gguf: from), b = try LoRAAdapter(gguf: to)
        let mixed = try a.interpolated(with: b, t: t, paths: (from, to))
        try mixed.write(gguf: out, type: type == "f16" ? .f16 : .f32, name: "swift-grm LoRA adapter (interpolated)")
        print("\(out): \(mixed.pairs.count) pairs, (1 - \(t)) * \(from) + \(t) * \(to), \(type)")
    }
}
