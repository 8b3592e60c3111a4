import Foundation
import XCTest
@testable import Tensor

/// Optimisers, clipping, schedules, freezing and gradient accumulation against hand-computed steps.
final class OptimTests: XCTestCase {
    func param(_ values: [Float], _ name: String = "p") -> Variable {
        Variable(try! Tensor(shape: [values.count], scalars: values), requiresGrad: true, name: name)
    }

    func testAdamWFirstStepsByHand() throws {
        let p = param([1, -2])
        let opt = AdamW(parameters: [p], learningRate: 0.1, weightDecay: 0.1)
        // With a constant gradient, bias-corrected m/sqrt(v) is sign(g): each step is
        // p <- p (1 - lr wd) - lr sign(g).
        p.grad = try Tensor(shape: [2], scalars: [0.5, -1])
        try opt.step()
        XCTAssertClose(p.value.scalars(), [0.89, -1.88], tol: 1e-6)
        try opt.step()
        XCTAssertClose(p.value.scalars(), [0.89 * 0.99 - 0.1, -1.88 * 0.99 + 0.1], tol: 1e-6)
    }

    func testAdamWAgainstDoubleReference() throws {
        let p = param([0.3, -0.7, 1.2])
        let opt = AdamW(parameters: [p], learningRate: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.05)
        var ref: [Double] = [0.3, -0.7, 1.2], m = [Double](repeating: 0, count: 3), v = m
        let grads: [[Float]] = [[0.1, -0.4, 2], [-0.3, 0.2, 1.5], [0.05, 0, -1]]
        for (t, g) in grads.enumerated() {
            p.grad = try Tensor(shape: [3], scalars: g)
            try opt.step()
            for i in 0..<3 {
                ref[i] *= 1 - 0.01 * 0.05
                m[i] = 0.8 * m[i] + 0.2 * Double(g[i])
                v[i] = 0.95 * v[i] + 0.05 * Double(g[i]) * Double(g[i])
                let mh = m[i] / (1 - pow(0.8, Double(t + 1))), vh = v[i] / (1 - pow(0.95, Double(t + 1)))
                ref[i] -= 0.01 * mh / (vh.squareRoot() + 1e-6)
            }
            XCTAssertClose(p.value.scalars(), ref.map(Float.init), tol: 1e-6, "step \(t)")
        }
    }

