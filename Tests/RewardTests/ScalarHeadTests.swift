import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// The scalar reward head's pieces: pairs from labels, the Bradley-Terry loss and its gradient,
/// head-only training, and the hidden states it reads.
final class ScalarHeadTests: XCTestCase {
    func testPairsFromEveryLabel() throws {
        let best = try RewardItem(query: "q", responses: ["a", "b", "c"], label: .best(1))
        XCTAssertEqual(best.preferencePairs(), [PreferencePair(chosen: 1, rejected: 0), PreferencePair(chosen: 1, rejected: 2)])
        let scores = try RewardItem(query: "q", responses: ["a", "b", "c"], label: .scores([2, 5, 2]))
        XCTAssertEqual(scores.preferencePairs(margin: 0.5).map { [$0.chosen, $0.rejected] }, [[1, 0], [1, 2]], "ties give no pair")
        XCTAssertEqual(scores.preferencePairs(margin: 0.5).map(\.margin), [0.5, 0.5])
        let single = try RewardItem(query: "q", responses: ["a"], label: .binary(1))
        XCTAssertEqual(single.preferencePairs(), [])
    }

    func testLossMatchesTheFormulaAndItsGradientChecks() throws {
        let r = Variable(try Tensor(shape: [4], scalars: [0.5, -1, 2, 0.25]), requiresGrad: true)
        let pairs = [
            PreferencePair(chosen: 0, rejected: 1), PreferencePair(chosen: 3, rejected: 2, margin: 1),
            PreferencePair(chosen: 2, rejected: 1)
        ]
        let loss = try BradleyTerry.loss(rewards: r, pairs: pairs, centerCoefficient: 0.1)
        func logSigmoid(_ x: Double) -> Double { -log(1 + exp(-x)) }
        let v: [Double] = [0.5, -1, 2, 0.25]
        var want = 0.0, center = 0.0
        for p in pairs {
            want -= logSigmoid(v[p.chosen] - v[p.rejected] - Double(p.margin))
            center += pow(v[p.chosen] + v[p.rejected], 2)
        }
        want = want / 3 + 0.1 * center / 3
        XCTAssertEqual(Double(loss.item), want, accuracy: 1e-5)
        let check = try GradCheck.check([r], eps: 1e-2) { v in
            try BradleyTerry.loss(rewards: v[0], pairs: pairs, centerCoefficient: 0.1).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
        XCTAssertThrowsError(try BradleyTerry.loss(rewards: r, pairs: [PreferencePair(chosen: 0, rejected: 9)]))
        XCTAssertEqual(
            BradleyTerry.accuracy(
                rewards: [1, 0, 0],
                pairs: [
                    PreferencePair(chosen: 0, rejected: 1),
                    PreferencePair(chosen: 1, rejected: 2)
                ]), 0.5)
    }

    /// The gradient reaches the head's weight and bias through the hidden states.
    func testHeadGradientChecks() throws {
        let head = ScalarHead(dim: 6, bias: true, std: 0.5, seed: 3)
        var rng = SeededRandom(seed: 4)
        let h = Variable(Tensor.randomNormal([5, 6], rng: &rng), requiresGrad: true)
        let pairs = [PreferencePair(chosen: 0, rejected: 1), PreferencePair(chosen: 2, rejected: 4), PreferencePair(chosen: 3, rejected: 0)]
        let check = try GradCheck.check([h, head.weight, head.bias!], eps: 1e-2) { v in
            try BradleyTerry.loss(rewards: head.rewards(v[0]), pairs: pairs, centerCoefficient: 0.05).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
    }

    /// A tiny preference task (the preferred response's features lie further along a hidden
    /// direction): head-only training separates every held-out pair.
    func testHeadOnlyTrainingLearnsATinyPreferenceTask() throws {
        let dim = 16, items = 120
        var rng = SeededRandom(seed: 9)
        let direction = Tensor.randomNormal([dim], rng: &rng).scalars()
        var rows: [Float] = [], pairs: [PreferencePair] = []
        for i in 0..<items {
            let base = Tensor.randomNormal([dim], rng: &rng).scalars()
            let gap = Float(0.5 + Double(rng.nextInt(100)) / 100)
            rows += zip(base, direction).map { $0 + gap * $1 }  // chosen: row 2i
            rows += base  // rejected: row 2i + 1
            pairs.append(PreferencePair(chosen: 2 * i, rejected: 2 * i + 1))
        }
        let features = try Tensor(shape: [2 * items, dim], scalars: rows)
        let train = Array(pairs.prefix(80)), heldOut = Array(pairs.suffix(40))
        // Started pointing the wrong way: every pair ranked backwards.
        let head = try ScalarHead(weight: Tensor(shape: [1, dim], scalars: direction.map { -0.1 * $0 }), bias: Tensor(zeros: [1]))
        XCTAssertEqual(BradleyTerry.accuracy(rewards: try head.rewards(features), pairs: heldOut), 0)
        let losses = try HeadOnlyTraining(steps: 200, pairsPerStep: 16, learningRate: 5e-2, seed: 2).train(head, features: features, pairs: train)
        XCTAssertLessThan(losses.suffix(10).reduce(0, +) / 10, losses.prefix(10).reduce(0, +) / 10)
        XCTAssertEqual(BradleyTerry.accuracy(rewards: try head.rewards(features), pairs: heldOut), 1)
    }

    /// The inference engine's final-norm hidden states are what the training model computes,
    /// and its logits are their projection.
    func testInferenceHiddenStatesMatchTheTrainingModel() throws {
        let config = LlamaConfig(vocabSize: 30, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 48, initStd: 0.1, contextLength: 32)
        let model = try LlamaModel(config: config, seed: 3)
        let engine = try LlamaInference(config: config, weights: model.inferenceWeights)
        let ids: [Int32] = [1, 5, 7, 2, 9, 11]
        let seq = try engine.newSequence()
        let hidden = try engine.forward([ForwardRequest(sequence: seq, tokens: ids, logits: .all)], output: .hiddenStates)[0]!
        XCTAssertEqual(hidden.shape, [6, 32])
        let want = try Autograd.noGrad { try model.hiddenStates(ids, batch: 1, length: 6) }.value.scalars()
        for (a, b) in zip(hidden.scalars(), want) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        let logits = try engine.logits(ids, allPositions: true).scalars()
        for (a, b) in zip(logits, try hidden.linear(model.output.value).scalars()) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }
}

extension ScalarHeadTests {
    /// Batched hidden states at each sequence's last token equal each sequence run alone.
    func testBatchedHiddenStatesEqualSingleRuns() throws {
        let config = LlamaConfig(vocabSize: 30, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 48, initStd: 0.1, contextLength: 32)
        let engine = try LlamaInference(config: config, weights: try LlamaModel(config: config, seed: 5).inferenceWeights)
        let seqs: [[Int32]] = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10], [11, 12, 13, 14]]
        let batched = try ScalarRewardInput.hiddenStates(engine: engine, sequences: seqs, batchTokens: 8)
        for (i, s) in seqs.enumerated() {
            let alone = try ScalarRewardInput.hiddenStates(engine: engine, sequences: [s]).scalars()
            for (a, b) in zip(Array(batched.scalars()[(i * 32)..<((i + 1) * 32)]), alone) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        }
        XCTAssertThrowsError(try ScalarRewardInput.hiddenStates(engine: engine, sequences: [Array(repeating: 1, count: 40)])) { e in
            XCTAssertTrue("\(e)".contains("40 tokens"), "\(e)")
        }
    }

