import XCTest
@testable import Tensor
@testable import Transformer

/// Fine-tuning a model loaded from (quantised) weights: LoRA over the frozen stored base and full
/// fine-tuning, the SFT trainer's loss mask, accumulation and exact resume.
final class FineTuningTests: XCTestCase {
    /// Every test on exact activations, whatever GRM_QMM_ACT says.
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    /// Widths that every 32-block type can hold.
    static let tiny = LlamaConfig(
        vocabSize: 40, dim: 64, layers: 2, heads: 4, kvHeads: 2, ffnDim: 96,
        tiedEmbeddings: true, initStd: 0.1, contextLength: 64)

    /// A random tiny model's weights with the matrices stored as `type` (norms f32).
    static func baseWeights(_ type: DType, config: LlamaConfig = tiny, seed: UInt64 = 5) throws -> LlamaWeights {
        let w = try LlamaModel(config: config, seed: seed).inferenceWeights
        func q(_ t: Tensor) -> Tensor { t.converted(to: type) }
        return LlamaWeights(
            tokenEmbedding: q(w.tokenEmbedding),
            layers: w.layers.map { l in
                LlamaWeights.Layer(
                    attnNorm: l.attnNorm, wq: q(l.wq), wk: q(l.wk), wv: q(l.wv), wo: q(l.wo), ffnNorm: l.ffnNorm,
                    wGate: q(l.wGate), wUp: q(l.wUp), wDown: q(l.wDown))
            }, outputNorm: w.outputNorm, output: config.tiedEmbeddings ? q(w.tokenEmbedding) : q(w.output))
    }