    func testSGDMomentumByHand() throws {
        let p = param([1])
        let opt = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9)
        for expected: Float in [0.9, 0.71, 0.439] {
            p.grad = Tensor(shape: [1], repeating: 1)
            try opt.step()
            XCTAssertEqual(p.value.scalars()[0], expected, accuracy: 1e-6)
        }
        let plain = param([2])
        let sgd = SGD(parameters: [plain], learningRate: 0.5, weightDecay: 0.1)
        plain.grad = Tensor(shape: [1], repeating: 1)
        try sgd.step()
        XCTAssertEqual(plain.value.scalars()[0], 2 - 0.5 * (1 + 0.2), accuracy: 1e-6)
    }

    func testClipByGlobalNorm() throws {
        let a = param([0, 0]), b = param([0])
        a.grad = try Tensor(shape: [2], scalars: [3, 4])
        b.grad = try Tensor(shape: [1], scalars: [12])
        XCTAssertEqual(Gradients.globalNorm([a, b]), 13, accuracy: 1e-5)
        let before = try Gradients.clipByGlobalNorm([a, b], maxNorm: 6.5)
        XCTAssertEqual(before, 13, accuracy: 1e-5)
        XCTAssertClose(a.grad!.scalars(), [1.5, 2], tol: 1e-5)
        XCTAssertClose(b.grad!.scalars(), [6], tol: 1e-5)
        // Below the limit nothing changes.
        try Gradients.clipByGlobalNorm([a, b], maxNorm: 100)
        XCTAssertClose(b.grad!.scalars(), [6], tol: 1e-5)
    }

    func testLRSchedules() {
        let cos = LRSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, minimum: 0.1, decay: .cosine)
        XCTAssertEqual(cos.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 4), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 60), 0.55, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 35), 0.1 + 0.9 * Float(0.5 * (1 + Foundation.cos(Double.pi / 4))), accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 110), 0.1, accuracy: 1e-6)
        XCTAssertEqual(cos.rate(at: 500), 0.1, accuracy: 1e-6)
        let lin = LRSchedule(peak: 2, warmupSteps: 0, totalSteps: 100, minimum: 0, decay: .linear)
        XCTAssertEqual(lin.rate(at: 0), 2, accuracy: 1e-6)
        XCTAssertEqual(lin.rate(at: 25), 1.5, accuracy: 1e-6)
        XCTAssertEqual(lin.rate(at: 100), 0, accuracy: 1e-6)
    }

    func testFrozenParametersDoNotMove() throws {
        let a = param([1, 2], "a"), b = param([3], "b")
        b.requiresGrad = false
        let opt = AdamW(parameters: [a, b], learningRate: 0.1)
        let loss = try (a.sum() + b.sum()).scaled(by: 2)
        try loss.backward()
        XCTAssertNil(b.grad)
        try opt.step()
        XCTAssertEqual(b.value.scalars(), [3])
        XCTAssertNotEqual(a.value.scalars(), [1, 2])
        XCTAssertEqual(opt.steps, [1, 0])
    }

    /// Two half-batches with the loss halved accumulate the same gradient as the full batch.
    func testGradientAccumulationMatchesFullBatch() throws {
        let w = Variable(randomTensor([5, 3], seed: 1), requiresGrad: true, name: "w")
        let x = randomTensor([8, 5], seed: 2)
        let targets: [Int32] = [0, 2, 1, 1, 0, 2, 2, 0]
        try Variable(x).matmul(w).crossEntropy(targets: targets).backward()
        let full = w.grad!.scalars()
        w.grad = nil
        for half in 0..<2 {
            let xs = Variable(try x.sliced(axis: 0, (half * 4)..<(half * 4 + 4)))
            try xs.matmul(w).crossEntropy(targets: Array(targets[(half * 4)..<(half * 4 + 4)])).scaled(by: 0.5).backward()
        }
        XCTAssertClose(w.grad!.scalars(), full, tol: 1e-6, mixed: true)
    }

    // MARK: Checkpoints (in memory; the GGUF file format is tested in TransformerTests)

    /// Collecting a checkpoint from parameters and AdamW and restoring it into fresh ones gives the
    /// same values and the same next update; bad names and shapes are refused, naming the parameter.
    func testCheckpointCollectsAndRestores() throws {
        func make(seed: UInt64) -> [Variable] {
            [
                Variable(randomTensor([3, 5], seed: seed), requiresGrad: true, name: "w"),
                Variable(randomTensor([5], seed: seed + 1), requiresGrad: true, name: "b")
            ]
        }
        func step(_ p: [Variable], _ opt: AdamW) throws {
            let y = try Variable(randomTensor([2, 3], seed: 9)).matmul(p[0]) + p[1]
            try (y * y).sum().backward()
            try opt.step()
            opt.zeroGrad()
        }
        let p = make(seed: 1), opt = AdamW(parameters: p, weightDecay: 0.1)
        try step(p, opt)
        let ck = try Checkpoint(step: 1, parameters: p, optimizer: opt, counters: ["tokens": 6], metadata: ["k": "v"])
        XCTAssertEqual(Set(ck.parameters.keys), ["w", "b"])
        XCTAssertEqual(Set(ck.optimizerTensors.keys), ["adamw.m.0", "adamw.v.0", "adamw.m.1", "adamw.v.1"])
        XCTAssertEqual(ck.optimizerCounters, ["adamw.step.0": 1, "adamw.step.1": 1])
        XCTAssertEqual(ck.counters, ["tokens": 6])

        let q = make(seed: 50), opt2 = AdamW(parameters: q, weightDecay: 0.1)
        try ck.restore(parameters: q, optimizer: opt2)
        XCTAssertEqual(q.map { $0.value.scalars() }, p.map { $0.value.scalars() })
        try step(p, opt)
        try step(q, opt2)
        XCTAssertEqual(q.map { $0.value.scalars().map(\.bitPattern) }, p.map { $0.value.scalars().map(\.bitPattern) })

        let unnamed = Variable(Tensor(zeros: [2]), requiresGrad: true)
        XCTAssertThrowsError(try Checkpoint(step: 0, parameters: [unnamed], optimizer: nil)) { XCTAssertTrue("\($0)".contains("no name"), "\($0)") }
        XCTAssertThrowsError(try Checkpoint(step: 0, parameters: [p[0], p[0]], optimizer: nil)) {
            XCTAssertTrue("\($0)".contains("duplicate"), "\($0)")
        }
        let wrong = [Variable(Tensor(zeros: [5, 3]), requiresGrad: true, name: "w"), q[1]]
        XCTAssertThrowsError(try ck.restore(parameters: wrong, optimizer: nil)) { XCTAssertTrue("\($0)".contains("\"w\""), "\($0)") }
        let extra = [Variable(Tensor(zeros: [1]), requiresGrad: true, name: "new")]
        XCTAssertThrowsError(try ck.restore(parameters: extra, optimizer: nil)) {
            XCTAssertTrue("\($0)".contains("no saved parameter \"new\""), "\($0)")
        }
    }

    func testSeededInitIsDeterministic() {
        var a = SeededRandom(seed: 7), b = SeededRandom(seed: 7), c = SeededRandom(seed: 8)
        let x = Tensor.randomNormal([100], std: 0.02, rng: &a)
        XCTAssertEqual(x.scalars(), Tensor.randomNormal([100], std: 0.02, rng: &b).scalars())
        XCTAssertNotEqual(x.scalars(), Tensor.randomNormal([100], std: 0.02, rng: &c).scalars())
        let v = x.scalars().map(Double.init)
        let mean = v.reduce(0, +) / 100, sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 100).squareRoot()
        XCTAssertEqual(sd, 0.02, accuracy: 0.005)
    }
}