    /// Sequences with common prefixes share their prefills (a tree of forked caches), wherever
    /// they stand: the states equal separate prefills, in every batch split, and the tree is what
    /// the rule says.
    func testSharedPrefixHiddenStatesEqualSeparatePrefills() throws {
        let config = LlamaConfig(vocabSize: 30, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 48, initStd: 0.1, contextLength: 32)
        let engine = try LlamaInference(config: config, weights: try LlamaModel(config: config, seed: 6).inferenceWeights)
        let p: [Int32] = [3, 1, 4, 1, 5, 9]
        let seqs: [[Int32]] = [
            p + [2, 6], p + [5], p + [3, 5, 8, 9], p, [7, 7] + p, [7, 7] + p + [1], [2], p + [2, 6]
        ]
        let tree = PrefixTree(seqs, members: PrefixTree.sorted(seqs, members: Array(seqs.indices)), minimum: 4)
        // p's first 5 tokens (p itself keeps its last token), and [7, 7] + p short of its last.
        XCTAssertEqual(
            tree.nodes,
            [.init(parent: nil, sequence: 3, range: 0..<5, level: 0), .init(parent: nil, sequence: 4, range: 0..<7, level: 0)])
        // The last sequence, a copy of the first, joins its group; a 1-token extension (p + [3...]
        // and p + [5] share 6) is too short for a node of its own.
        let leaves = Dictionary(uniqueKeysWithValues: tree.leaves.map { ($0.sequence, $0) })
        XCTAssertEqual(leaves.count, 8)
        XCTAssertEqual(leaves[6], .init(sequence: 6, parent: nil, start: 0))
        for i in [0, 1, 2, 3, 7] { XCTAssertEqual(leaves[i], .init(sequence: i, parent: 0, start: 5)) }
        for i in [4, 5] { XCTAssertEqual(leaves[i], .init(sequence: i, parent: 1, start: 7)) }
        XCTAssertEqual(PrefixTree(seqs, members: Array(seqs.indices), minimum: 0).nodes, [])
        // A system prompt, then two prompts with their responses listed alternately: a root and a
        // node per prompt under it.
        let system: [Int32] = [1, 2, 3, 4, 5], u1: [Int32] = [6, 6, 6, 6, 6], u2: [Int32] = [8, 8, 8, 8, 8]
        let nested = [system + u1 + [10], system + u2 + [11], system + u1 + [12], system + u2 + [13]]
        let nestedTree = PrefixTree(nested, members: PrefixTree.sorted(nested, members: [0, 1, 2, 3]), minimum: 4)
        XCTAssertEqual(
            nestedTree.nodes,
            [
                .init(parent: nil, sequence: 0, range: 0..<5, level: 0), .init(parent: 0, sequence: 0, range: 5..<10, level: 1),
                .init(parent: 0, sequence: 1, range: 5..<10, level: 1)
            ])
        XCTAssertEqual(nestedTree.leaves.map(\.sequence), [0, 2, 1, 3])
        XCTAssertEqual(nestedTree.leaves.map(\.parent), [1, 1, 2, 2])
        for list in [seqs, nested] {
            let separate = try ScalarRewardInput.hiddenStates(engine: engine, sequences: list, sharePrefix: 0).scalars()
            for batch in [3, 8, 2048] {
                var progress: [Int] = []
                let shared = try ScalarRewardInput.hiddenStates(
                    engine: engine, sequences: list, batchTokens: batch, sharePrefix: 4, onProgress: { progress.append($0) }
                ).scalars()
                for (a, b) in zip(shared, separate) { XCTAssertEqual(a, b, accuracy: 1e-5, "batch \(batch)") }
                XCTAssertEqual(progress.last, list.count)
            }
        }
    }
}

