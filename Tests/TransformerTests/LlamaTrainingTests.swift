import Foundation
import XCTest
import Tensor
@testable import Transformer

final class LlamaTrainingTests: XCTestCase {
    /// The whole decoder's loss gradient, every parameter (tied embedding included), against
    /// finite differences on a tiny configuration.
    func testWholeModelGradientCheck() throws {
        for tied in [true, false] {
            let config = LlamaConfig(
                vocabSize: 7, dim: 8, layers: 2, heads: 2, kvHeads: 1, ffnDim: 12,
                tiedEmbeddings: tied, initStd: 0.5)
            let model = try LlamaModel(config: config, seed: 3)
            let ids: [Int32] = [1, 4, 6, 0, 2, 2]
            let targets: [Int32] = [4, -100, 0, 2, 2, 5]
            let r = try GradCheck.check(model.parameters, eps: 1e-2, atol: 2e-3, rtol: 2e-2) { _ in
                try model.logits(ids, batch: 2, length: 3).crossEntropy(targets: targets)
            }
            XCTAssertTrue(r.passed, "tied \(tied): \(r)")
            XCTAssertEqual(r.checked, config.parameterCount)
        }
    }

    /// From scratch, 2 layers of width 64 learn to reverse 6-digit strings: the loss falls below
    /// 0.05 within 800 steps and held-out strings are then reversed correctly.
    func testReverseDigitsFromScratch() throws {
        let steps = 800
        let trainer = try ToyTrainer(
            task: DigitTask(kind: .reverse, digits: 6), config: ToyTrainer.defaultConfig(),
            batchSize: 32, schedule: LRSchedule(peak: 3e-3, warmupSteps: 50, totalSteps: steps, minimum: 3e-4),
            seed: 1)
        var losses: [Float] = []
        let start = Date()
        for _ in 0..<steps { losses.append(try trainer.trainStep()) }
        let last = losses.suffix(20).reduce(0, +) / 20
        print("reverse: first loss \(losses[0]), mean of last 20 \(last), \(Date().timeIntervalSince(start)) s")
        XCTAssertGreaterThan(losses[0], 2)
        XCTAssertLessThan(last, 0.05)
        let (seqs, digits) = try trainer.evaluate(count: 200)
        print("reverse held-out: \(seqs) of strings, \(digits) of digits")
        XCTAssertGreaterThanOrEqual(seqs, 0.95)
    }

    /// Training 6 steps straight equals 3 steps, a checkpoint, a fresh trainer resumed from it, 3 more.
    func testToyResumeIsExact() throws {
        func make(seed: UInt64 = 7) throws -> ToyTrainer {
            try ToyTrainer(
                task: DigitTask(kind: .copy, digits: 4), config: ToyTrainer.defaultConfig(layers: 1, dim: 32),
                batchSize: 8, schedule: LRSchedule(peak: 1e-2, warmupSteps: 2, totalSteps: 6), seed: seed)
        }
        let straight = try make()
        let all = try (0..<6).map { _ in try straight.trainStep() }
        let a = try make()
        let first = try (0..<3).map { _ in try a.trainStep() }
        let path = NSTemporaryDirectory() + "grm-toy-resume-\(getpid()).ckpt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.save(to: path)
        let b = try make()
        try b.resume(from: path)
        XCTAssertEqual(b.step, 3)
        let rest = try (0..<3).map { _ in try b.trainStep() }
        XCTAssertEqual((first + rest).map(\.bitPattern), all.map(\.bitPattern))
        XCTAssertEqual(b.model.parameters.map { $0.value.scalars() }, straight.model.parameters.map { $0.value.scalars() })
    }

    func testSameSeedSameModel() throws {
        let c = ToyTrainer.defaultConfig()
        let a = try LlamaModel(config: c, seed: 5), b = try LlamaModel(config: c, seed: 5), d = try LlamaModel(config: c, seed: 6)
        XCTAssertEqual(a.parameters.map { $0.value.scalars() }, b.parameters.map { $0.value.scalars() })
        XCTAssertNotEqual(a.parameters[2].value.scalars(), d.parameters[2].value.scalars())
        XCTAssertEqual(a.parameters.map(\.count).reduce(0, +), c.parameterCount)
    }
}

extension LlamaTrainingTests {
    /// Training steps give bit-identical losses and weights with 1, 2 and 3 threads.
    func testTrainingIsThreadCountIndependent() throws {
        func run(threads: Int) throws -> ([Float], [Float]) {
            try EngineSettings.with({ $0.threads = threads }) {
                let t = try ToyTrainer(
                    task: DigitTask(kind: .reverse, digits: 5), config: ToyTrainer.defaultConfig(layers: 2, dim: 64),
                    batchSize: 16, schedule: LRSchedule(peak: 3e-3, warmupSteps: 1, totalSteps: 3), seed: 11)
                let losses = try (0..<3).map { _ in try t.trainStep() }
                return (losses, t.model.parameters.flatMap { $0.value.scalars() })
            }
        }
        let one = try run(threads: 1)
        for n in [2, 3] {
            let other = try run(threads: n)
            XCTAssertEqual(one.0.map(\.bitPattern), other.0.map(\.bitPattern), "losses, \(n) threads")
            XCTAssertTrue(one.1.map(\.bitPattern) == other.1.map(\.bitPattern), "weights, \(n) threads")
        }
    }
}
