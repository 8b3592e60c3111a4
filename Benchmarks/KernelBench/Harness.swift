import Foundation
import Tensor

/// A lean benchmark harness: each measurement runs a body repeatedly for a fixed time slice,
/// several times, and reports the median rate and its spread (min..max over the runs).
public struct Measurement: Sendable {
    public var name: String
    public var shape: String
    public var unit: String  // "GFLOP/s" or "GB/s"
    public var median: Double
    public var min: Double
    public var max: Double
    public var runs: Int

    public var spreadPercent: Double { median > 0 ? (max - min) / median * 100 : 0 }
}

public enum Bench {
    /// Times `body`, which performs `work` units (flops or bytes) per call, and returns rates in
    /// units of 1e9 per second. One warm-up call, then `repeats` runs of at least `seconds` each.
    public static func measure(
        _ name: String, shape: String, unit: String, work: Double,
        repeats: Int = 5, seconds: Double = 0.2,
        _ body: () -> Void
    ) -> Measurement {
        body()
        var rates: [Double] = []
        for _ in 0..<max(1, repeats) {
            var calls = 0
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed: Double = 0
            repeat {
                body()
                calls += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            } while elapsed < seconds
            rates.append(work * Double(calls) / elapsed / 1e9)
        }
        rates.sort()
        return Measurement(
            name: name, shape: shape, unit: unit, median: rates[rates.count / 2],
            min: rates.first!, max: rates.last!, runs: rates.count)
    }
}
