import Foundation
import XCTest
import Tensor
@testable import Transformer

/// Sampler against a naive reference (full sort, Double softmax) and the stop-string matcher.
final class SamplingTests: XCTestCase {
    // MARK: - Reference

    /// The distribution the sampler should draw from, by the book: penalty on the distinct tokens
    /// of the window, full sort (ties to the lowest id), top-k, top-p over the softmax of what is
    /// left, min-p relative to the largest probability, then temperature. Greedy: one-hot argmax.
    static func reference(_ logits: [Float], history: [Int32] = [], _ p: SamplingParameters) -> [Double] {
        var v = logits.map(Double.init)
        if p.repetitionPenalty != 1 && p.repetitionWindow > 0 {
            for t in Set(history.suffix(p.repetitionWindow)) {
                let x = logits[Int(t)]
                v[Int(t)] = Double(x > 0 ? x / p.repetitionPenalty : x * p.repetitionPenalty)
            }
        }
        var order = Array(v.indices)
        order.sort { v[$0] != v[$1] ? v[$0] > v[$1] : $0 < $1 }
        var out = [Double](repeating: 0, count: v.count)
        if p.temperature == 0 {
            out[order[0]] = 1
            return out
        }
        if p.topK > 0 { order = Array(order.prefix(p.topK)) }
        let m = v[order[0]]
        if p.topP < 1 {
            let z = order.reduce(0) { $0 + exp(v[$1] - m) }
            var cum = 0.0, keep = order.count
            for (i, id) in order.enumerated() {
                cum += exp(v[id] - m) / z
                if cum >= Double(p.topP) {
                    keep = i + 1
                    break
                }
            }
            order = Array(order.prefix(keep))
        }
        if p.minP > 0 { order = order.filter { exp(v[$0] - m) >= Double(p.minP) } }
        let t = Double(p.temperature)
        let z = order.reduce(0) { $0 + exp((v[$1] - m) / t) }
        for id in order { out[id] = exp((v[id] - m) / t) / z }
        return out
    }

    static func logSoftmax(_ logits: [Float]) -> [Double] {
        let v = logits.map(Double.init)
        let m = v.max()!
        let lse = m + log(v.reduce(0) { $0 + exp($1 - m) })
        return v.map { $0 - lse }
    }

    static func randomLogits(_ n: Int, scale: Float = 3, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { _ in scale * Float(rng.nextNormal()) }
    }

    /// Pearson's statistic of `counts` against `probs` (cells with probability > 0).
    static func chiSquare(_ counts: [Int], _ probs: [Double], draws: Int) -> (stat: Double, df: Int) {
        var stat = 0.0, cells = 0
        for (c, q) in zip(counts, probs) where q > 0 {
            let e = q * Double(draws)
            stat += (Double(c) - e) * (Double(c) - e) / e
            cells += 1
        }
        return (stat, cells - 1)
    }

    // MARK: - Greedy and log-probabilities

    func testGreedyIsArgmaxWithTiesToLowestId() throws {
        let logits = Self.randomLogits(1001, seed: 1)
        var s = try Sampler(parameters: .greedy)
        let t = try s.sample(logits: logits, history: [Int32]())
        XCTAssertEqual(Int(t.id), logits.indices.max { logits[$0] < logits[$1] }!)
        XCTAssertEqual(t.samplingLogprob, 0)

        let tied: [Float] = [1, 5, -2, 5, 5, 0.5]
        XCTAssertEqual(try s.sample(logits: tied, history: [Int32]()).id, 1)
        // Greedy applies the penalty: token 1 seen -> 2.5, so the first remaining 5 wins.
        var p = try Sampler(parameters: SamplingParameters(temperature: 0, repetitionPenalty: 2))
        XCTAssertEqual(try p.sample(logits: tied, history: [1, 1] as [Int32]).id, 3)
        // Top-k 1 at any temperature is greedy too.
        var k1 = try Sampler(parameters: SamplingParameters(temperature: 1.3, topK: 1, seed: 5))
        for _ in 0..<20 { XCTAssertEqual(try k1.sample(logits: tied, history: [Int32]()).id, 1) }
    }

