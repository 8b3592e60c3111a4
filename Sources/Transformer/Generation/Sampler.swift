import Foundation
import Tensor

/// One chosen token.
public struct SampledToken: Sendable, Equatable {
    public var id: Int32
    /// log softmax of the raw logits at temperature 1: the model's own log-probability of `id`
    /// (no penalty, truncation or temperature), as policy-gradient methods need.
    public var logprob: Float
    /// log-probability of `id` under the distribution actually drawn from (after penalty,
    /// truncation and temperature); 0 for greedy decoding.
    public var samplingLogprob: Float

    public init(id: Int32, logprob: Float, samplingLogprob: Float) {
        self.id = id
        self.logprob = logprob
        self.samplingLogprob = samplingLogprob
    }
}

/// Chooses tokens for one sequence. Stages, in llama.cpp's default order:
///
/// 1. repetition penalty on the logits of the distinct tokens among the last `repetitionWindow`
///    history tokens;
/// 2. top-k (the k highest penalised logits; ties to the lowest id);
/// 3. top-p over the softmax (temperature 1) of what top-k left: the smallest prefix, in
///    descending order, whose probability reaches p (the token that crosses p is kept);
/// 4. min-p: drop tokens whose logit is below max + log(minP) (probability below minP times the
///    largest; relative, so unchanged by the renormalisation after top-p);
/// 5. temperature: the kept logits are divided by it;
/// 6. one draw from the softmax of the result.
///
/// Greedy (temperature 0) is the argmax of the penalised logits (ties to the lowest id); it
/// consumes no randomness. Every other call consumes exactly one uniform from the sampler's own
/// stream, so the n-th token of a sequence depends only on (seed, sequence index, n, inputs),
/// not on how sequences are batched or interleaved.
///
/// No call allocates after the first at a given vocabulary size: the work buffers live in the
/// sampler. Nothing is sorted without top-k; with top-k only the k best are kept (one pass with a
/// k-entry heap) and sorted; top-p without top-k finds its boundary by bisection on a logit
/// threshold and sorts only the few tokens near it (`Nucleus`).
public struct Sampler: @unchecked Sendable {
    public let parameters: SamplingParameters
    public let sequenceIndex: UInt64
    private var rng: SeededRandom
    // Scratch only (nothing carries over between calls): a copy of a sampler gets its own on
    // first use, so copies never share buffers while sampling.
    private var scratch = SamplerScratch()

    /// - Parameters:
    ///   - sequenceIndex: which of several samples from the same prompt (0, 1, ...). The random
    ///     stream is derived from (parameters.seed, sequenceIndex), so k parallel samples are
    ///     reproducible and distinct.
    /// - Throws: `SamplingError.invalidParameter` for bad parameters.
    public init(parameters: SamplingParameters, sequenceIndex: UInt64 = 0) throws {
        try parameters.validate()
        self.parameters = parameters
        self.sequenceIndex = sequenceIndex
        self.rng = SeededRandom(seed: Sampler.streamSeed(seed: parameters.seed, sequence: sequenceIndex))
    }

