import ArgumentParser
import Foundation
import Reward
import Tensor
import Transformer

/// Engine settings shared by the commands that run a model.
struct EngineOptions: ParsableArguments {
    @Option(name: .customLong("kv"), help: "KV cache type: f32 or f16.")
    var kvCache = "f32"
    @Option(name: .customLong("threads"), help: "Threads (default: GRM_THREADS or every core).")
    var threadCount: Int?
    @Option(name: .customLong("activations"), help: EngineOptions.activationsHelp)
    var activations: String?
    @Option(help: EngineOptions.loraHelp)
    var lora: String?
    @Option(help: EngineOptions.loraScaleHelp)
    var loraScale: Float = 1

    static let loraHelp: ArgumentHelp = "A LoRA adapter GGUF (llama.cpp's format) applied to the model without merging."
    static let loraScaleHelp: ArgumentHelp = "Factor on the LoRA adapter's scale alpha/r (llama.cpp's --lora-scaled); 0 turns it off."

    static let activationsHelp: ArgumentHelp =
        "Activations of the products with Q4_0/Q4_1/Q8_0 weights: q8 (rounded to int8 per block, as llama.cpp; faster; on AVX2 up to 32 rows, longer prompts exact; on AVX-512 VNNI every product) or exact (f32, never rounded); bf16 is q8 with prompts (24+ rows) on AMX bf16 tiles where the CPU has them (activations and weights rounded to bf16, f32 sums; any weight type). Default: exact, or GRM_QMM_ACT."

    var kvType: KVCacheType {
        get throws { try EngineOptions.kvType(kvCache) }
    }

    /// A `--kv` value as a cache type, or the error that names the option.
    static func kvType(_ value: String) throws -> KVCacheType {
        guard let t = KVCacheType(rawValue: value) else { throw ValidationError("--kv must be f32 or f16") }
        return t
    }

    /// Applies the thread count and activation mode (before any model work).
    func apply() throws {
        if let t = threadCount { try EngineOptions.useThreads(t, option: "--threads") }
        if let a = activations { try EngineOptions.useActivations(a) }
    }

    /// The `--lora` adapter checked against the base model, if one is given (a note on stderr).
    func adapter(base: GGUFFile) throws -> LoRAAdapter? {
        try EngineOptions.loadAdapter(lora, scale: loraScale, base: base)
    }

    /// Reads a LoRA adapter file (checked against `base` when given) and prints a one-line note.
    static func loadAdapter(_ path: String?, scale: Float, base: GGUFFile? = nil) throws -> LoRAAdapter? {
        guard let path else { return nil }
        guard scale.isFinite else { throw ValidationError("--lora-scale must be a finite number") }
        let adapter = try LoRAAdapter(gguf: path, base: base)
        let ranks = adapter.rankRange.map { $0.min == $0.max ? "rank \($0.min)" : "ranks \($0.min)-\($0.max)" } ?? "no pairs"
        let alpha = adapter.alpha == 0 ? "alpha 0 (no alpha/r scaling)" : "alpha \(adapter.alpha)"
        printError("lora: \(path): \(adapter.pairs.count) pairs, \(ranks), \(alpha), scale \(scale)")
        return adapter
    }

    static let judgeTemplateHelp = ArgumentHelp(
        "The judging prompt: standard (the paper's instructions) or compact (under a third of their tokens).",
        discussion: "Default: the template the --lora adapter records it was trained on (grm.adapter.judge.template), else standard.")

    /// The judging prompt's texts: `name` when given, else the one `adapter` records it was trained
    /// on, else the standard one. A judge reads best the prompt it was trained on.
    static func judgeTemplates(_ name: String?, adapter: LoRAAdapter?) throws -> JudgePromptTemplates {
        do {
            let t = try name.map(JudgePromptTemplates.named) ?? JudgePromptTemplates.recorded(in: adapter)
            if name == nil && t.name != "standard" { printError("judge template: \(t.name) (recorded in the adapter)") }
            return t
        } catch let e as RewardDataError {
            throw ValidationError(name == nil ? "the adapter records \(e.reason)" : "--judge-template: \(e.reason)")
        }
    }

    /// The type an adapter file stores its factors in (`general.file_type` 1: f16, else f32): a
    /// frozen copy written in that type is exact.
    static func storedType(ofAdapter path: String) throws -> DType {
        try GGUFFile(path: path).metadata.int("general.file_type") == 1 ? .f16 : .f32
    }

    /// Sets `EngineSettings.current.activations` from an option value.
    static func useActivations(_ value: String) throws {
        EngineSettings.current.activations = try activationMode(value)
    }

    static let trainingActivationsHelp: ArgumentHelp =
        "The frozen base's products in training: exact (f32 activations) or q8 (activations rounded to int8 per block; on AVX-512 VNNI the input gradients too, through a Q8_0 copy of each W^T) or bf16 (as q8, with the forward products of 24+ rows on AMX bf16 tiles where the CPU has them)."

    /// The activation mode an `--activations` value names.
    static func activationMode(_ value: String) throws -> QuantMatmul.ActivationMode {
        switch value {
        case "exact": return .exact
        case "q8": return .q8
        case "bf16": return .bf16
        default: throw ValidationError("--activations must be exact, q8 or bf16")
        }
    }

    /// Runs the kernels on `t` threads from now on.
    static func useThreads(_ t: Int, option: String) throws {
        guard t > 0 else { throw ValidationError("\(option) must be positive") }
        EngineSettings.current.threads = t
    }
}

/// The process's peak resident memory in bytes (getrusage; Linux reports kilobytes).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}