extension ScalarHeadTests {
    func testSHA256KnownVectors() throws {
        func hex(_ s: String) -> String {
            var h = SHA256()
            h.update(Array(s.utf8))
            return h.finalize()
        }
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var split = SHA256()  // the same bytes fed in uneven pieces
        let bytes = Array(String(repeating: "0123456789", count: 30).utf8)
        for chunk in stride(from: 0, to: bytes.count, by: 37) { split.update(Array(bytes[chunk..<min(chunk + 37, bytes.count)])) }
        var whole = SHA256()
        whole.update(bytes)
        XCTAssertEqual(split.finalize(), whole.finalize())
    }

    func testRewardModelFileRoundTrip() throws {
        let head = ScalarHead(dim: 8, bias: true, std: 0.3, seed: 2)
        var rng = SeededRandom(seed: 3)
        let adapter = LoRAAdapter(
            architecture: "llama", alpha: 16,
            pairs: [
                "blk.0.attn_q.weight": .init(a: Tensor.randomNormal([4, 8], rng: &rng), b: Tensor.randomNormal([8, 4], rng: &rng))
            ])
        let file = RewardModelFile(
            kind: .semiScalar, architecture: "llama", head: head, adapter: adapter, baseName: "base.gguf",
            baseSHA256: String(repeating: "ab", count: 32), judgeTemplate: "judge {q}", critiqueTokens: 96, metadata: ["steps": "7"])
        let path = NSTemporaryDirectory() + "grm-rm-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try file.write(gguf: path)
        let back = try RewardModelFile(gguf: path)
        XCTAssertEqual(back.kind, .semiScalar)
        XCTAssertEqual(back.head.weight.value.scalars(), head.weight.value.scalars())
        XCTAssertEqual(back.head.bias!.value.scalars(), head.bias!.value.scalars())
        XCTAssertEqual(back.adapter?.alpha, 16)
        XCTAssertEqual(back.adapter?.pairs["blk.0.attn_q.weight"]?.b.scalars(), adapter.pairs["blk.0.attn_q.weight"]!.b.scalars())
        XCTAssertEqual(back.judgeTemplate, "judge {q}")
        XCTAssertEqual(back.critiqueTokens, 96)
        // A frozen adapter copied from an f16 file is written in f16: read back as the rounded values.
        let half = NSTemporaryDirectory() + "grm-rm16-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: half) }
        try file.write(gguf: half, adapterType: .f16)
        XCTAssertEqual(try GGUFFile(path: half).info("blk.0.attn_q.weight.lora_a")?.dtype, .f16)
        let rounded = adapter.pairs["blk.0.attn_q.weight"]!.a.converted(to: .f16).converted(to: .f32).scalars()
        XCTAssertEqual(try RewardModelFile(gguf: half).adapter?.pairs["blk.0.attn_q.weight"]?.a.scalars(), rounded)
        XCTAssertThrowsError(try file.write(gguf: half, adapterType: .q8_0))
        XCTAssertEqual(back.metadata["steps"], "7")
        XCTAssertEqual(back.baseSHA256, String(repeating: "ab", count: 32))
        let gguf = try GGUFFile(path: path)
        XCTAssertEqual(gguf.metadata.int("llama.pooling_type"), 3)
        XCTAssertEqual(gguf.info("cls.output.weight")?.dims, [8, 1])
        // A model file is refused by name.
        let other = NSTemporaryDirectory() + "grm-notrm-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: other) }
        try GGUFWriter(metadata: GGUFMetadata([("general.architecture", .string("llama"))])).write(to: other)
        XCTAssertThrowsError(try RewardModelFile(gguf: other)) { e in XCTAssertTrue("\(e)".contains("grm.reward.kind"), "\(e)") }
    }
}