    /// Examples whose completion is a fixed function of a random prompt: prompt tokens untrained.
    static func examples(_ count: Int, seed: UInt64) -> [SFTExample] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { i in
            let prompt = (0..<(3 + i % 4)).map { _ in Int32(2 + rng.nextInt(30)) }
            let answer = prompt.prefix(3).map { ($0 * 7 + 3) % 38 + 1 } + [Int32(39)]
            return SFTExample(
                tokens: [1] + prompt + [0] + answer,
                trainable: [Bool](repeating: false, count: prompt.count + 2) + [Bool](repeating: true, count: answer.count),
                line: i + 1)
        }
    }

    func loraModel(_ type: DType = .q8_0, rank: Int = 4, seed: UInt64 = 7, config: LlamaConfig = tiny) throws -> LlamaModel {
        try LlamaModel(
            config: config, weights: Self.baseWeights(type, config: config),
            mode: .lora(LoRASettings(rank: rank, alpha: 2 * Float(rank), seed: seed)))
    }

    func testLoRAStartsAtTheBaseAndTrainsOnlyItsFactors() throws {
        let model = try loraModel()
        XCTAssertEqual(model.parameters.count, 2 * 7 * Self.tiny.layers)
        XCTAssertTrue(model.parameters.allSatisfy { $0.name.hasSuffix(".lora_a") || $0.name.hasSuffix(".lora_b") })
        XCTAssertEqual(model.tokenEmbedding.value.dtype, .q8_0, "the base stays in its stored type")
        // B = 0: the adapted model is the base; its logits are the inference engine's on the same weights.
        let ids: [Int32] = [1, 5, 9, 2, 33, 7, 7, 12, 0, 3, 30, 21]
        let got = try Autograd.noGrad { try model.logits(ids, batch: 1, length: ids.count) }.value.scalars()
        let engine = try LlamaInference(config: Self.tiny, weights: Self.baseWeights(.q8_0))
        let want = try engine.logits(ids, allPositions: true).scalars()
        XCTAssertClose(got, want, tol: 2e-4, relative: true, mixed: true)
        // PEFT's init: A uniform within 1/sqrt(in), B zero.
        let f = model.layers[1].lora[.down]!
        XCTAssertEqual(f.a.shape, [4, 96])
        XCTAssertEqual(f.b.shape, [64, 4])
        XCTAssertTrue(f.a.value.scalars().allSatisfy { abs($0) <= 1 / Float(96).squareRoot() })
        XCTAssertTrue(f.b.value.scalars().allSatisfy { $0 == 0 })
        XCTAssertEqual(f.scale, 2)  // alpha 8 / rank 4
    }

    /// The LoRA model's gradients through every layer of a quantised base check against finite
    /// differences (A and B of one projection, with B made non-zero first).
    func testLoRAModelGradCheck() throws {
        let model = try loraModel(.q4_1, rank: 2)
        for l in model.layers {
            for (_, f) in l.lora {
                var r = SeededRandom(seed: 3)
                f.b.value = Tensor.randomNormal(f.b.shape, std: 0.2, rng: &r)
            }
        }
        let ids: [Int32] = [1, 4, 8, 15, 16, 23, 0, 9]
        let targets: [Int32] = [4, 8, -100, 16, 23, -100, 9, 2]
        let probe = model.layers[0].lora[.v]!
        let r = try GradCheck.check([probe.a, probe.b], eps: 1e-2, atol: 2e-3, rtol: 2e-2) { _ in
            try model.logits(ids, batch: 1, length: ids.count).crossEntropy(targets: targets)
        }
        XCTAssertTrue(r.passed, "\(r)")
    }

    /// Untrained (prompt) positions contribute nothing: the loss's gradient on their logits is zero.
    func testPromptPositionsGetNoGradient() throws {
        let model = try loraModel()
        let examples = Self.examples(3, seed: 1)
        let batch = SFTBatch(padding: examples)
        // The fixture's answers (4 tokens each) are exactly what trains; prompts and padding do not.
        XCTAssertEqual(batch.trainableTargets, 3 * 4)
        XCTAssertEqual(batch.targets.filter { $0 != Variable.ignoreIndex }.count, 12)
        for (r, e) in examples.enumerated() {
            let row = batch.targets[(r * batch.length)..<((r + 1) * batch.length)]
            let prompt = e.tokens.count - 4 - 1
            XCTAssertTrue(row.prefix(prompt).allSatisfy { $0 == Variable.ignoreIndex }, "row \(r)'s prompt trains")
            XCTAssertEqual(Array(row.dropFirst(prompt).prefix(4)), Array(e.tokens.suffix(4)), "row \(r)'s answer")
            XCTAssertTrue(row.dropFirst(prompt + 4).allSatisfy { $0 == Variable.ignoreIndex }, "row \(r)'s padding trains")
        }
        let logits = try Autograd.noGrad { try model.logits(batch.inputs, batch: batch.rows, length: batch.length) }
        let leaf = Variable(logits.value, requiresGrad: true)
        try leaf.crossEntropy(targets: batch.targets).backward()
        let g = leaf.grad!.scalars(), v = Self.tiny.vocabSize
        for (r, t) in batch.targets.enumerated() {
            let row = g[(r * v)..<((r + 1) * v)]
            if t == Variable.ignoreIndex {
                XCTAssertTrue(row.allSatisfy { $0 == 0 }, "row \(r) is untrained but has a gradient")
            } else {
                XCTAssertTrue(row.contains { $0 != 0 }, "row \(r) is trained but has no gradient")
            }
        }
    }

    func testLoRAOverfitsATinyChatSetOnItsCompletions() throws {
        // Embedding rows of norm ~3 (std 0.35 over 64 dims): the frozen tied head can then put
        // logit margins past 15 (at std 0.1 they top out near 6, a loss floor around 0.07).
        var config = Self.tiny
        config.initStd = 0.35
        let model = try loraModel(.q4_1, rank: 16, config: config)
        let batcher = SFTBatcher(examples: Self.examples(8, seed: 2), batchSize: 4, seed: 3)
        let trainer = try SFTTrainer(model: model, settings: SFTSettings(steps: 150, learningRate: 1e-2, warmupSteps: 5)) {
            batcher.batch(at: $0)
        }
        let before = try trainer.evaluate(SFTBatcher.sequentialBatches(batcher.examples, batchSize: 8))!
        for _ in 0..<150 { try trainer.trainStep() }
        let after = try trainer.evaluate(SFTBatcher.sequentialBatches(batcher.examples, batchSize: 8))!
        XCTAssertGreaterThan(before, 2)
        XCTAssertLessThan(after, 0.05, "completion loss \(before) -> \(after)")
        XCTAssertEqual(model.tokenEmbedding.value.dtype, .q4_1)
    }

    func testFullFineTuningTrainsEveryWeight() throws {
        let model = try LlamaModel(config: Self.tiny, weights: Self.baseWeights(.q8_0), mode: .full)
        XCTAssertEqual(model.parameters.count, model.variables.count)
        XCTAssertTrue(model.parameters.allSatisfy { $0.value.dtype == .f32 })
        let base = try Self.baseWeights(.q8_0)
        XCTAssertEqual(model.layers[0].wq.value.scalars(), base.layers[0].wq.converted(to: .f32).scalars(), "dequantised as ggml does")
        let batcher = SFTBatcher(examples: Self.examples(8, seed: 2), batchSize: 4, seed: 3)
        let trainer = try SFTTrainer(model: model, settings: SFTSettings(steps: 30, learningRate: 3e-3, warmupSteps: 3)) {
            batcher.batch(at: $0)
        }
        let first = try trainer.trainStep().loss
        for _ in 0..<29 { try trainer.trainStep() }
        let last = try trainer.evaluate(SFTBatcher.sequentialBatches(batcher.examples, batchSize: 8))!
        XCTAssertLessThan(last, first / 4)
        XCTAssertNotEqual(model.finalNorm.value.scalars(), [Float](repeating: 1, count: 64), "norms train too")
        // The written model loads for inference and gives the trained model's logits.
        let path = NSTemporaryDirectory() + "grm-full-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.writeModel(to: path, base: Self.tiny.ggufMetadata(name: "tiny"))
        let engine = try LlamaInference(path: path)
        let ids: [Int32] = [1, 3, 5, 7, 9, 0]
        XCTAssertClose(
            try engine.logits(ids, allPositions: true).scalars(),
            try Autograd.noGrad { try model.logits(ids, batch: 1, length: 6) }.value.scalars(), tol: 1e-4, mixed: true)
    }

    /// The trainer's loss reads logits only where targets count: the same loss and gradients as
    /// the full logits with the other rows ignored.
    func testCompletionLossEqualsMaskedFullLoss() throws {
        let batch = SFTBatch(padding: Self.examples(3, seed: 6))
        var losses: [Float] = [], grads: [[Float]] = []
        for picked in [false, true] {
            let model = try loraModel()
            for l in model.layers {
                for (_, f) in l.lora {
                    var r = SeededRandom(seed: 4)
                    f.b.value = Tensor.randomNormal(f.b.shape, std: 0.1, rng: &r)
                }
            }
            let loss =
                picked
                ? try SFTTrainer.completionLoss(model, batch)
                : try model.logits(batch.inputs, batch: batch.rows, length: batch.length).crossEntropy(targets: batch.targets)
            try loss.backward()
            losses.append(loss.item)
            grads.append(model.parameters.flatMap { $0.grad!.scalars() })
        }
        XCTAssertEqual(losses[0], losses[1], accuracy: 1e-5)
        XCTAssertClose(grads[0], grads[1], tol: 1e-5, mixed: true)
    }

    /// Activation checkpointing recomputes each block in the backward: the same gradients, bit
    /// for bit, for LoRA and full fine-tuning.
    func testGradientCheckpointingGivesTheSameGradients() throws {
        let batch = SFTBatch(padding: Self.examples(3, seed: 6))
        for full in [false, true] {
            var grads: [[UInt32]] = []
            for checkpointing in [false, true] {
                let model = full ? try LlamaModel(config: Self.tiny, weights: Self.baseWeights(.q8_0), mode: .full) : try loraModel()
                if !full {
                    for l in model.layers {
                        for (_, f) in l.lora {
                            var r = SeededRandom(seed: 4)
                            f.b.value = Tensor.randomNormal(f.b.shape, std: 0.1, rng: &r)
                        }
                    }
                }
                model.gradientCheckpointing = checkpointing
                // Two backward passes accumulate into the leaves' gradients (old + new).
                try model.logits(batch.inputs, batch: batch.rows, length: batch.length).crossEntropy(targets: batch.targets).backward()
                try model.logits(batch.inputs, batch: batch.rows, length: batch.length).crossEntropy(targets: batch.targets).scaled(by: 0.5)
                    .backward()
                grads.append(model.parameters.flatMap { $0.grad!.scalars().map(\.bitPattern) })
            }
            XCTAssertEqual(grads[0], grads[1], full ? "full" : "lora")
        }
    }

    /// Accumulating two micro-batches of 2 gives (up to rounding) the step of one batch of 4.
    func testAccumulationMatchesOneLargeBatch() throws {
        let ex = Self.examples(4, seed: 9)
        func run(batch: Int, accum: Int) throws -> [Float] {
            let model = try loraModel()
            let trainer = try SFTTrainer(model: model, settings: SFTSettings(steps: 3, accumulation: accum, learningRate: 1e-2, warmupSteps: 0)) {
                i in
                let k = i % (4 / batch)
                return SFTBatch(padding: Array(ex[(k * batch)..<((k + 1) * batch)]))
            }
            return try (0..<3).map { _ in try trainer.trainStep().loss }
        }
        XCTAssertClose(try run(batch: 2, accum: 2), try run(batch: 4, accum: 1), tol: 1e-4, relative: true)
    }

    /// A run stopped at step k and resumed from its checkpoint gives the uninterrupted run's
    /// losses and final factors bit for bit (LoRA and full).
    func testResumeEqualsUninterruptedBitForBit() throws {
        for mode in ["lora", "full"] {
            let batcher = SFTBatcher(examples: Self.examples(6, seed: 4), batchSize: 2, seed: 8)
            let settings = SFTSettings(steps: 6, accumulation: 2, learningRate: 5e-3, warmupSteps: 2, weightDecay: 0.01)
            func fresh() throws -> SFTTrainer {
                let model = mode == "lora" ? try loraModel() : try LlamaModel(config: Self.tiny, weights: Self.baseWeights(.q8_0), mode: .full)
                return try SFTTrainer(model: model, settings: settings) { batcher.batch(at: $0) }
            }
            let a = try fresh()
            let straight = try (0..<6).map { _ in try a.trainStep().loss }
            let path = NSTemporaryDirectory() + "grm-sft-\(UUID().uuidString).gguf"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let b = try fresh()
            var resumed = try (0..<3).map { _ in try b.trainStep().loss }
            try b.save(to: path, metadata: ["data": "x"])
            let c = try fresh()
            XCTAssertThrowsError(try c.resume(from: path, metadata: ["data": "y"])) { e in
                XCTAssertTrue("\(e)".contains("data"), "\(e)")
            }
            if mode == "lora" {
                // Another LoRA alpha changes no shape but trains another function: refused.
                let other = try SFTTrainer(
                    model: LlamaModel(config: Self.tiny, weights: Self.baseWeights(.q8_0), mode: .lora(LoRASettings(rank: 4, alpha: 4, seed: 7))),
                    settings: settings
                ) { batcher.batch(at: $0) }
                XCTAssertThrowsError(try other.resume(from: path, metadata: ["data": "x"])) { e in
                    XCTAssertTrue("\(e)".contains("lora_scales"), "\(e)")
                }
            }
            try c.resume(from: path, metadata: ["data": "x"])
            XCTAssertEqual(c.step, 3)
            resumed += try (0..<3).map { _ in try c.trainStep().loss }
            XCTAssertEqual(straight.map(\.bitPattern), resumed.map(\.bitPattern), mode)
            for (p, q) in zip(a.model.parameters, c.model.parameters) {
                XCTAssertEqual(p.value.scalars().map(\.bitPattern), q.value.scalars().map(\.bitPattern), "\(mode) \(p.name)")
            }
        }
    }

    /// `activations: .q8` rounds the frozen base's forward activations to int8 (so its losses
    /// differ from the exact run's, within the rounding), still trains, resumes bit for bit, and
    /// refuses a checkpoint of an exact run ("activations"); the process default does not leak in.
    func testInt8ForwardTrainingTrainsAndResumesExactly() throws {
        let batcher = SFTBatcher(examples: Self.examples(6, seed: 4), batchSize: 2, seed: 8)
        func fresh(_ mode: QuantMatmul.ActivationMode) throws -> SFTTrainer {
            var settings = SFTSettings(steps: 8, learningRate: 2e-2, warmupSteps: 0)
            settings.activations = mode
            return try SFTTrainer(model: loraModel(), settings: settings) { batcher.batch(at: $0) }
        }
        let exact = try fresh(.exact)
        let exactLosses = try (0..<8).map { _ in try exact.trainStep().loss }
        let a = try fresh(.q8)
        let straight = try (0..<8).map { _ in try a.trainStep().loss }
        XCTAssertLessThan(straight.suffix(2).reduce(0, +), straight.prefix(2).reduce(0, +) * 0.8, "q8 training learns: \(straight)")
        XCTAssertEqual(straight[0], exactLosses[0], accuracy: 0.02 * exactLosses[0], "int8 rounding moves the first loss only a little")
        if QuantMatmul.hasQ8Kernel(.q8_0) {
            XCTAssertNotEqual(straight[0].bitPattern, exactLosses[0].bitPattern, "the int8 kernels ran")
        }
        // The process-wide default does not change a run's forward.
        let b = try EngineSettings.with({ $0.activations = .q8 }) { () throws -> SFTTrainer in
            let t = try fresh(.exact)
            XCTAssertEqual(try t.trainStep().loss.bitPattern, exactLosses[0].bitPattern)
            return t
        }
        let path = NSTemporaryDirectory() + "grm-sft-q8-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try b.save(to: path)
        XCTAssertThrowsError(try fresh(.q8).resume(from: path)) { e in XCTAssertTrue("\(e)".contains("activations"), "\(e)") }
        let c = try fresh(.q8)
        var resumed = try (0..<4).map { _ in try c.trainStep().loss }
        try c.save(to: path)
        let d = try fresh(.q8)
        try d.resume(from: path)
        resumed += try (0..<4).map { _ in try d.trainStep().loss }
        XCTAssertEqual(straight.map(\.bitPattern), resumed.map(\.bitPattern))
    }
}

/// |a - b| <= tol * max(1, |b|) element-wise (or absolute without `mixed`/`relative`).
private func XCTAssertClose(
    _ a: [Float], _ b: [Float], tol: Float, relative: Bool = false, mixed: Bool = false,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, "lengths differ", file: file, line: line)
    var worst: Float = 0, at = -1
    for (i, (x, y)) in zip(a, b).enumerated() {
        let scale: Float = mixed ? Swift.max(1, abs(y)) : (relative ? Swift.max(abs(y), 1e-6) : 1)
        let e = abs(x - y) / scale
        if !(e <= worst) {
            worst = e
            at = i
        }
    }
    XCTAssertTrue(worst <= tol, "worst error \(worst) at \(at): \(at >= 0 ? "\(a[at]) vs \(b[at])" : "")", file: file, line: line)
}
