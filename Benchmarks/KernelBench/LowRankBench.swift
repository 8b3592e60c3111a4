import Foundation
import Tensor

/// The LoRA update of an adapter applied without merging (`Tensor.addLowRank`, y += (x A^T) Bt)
/// at SmolLM2-135M's projection shapes, rank 16, for 1, 8 and 512 rows: ours with the factors in
/// f16 (as adapters are stored) and in f32, beside OpenBLAS doing the same two products (sgemm
/// x A^T into a scratch [m, r], then sgemm adding it times Bt into y; f32 factors). Runs alternate
/// so a noisy neighbour slows each alike. GFLOP/s of 2 m r (k + n).
public enum LowRankBench {
    public struct Shape: Sendable {
        public var label: String
        public var m: Int, k: Int, n: Int, r: Int
    }

    public static func shapes(quick: Bool) -> [Shape] {
        let rows = quick ? [1, 512] : [1, 8, 512]
        var out: [Shape] = []
        for m in rows {
            for (name, k, n) in [("q", 576, 576), ("up", 576, 1536), ("down", 1536, 576)] {
                out.append(Shape(label: "\(name) \(m)x\(k)->\(n) r16", m: m, k: k, n: n, r: 16))
            }
        }
        return out
    }

    public static func run(
        quick: Bool = false, repeats: Int = 5, seconds: Double = 0.2, log: ((String) -> Void)? = nil
    ) -> [Measurement] {
        var out: [Measurement] = []
        for s in shapes(quick: quick) {
            let x = AttentionBench.values([s.m, s.k], seed: 1), a = AttentionBench.values([s.r, s.k], seed: 2)
            let bt = AttentionBench.values([s.r, s.n], seed: 3)
            let a16 = a.converted(to: .f16), bt16 = bt.converted(to: .f16)
            let y = AttentionBench.values([s.m, s.n], seed: 4), scratch = Tensor.uninitialized([s.m, s.r])
            let flops = 2 * Double(s.m * s.r * (s.k + s.n))
            var runs: [String: [Measurement]] = [:]
            for _ in 0..<max(1, repeats) {
                for (name, fa, fb) in [("own f16", a16, bt16), ("own f32", a, bt)] {
                    runs[name, default: []].append(
                        Bench.measure(name, shape: s.label, unit: "GFLOP/s", work: flops, repeats: 1, seconds: seconds) {
                            try! Tensor.addLowRank(x, a: fa, bt: fb, into: y)
                        })
                }
                if OpenBLAS.isAvailable {
                    runs["openblas", default: []].append(
                        Bench.measure("openblas", shape: s.label, unit: "GFLOP/s", work: flops, repeats: 1, seconds: seconds) {
                            _ = OpenBLAS.sgemm(
                                transA: false, transB: true, m: s.m, n: s.r, k: s.k, a: x.floatPointer, lda: s.k,
                                b: a.floatPointer, ldb: s.k, c: scratch.floatPointer, ldc: s.r)
                            _ = OpenBLAS.sgemm(
                                transA: false, transB: false, m: s.m, n: s.n, k: s.r, a: scratch.floatPointer, lda: s.r,
                                b: bt.floatPointer, ldb: s.n, beta: 1, c: y.floatPointer, ldc: s.n)
                        })
                }
            }
            withExtendedLifetime((x, a, bt, a16, bt16, y, scratch)) {}
            let blas = runs["openblas"].map(GEMMBench.combine)
            for name in ["own f16", "own f32", "openblas"] {
                guard let m = runs[name].map(GEMMBench.combine) else { continue }
                out.append(m)
                let ratio = name != "openblas" ? blas.map { String(format: "   /openblas %.2f", m.median / $0.median) } ?? "" : ""
                log?(
                    s.label.padding(toLength: 26, withPad: " ", startingAt: 0) + name.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + String(format: "%7.1f GFLOP/s  (%.1f..%.1f)", m.median, m.min, m.max) + ratio)
            }
        }
        return out
    }
}