extension ScalarHeadTests {
    static let tinyLoRA = LlamaConfig(vocabSize: 24, dim: 32, layers: 2, heads: 4, kvHeads: 2, ffnDim: 64, initStd: 0.2, contextLength: 32)

    func tinyScalarTrainer(_ data: ScalarRewardExamples, steps: Int = 1, lr: Float = 0) throws -> ScalarRewardTrainer {
        let weights = try LlamaModel(config: Self.tinyLoRA, seed: 7).inferenceWeights
        let model = try LlamaModel(config: Self.tinyLoRA, weights: weights, mode: .lora(LoRASettings(rank: 4, alpha: 8, seed: 2)))
        return try ScalarRewardTrainer(
            model: model, head: ScalarHead(dim: 32, bias: true, seed: 3), data: data, steps: steps,
            itemsPerStep: 4, learningRate: lr, warmup: 2)
    }

    /// Items whose preferred response holds token 5 somewhere before its end (the last token,
    /// which the head reads, is the same for both): only attention can tell them apart.
    static func attentionTask(_ n: Int, seed: UInt64) -> ScalarRewardExamples {
        var rng = SeededRandom(seed: seed)
        return ScalarRewardExamples(
            examples: (0..<n).map { _ in
                let prefix = (0..<4).map { _ in Int32(6 + rng.nextInt(16)) }
                var good = prefix, bad = prefix
                good[rng.nextInt(4)] = 5
                let swap = rng.nextInt(2) == 0
                return .init(
                    responses: swap ? [bad + [2], good + [2]] : [good + [2], bad + [2]],
                    pairs: [PreferencePair(chosen: swap ? 1 : 0, rejected: swap ? 0 : 1)])
            })
    }

