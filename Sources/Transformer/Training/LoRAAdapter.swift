import Foundation
import Tensor

/// The projections of a decoder layer that LoRA can adapt, named as on the command line
/// (`q,k,v,o,gate,up,down`) and mapped to their GGUF weight names.
public enum LoRATarget: String, CaseIterable, Sendable, Codable {
    case q, k, v, o, gate, up, down

    /// The GGUF tensor stem of the projection in block `layer`, e.g. "blk.3.attn_q".
    public func stem(layer: Int) -> String { "blk.\(layer).\(ggufName)" }

    /// The GGUF weight name of the projection in block `layer`, e.g. "blk.3.attn_q.weight".
    public func weightName(layer: Int) -> String { stem(layer: layer) + ".weight" }

    public var ggufName: String {
        switch self {
        case .q: return "attn_q"
        case .k: return "attn_k"
        case .v: return "attn_v"
        case .o: return "attn_output"
        case .gate: return "ffn_gate"
        case .up: return "ffn_up"
        case .down: return "ffn_down"
        }
    }

    /// Parses a comma-separated list ("q,k,v,o,gate,up,down", or "all"); unknown names are refused by name.
    public static func parse(_ list: String) throws -> [LoRATarget] {
        if list == "all" { return allCases }
        var out: [LoRATarget] = []
        for part in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let t = LoRATarget(rawValue: part) else {
                throw ConfigError.invalid("unknown LoRA target '\(part)' (known: \(allCases.map(\.rawValue).joined(separator: ",")))")
            }
            if !out.contains(t) { out.append(t) }
        }
        guard !out.isEmpty else { throw ConfigError.invalid("no LoRA target given") }
        return out
    }
}

/// A LoRA adapter for a decoder: for each adapted weight W [out, in], the factors A [r, in] and
/// B [out, r], applied as `W x + scale * B (A x)` with `scale = alpha / r` (PEFT's and llama.cpp's
/// convention; llama.cpp multiplies by its `--lora-scaled` factor as well, as `userScale` does here).
///
/// The factors are f32 in memory (an f16 adapter file is widened when read). The same value serves
/// training (the factors are the trainable variables' values), inference without merging, merging
/// into the base, and the llama.cpp adapter file (`LoRAAdapterFile.swift`).
public struct LoRAAdapter {
    public struct Pair {
        /// [r, in], f32.
        public var a: Tensor
        /// [out, r], f32.
        public var b: Tensor
        public init(a: Tensor, b: Tensor) {
            self.a = a
            self.b = b
        }
        public var rank: Int { a.shape[0] }
    }

    /// The base model's `general.architecture`.
    public var architecture: String
    /// LoRA alpha: the update is scaled by alpha / r.
    public var alpha: Float
    /// The factors, keyed by the adapted weight's GGUF name ("blk.0.attn_q.weight").
    public var pairs: [String: Pair]
    /// Extra string metadata written to the file (base model name, SHA-256, ...).
    public var metadata: [String: String]

    public init(architecture: String, alpha: Float, pairs: [String: Pair] = [:], metadata: [String: String] = [:]) {
        self.architecture = architecture
        self.alpha = alpha
        self.pairs = pairs
        self.metadata = metadata
    }

    /// The scale of the update to `weight` (alpha / r), or nil if the weight is not adapted.
    /// An alpha of 0 means no alpha scaling (scale 1), as llama.cpp reads an adapter file whose
    /// `adapter.lora.alpha` is 0 or missing.
    public func scale(for weight: String) -> Float? {
        guard let p = pairs[weight] else { return nil }
        return alpha == 0 ? 1 : alpha / Float(p.rank)
    }

    /// Checks that every pair is a valid [r, in] x [out, r] factorisation (f32) of a weight of
    /// `shape` [out, in] as `shapeOf` reports it (nil: no such weight in the base).
    public func validate(shapeOf: (String) -> [Int]?) throws {
        for (name, p) in pairs.sorted(by: { $0.key < $1.key }) {
            guard let s = shapeOf(name) else { throw ModelError.missingTensor(name + " (adapted by the LoRA adapter)") }
            guard s.count == 2 else { throw ModelError.badTensor(name, "shape \(s) is not a matrix; LoRA adapts matrices only") }
            guard p.a.rank == 2, p.b.rank == 2, p.a.dtype == .f32, p.b.dtype == .f32 else {
                throw ModelError.badTensor(name, "LoRA factors must be f32 matrices")
            }
            let r = p.a.shape[0]
            guard r > 0, p.a.shape == [r, s[1]], p.b.shape == [s[0], r] else {
                throw ModelError.badTensor(name, "LoRA A \(p.a.shape) and B \(p.b.shape) do not factor a weight \(s)")
            }
        }
    }
}
