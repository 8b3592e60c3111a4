import Foundation
import Tensor

/// Benchmarks of the memory-bound kernels, in GB/s of logical traffic (bytes read + written),
/// at SmolLM2-135M's shapes (width 576, FFN 1536, 9x64 heads, vocab 49152) for 1, 8 and 512 rows,
/// and on tensors far larger than the caches, where memory bandwidth is the bound.
public enum MemoryBench {
    public static let width = 576, ffn = 1536, heads = 9, headSize = 64, vocab = 49152
    /// Floats per operand of the "larger than cache" cases: 64 MiB each.
    public static let large = 16 << 20

    static func filled(_ shape: [Int], seed: UInt32) -> Tensor {
        let t = Tensor.uninitialized(shape)
        var s = seed | 1
        let p = t.floatPointer
        for i in 0..<t.count {
            s = s &* 1_664_525 &+ 1_013_904_223
            p[i] = Float(s >> 8) / Float(1 << 24) * 4 - 2
        }
        return t
    }

    static func gb(_ floats: Int) -> Double { Double(floats * 4) }

    /// Read bandwidth anchor: parallel sum of a large buffer (what every memory-bound kernel is
    /// bounded by), measured in the same run as the kernels.
    public static func readBandwidth(repeats: Int, seconds: Double) -> Measurement {
        let x = filled([large * 2], seed: 1)
        return Bench.measure(
            "read (anchor)", shape: "[\(large * 2)]", unit: "GB/s", work: gb(large * 2),
            repeats: repeats, seconds: seconds
        ) { _ = try! x.sum(axis: 0) }
    }

    public static func run(repeats: Int, seconds: Double, quick: Bool) -> [Measurement] {
        var out: [Measurement] = []
        func m(_ name: String, _ shape: [Int], floatsMoved: Int, _ body: () -> Void) {
            out.append(
                Bench.measure(
                    name, shape: "\(shape)", unit: "GB/s", work: gb(floatsMoved),
                    repeats: repeats, seconds: seconds, body))
        }
        let rowsList = quick ? [8, 512] : [1, 8, 512]
        // Elementwise at model shapes and large.
        for rows in rowsList {
            let a = filled([rows, width], seed: 2), b = filled([rows, width], seed: 3), o = Tensor.uninitialized([rows, width])
            m("add", [rows, width], floatsMoved: 3 * a.count) { try! Tensor.binary(Add.self, a, b, into: o) }
            let g = filled([rows, ffn], seed: 4), u = filled([rows, ffn], seed: 5), h = Tensor.uninitialized([rows, ffn])
            m("silu", [rows, ffn], floatsMoved: 2 * g.count) { try! g.map(SiLU(), into: h) }
            m("mul", [rows, ffn], floatsMoved: 3 * g.count) { try! Tensor.binary(Mul.self, g, u, into: h) }
            let w = filled([width], seed: 6)
            m("rmsnorm", [rows, width], floatsMoved: 2 * a.count) { try! a.rmsNorm(weight: w, into: o) }
            let logits = filled([rows, vocab], seed: 7), p = Tensor.uninitialized([rows, vocab])
            m("softmax", [rows, vocab], floatsMoved: 2 * logits.count) { try! logits.softmax(into: p) }
        }
        let big = filled([large], seed: 8), big2 = filled([large], seed: 9), bigOut = Tensor.uninitialized([large])
        m("add", [large], floatsMoved: 3 * large) { try! Tensor.binary(Add.self, big, big2, into: bigOut) }
        m("scale", [large], floatsMoved: 2 * large) { try! big.map(Scale(0.5), into: bigOut) }
        m("exp", [large], floatsMoved: 2 * large) { try! big.map(Exp(), into: bigOut) }
        m("silu", [large], floatsMoved: 2 * large) { try! big.map(SiLU(), into: bigOut) }
        m("gelu", [large], floatsMoved: 2 * large) { try! big.map(GELU(), into: bigOut) }
        let rowsBig = large / 4096
        let x2 = try! big.reshaped([rowsBig, 4096]), o2 = try! bigOut.reshaped([rowsBig, 4096])
        m("softmax", [rowsBig, 4096], floatsMoved: 2 * large) { try! x2.softmax(into: o2) }
        m("rmsnorm", [rowsBig, 4096], floatsMoved: 2 * large) { try! x2.rmsNorm(weight: nil, into: o2) }
        m("sum axis -1", [rowsBig, 4096], floatsMoved: large) { _ = try! x2.sum(axis: -1) }
        // Conversions: bytes of f32 plus bytes of the 16-bit side.
        let half = big.converted(to: .f16), bhalf = big.converted(to: .bf16)
        out.append(
            Bench.measure(
                "f32->f16", shape: "[\(large)]", unit: "GB/s", work: Double(large * 6),
                repeats: repeats, seconds: seconds
            ) {
                Half.fromFloat(big.floatPointer, half.uint16Pointer, count: large)
            })
        out.append(
            Bench.measure(
                "f16->f32", shape: "[\(large)]", unit: "GB/s", work: Double(large * 6),
                repeats: repeats, seconds: seconds
            ) {
                Half.toFloat(half.uint16Pointer, bigOut.floatPointer, count: large)
            })
        out.append(
            Bench.measure(
                "f32->bf16", shape: "[\(large)]", unit: "GB/s", work: Double(large * 6),
                repeats: repeats, seconds: seconds
            ) {
                BFloat.fromFloat(big.floatPointer, bhalf.uint16Pointer, count: large)
            })
        // RoPE and embedding at prompt shapes.
        let q = filled([512, heads, headSize], seed: 10)
        let positions = (0..<512).map(Int32.init)
        m("rope", [512, heads, headSize], floatsMoved: 2 * q.count) {
            _ = try! q.rope(RoPE(dims: headSize, layout: .adjacentPairs), positions: positions)
        }
        let table = filled([vocab, width], seed: 11).converted(to: .f16)
        let ids = (0..<512).map { Int32(($0 * 7919) % vocab) }
        out.append(
            Bench.measure(
                "embedding f16", shape: "[512] of [\(vocab), \(width)]", unit: "GB/s",
                work: Double(512 * width * 6), repeats: repeats, seconds: seconds
            ) {
                _ = try! table.embedding(ids)
            })
        return out
    }
}
