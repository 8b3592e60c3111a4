import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// Training checkpoints as GGUF: round trips, atomic writes, errors, exact resumption, and a
/// checkpoint of a `LlamaModel` loading as a model.
final class CheckpointTests: XCTestCase {
    /// A checkpoint with odd shapes (rank 0 to 4), optimiser state, counters and metadata.
    func sample(step: Int = 42) -> Checkpoint {
        Checkpoint(
            step: step,
            parameters: [
                "a": randomTensor([3, 5], seed: 3), "scalar": Tensor(7), "blk.10.w": randomTensor([1], seed: 4),
                "blk.2.w": randomTensor([2, 3, 5, 7], seed: 5), "v": randomTensor([13], seed: 6)
            ],
            optimizerTensors: ["adamw.m.0": randomTensor([3, 5], seed: 7), "adamw.v.0": randomTensor([3, 5], seed: 8)],
            optimizerCounters: ["adamw.step.0": 3, "adamw.step.1": 0],
            counters: ["tokens": 1 << 40, "negative": -5], metadata: ["note": "héllo ✓", "empty": ""])
    }

    func assertSame(_ a: Checkpoint, _ b: Checkpoint, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.step, b.step, file: file, line: line)
        XCTAssertEqual(a.counters, b.counters, file: file, line: line)
        XCTAssertEqual(a.metadata, b.metadata, file: file, line: line)
        XCTAssertEqual(a.optimizerCounters, b.optimizerCounters, file: file, line: line)
        for (x, y) in [(a.parameters, b.parameters), (a.optimizerTensors, b.optimizerTensors)] {
            XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
            for (name, t) in x {
                XCTAssertEqual(t.shape, y[name]?.shape, name, file: file, line: line)
                XCTAssertEqual(t.dtype, .f32, name, file: file, line: line)
                XCTAssertEqual(rawBytes(t), y[name].map(rawBytes), name, file: file, line: line)
            }
        }
    }

    func testRoundTripOddShapesCountersAndMetadata() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ck.gguf", ck = sample()
        try ck.write(gguf: path)
        let back = try Checkpoint(gguf: path)
        assertSame(back, ck)
        XCTAssertEqual(back.parameters["scalar"]!.shape, [])
        XCTAssertEqual(back.parameters["blk.2.w"]!.shape, [2, 3, 5, 7])

        // The layout: parameters under their names (digits in numeric order), optimiser state under
        // grm.optim., everything else as grm.checkpoint.* metadata.
        let file = try GGUFFile(path: path)
        XCTAssertEqual(
            file.tensors.map(\.name),
            [
                "a", "blk.2.w", "blk.10.w", "scalar", "v",
                "grm.optim.adamw.m.0", "grm.optim.adamw.v.0"
            ])
        XCTAssertEqual(file.info("blk.2.w")!.dims, [7, 5, 3, 2])
        XCTAssertEqual(
            file.metadata.keys,
            [
                "general.name", "grm.checkpoint.version", "grm.checkpoint.step",
                "grm.checkpoint.optim.adamw.step.0", "grm.checkpoint.optim.adamw.step.1",
                "grm.checkpoint.counter.negative", "grm.checkpoint.counter.tokens",
                "grm.checkpoint.meta.empty", "grm.checkpoint.meta.note"
            ])
        XCTAssertEqual(file.metadata["grm.checkpoint.step"], .int64(42))
        XCTAssertEqual(file.metadata["grm.checkpoint.version"], .uint32(1))

        // The tensors read are fresh copies: writable, and unchanged when the file is replaced.
        let a = back.parameters["a"]!
        a.floatPointer[0] = 123
        var next = sample(step: 43)
        next.parameters["a"] = Tensor(shape: [3, 5], repeating: -1)
        try next.write(gguf: path)
        XCTAssertEqual(a.scalars()[0], 123)
        XCTAssertEqual(Array(a.scalars().dropFirst()), Array(ck.parameters["a"]!.scalars().dropFirst()))
        XCTAssertEqual(try Checkpoint(gguf: path).parameters["a"]!.scalars(), [Float](repeating: -1, count: 15))

        // An empty checkpoint (no tensors) round-trips too.
        try Checkpoint(step: 0).write(gguf: path)
        assertSame(try Checkpoint(gguf: path), Checkpoint(step: 0))
    }

    /// Overwriting replaces the file whole and leaves no temporary file; a write that fails
    /// (before or while writing) leaves the previous checkpoint as it was.
    func testAtomicOverwriteLeavesNoTemporaryFiles() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ck.gguf"
        try sample(step: 1).write(gguf: path)
        try sample(step: 2).write(gguf: path)
        XCTAssertEqual(try Checkpoint(gguf: path).step, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["ck.gguf"])
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        var bad = sample(step: 3)
        bad.parameters["empty"] = Tensor(zeros: [0, 4])
        XCTAssertThrowsError(try bad.write(gguf: path)) { error in
            let e = error as? CheckpointError
            XCTAssertEqual(e?.kind, .badTensor)
            XCTAssertEqual(e?.gguf?.tensor, "empty")
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("no elements"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["ck.gguf"])

        // A directory where the file should go: rename fails after the data is written.
        try FileManager.default.createDirectory(atPath: dir + "/sub.gguf/x", withIntermediateDirectories: true)
        XCTAssertThrowsError(try sample().write(gguf: dir + "/sub.gguf")) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .file)
            XCTAssertTrue("\(error)".contains("rename"), "\(error)")
        }
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["ck.gguf", "sub.gguf"])
        XCTAssertThrowsError(try sample().write(gguf: dir + "/no/such/dir/ck.gguf")) { error in
            XCTAssertEqual((error as? CheckpointError)?.kind, .file)
        }
    }

    /// Names that are reserved, too long for ggml, empty, and non-f32 tensors are refused by name.
    func testRefusesUnwritableTensors() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ck.gguf"
        func refuses(_ ck: Checkpoint, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try ck.write(gguf: path), line: line) { error in
                XCTAssertEqual((error as? CheckpointError)?.kind, .badTensor, line: line)
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        refuses(Checkpoint(step: 0, parameters: ["grm.optim.x": Tensor(1)]), "reserved prefix")
        refuses(Checkpoint(step: 0, parameters: ["grm.other": Tensor(1)]), "'grm.other'")
        refuses(Checkpoint(step: 0, parameters: ["": Tensor(1)]), "empty name")
        let long = String(repeating: "p", count: 64)
        refuses(Checkpoint(step: 0, parameters: [long: Tensor(1)]), "'\(long)'")
        refuses(Checkpoint(step: 0, optimizerTensors: [String(repeating: "k", count: 54): Tensor(1)]), "64 bytes")
        refuses(Checkpoint(step: 0, parameters: ["h": Tensor(1).converted(to: .f16)]), "'h' is f16")
        XCTAssertThrowsError(try Checkpoint(step: -1).write(gguf: path)) {
            XCTAssertEqual(($0 as? CheckpointError)?.kind, .badMetadata)
            XCTAssertTrue("\($0)".contains("step -1 is negative"), "\($0)")
        }
        // The longest names ggml reads are fine.
        let ok = Checkpoint(
            step: 0, parameters: [String(repeating: "p", count: 63): Tensor(1)],
            optimizerTensors: [String(repeating: "k", count: 53): Tensor(2)])
        try ok.write(gguf: path)
        assertSame(try Checkpoint(gguf: path), ok)
    }

    /// A missing, truncated, non-checkpoint or damaged file gives an error naming the file and the
    /// problem (never a crash).
    func testReadErrors() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func fails(_ path: String, _ kind: CheckpointError.Kind, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try Checkpoint(gguf: path), line: line) { error in
                XCTAssertEqual((error as? CheckpointError)?.kind, kind, "\(error)", line: line)
                XCTAssertTrue("\(error)".contains(path), "\(error)", line: line)
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        fails(dir + "/missing.gguf", .file, "No such file")

        let path = dir + "/ck.gguf"
        try sample().write(gguf: path)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let dataEnd = try GGUFFile(path: path).tensors.map { $0.fileOffset + $0.byteCount }.max()!
        let cut = dir + "/cut.gguf"
        for length in [0, 3, 10, 100, bytes.count / 2, dataEnd - 1] {
            try Data(bytes.prefix(length)).write(to: URL(fileURLWithPath: cut))
            XCTAssertThrowsError(try Checkpoint(gguf: cut), "cut at \(length)") { error in
                XCTAssertEqual((error as? CheckpointError)?.kind, .file, "\(error)")
                XCTAssertNotNil((error as? CheckpointError)?.gguf, "\(error)")
            }
        }
        try Data("not a gguf file at all".utf8).write(to: URL(fileURLWithPath: cut))
        fails(cut, .file, "not a GGUF file")

        func writeGGUF(_ meta: [(String, GGUFValue)], _ tensors: [(String, Tensor)]) throws -> String {
            var w = GGUFWriter(metadata: GGUFMetadata(meta))
            for (n, t) in tensors { try w.add(n, t) }
            let p = dir + "/other.gguf"
            try w.write(to: p)
            return p
        }
        let ckMeta: [(String, GGUFValue)] = [("grm.checkpoint.version", .uint32(1)), ("grm.checkpoint.step", .int64(5))]
        fails(
            try writeGGUF([("general.architecture", .string("llama"))], [("token_embd.weight", randomTensor([4, 8], seed: 1))]),
            .notACheckpoint, "not a swift-grm checkpoint")
        fails(try writeGGUF(ckMeta, [("w", randomTensor([32], seed: 1).converted(to: .f16))]), .badTensor, "'w' is f16")
        fails(try writeGGUF(ckMeta, [("w", try randomTensor([2, 32], seed: 1).quantized(to: .q8_0))]), .badTensor, "'w' is q8_0")
        fails(try writeGGUF(ckMeta, [("grm.mystery", Tensor(1))]), .badTensor, "unknown reserved tensor 'grm.mystery'")
        fails(
            try writeGGUF([("grm.checkpoint.version", .uint32(2)), ("grm.checkpoint.step", .int64(5))], []),
            .unsupportedVersion, "version 2")
        fails(try writeGGUF([("grm.checkpoint.step", .int64(5))], []), .badMetadata, "version is missing")
        fails(try writeGGUF([("grm.checkpoint.version", .uint32(1)), ("grm.checkpoint.step", .int64(-1))], []), .badMetadata, "step")
        fails(try writeGGUF([("grm.checkpoint.version", .uint32(1)), ("grm.checkpoint.step", .string("5"))], []), .badMetadata, "step")
        fails(try writeGGUF(ckMeta + [("grm.checkpoint.counter.n", .string("x"))], []), .badMetadata, "counter.n")
        fails(try writeGGUF(ckMeta + [("grm.checkpoint.meta.k", .int32(1))], []), .badMetadata, "meta.k")
        fails(try writeGGUF(ckMeta + [("grm.checkpoint.surprise", .int32(1))], []), .badMetadata, "unknown checkpoint metadata key")
    }

    /// A small MLP regression trained 8 steps straight, and 4 + save + restore into fresh objects + 4:
    /// the losses after resuming are bit-identical.
    func testResumeContinuesExactly() throws {
        func makeParams(seed: UInt64) -> [Variable] {
            var rng = SeededRandom(seed: seed)
            return [
                Variable(Tensor.randomNormal([6, 16], std: 0.3, rng: &rng), requiresGrad: true, name: "w1"),
                Variable(Tensor(zeros: [16]), requiresGrad: true, name: "b1"),
                Variable(Tensor.randomNormal([16, 4], std: 0.3, rng: &rng), requiresGrad: true, name: "w2")
            ]
        }
        func batch(_ step: Int) -> (Tensor, [Int32]) {
            var rng = SeededRandom(seed: 1000 + UInt64(step))
            let x = Tensor.randomNormal([10, 6], rng: &rng)
            // Learnable labels: the index of the largest of the first four features.
            let labels = try! x.sliced(axis: 1, 0..<4).argmax().int32s()
            return (x, labels)
        }
        func train(_ p: [Variable], _ opt: Optimizer, steps: Range<Int>) throws -> [Float] {
            let schedule = LRSchedule(peak: 0.05, warmupSteps: 2, totalSteps: 8)
            return try steps.map { s in
                let (x, y) = batch(s)
                opt.learningRate = schedule.rate(at: s)
                let h = try (Variable(x).matmul(p[0]) + p[1]).silu()
                let loss = try h.matmul(p[2]).crossEntropy(targets: y)
                try loss.backward()
                try Gradients.clipByGlobalNorm(p, maxNorm: 1)
                try opt.step()
                opt.zeroGrad()
                return loss.item
            }
        }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/resume.gguf"
        for useSGD in [false, true] {
            func optimizer(_ p: [Variable]) -> Optimizer {
                useSGD ? SGD(parameters: p, learningRate: 0.05, momentum: 0.9) : AdamW(parameters: p, weightDecay: 0.1)
            }
            let p = makeParams(seed: 5)
            let straight = try train(p, optimizer(p), steps: 0..<8)
            XCTAssertLessThan(straight[6] + straight[7], straight[0] + straight[1])

            let q = makeParams(seed: 5)
            let opt = optimizer(q)
            let first = try train(q, opt, steps: 0..<4)
            try Checkpoint(step: 4, parameters: q, optimizer: opt).write(gguf: path)

            let r = makeParams(seed: 99)  // different init: everything must come from the file
            let opt2 = optimizer(r)
            let loaded = try Checkpoint(gguf: path)
            try loaded.restore(parameters: r, optimizer: opt2)
            let rest = try train(r, opt2, steps: loaded.step..<8)
            XCTAssertEqual((first + rest).map(\.bitPattern), straight.map(\.bitPattern), useSGD ? "SGD" : "AdamW")
        }
    }

    /// `Checkpoint.resume` checks the run's identity key by key: a key the checkpoint lacks is
    /// refused unless `absentMeans` gives it the value the run has (a setting added later whose
    /// old behaviour is that value); a saved key always wins over `absentMeans`.
    func testResumeIdentityAndKeysAddedLater() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ck.gguf"
        var rng = SeededRandom(seed: 7)
        let p = [Variable(Tensor.randomNormal([3, 5], rng: &rng), requiresGrad: true, name: "w")]
        let opt = AdamW(parameters: p)
        try Checkpoint.save(to: path, step: 3, parameters: p, optimizer: opt, identity: ["run.lr": "0.1"])
        func resume(_ identity: [String: String], absentMeans: [String: String] = [:]) throws -> Int {
            try Checkpoint.resume(
                from: path, identity: identity, absentMeans: absentMeans, parameters: p, optimizer: opt, steps: 10)
        }
        XCTAssertEqual(try resume(["run.lr": "0.1"]), 3)
        XCTAssertThrowsError(try resume(["run.lr": "0.2"])) { XCTAssertTrue("\($0)".contains("run.lr = 0.1")) }
        XCTAssertThrowsError(try resume(["run.lr": "0.1", "run.mode": "exact"])) {
            XCTAssertTrue("\($0)".contains("no run.mode"), "\($0)")
        }
        XCTAssertEqual(try resume(["run.lr": "0.1", "run.mode": "exact"], absentMeans: ["run.mode": "exact"]), 3)
        XCTAssertThrowsError(try resume(["run.lr": "0.1", "run.mode": "q8"], absentMeans: ["run.mode": "exact"])) {
            XCTAssertTrue("\($0)".contains("run.mode = exact, this run has q8"), "\($0)")
        }
        XCTAssertThrowsError(try resume(["run.lr": "0.2"], absentMeans: ["run.lr": "0.2"]))
    }

    /// A LlamaModel trained a few steps with AdamW and saved: (a) the file loads as a model whose
    /// logits equal the training model's; (b) restored into a fresh model and optimiser, training
    /// continues with the losses of an uninterrupted run, bit for bit.
    func testLlamaCheckpointLoadsAsModelAndResumesExactly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for tied in [false, true] {
            let config = LlamaConfig(
                vocabSize: 29, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 48, ropeBase: 10_000,
                normEps: 1e-5, tiedEmbeddings: tied, initStd: 0.1, contextLength: 64)
            func make(seed: UInt64) throws -> (LlamaModel, AdamW) {
                let m = try LlamaModel(config: config, seed: seed)
                return (m, AdamW(parameters: m.parameters, learningRate: 3e-3, weightDecay: 0.01, noDecay: m.normParameterIndices))
            }
            func train(_ m: LlamaModel, _ opt: AdamW, steps: Range<Int>) throws -> [Float] {
                try steps.map { s in
                    var rng = SeededRandom(seed: 77 + UInt64(s))
                    let ids = (0..<2 * 9).map { _ in Int32(rng.nextInt(config.vocabSize)) }
                    let targets = Array(ids.dropFirst()) + [0]
                    let loss = try m.logits(ids, batch: 2, length: 9).crossEntropy(targets: targets)
                    try loss.backward()
                    try Gradients.clipByGlobalNorm(m.parameters, maxNorm: 1)
                    try opt.step()
                    opt.zeroGrad()
                    return loss.item
                }
            }
            let (straight, straightOpt) = try make(seed: 11)
            let all = try train(straight, straightOpt, steps: 0..<6)

            let (model, opt) = try make(seed: 11)
            let first = try train(model, opt, steps: 0..<3)
            let path = dir + "/llama-\(tied).gguf"
            try Checkpoint(step: 3, parameters: model.parameters, optimizer: opt, metadata: ["run": "test"])
                .write(gguf: path, model: config, name: "tiny test model")

            // (a) A loadable model: same config, same logits as the training model.
            let file = try GGUFFile(path: path)
            XCTAssertEqual(file.metadata.string("general.name"), "tiny test model")
            XCTAssertEqual(file.info("output.weight") == nil, tied)
            let engine = try LlamaInference(gguf: file)
            XCTAssertEqual(engine.config, config.with(initStd: engine.config.initStd))
            let ids: [Int32] = [3, 14, 15, 9, 26, 5, 28, 0]
            let want = try Autograd.noGrad { try model.logits(ids, batch: 1, length: ids.count).value }.scalars()
            let got = try engine.logits(ids, allPositions: true).scalars()
            XCTAssertEqual(got.count, want.count)
            let worst = zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-4, "tied \(tied)")

            // (b) Exact resumption into a differently initialised model.
            let (fresh, freshOpt) = try make(seed: 999)
            let ck = try Checkpoint(gguf: path)
            XCTAssertEqual(ck.metadata, ["run": "test"])
            try ck.restore(parameters: fresh.parameters, optimizer: freshOpt)
            let rest = try train(fresh, freshOpt, steps: ck.step..<6)
            XCTAssertEqual((first + rest).map(\.bitPattern), all.map(\.bitPattern), "tied \(tied)")
            XCTAssertEqual(fresh.parameters.map { $0.value.scalars() }, straight.parameters.map { $0.value.scalars() })

            // Saving with a config the parameters do not fit, or that GGUF cannot describe, is refused.
            var halves = config
            halves.ropeLayout = .halves
            XCTAssertThrowsError(try Checkpoint(step: 3, parameters: model.parameters, optimizer: nil).write(gguf: path, model: halves)) {
                XCTAssertEqual(($0 as? CheckpointError)?.kind, .badMetadata)
                XCTAssertTrue("\($0)".contains("adjacent pairs"), "\($0)")
            }
            var wrong = config
            wrong.ffnDim = 40
            XCTAssertThrowsError(try Checkpoint(step: 3, parameters: model.parameters, optimizer: nil).write(gguf: path, model: wrong)) {
                XCTAssertEqual(($0 as? CheckpointError)?.kind, .badTensor)
                XCTAssertTrue("\($0)".contains("ffn_gate.weight"), "\($0)")
            }
        }
    }

    /// `LlamaConfig.ggufMetadata` is the inverse of `LlamaConfig(gguf:)`.
    func testConfigMetadataRoundTrip() throws {
        let base = LlamaConfig(
            vocabSize: 50, dim: 24, layers: 3, heads: 6, kvHeads: 3, ffnDim: 40, ropeBase: 500_000,
            normEps: 1e-6, tiedEmbeddings: true, contextLength: 4096)
        var untied = base
        untied.tiedEmbeddings = false
        var qwen = base
        qwen.architecture = "qwen2"
        qwen.ropeLayout = .halves
        qwen.attentionBias = true
        for c in [base, untied, qwen] {
            var w = GGUFWriter(metadata: try c.ggufMetadata(name: "m"))
            try w.add("token_embd.weight", Tensor(zeros: [c.vocabSize, c.dim]))
            if !c.tiedEmbeddings { try w.add("output.weight", Tensor(zeros: [c.vocabSize, c.dim])) }
            let back = try LlamaConfig(gguf: GGUFFile(contents: w.serialized()))
            XCTAssertEqual(back, c)
            XCTAssertEqual(w.metadata.int("general.file_type"), 0)
        }
        var bad = base
        bad.ropeLayout = .halves
        XCTAssertThrowsError(try bad.ggufMetadata(name: "m"))
        bad = base
        bad.architecture = "gpt2"
        XCTAssertThrowsError(try bad.ggufMetadata(name: "m")) { XCTAssertEqual($0 as? ModelError, .unsupportedArchitecture("gpt2")) }
    }

    /// The toy trainer's checkpoints refuse to resume a different task.
    func testToyTrainerRefusesAnotherTasksCheckpoint() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func make(_ kind: DigitTask.Kind) throws -> ToyTrainer {
            try ToyTrainer(
                task: DigitTask(kind: kind, digits: 4), config: ToyTrainer.defaultConfig(layers: 1, dim: 32),
                batchSize: 4, schedule: LRSchedule(peak: 1e-2, warmupSteps: 1, totalSteps: 4), seed: 3)
        }
        let copy = try make(.copy)
        try copy.trainStep()
        try copy.save(to: dir + "/toy.gguf")
        let file = try GGUFFile(path: dir + "/toy.gguf")
        XCTAssertEqual(file.metadata.string("general.architecture"), "llama")
        XCTAssertNoThrow(try LlamaInference(gguf: file))
        let reverse = try make(.reverse)
        XCTAssertThrowsError(try reverse.resume(from: dir + "/toy.gguf")) {
            XCTAssertTrue("\($0)".contains("task copy, not reverse"), "\($0)")
        }
        XCTAssertEqual(reverse.step, 0)
    }

    /// gguf-py reads a checkpoint we wrote: names, types, shapes, bytes and the checkpoint metadata.
    func testGGUFPythonReadsCheckpoint() throws {
        guard let probe = runCommand(["python3", "-c", "import gguf, numpy"]), probe.status == 0 else {
            throw XCTSkip("python3 with the gguf package is not available")
        }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ck.gguf", ck = sample()
        try ck.write(gguf: path)
        let script = """
            import sys, json, gguf
            r = gguf.GGUFReader(sys.argv[1])
            fields = {}
            for f in r.fields.values():
                if f.name.startswith("grm.") or f.name.startswith("general."):
                    v = f.contents()
                    fields[f.name] = v if isinstance(v, str) else int(v)
            tensors = [[t.name, t.tensor_type.name, [int(x) for x in t.shape], bytes(t.data.tobytes()).hex()] for t in r.tensors]
            print(json.dumps({"fields": fields, "tensors": tensors}))
            """
        guard let result = runCommand(["python3", "-c", script, path]), result.status == 0 else {
            return XCTFail("gguf-py could not read our checkpoint")
        }
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: Any]
        let fields = json["fields"] as! [String: Any]
        XCTAssertEqual(fields["grm.checkpoint.step"] as? Int, 42)
        XCTAssertEqual(fields["grm.checkpoint.version"] as? Int, 1)
        XCTAssertEqual(fields["grm.checkpoint.counter.tokens"] as? Int, 1 << 40)
        XCTAssertEqual(fields["grm.checkpoint.counter.negative"] as? Int, -5)
        XCTAssertEqual(fields["grm.checkpoint.optim.adamw.step.0"] as? Int, 3)
        XCTAssertEqual(fields["grm.checkpoint.meta.note"] as? String, "héllo ✓")
        XCTAssertEqual(fields["grm.checkpoint.meta.empty"] as? String, "")
        let tensors = json["tensors"] as! [[Any]]
        let all = ck.parameters.merging(ck.optimizerTensors.map { ("grm.optim." + $0.key, $0.value) }) { a, _ in a }
        XCTAssertEqual(Set(tensors.map { $0[0] as! String }), Set(all.keys))
        for t in tensors {
            let name = t[0] as! String, want = all[name]!
            XCTAssertEqual(t[1] as? String, "F32", name)
            XCTAssertEqual(t[2] as? [Int], Array(want.shape.reversed()), name)
            XCTAssertEqual(t[3] as? String, rawBytes(want).map { String(format: "%02x", $0) }.joined(), name)
        }
    }
}