    /// The Bradley-Terry gradient through the head and the LoRA factors of a frozen backbone
    /// checks against finite differences.
    func testScalarLoRAGradCheck() throws {
        let trainer = try tinyScalarTrainer(Self.attentionTask(3, seed: 1))
        for l in trainer.model.layers {
            for (_, f) in l.lora {
                var r = SeededRandom(seed: 8)
                f.b.value = Tensor.randomNormal(f.b.shape, std: 0.2, rng: &r)
            }
        }
        let probe = trainer.model.layers[1].lora[.o]!
        let check = try GradCheck.check([probe.a, probe.b, trainer.head.weight], eps: 1e-2, atol: 2e-3, rtol: 2e-2) { _ in
            let (r, pairs) = try trainer.rewards(items: [0, 1, 2])
            return try BradleyTerry.loss(rewards: r, pairs: pairs, centerCoefficient: 0.01).reshaped([1])
        }
        XCTAssertTrue(check.passed, "\(check)")
    }

    func testScalarLoRATrainingLearnsAnAttentionTask() throws {
        let train = Self.attentionTask(48, seed: 2), heldOut = Self.attentionTask(24, seed: 3)
        let trainer = try tinyScalarTrainer(train, steps: 120, lr: 1e-2)
        let before = try trainer.accuracy(heldOut)
        for _ in 0..<120 { try trainer.trainStep() }
        let after = try trainer.accuracy(heldOut)
        XCTAssertLessThan(before, 0.8, "the untrained model should not already rank them")
        XCTAssertGreaterThanOrEqual(after, 0.95, "held-out pair accuracy \(before) -> \(after)")
    }
}

extension ScalarHeadTests {
    /// A reward model file trained with LoRA scores, through the inference engine with its
    /// adapter applied without merging, what the training model computed; refusals name the
    /// problem (another base file).
    func testScorerFromFileMatchesTheTrainingModel() throws {
        let dir = NSTemporaryDirectory() + "grm-scorer-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A tiny base model file with a byte-level BPE vocabulary: every text tokenises, the
        // ChatML fallback template included.
        try TinyRewardModels.writeBase(to: dir + "base.gguf")
        let file = try GGUFFile(path: dir + "base.gguf")
        let input = ScalarRewardInput(tokenizer: try Tokenizer(metadata: file.metadata), template: try ModelChatTemplate(metadata: file.metadata))
        let items = [
            try RewardItem(query: "2+2?", responses: ["4", "five"], label: .best(0)),
            try RewardItem(query: "Hi", responses: ["Hello"], label: .binary(1))
        ]
        let data = try ScalarRewardExamples(items: [items[0]], input: input, context: 256)
        XCTAssertEqual(data.examples.count, 1)
        let model = try LlamaModel(gguf: file, mode: .lora(LoRASettings(rank: 2, alpha: 4, seed: 3)))
        for l in model.layers {
            for (_, f) in l.lora {
                var r = SeededRandom(seed: 5)
                f.b.value = Tensor.randomNormal(f.b.shape, std: 0.3, rng: &r)
            }
        }
        let head = ScalarHead(dim: 32, bias: true, std: 0.5, seed: 6)
        let trainer = try ScalarRewardTrainer(model: model, head: head, data: data, steps: 1, itemsPerStep: 1, learningRate: 0)
        let trained = try Autograd.noGrad { try trainer.rewards(items: [0]) }.rewards.value.scalars()
        let rm = RewardModelFile(
            kind: .scalar, architecture: "llama", head: head, adapter: model.loraAdapter(), baseName: "base.gguf",
            baseSHA256: try SHA256.file(dir + "base.gguf"))
        try rm.write(gguf: dir + "rm.gguf")
        let scorer = try ScalarRewardScorer(rewardModel: dir + "rm.gguf", base: dir + "base.gguf")
        let scored = try scorer.rewards(items)
        XCTAssertEqual(scored.map(\.count), [2, 1], "unlabelled-style single responses score too")
        for (a, b) in zip(scored[0], trained) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        XCTAssertEqual(ScalarRewardScorer.pick([0.5, 2, 2]), nil)
        XCTAssertEqual(ScalarRewardScorer.pick([0.5, 2, 1]), 1)
        // Another base file is refused by its SHA-256.
        try FileManager.default.copyItem(atPath: dir + "base.gguf", toPath: dir + "other.gguf")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "other.gguf"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        XCTAssertThrowsError(try ScalarRewardScorer(rewardModel: dir + "rm.gguf", base: dir + "other.gguf")) { e in
            XCTAssertTrue("\(e)".contains("SHA-256"), "\(e)")
        }
    }
}