    func testLogprobIsLogSoftmaxOfRawLogits() throws {
        let logits = Self.randomLogits(49152, scale: 4, seed: 2)
        let ref = Self.logSoftmax(logits)
        let configs: [SamplingParameters] = [
            .greedy,
            SamplingParameters(temperature: 0.7, seed: 1),
            SamplingParameters(temperature: 1.2, topK: 40, topP: 0.9, minP: 0.05, repetitionPenalty: 1.3, seed: 2)
        ]
        let history: [Int32] = (0..<100).map { Int32($0 * 37 % 49152) }
        for c in configs {
            var s = try Sampler(parameters: c)
            for _ in 0..<20 {
                let t = try s.sample(logits: logits, history: history)
                let r = ref[Int(t.id)]
                XCTAssertEqual(Double(t.logprob), r, accuracy: 1e-4 * max(1, abs(r)), "\(c)")
            }
        }
    }

    // MARK: - Distributions

    func testTemperatureFrequenciesMatchSoftmax() throws {
        let logits: [Float] = [1.0, 0.2, -0.5, 2.0, 0.0, -1.5, 1.1, 0.7, -0.3, 0.4]
        for temperature: Float in [0.6, 1, 1.7] {
            let params = SamplingParameters(temperature: temperature, seed: 42)
            let probs = Self.reference(logits, params)
            var s = try Sampler(parameters: params)
            var counts = [Int](repeating: 0, count: logits.count)
            let draws = 20_000
            for _ in 0..<draws { counts[Int(try s.sample(logits: logits, history: [Int32]()).id)] += 1 }
            let (stat, df) = Self.chiSquare(counts, probs, draws: draws)
            XCTAssertEqual(df, 9)
            XCTAssertLessThan(stat, 33.7, "T=\(temperature): chi-square \(stat) (p = 1e-4 critical value 33.7)")
        }
    }

    func testTruncatedFrequenciesMatchReference() throws {
        let logits = Self.randomLogits(50, scale: 1.5, seed: 3)
        let params = SamplingParameters(temperature: 0.8, topK: 12, topP: 0.85, minP: 0.1, seed: 9)
        let probs = Self.reference(logits, params)
        let allowed = probs.filter { $0 > 0 }.count
        XCTAssertGreaterThan(allowed, 3)
        XCTAssertLessThan(allowed, 12)
        var s = try Sampler(parameters: params)
        var counts = [Int](repeating: 0, count: logits.count)
        let draws = 20_000
        for _ in 0..<draws { counts[Int(try s.sample(logits: logits, history: [Int32]()).id)] += 1 }
        for (c, q) in zip(counts, probs) where q == 0 { XCTAssertEqual(c, 0) }
        let (stat, df) = Self.chiSquare(counts, probs, draws: draws)
        XCTAssertLessThan(stat, Double(df) + 6 * (2 * Double(df)).squareRoot(), "chi-square \(stat), df \(df)")
    }