    /// The seed of sequence `sequence`'s stream: SplitMix64's finaliser applied to the seed and
    /// to the (offset) index, combined and mixed again, so neighbouring seeds and indices give
    /// unrelated streams.
    public static func streamSeed(seed: UInt64, sequence: UInt64) -> UInt64 {
        func mix(_ x: UInt64) -> UInt64 {
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return mix(mix(seed &+ 0x9E37_79B9_7F4A_7C15) ^ mix(sequence &+ 0xD1B5_4A32_D192_ED03))
    }

    public mutating func sample(logits: [Float], history: some Collection<Int32>) throws -> SampledToken {
        try logits.withUnsafeBufferPointer { try sample(logits: $0, history: history) }
    }

    /// Chooses the next token from `logits` (one per vocabulary entry). `history` is the sequence
    /// so far (prompt and generated tokens, as the caller decides); only its last
    /// `repetitionWindow` tokens are read, and only when the repetition penalty is on.
    /// - Throws: `SamplingError.emptyLogits`, `.invalidLogits` (NaN, +inf, all -inf),
    ///   `.tokenOutOfRange` (a history token in the window is not a valid id).
    public mutating func sample(
        logits: UnsafeBufferPointer<Float>,
        history: some Collection<Int32>
    ) throws -> SampledToken {
        let n = logits.count
        guard n > 0, let raw = logits.baseAddress else { throw SamplingError.emptyLogits }
        if !isKnownUniquelyReferenced(&scratch) { scratch = SamplerScratch() }
        let s = scratch
        s.reserve(n)

        let (rawMax, rawSum) = Sampler.maxAndSumExp(raw, count: n)
        if rawMax == -.infinity { throw SamplingError.invalidLogits(reason: "every logit is -inf") }
        guard rawMax.isFinite, rawSum.isFinite else {
            throw SamplingError.invalidLogits(reason: "the logits contain NaN or +inf")
        }
        let rawLSE = rawMax + Foundation.log(rawSum)

        var values = raw
        if parameters.penalisesRepetition && !history.isEmpty {
            try penalise(raw, count: n, history: history, into: s)
            values = UnsafePointer(s.values)
        }

        if parameters.isGreedy {
            let id = Sampler.argmax(values, count: n)
            return SampledToken(id: Int32(id), logprob: raw[id] - rawLSE, samplingLogprob: 0)
        }

        let u = rng.nextDouble()
        let (id, samplingLogprob) = try draw(values, count: n, uniform: u, scratch: s)
        return SampledToken(id: Int32(id), logprob: raw[id] - rawLSE, samplingLogprob: samplingLogprob)
    }

    // MARK: - Stages

    /// Copies the logits and applies the penalty once to each distinct token of the window.
    private func penalise(
        _ raw: UnsafePointer<Float>, count n: Int, history: some Collection<Int32>,
        into s: SamplerScratch
    ) throws {
        let v = s.values
        v.update(from: raw, count: n)
        let stamp = s.nextStamp()
        let penalty = parameters.repetitionPenalty
        for t in history.suffix(parameters.repetitionWindow) {
            let i = Int(t)
            guard i >= 0 && i < n else { throw SamplingError.tokenOutOfRange(id: t, vocabularySize: n) }
            if s.marks[i] == stamp { continue }
            s.marks[i] = stamp
            let x = v[i]
            v[i] = x > 0 ? x / penalty : x * penalty
        }
    }

    /// Stages 2-6 on the (penalised) logits. Returns the token index and its log-probability
    /// under the final distribution.
    private func draw(
        _ values: UnsafePointer<Float>, count n: Int, uniform u: Double,
        scratch s: SamplerScratch
    ) throws -> (Int, Float) {
        let p = parameters
        let topK = p.topK > 0 && p.topK < n ? p.topK : 0
        let truncates = p.topP < 1 || p.minP > 0
        let invT = 1 / p.temperature

        if topK == 0 && !truncates {
            // Whole vocabulary, in id order: no sorting at all.
            let m = Reduction.max(values, count: n)
            try Sampler.requireFinite(m)
            Sampler.expScaled(values, count: n, minus: m, scale: invT, into: s.weights)
            let (j, total) = Sampler.pick(s.weights, count: n, uniform: u, blocks: s.blocks)
            return (j, (values[j] - m) * invT - Float(Foundation.log(total)))
        }

        // The kept candidates as keys in keys[0..<kept]; m is the largest logit (always kept).
        let keys = s.keys
        var kept: Int
        let m: Float
        if topK > 0 {
            // Sorted in descending order, so top-p and min-p are prefixes.
            KeyHeap.selectTop(topK, of: values, count: n, into: keys)
            kept = topK
            m = CandidateKey.value(keys[0])
            try Sampler.requireFinite(m)
            if p.topP < 1 {
                // weights[i] = exp(v_i - m) in descending order; z normalises over the top k.
                let z = Sampler.candidateExp(keys, count: topK, minus: m, into: s.weights)
                let target = p.topP * z
                var cum: Float = 0
                for i in 0..<topK {
                    cum += s.weights[i]
                    if cum >= target {
                        kept = i + 1
                        break
                    }
                }
            }
            if p.minP > 0 {
                let minThreshold = m + Foundation.log(p.minP)
                while kept > 1 && CandidateKey.value(keys[kept - 1]) < minThreshold { kept -= 1 }
            }
        } else {
            m = Reduction.max(values, count: n)
            try Sampler.requireFinite(m)
            kept = Nucleus.select(
                values, count: n, max: m, topP: p.topP, minP: p.minP,
                weights: s.weights, into: keys)
        }

        // Temperature and the draw.
        let w = s.weights
        for i in 0..<kept { w[i] = CandidateKey.value(keys[i]) }
        Sampler.expScaled(w, count: kept, minus: m, scale: invT, into: w)
        let (j, total) = Sampler.pick(w, count: kept, uniform: u, blocks: s.blocks)
        let v = CandidateKey.value(keys[j])
        return (Int(CandidateKey.id(keys[j])), (v - m) * invT - Float(Foundation.log(total)))
    }

    // MARK: - Kernels

    private static func requireFinite(_ m: Float) throws {
        guard m.isFinite else {
            throw SamplingError.invalidLogits(reason: "the repetition penalty made a logit \(m)")
        }
    }

    /// Lowest index of the largest value.
    static func argmax(_ x: UnsafePointer<Float>, count n: Int) -> Int {
        let m = Reduction.max(x, count: n)
        for i in 0..<n where x[i] == m { return i }
        // Only if the maximum is NaN-tainted; callers reject NaN first.
        return 0
    }

    /// (max, sum of exp(x - max)) over `n` floats.
    static func maxAndSumExp(_ x: UnsafePointer<Float>, count n: Int) -> (Float, Float) {
        let m = Reduction.max(x, count: n)
        let mv = Vec(repeating: m)
        var a0 = Vec(), a1 = Vec()
        let w = Vec.scalarCount
        var i = 0
        while i + 2 * w <= n {
            a0 += VectorMath.exp(UnsafeRawPointer(x + i).loadUnaligned(as: Vec.self) - mv)
            a1 += VectorMath.exp(UnsafeRawPointer(x + i + w).loadUnaligned(as: Vec.self) - mv)
            i += 2 * w
        }
        while i < n {
            let c = Swift.min(w, n - i)
            a0 += VectorMath.exp(VectorMath.load(x + i, stride: 1, count: c, fill: -.infinity) - mv)
            i += c
        }
        return (m, VectorMath.sum(a0 + a1))
    }

    /// out[i] = exp((x[i] - m) * scale); out may be x.
    static func expScaled(
        _ x: UnsafePointer<Float>, count n: Int, minus m: Float, scale: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        let mv = Vec(repeating: m), sv = Vec(repeating: scale)
        var i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            let v = VectorMath.load(x + i, stride: 1, count: c, fill: -.infinity)
            VectorMath.store(VectorMath.exp((v - mv) * sv), out + i, count: c)
            i += c
        }
    }

