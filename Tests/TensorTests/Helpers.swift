import Foundation
import XCTest
@testable import Tensor

/// A small seeded generator so every test is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, range: ClosedRange<Float> = -2...2) -> Tensor {
    var rng = SplitMix64(seed: seed)
    let n = shape.reduce(1, *)
    return try! Tensor(shape: shape, scalars: (0..<n).map { _ in Float.random(in: range, using: &rng) })
}

/// Row-major multi-indices of a shape, for naive references.
func allIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for n in shape { result = result.flatMap { prefix in (0..<n).map { prefix + [$0] } } }
    return result
}

/// A strided, non-contiguous view with the same values as `t`: t's data is placed transposed in
/// a bigger buffer and viewed back, so every test can also run on a non-contiguous input.
func nonContiguousCopy(_ t: Tensor) -> Tensor {
    if t.rank == 0 { return t }
    guard t.rank >= 2 else { return stepView(t) }
    let perm = Array((0..<t.rank).reversed())
    let stored = try! t.permuted(perm).contiguous()  // data laid out reversed
    return try! stored.permuted(perm)  // same logical values, strided
}

private func stepView(_ t: Tensor) -> Tensor {
    // Interleave with zeros, then take every other element.
    let n = t.shape[0]
    let buf = Tensor(zeros: [2 * n])
    let v = try! buf.sliced(axis: 0, 0..<(2 * n), step: 2)
    for i in 0..<n { v.floatPointer[i * 2] = t[i] }
    return v
}

/// Compares element by element; `relative` divides the error by |expected|, `mixed` by max(|expected|, 1).
func XCTAssertClose(
    _ a: [Float], _ b: [Float], tol: Float, relative: Bool = false, mixed: Bool = false,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, "count " + message(), file: file, line: line)
    var worst: Float = 0, at = -1
    for i in 0..<min(a.count, b.count) {
        if a[i].isNaN && b[i].isNaN { continue }
        if a[i] == b[i] { continue }
        var err = abs(a[i] - b[i])
        if relative { err /= max(abs(b[i]), 1e-30) }
        if mixed { err /= max(abs(b[i]), 1) }
        if !(err <= worst) {
            worst = err
            at = i
        }
    }
    if !(worst <= tol) {
        XCTFail("max error \(worst) > \(tol) at \(at): \(a[at]) vs \(b[at]) " + message(), file: file, line: line)
    }
}

/// Runs `body` on `threads` threads.
func withThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
    try EngineSettings.with({ $0.threads = threads }, body)
}

/// Asserts that `body` produces bit-identical values with 1, 2 and 3 threads.
func assertThreadCountIndependent(
    _ name: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws -> Tensor
) rethrows {
    let one = try withThreads(1, body).scalars().map(\.bitPattern)
    for threads in [2, 3] {
        let other = try withThreads(threads, body).scalars().map(\.bitPattern)
        XCTAssertEqual(one, other, "\(name) differs between 1 and \(threads) threads", file: file, line: line)
    }
}

/// Throws XCTSkip, naming the path, when this build or CPU cannot run kernel path `level`.
func requireKernelPath(_ level: KernelISA) throws {
    guard level <= KernelISA.supported else {
        throw XCTSkip("kernel path \(level) not available here (build \(KernelISA.compiled), cpu \(KernelISA.cpu))")
    }
}

/// Runs `body` with the kernels held to path `level` (skipped, naming it, where it is not available).
func onKernelPath<T>(_ level: KernelISA, _ body: () throws -> T) throws -> T {
    try requireKernelPath(level)
    return try EngineSettings.with({ $0.isa = level }, body)
}

/// What a KV cache of `type` holds of `t`, as attention references read it (f16 caches round on
/// the way in).
func cachedScalars(_ t: Tensor, _ type: KVCacheType) -> [Float] {
    type == .f32 ? t.scalars() : t.scalars().map { Half.toFloat(Half.fromFloat($0)) }
}

/// Cached attention in Double for query row `row` of `qs` ([rows, heads * headDim]) against
/// positions `positions` of `keys` and `values` ([n, kvDim] each), query head h reading KV head
/// h / group: per head and value, the result and the sum of its terms' magnitudes (for tolerances).
func attentionReference(
    qs: [Float], row: Int, keys: [Float], values: [Float], positions: Range<Int>, heads: Int, group: Int, headDim: Int,
    scale: Double
) -> [[(value: Double, magnitude: Double)]] {
    let qDim = heads * headDim, kvDim = heads / group * headDim
    return (0..<heads).map { h in
        let g = h / group
        var scores = positions.map { j -> Double in
            var d = 0.0
            for e in 0..<headDim { d += Double(qs[row * qDim + h * headDim + e]) * Double(keys[j * kvDim + g * headDim + e]) }
            return scale * d
        }
        let top = scores.max()!
        scores = scores.map { exp($0 - top) }
        let total = scores.reduce(0, +)
        return (0..<headDim).map { e in
            var want = 0.0, mag = 0.0
            for (o, j) in positions.enumerated() {
                let t = scores[o] / total * Double(values[j * kvDim + g * headDim + e])
                want += t
                mag += abs(t)
            }
            return (want, mag)
        }
    }
}