    /// Every combination of the truncation stages: sampled tokens are allowed by the reference
    /// and their samplingLogprob is the reference's renormalised log-probability.
    func testTruncationAndRenormalisationMatchReference() throws {
        let vocabularies = [(997, Float(3)), (49152, Float(2.5)), (300, Float(0.05))]  // last: nearly flat
        for (vi, (n, scale)) in vocabularies.enumerated() {
            let logits = Self.randomLogits(n, scale: scale, seed: 10 + UInt64(vi))
            for topK in [0, 1, 5, 40] {
                for topP: Float in [1, 0.9, 0.5] {
                    for minP: Float in [0, 0.05, 0.3] {
                        for temperature: Float in [0.5, 1, 1.5] {
                            let params = SamplingParameters(
                                temperature: temperature, topK: topK, topP: topP,
                                minP: minP, seed: UInt64(topK * 7 + vi))
                            let probs = Self.reference(logits, params)
                            var s = try Sampler(parameters: params)
                            for _ in 0..<(n > 10_000 ? 3 : 10) {
                                let t = try s.sample(logits: logits, history: [Int32]())
                                let q = probs[Int(t.id)]
                                XCTAssertGreaterThan(q, 0, "token \(t.id) not allowed by \(params) (n=\(n))")
                                guard q > 0 else { continue }
                                XCTAssertEqual(
                                    Double(t.samplingLogprob), log(q), accuracy: 1e-4 * max(1, -log(q)),
                                    "\(params) n=\(n)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Top-p without top-k when the tokens near the maximum hold less than p: the sampler must
    /// widen its candidate set (one dominant token, a long tail 13 nats below).
    func testTopPWidensBeyondTheNearSet() throws {
        var logits = [Float](repeating: 0, count: 5000)
        logits[1234] = 13
        for i in stride(from: 0, to: 5000, by: 7) where i != 1234 { logits[i] = -0.5 }
        let params = SamplingParameters(temperature: 1, topP: 0.995, seed: 4)
        let probs = Self.reference(logits, params)
        XCTAssertGreaterThan(probs.filter { $0 > 0 }.count, 1000)
        var s = try Sampler(parameters: params)
        var tail = 0
        for _ in 0..<2000 {
            let t = try s.sample(logits: logits, history: [Int32]())
            XCTAssertGreaterThan(probs[Int(t.id)], 0)
            XCTAssertEqual(Double(t.samplingLogprob), log(probs[Int(t.id)]), accuracy: 1e-4 * max(1, -log(probs[Int(t.id)])))
            if t.id != 1234 { tail += 1 }
        }
        // The tail holds about 1.1% of the mass: ~22 of 2000 draws.
        XCTAssertGreaterThan(tail, 5)
        XCTAssertLessThan(tail, 60)
    }

    /// Ties at the top-p boundary go to the lowest ids, also when the tied band is too wide to
    /// narrow by bisection (all logits equal; many tokens tied at the maximum).
    func testTopPBoundaryTiesGoToLowestIds() throws {
        var tiedTop = [Float](repeating: 0, count: 3000)
        for i in stride(from: 5, to: 3000, by: 3) { tiedTop[i] = 4 }
        for (logits, topP) in [([Float](repeating: 1.5, count: 1000), Float(0.5)), (tiedTop, Float(0.3))] {
            for params in [
                SamplingParameters(temperature: 1, topP: topP, seed: 3),
                SamplingParameters(temperature: 0.7, topK: 2000, topP: topP, seed: 4)
            ] {
                let probs = Self.reference(logits, params)
                let allowed = probs.indices.filter { probs[$0] > 0 }
                XCTAssertGreaterThan(allowed.count, 250)
                var s = try Sampler(parameters: params)
                for _ in 0..<200 {
                    let t = try s.sample(logits: logits, history: [Int32]())
                    XCTAssertGreaterThan(probs[Int(t.id)], 0, "\(params): \(t.id)")
                    XCTAssertEqual(Double(t.samplingLogprob), -log(Double(allowed.count)), accuracy: 1e-5)
                }
            }
        }
    }

    func testMaskedLogitsAreNeverDrawn() throws {
        var logits = [Float](repeating: -.infinity, count: 100)
        logits[17] = 0.5
        logits[60] = 0.4
        logits[99] = -3
        for params in [
            SamplingParameters(temperature: 1, seed: 1), SamplingParameters(temperature: 2, topP: 0.99, seed: 2),
            SamplingParameters(temperature: 1, topK: 10, seed: 3)
        ] {
            var s = try Sampler(parameters: params)
            for _ in 0..<300 {
                let id = try s.sample(logits: logits, history: [Int32]()).id
                XCTAssertTrue([17, 60, 99].contains(id), "\(params): drew masked \(id)")
            }
        }
    }

    // MARK: - Repetition penalty

    func testRepetitionPenaltyFollowsLlamaCpp() throws {
        let logits: [Float] = [2, -1, 1, 0.5, 1.9]
        let params = SamplingParameters(temperature: 1, repetitionPenalty: 2, repetitionWindow: 3, seed: 8)
        // Window = last 3 = [0, 1, 0]: 0 -> 1 (divided), 1 -> -2 (multiplied), once each; 4 is outside.
        let history: [Int32] = [4, 0, 1, 0]
        let probs = Self.reference(logits, history: history, params)
        let penalised: [Float] = [1, -2, 1, 0.5, 1.9]
        let expected = Self.logSoftmax(penalised)
        for i in 0..<5 { XCTAssertEqual(log(probs[i]), expected[i], accuracy: 1e-9) }
        var s = try Sampler(parameters: params)
        var counts = [Int](repeating: 0, count: 5)
        let draws = 20_000
        for _ in 0..<draws {
            let t = try s.sample(logits: logits, history: history)
            XCTAssertEqual(Double(t.samplingLogprob), expected[Int(t.id)], accuracy: 1e-5)
            XCTAssertEqual(Double(t.logprob), Self.logSoftmax(logits)[Int(t.id)], accuracy: 1e-5)
            counts[Int(t.id)] += 1
        }
        let (stat, df) = Self.chiSquare(counts, probs, draws: draws)
        XCTAssertLessThan(stat, Double(df) + 6 * (2 * Double(df)).squareRoot())
        // Penalised token 0 is now drawn less often than unpenalised token 4.
        XCTAssertLessThan(counts[0], counts[4])

        // A penalty below 1 favours repeats; window 0 or penalty 1 changes nothing.
        var favour = try Sampler(parameters: SamplingParameters(temperature: 0, repetitionPenalty: 0.5))
        XCTAssertEqual(try favour.sample(logits: [3, 2], history: [1] as [Int32]).id, 1)
        for off in [
            SamplingParameters(temperature: 0, repetitionPenalty: 3, repetitionWindow: 0),
            SamplingParameters(temperature: 0, repetitionPenalty: 1)
        ] {
            var s = try Sampler(parameters: off)
            XCTAssertEqual(try s.sample(logits: [3, 2], history: [0, 0] as [Int32]).id, 0)
        }
    }

    func testHistoryTokenOutOfRangeThrows() throws {
        var s = try Sampler(parameters: SamplingParameters(repetitionPenalty: 1.1))
        XCTAssertThrowsError(try s.sample(logits: [1, 2, 3], history: [0, 3] as [Int32])) {
            XCTAssertEqual($0 as? SamplingError, .tokenOutOfRange(id: 3, vocabularySize: 3))
        }
        XCTAssertThrowsError(try s.sample(logits: [1, 2, 3], history: [-1] as [Int32]))
    }

    // MARK: - Streams

    func testSeedsAndSequenceIndicesGiveReproducibleIndependentStreams() throws {
        let logits = Self.randomLogits(500, scale: 1, seed: 6)
        let params = SamplingParameters(temperature: 1, topK: 100, topP: 0.95, seed: 1234)
        func run(_ p: SamplingParameters, _ seq: UInt64, _ count: Int = 64) throws -> [Int32] {
            var s = try Sampler(parameters: p, sequenceIndex: seq)
            return try (0..<count).map { _ in try s.sample(logits: logits, history: [Int32]()).id }
        }
        let a = try run(params, 0), b = try run(params, 1)
        XCTAssertEqual(a, try run(params, 0))
        XCTAssertNotEqual(a, b)
        var other = params
        other.seed = 1235
        XCTAssertNotEqual(a, try run(other, 0))
        // Interleaving sequences (as a batch would) changes nothing.
        var s0 = try Sampler(parameters: params, sequenceIndex: 0)
        var s1 = try Sampler(parameters: params, sequenceIndex: 1)
        var i0: [Int32] = [], i1: [Int32] = []
        for _ in 0..<64 {
            i1.append(try s1.sample(logits: logits, history: [Int32]()).id)
            i0.append(try s0.sample(logits: logits, history: [Int32]()).id)
        }
        XCTAssertEqual(i0, a)
        XCTAssertEqual(i1, b)
        // A copy continues the same stream on its own buffers.
        var c = s0
        XCTAssertEqual(try c.sample(logits: logits, history: [Int32]()), try s0.sample(logits: logits, history: [Int32]()))
        // Streams for neighbouring indices are distinct seeds.
        let seeds = Set((0..<1000 as Range<UInt64>).map { Sampler.streamSeed(seed: 7, sequence: $0) })
        XCTAssertEqual(seeds.count, 1000)
    }

    // MARK: - Validation

    func testInvalidParametersAndLogitsThrowClearErrors() throws {
        let bad: [(SamplingParameters, String)] = [
            (SamplingParameters(temperature: -0.1), "temperature"),
            (SamplingParameters(temperature: .nan), "temperature"),
            (SamplingParameters(topK: -1), "topK"),
            (SamplingParameters(topP: 0), "topP"),
            (SamplingParameters(topP: 1.01), "topP"),
            (SamplingParameters(minP: -0.01), "minP"),
            (SamplingParameters(minP: 1.5), "minP"),
            (SamplingParameters(repetitionPenalty: 0), "repetitionPenalty"),
            (SamplingParameters(repetitionWindow: -1), "repetitionWindow")
        ]
        for (p, name) in bad {
            XCTAssertThrowsError(try Sampler(parameters: p)) { e in
                guard case let .invalidParameter(n, _, _) = e as? SamplingError else { return XCTFail("\(e)") }
                XCTAssertEqual(n, name)
                XCTAssertTrue("\(e)".contains(name))
            }
        }
        var s = try Sampler(parameters: SamplingParameters(seed: 1))
        XCTAssertThrowsError(try s.sample(logits: [Float](), history: [Int32]())) {
            XCTAssertEqual($0 as? SamplingError, .emptyLogits)
        }
        for logits: [Float] in [[1, .nan, 2], [1, .infinity], [-.infinity, -.infinity]] {
            XCTAssertThrowsError(try s.sample(logits: logits, history: [Int32]())) {
                guard case .invalidLogits = $0 as? SamplingError else { return XCTFail("\($0)") }
            }
        }
        // Codable: missing keys take defaults; a round trip is the identity.
        let decoded = try JSONDecoder().decode(SamplingParameters.self, from: Data(#"{"temperature":0.5,"topK":20}"#.utf8))
        XCTAssertEqual(decoded, SamplingParameters(temperature: 0.5, topK: 20))
        let full = SamplingParameters(
            temperature: 0.9, topK: 3, topP: 0.8, minP: 0.1, repetitionPenalty: 1.2,
            repetitionWindow: 10, seed: 99)
        XCTAssertEqual(try JSONDecoder().decode(SamplingParameters.self, from: try JSONEncoder().encode(full)), full)
    }

    // MARK: - Candidate keys

    func testCandidateKeysOrderLikeValuesThenLowestId() {
        let values: [Float] = [-.infinity, -3.5, -0.0, 0, 1e-30, 2, 2, .greatestFiniteMagnitude, -1e-30]
        for (i, v) in values.enumerated() {
            let k = CandidateKey.make(v, i)
            XCTAssertEqual(CandidateKey.value(k), v == 0 ? 0 : v)
            XCTAssertEqual(CandidateKey.id(k), Int32(i))
        }
        for i in values.indices {
            for j in values.indices where i != j {
                let a = CandidateKey.make(values[i], i), b = CandidateKey.make(values[j], j)
                let expected = values[i] != values[j] ? values[i] > values[j] : i < j
                XCTAssertEqual(a > b, expected, "\(values[i])#\(i) vs \(values[j])#\(j)")
            }
        }
    }
}

// MARK: - Stop conditions

extension SamplingTests {
    func matcher(_ strings: [String], tokens: Set<Int32> = [], maxTokens: Int? = nil) throws -> StopMatcher {
        try StopMatcher(StopCondition(stopTokens: tokens, stopStrings: strings, maxTokens: maxTokens))
    }

    func testStopStringSplitAcrossPieces() throws {
        var m = try matcher(["</s>"])
        XCTAssertEqual(m.accept(token: 1, text: "Hello <"), StopDecision(text: "Hello "))
        XCTAssertEqual(m.heldText, "<")
        XCTAssertEqual(m.accept(token: 2, text: "/"), StopDecision(text: ""))
        XCTAssertEqual(m.accept(token: 3, text: "s> world"), StopDecision(text: "", reason: .string(index: 0)))
        // After a stop: nothing more, same reason.
        XCTAssertEqual(m.accept(token: 4, text: "more"), StopDecision(text: "", reason: .string(index: 0)))
        XCTAssertEqual(m.finish(), "")
    }

    func testPartialPrefixThenMismatchIsReleased() throws {
        var m = try matcher(["abc"])
        XCTAssertEqual(m.accept(token: 0, text: "xab").text, "x")
        XCTAssertEqual(m.accept(token: 0, text: "d"), StopDecision(text: "abd"))
        // Overlapping prefixes: "aaa" may still end in "aab", so only one "a" is released.
        var o = try matcher(["aab"])
        XCTAssertEqual(o.accept(token: 0, text: "a").text, "")
        XCTAssertEqual(o.accept(token: 0, text: "a").text, "")
        XCTAssertEqual(o.accept(token: 0, text: "a").text, "a")
        XCTAssertEqual(o.accept(token: 0, text: "b"), StopDecision(text: "", reason: .string(index: 0)))
        // A prefix left at the end is released by finish().
        var f = try matcher(["abc"])
        XCTAssertEqual(f.accept(token: 0, text: "zzab").text, "zz")
        XCTAssertEqual(f.finish(), "ab")
    }

    func testMultipleStopStrings() throws {
        var m = try matcher(["###", "\nUser:"])
        XCTAssertEqual(m.accept(token: 0, text: "Answer\nUs").text, "Answer")
        XCTAssertEqual(m.accept(token: 0, text: "er: hi"), StopDecision(text: "", reason: .string(index: 1)))
        // Completed by the same piece: the earliest start wins.
        var e = try matcher(["bc", "abcd"])
        XCTAssertEqual(e.accept(token: 0, text: "a").text, "")
        XCTAssertEqual(e.accept(token: 0, text: "bcd"), StopDecision(text: "", reason: .string(index: 1)))
        // The shorter one completes first: it stops generation before the longer could.
        var f = try matcher(["bc", "abcd"])
        XCTAssertEqual(f.accept(token: 0, text: "a").text, "")
        XCTAssertEqual(f.accept(token: 0, text: "bc"), StopDecision(text: "a", reason: .string(index: 0)))
    }

    func testStopAtStartTokensAndLength() throws {
        var m = try matcher(["Hi"])
        XCTAssertEqual(m.accept(token: 0, text: "Hi there"), StopDecision(text: "", reason: .string(index: 0)))

        var t = try matcher(["<|"], tokens: [2, 7])
        XCTAssertEqual(t.accept(token: 5, text: "x<").text, "x")
        // A stop token releases the held text and its own text is dropped.
        XCTAssertEqual(t.accept(token: 7, text: "<|eot|>"), StopDecision(text: "<", reason: .token(7)))

        var l = try matcher(["END"], maxTokens: 2)
        XCTAssertEqual(l.accept(token: 0, text: "aE"), StopDecision(text: "a"))
        XCTAssertEqual(l.accept(token: 0, text: "N"), StopDecision(text: "EN", reason: .length))
        var ls = try matcher(["END"], maxTokens: 2)
        _ = ls.accept(token: 0, text: "E")
        XCTAssertEqual(ls.accept(token: 0, text: "ND"), StopDecision(text: "", reason: .string(index: 0)))

        XCTAssertThrowsError(try matcher(["ok", ""])) { XCTAssertEqual($0 as? SamplingError, .emptyStopString(index: 1)) }
        XCTAssertThrowsError(try matcher(["ok"], maxTokens: 0))
    }

    func testStopStringsWithMultibyteCharacters() throws {
        var m = try matcher(["é!"])
        XCTAssertEqual(m.accept(token: 0, text: "café").text, "caf")
        XCTAssertEqual(m.accept(token: 0, text: "!?"), StopDecision(text: "", reason: .string(index: 0)))
        var n = try matcher(["日本"])
        XCTAssertEqual(n.accept(token: 0, text: "今日").text, "今")
        XCTAssertEqual(n.accept(token: 0, text: "曜"), StopDecision(text: "日曜"))
    }

    /// Random pieces over a tiny alphabet against the definition: the output is the text before
    /// the earliest stop string in the text at the first piece after which one is complete.
    func testStopMatcherAgainstDefinition() throws {
        let stops = ["abc", "cab", "bb", "cccc"]
        var rng = SeededRandom(seed: 77)
        for _ in 0..<500 {
            var m = try matcher(stops)
            var text = "", out = "", expected: String?
            for _ in 0..<12 {
                let piece = String((0..<rng.nextInt(4)).map { _ in ["a", "b", "c"][rng.nextInt(3)] })
                text += piece
                let d = m.accept(token: 0, text: piece)
                out += d.text
                let starts = stops.compactMap { text.range(of: $0)?.lowerBound }
                if let first = starts.min() {
                    expected = String(text[..<first])
                    XCTAssertTrue(d.shouldStop, "\(text)")
                    break
                }
                XCTAssertFalse(d.shouldStop)
                XCTAssertTrue(text.hasPrefix(out))
                // Held back only as much as could still start a stop string.
                let held = text.dropFirst(out.count)
                XCTAssertTrue(held.isEmpty || stops.contains { $0.hasPrefix(held) && $0 != String(held) }, "\(text) held \(held)")
            }
            if expected == nil {
                out += m.finish()
                expected = text
            }
            XCTAssertEqual(out, expected, "text \(text)")
        }
    }
}

// MARK: - Loops

extension SamplingTests {
    /// The definition: the first token after which, for some period p <= maxPeriod, the last
    /// max(minTokens, minCopies * p) tokens each equal the token p before.
    static func firstLoop(_ ids: [Int32], _ r: RepetitionStop) -> (end: Int, period: Int)? {
        for n in 1...max(1, ids.count) where n <= ids.count {
            for p in 1...r.maxPeriod {
                let span = max(r.minTokens, r.minCopies * p)
                guard span <= n else { continue }
                if (n - span + p..<n).allSatisfy({ ids[$0] == ids[$0 - p] }) { return (n, p) }
            }
        }
        return nil
    }

    func testRepetitionStopAgainstDefinition() throws {
        let r = RepetitionStop(maxPeriod: 4, minCopies: 3, minTokens: 6)
        var rng = SeededRandom(seed: 12)
        var stopped = 0
        for _ in 0..<400 {
            // Random tokens with a planted loop somewhere now and then.
            var ids: [Int32] = (0..<rng.nextInt(20)).map { _ in Int32(rng.nextInt(3)) }
            if rng.nextInt(2) == 0 {
                let block = (0...rng.nextInt(5)).map { _ in Int32(rng.nextInt(4)) }
                for _ in 0..<(2 + rng.nextInt(4)) { ids += block }
            }
            ids += (0..<rng.nextInt(10)).map { _ in Int32(rng.nextInt(3)) }
            var m = try StopMatcher(StopCondition(maxTokens: 1000, repetition: r))
            var out = "", at: Int?
            for (i, t) in ids.enumerated() {
                let d = m.accept(token: t, text: "\(t)")
                out += d.text
                if let reason = d.reason {
                    guard case .repetition(let p) = reason else { return XCTFail("\(reason)") }
                    at = i + 1
                    XCTAssertEqual(SamplingTests.firstLoop(ids, r)?.period, p, "\(ids)")
                    break
                }
            }
            let want = SamplingTests.firstLoop(ids, r)
            XCTAssertEqual(at, want?.end, "\(ids)")
            // Everything up to the stop is released, the looping tokens included.
            XCTAssertEqual(out, ids.prefix(at ?? ids.count).map { "\($0)" }.joined())
            if at != nil { stopped += 1 }
        }
        XCTAssertGreaterThan(stopped, 100, "the planted loops should stop often")
        XCTAssertLessThan(stopped, 400)
        // Defaults leave text that merely repeats a short run alone: 31 tokens of "n, a" are not a loop yet.
        var d = try StopMatcher(StopCondition(repetition: RepetitionStop()))
        for i in 0..<31 { XCTAssertNil(d.accept(token: Int32(i % 2), text: "").reason) }
        XCTAssertEqual(d.accept(token: 1, text: "").reason, .repetition(period: 2))
        XCTAssertTrue(StopReason.repetition(period: 2).isCutOff && StopReason.length.isCutOff)
        XCTAssertFalse(StopReason.token(2).isCutOff || StopReason.string(index: 0).isCutOff)
        XCTAssertThrowsError(try StopMatcher(StopCondition(repetition: RepetitionStop(maxPeriod: 0))))
        XCTAssertThrowsError(try StopMatcher(StopCondition(repetition: RepetitionStop(minCopies: 1))))
    }
}
