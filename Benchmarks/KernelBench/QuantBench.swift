import Foundation
import Tensor

/// `X[M,K] * W^T` with W [N,K] in every weight type (`QuantMatmul.linear`; the activations as the
/// settings have them: exact f32, or int8 with `GRM_QMM_ACT=q8`, where Q4_0, Q4_1 and Q8_0 run on
/// the weight's int8 panels through `Tensor.linear` on AVX-512 VNNI, as a model's products do) at
/// the SmolLM2 shapes (K-quants with K rounded up to a multiple of 256), for 1 row (GB/s of weight
/// bytes streamed) and 512 rows (GFLOP/s), beside the own f32 GEMM at the same shape in the same run.
public enum QuantBench {
    public static let types: [DType] = [
        .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
        .q2_K, .q3_K, .q4_K, .q5_K, .q6_K
    ]
    /// (N, K) pairs: attention 576x576, FFN up/gate 1536x576, FFN down 576x1536, output 49152x576.
    public static let shapes: [(n: Int, k: Int)] = [(576, 576), (1536, 576), (576, 1536), (49152, 576)]

    /// A weight of `type` [n, k] with values in -1...1 (Q3_K, which has no quantiser: random blocks).
    static func weight(_ type: DType, n: Int, k: Int) -> Tensor {
        let f = Tensor.uninitialized([n, k])
        var s: UInt32 = 12345
        for i in 0..<n * k {
            s = s &* 1_664_525 &+ 1_013_904_223
            f.floatPointer[i] = Float(s >> 8) / Float(1 << 24) * 2 - 1
        }
        switch type {
        case .f32: return f
        case .f16, .bf16: return f.converted(to: type)
        case .q3_K:
            let t = Tensor.uninitialized([n, k], dtype: .q3_K)
            let p = t.rawPointer
            for i in 0..<type.byteCount(elements: n * k) {
                s = s &* 1_664_525 &+ 1_013_904_223
                p.storeBytes(of: UInt8(truncatingIfNeeded: s >> 24), toByteOffset: i, as: UInt8.self)
            }
            for b in 0..<(n * k / 256) {
                p.storeBytes(of: Float16(0.01).bitPattern, toByteOffset: b * 110 + 108, as: UInt16.self)
            }
            return t
        default: return try! f.quantized(to: type)
        }
    }

    public static func run(
        types: [DType] = QuantBench.types, rows: [Int] = [1, 512], repeats: Int = 5,
        seconds: Double = 0.2, quick: Bool = false,
        log: ((String) -> Void)? = nil
    ) -> [Measurement] {
        var out: [Measurement] = []
        for (n, k) in shapes {
            if quick && n == 49152 { continue }
            let maxRows = rows.max() ?? 1
            let x = Tensor.uninitialized([maxRows, k])
            for i in 0..<maxRows * k { x.floatPointer[i] = Float(i % 19) * 0.01 - 0.09 }
            let y = Tensor.uninitialized([maxRows, n])
            for type in types {
                // K must be a multiple of the block: the K-quants (256) cannot hold K = 576 (ggml
                // quantisers fall back to other types there), so they run at the next multiple.
                let k = (k + type.blockElements - 1) / type.blockElements * type.blockElements
                let x = k == x.shape[1] ? x : Tensor(zeros: [maxRows, k])
                let w = weight(type, n: n, k: k)
                let bytes = Double(type.byteCount(elements: n * k))
                // Types with int8 panels (q8 activations on AVX-512 VNNI) run through
                // `Tensor.linear`, which passes the weight's panels (as a model's products do).
                var panelInputs: [Int: Tensor] = [:]
                if QuantMatmul.usesQ8Panels(type) {
                    for m in rows { panelInputs[m] = try! x.sliced(axis: 0, 0..<m).contiguous() }
                }
                for m in rows {
                    let flops = 2.0 * Double(m) * Double(n) * Double(k)
                    let unit = m == 1 ? "GB/s" : "GFLOP/s"
                    // Large products take seconds: fewer, single-call runs there.
                    let big = flops > 4e9
                    var r = Bench.measure(
                        type.description, shape: "\(m)x\(n)x\(k)", unit: unit,
                        work: m == 1 ? bytes : flops,
                        repeats: big ? min(repeats, 3) : repeats, seconds: big ? 0 : seconds
                    ) {
                        if let xm = panelInputs[m] {
                            // The weight's int8 panels, as a model's products read them (the result's
                            // buffer comes from the buffer cache, as in a model's step).
                            _ = try! xm.linear(w)
                        } else {
                            QuantMatmul.linear(
                                type, m: m, n: n, k: k, x: x.floatPointer, ldx: k,
                                w: UnsafeRawPointer(w.rawPointer), y: y.floatPointer, ldy: n)
                        }
                    }
                    if type == .f32 { r.name = "f32 (own GEMM)" }
                    out.append(r)
                    log?(line(r, bytes: bytes, flops: flops))
                }
            }
        }
        return out
    }

    static func line(_ m: Measurement, bytes: Double, flops: Double) -> String {
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        // GFLOP/s too for 1 row.
        let other = m.unit == "GB/s" ? String(format: "  = %.1f GFLOP/s", m.median * flops / bytes) : ""
        return pad(m.shape, 16) + pad(m.name, 16) + String(format: "%7.1f ", m.median) + pad(m.unit, 8)
            + String(format: "(%.1f..%.1f)", m.min, m.max) + other
    }
}
