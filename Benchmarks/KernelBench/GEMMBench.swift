import Foundation
import Tensor

/// GFLOP/s of the own GEMM against OpenBLAS at the decoder's shapes (X[M,K] * W^T, W [N,K]) and
/// two square-ish references, plus the backend `GEMM.backend = .auto` picks for each shape.
public enum GEMMBench {
    public struct Shape: Sendable {
        public var m, n, k: Int
        public var transA, transB: Bool
        public init(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false) {
            self.m = m
            self.n = n
            self.k = k
            self.transA = transA
            self.transB = transB
        }
        public var label: String {
            "\(m)x\(n)x\(k)" + (transA ? " tA" : "") + (transB ? " tB" : "")
        }
    }

    public static let shapes: [Shape] = {
        var s: [Shape] = []
        for m in [1, 8, 512] {
            for (n, k) in [(576, 576), (1536, 576), (576, 1536), (49152, 576)] {
                s.append(Shape(m: m, n: n, k: k, transB: true))
            }
        }
        s.append(Shape(m: 1024, n: 1024, k: 1024))
        s.append(Shape(m: 512, n: 1536, k: 576))
        return s
    }()

    /// One measurement per backend per shape ("own", "openblas"), and an "auto -> <backend>" entry
    /// (its rate is that of the backend chosen).
    public static func run(
        shapes: [Shape] = GEMMBench.shapes, repeats: Int = 5, seconds: Double = 0.2,
        includeOwn: Bool = true, log: ((String) -> Void)? = nil
    ) -> [Measurement] {
        var out: [Measurement] = []
        for s in shapes {
            let rowsA = s.transA ? s.k : s.m, colsA = s.transA ? s.m : s.k
            let rowsB = s.transB ? s.n : s.k, colsB = s.transB ? s.k : s.n
            let a = UnsafeMutablePointer<Float>.allocate(capacity: rowsA * colsA)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: rowsB * colsB)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: s.m * s.n)
            defer {
                a.deallocate()
                b.deallocate()
                c.deallocate()
            }
            for i in 0..<rowsA * colsA { a[i] = Float(i % 17) * 0.01 - 0.08 }
            for i in 0..<rowsB * colsB { b[i] = Float(i % 13) * 0.01 - 0.06 }
            c.initialize(repeating: 0, count: s.m * s.n)
            let flops = 2.0 * Double(s.m) * Double(s.n) * Double(s.k)

            // Own and OpenBLAS runs alternate, so that a noisy neighbour slows both alike.
            var ownRuns: [Measurement] = [], blasRuns: [Measurement] = []
            for _ in 0..<max(1, repeats) {
                if includeOwn {
                    ownRuns.append(
                        Bench.measure(
                            "own", shape: s.label, unit: "GFLOP/s", work: flops,
                            repeats: 1, seconds: seconds
                        ) {
                            GEMM.ownSgemm(
                                transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k,
                                a: a, lda: colsA, b: b, ldb: colsB, c: c, ldc: s.n)
                        })
                }
                if OpenBLAS.isAvailable {
                    blasRuns.append(
                        Bench.measure(
                            "openblas", shape: s.label, unit: "GFLOP/s", work: flops,
                            repeats: 1, seconds: seconds
                        ) {
                            OpenBLAS.sgemm(
                                transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k,
                                a: a, lda: colsA, b: b, ldb: colsB, c: c, ldc: s.n)
                        })
                }
            }
            let blas = blasRuns.isEmpty ? nil : combine(blasRuns)
            guard includeOwn else {
                if let blas {
                    out.append(blas)
                    log?(line(blas))
                }
                continue
            }
            let own = combine(ownRuns)
            out.append(own)
            log?(line(own))
            if let blas {
                out.append(blas)
                log?(line(blas) + String(format: "   own/openblas %.2f", own.median / blas.median))
            }
            let pick = GEMM.choice(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, setting: .fastest)
            var auto = (pick == .openBLAS ? blas : nil) ?? own
            auto.name = "fastest -> " + (pick == .openBLAS ? "openblas" : "own")
            out.append(auto)
            log?(line(auto))
        }
        return out
    }

    /// Median and range over single-run measurements.
    static func combine(_ runs: [Measurement]) -> Measurement {
        let rates = runs.map(\.median).sorted()
        var m = runs[0]
        m.median = rates[rates.count / 2]
        m.min = rates.first!
        m.max = rates.last!
        m.runs = rates.count
        return m
    }

    /// A context line: thread count, micro-kernel and OpenBLAS core.
    public static var setup: String {
        "threads \(ThreadPool.shared.threadCount), own kernel \(GEMM.kernelName), OpenBLAS "
            + (OpenBLAS.isAvailable ? "\(OpenBLAS.coreName ?? "?") (\(OpenBLAS.coreTypeChoice))" : "unavailable")
    }

    static func line(_ m: Measurement) -> String {
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        return pad(m.shape, 20) + pad(m.name, 18) + String(format: "%7.1f ", m.median) + m.unit
            + String(format: "  (%.1f..%.1f)", m.min, m.max)
    }
}