    /// out[i] = exp(value(keys[i]) - m); returns their sum.
    static func candidateExp(
        _ keys: UnsafePointer<UInt64>, count n: Int, minus m: Float,
        into out: UnsafeMutablePointer<Float>
    ) -> Float {
        for i in 0..<n { out[i] = CandidateKey.value(keys[i]) }
        expScaled(out, count: n, minus: m, scale: 1, into: out)
        return Reduction.sum(out, count: n)
    }

    static let block = 64

    /// Draws an index with probability w[i] / sum(w): block sums (vector sums of 64 weights)
    /// accumulated in Double, then a Double scan inside the chosen block. A zero weight is never
    /// chosen. Returns the index and the total weight.
    static func pick(
        _ w: UnsafePointer<Float>, count n: Int, uniform u: Double,
        blocks: UnsafeMutablePointer<Double>
    ) -> (Int, Double) {
        let nb = (n + block - 1) / block
        var total = 0.0
        for b in 0..<nb {
            let s = Double(Reduction.sum(w + b * block, count: Swift.min(block, n - b * block)))
            blocks[b] = s
            total += s
        }
        let target = u * total
        var acc = 0.0
        for b in 0..<nb {
            if acc + blocks[b] > target {
                let end = Swift.min(n, (b + 1) * block)
                var last = -1
                for i in (b * block)..<end where w[i] > 0 {
                    acc += Double(w[i])
                    last = i
                    if acc > target { return (i, total) }
                }
                // Rounding left the scan just short of the block sum: its last positive weight.
                if last >= 0 { return (last, total) }
            }
            acc += blocks[b]
        }
        // Rounding in the last block: the last positive weight overall.
        var i = n - 1
        while i > 0 && !(w[i] > 0) { i -= 1 }
        return (i, total)
    }
}

/// The sampler's work buffers, grown to the vocabulary size on first use and then reused.
final class SamplerScratch {
    private(set) var capacity = 0
    private(set) var values = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var weights = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var keys = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    private(set) var blocks = UnsafeMutablePointer<Double>.allocate(capacity: 1)
    /// marks[i] == stamp: token i was already penalised in this call.
    private(set) var marks = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    private var stamp: UInt32 = 0

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        free()
        values = .allocate(capacity: n)
        weights = .allocate(capacity: n)
        keys = .allocate(capacity: n)
        blocks = .allocate(capacity: n / Sampler.block + 1)
        marks = .allocate(capacity: n)
        marks.initialize(repeating: 0, count: n)
        stamp = 0
        capacity = n
    }

    func nextStamp() -> UInt32 {
        stamp &+= 1
        if stamp == 0 {
            marks.update(repeating: 0, count: capacity)
            stamp = 1
        }
        return stamp
    }

    private func free() {
        values.deallocate()
        weights.deallocate()
        keys.deallocate()
        blocks.deallocate()
        marks.deallocate()
    }

    deinit { free() }
}
