import Foundation
import Tensor

/// Top-p followed by min-p over a whole vocabulary without sorting it.
///
/// The top-p set is a prefix of the candidates in descending order (ties to the lowest id), so it
/// is {v >= t} for some threshold plus part of the ties at t. A bisection on the threshold keeps
/// lo and hi with mass(lo) >= p > mass(hi), where mass(t) is the probability of {v >= t}: every
/// token >= hi is kept, none below lo is, and only the band [lo, hi) (narrowed to a few hundred
/// tokens, or to a width of 1e-3) is sorted and walked until p is reached. Min-p
/// keeps {v >= max + log(minP)}, also a prefix, so starting lo there applies both: if that set
/// holds less than p it is the answer, otherwise the top-p prefix lies inside it.
enum Nucleus {
    /// Tokens in the band [lo, hi) below which bisection stops.
    static let bandLimit = 256
    /// Narrowest band (in logits) worth another pass: tokens closer than this (ties, mostly) are
    /// sorted instead. From a band of ~24 it takes ~15 passes to get here.
    static let minimumWidth: Float = 1e-3

    /// Writes the keys of the kept tokens into `keys` (not in sorted order; the token with value
    /// `m` is among them) and returns how many. `weights` is scratch for `n` floats.
    static func select(
        _ values: UnsafePointer<Float>, count n: Int, max m: Float, topP: Float, minP: Float,
        weights w: UnsafeMutablePointer<Float>, into keys: UnsafeMutablePointer<UInt64>
    ) -> Int {
        let minThreshold = minP > 0 ? m + Foundation.log(minP) : -Float.infinity
        if topP >= 1 {
            return KeyHeap.collect(atLeast: minThreshold, below: .infinity, of: values, count: n, into: keys)
        }
        Sampler.expScaled(values, count: n, minus: m, scale: 1, into: w)
        let z = Reduction.sum(w, count: n)
        let target = topP * z

        var lo = minThreshold, hi = Float.infinity
        var (loMass, loCount) = lo == -.infinity ? (z, n) : mass(atLeast: lo, values, w, count: n)
        var hiMass: Float = 0, hiCount = 0
        if loMass < target {
            // Min-p leaves less than p: its set is the answer.
            return KeyHeap.collect(atLeast: minThreshold, below: .infinity, of: values, count: n, into: keys)
        }
        var probe = m
        var step: Float = 16  // distance below hi probed while lo is still -inf
        for _ in 0..<64 {
            if loCount - hiCount <= bandLimit || hi - lo < minimumWidth { break }
            guard probe > lo && probe < hi else { break }
            let (pm, pc) = mass(atLeast: probe, values, w, count: n)
            if pm >= target {
                (lo, loMass, loCount) = (probe, pm, pc)
            } else {
                (hi, hiMass, hiCount) = (probe, pm, pc)
            }
            if lo == -.infinity {
                probe = hi - step
                step *= 2
            } else if hi == .infinity {
                break  // lo == m: the band is the ties at the maximum
            } else {
                probe = lo + (hi - lo) / 2
            }
        }

        var count = KeyHeap.collect(atLeast: hi, below: .infinity, of: values, count: n, into: keys)
        let band = keys + count
        let bandCount = KeyHeap.collect(atLeast: lo, below: hi, of: values, count: n, into: band)
        KeyHeap.sortDescending(band, count: bandCount)
        var cum = hiMass
        for i in 0..<bandCount {
            cum += w[Int(CandidateKey.id(band[i]))]
            count += 1
            if cum >= target { break }
        }
        return count
    }

    /// (sum of w[i], count) over the i with values[i] >= t (t finite).
    static func mass(
        atLeast t: Float, _ values: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        count n: Int
    ) -> (Float, Int) {
        let tv = Vec(repeating: t), one = Vec(repeating: 1)
        var acc = Vec(), cnt = Vec()
        var i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            let below = VectorMath.load(values + i, stride: 1, count: c, fill: -.infinity) .< tv
            acc += VectorMath.load(w + i, stride: 1, count: c).replacing(with: 0, where: below)
            cnt += one.replacing(with: 0, where: below)
            i += c
        }
        return (VectorMath.sum(acc), Int(VectorMath.sum(cnt)))
    }
}
