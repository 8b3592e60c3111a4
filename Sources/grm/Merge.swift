import ArgumentParser
import Foundation
import Tensor
import Transformer

/// `grm merge`: a LoRA adapter merged into its base model, written as a new GGUF model.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a LoRA adapter into its base model (a new GGUF model that needs no adapter), or convert a model's matrices.")

    @Option(help: "The base GGUF model.")
    var model: String
    @Option(help: "The LoRA adapter GGUF (llama.cpp's format); without it the model is only converted to --type.")
    var lora: String?
    @Option(help: "The merged model to write (atomically).")
    var out: String
    @Option(
        help: ArgumentHelp(
            "Type of the merged matrices: \(LoRAMerge.outputTypes.map(\.description).joined(separator: ", ")).",
            discussion:
                "Adapted weights are dequantised, the delta added in f32 and the sum quantised; other matrices are converted too. Rows a type's blocks cannot hold fall back as llama.cpp's quantiser does. Norms and biases stay f32."
        ))
    var type = "f16"
    @Option(help: EngineOptions.loraScaleHelp)
    var loraScale: Float = 1
    @Option(help: "general.name of the merged model (default: the base's name + \" (LoRA merged)\").")
    var name: String?

    func validate() throws {
        if LoRAMerge.outputType(named: type) == nil {
            throw ValidationError("--type must be one of \(LoRAMerge.outputTypes.map(\.description).joined(separator: ", "))")
        }
        if !loraScale.isFinite { throw ValidationError("--lora-scale must be a finite number") }
    }

    func run() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let base = try GGUFFile(path: model)
        let adapter = try EngineOptions.loadAdapter(lora, scale: loraScale, base: base)
        let report = try LoRAMerge.merge(
            base: base, adapter: adapter, scale: loraScale, type: LoRAMerge.outputType(named: type)!,
            to: out, name: name)
        var fallbacks: [DType: Int] = [:]
        for f in report.fallbacks { fallbacks[f.type, default: 0] += 1 }
        for (t, n) in fallbacks.sorted(by: { $0.key.description < $1.key.description }) {
            printError("merge: \(n) matrices stored as \(t): their rows are not a multiple of \(report.type)'s block of \(report.type.blockElements)")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print(
            String(
                format: "%@: %d tensors (%d adapted), %@, %.1f MB, %.1f s", out, report.tensorCount, report.adapted.count,
                report.type.description, Double(size) / 1e6, seconds))
    }
}
