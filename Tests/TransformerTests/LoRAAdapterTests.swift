import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// LoRA adapters around the engine: llama.cpp's adapter file (round trips, refusals, gguf-py),
/// the adapter applied at inference against the same adapter merged into an f32 model, merging
/// into quantised types bit for bit, scale 0, and the base's metadata surviving a merge.
final class LoRAAdapterTests: XCTestCase {
    /// Every test on exact activations, whatever GRM_QMM_ACT says.
    override func invokeTest() { EngineSettings.with({ $0.activations = .exact }) { super.invokeTest() } }

    /// Widths that every 32-block type can hold (K of every projection a multiple of 32).
    static let tiny = LlamaConfig(
        vocabSize: 40, dim: 64, layers: 2, heads: 4, kvHeads: 2, ffnDim: 96, ropeBase: 10_000,
        normEps: 1e-5, tiedEmbeddings: false, initStd: 0.2, contextLength: 32)
    static let ids: [Int32] = [1, 7, 39, 0, 22, 5, 5, 13, 31]

    /// A random adapter on every projection of every layer (ranks 4, and 3 on the down projections).
    func randomAdapter(_ c: LlamaConfig = tiny, seed: UInt64 = 1, alpha: Float = 8) -> LoRAAdapter {
        var rng = SeededRandom(seed: seed)
        var adapter = LoRAAdapter(
            architecture: c.architecture, alpha: alpha,
            metadata: ["base": "tiny.gguf", "base.sha256": String(repeating: "ab", count: 32)])
        for layer in 0..<c.layers {
            for t in LoRATarget.allCases {
                let s = t.shape(c), r = t == .down ? 3 : 4
                adapter.pairs[t.weightName(layer: layer)] = .init(
                    a: Tensor.randomNormal([r, s[1]], std: 0.2, rng: &rng),
                    b: Tensor.randomNormal([s[0], r], std: 0.2, rng: &rng))
            }
        }
        return adapter
    }

    /// A tiny random model written as GGUF: matrices in `type`, vectors f32, plus tokenizer-like
    /// metadata and a non-default alignment that a merge must keep.
    func writeBase(_ path: String, type: DType = .f32, config c: LlamaConfig = tiny, seed: UInt64 = 7) throws {
        var meta = try c.ggufMetadata(name: "tiny base")
        meta["general.alignment"] = .uint32(64)
        meta["tokenizer.ggml.model"] = .string("gpt2")
        meta["tokenizer.ggml.tokens"] = .array(.string((0..<c.vocabSize).map { "t\($0)" }))
        meta["tokenizer.ggml.scores"] = .array(.float32((0..<c.vocabSize).map { Float($0) / 10 }))
        meta["tokenizer.chat_template"] = .string("{% for m in messages %}{{ m.content }}{% endfor %}")
        meta["general.file_type"] = .uint32(LoRAMerge.fileType(type))
        var writer = GGUFWriter(metadata: meta)
        for p in try LlamaModel(config: c, seed: seed).parameters {
            try writer.add(p.name, p.rank == 1 ? p.value : p.value.converted(to: type))
        }
        try writer.write(to: path)
    }

    func assertClose(_ a: Tensor, _ b: Tensor, tol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        let x = a.scalars(), y = b.scalars()
        var worst: Float = 0
        for i in 0..<min(x.count, y.count) { worst = max(worst, abs(x[i] - y[i]) / max(1, abs(y[i]))) }
        XCTAssertLessThanOrEqual(worst, tol, "\(what): worst relative difference \(worst)", file: file, line: line)
    }

    func maxDifference(_ a: Tensor, _ b: Tensor) -> Float { zip(a.scalars(), b.scalars()).map { abs($0 - $1) }.max() ?? 0 }

    // MARK: - The adapter file

    func testAdapterFileRoundTripF32ExactF16Rounded() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let adapter = randomAdapter()
        try adapter.write(gguf: dir + "/a32.gguf", type: .f32, name: "tiny lora")
        try adapter.write(gguf: dir + "/a16.gguf", type: .f16)

        let file = try GGUFFile(path: dir + "/a32.gguf")
        let m = file.metadata
        XCTAssertEqual(m.string("general.type"), "adapter")
        XCTAssertEqual(m.string("general.architecture"), "llama")
        XCTAssertEqual(m.string("general.name"), "tiny lora")
        XCTAssertEqual(m.string("adapter.type"), "lora")
        XCTAssertEqual(m["adapter.lora.alpha"], .float32(8))
        XCTAssertEqual(m.string("grm.adapter.base.sha256"), String(repeating: "ab", count: 32))
        XCTAssertEqual(file.tensors.count, 2 * 7 * 2)
        // ggml ne: A [in, r], B [r, out]; W ne [in, out].
        XCTAssertEqual(file.info("blk.1.ffn_down.weight.lora_a")?.dims, [96, 3])
        XCTAssertEqual(file.info("blk.1.ffn_down.weight.lora_b")?.dims, [3, 64])
        XCTAssertEqual(file.info("blk.0.attn_k.weight.lora_a")?.dims, [64, 4])
        XCTAssertEqual(file.info("blk.0.attn_k.weight.lora_b")?.dims, [4, 32])
        XCTAssertEqual(try GGUFFile(path: dir + "/a16.gguf").info("blk.0.attn_q.weight.lora_a")?.dtype, .f16)

        let back = try LoRAAdapter(gguf: dir + "/a32.gguf")
        XCTAssertEqual(back.architecture, "llama")
        XCTAssertEqual(back.alpha, 8)
        XCTAssertEqual(back.metadata, adapter.metadata)
        XCTAssertEqual(Set(back.pairs.keys), Set(adapter.pairs.keys))
        let half = try LoRAAdapter(gguf: dir + "/a16.gguf")
        for (name, p) in adapter.pairs {
            XCTAssertEqual(back.pairs[name]!.a.scalars(), p.a.scalars(), name)
            XCTAssertEqual(back.pairs[name]!.b.scalars(), p.b.scalars(), name)
            XCTAssertEqual(back.pairs[name]!.a.shape, p.a.shape, name)
            XCTAssertEqual(back.pairs[name]!.b.shape, p.b.shape, name)
            XCTAssertEqual(half.pairs[name]!.a.scalars(), p.a.converted(to: .f16).converted(to: .f32).scalars(), name)
            XCTAssertEqual(half.pairs[name]!.b.scalars(), p.b.converted(to: .f16).converted(to: .f32).scalars(), name)
            XCTAssertLessThanOrEqual(maxDifference(half.pairs[name]!.a, p.a), 1e-3, name)
            XCTAssertEqual(half.pairs[name]!.a.dtype, .f32)
        }
        // Checked against the base it was made for.
        try writeBase(dir + "/base.gguf")
        XCTAssertNoThrow(try LoRAAdapter(gguf: dir + "/a32.gguf", base: try GGUFFile(path: dir + "/base.gguf")))
        // The factors are copies: replacing the file does not change them.
        let before = back.pairs["blk.0.attn_q.weight"]!.a.scalars()
        try randomAdapter(seed: 99).write(gguf: dir + "/a32.gguf")
        XCTAssertEqual(back.pairs["blk.0.attn_q.weight"]!.a.scalars(), before)
    }

    func testMalformedAdapterFilesAreRefusedByName() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SeededRandom(seed: 5)
        let a = Tensor.randomNormal([4, 64], rng: &rng), b = Tensor.randomNormal([64, 4], rng: &rng)
        func adapterMeta(type: String = "lora", alpha: GGUFValue? = .float32(8)) -> GGUFMetadata {
            var m = GGUFMetadata([
                ("general.architecture", .string("llama")), ("general.type", .string("adapter")),
                ("adapter.type", .string(type))
            ])
            if let alpha { m["adapter.lora.alpha"] = alpha }
            return m
        }
        func expectRefusal(
            _ name: String, _ meta: GGUFMetadata, _ tensors: [(String, Tensor)], mentions: [String],
            line: UInt = #line
        ) throws {
            var w = GGUFWriter(metadata: meta)
            for (n, t) in tensors { try w.add(n, t) }
            let path = dir + "/" + name
            try w.write(to: path)
            XCTAssertThrowsError(try LoRAAdapter(gguf: path), name, line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(path), "\(name): \(text)", line: line)
                for word in mentions { XCTAssertTrue(text.contains(word), "\(name): '\(word)' not in: \(text)", line: line) }
            }
        }
        let q = "blk.0.attn_q.weight"
        try writeBase(dir + "/model.gguf")
        XCTAssertThrowsError(try LoRAAdapter(gguf: dir + "/model.gguf")) { XCTAssertTrue("\($0)".contains("not a LoRA adapter"), "\($0)") }
        XCTAssertThrowsError(try LoRAAdapter(gguf: dir + "/missing.gguf")) { XCTAssertTrue("\($0)".contains("missing.gguf"), "\($0)") }
        try expectRefusal(
            "cvec.gguf", adapterMeta(type: "control_vector"), [(q + ".lora_a", a), (q + ".lora_b", b)],
            mentions: ["control_vector", "lora"])
        try expectRefusal("half.gguf", adapterMeta(), [(q + ".lora_a", a)], mentions: [q, "lora_b"])
        try expectRefusal(
            "rank.gguf", adapterMeta(), [(q + ".lora_a", a), (q + ".lora_b", try b.sliced(axis: 1, 0..<3).contiguous())],
            mentions: [q, "rank"])
        try expectRefusal(
            "odd.gguf", adapterMeta(), [(q + ".lora_a", a), (q + ".lora_b", b), ("blk.0.attn_q.bias", try a.sliced(axis: 0, 0..<1))],
            mentions: ["blk.0.attn_q.bias"])
        try expectRefusal(
            "alpha.gguf", adapterMeta(alpha: .float64(8)), [(q + ".lora_a", a), (q + ".lora_b", b)],
            mentions: ["adapter.lora.alpha", "float32"])
        try expectRefusal("empty.gguf", adapterMeta(), [], mentions: ["no LoRA tensors"])
        // A missing alpha is llama.cpp's "no alpha scaling": scale 1.
        var w = GGUFWriter(metadata: adapterMeta(alpha: nil))
        try w.add(q + ".lora_a", a)
        try w.add(q + ".lora_b", b)
        try w.write(to: dir + "/noalpha.gguf")
        let noAlpha = try LoRAAdapter(gguf: dir + "/noalpha.gguf")
        XCTAssertEqual(noAlpha.alpha, 0)
        XCTAssertEqual(noAlpha.scale(for: q), 1)

        // Against a base: wrong shapes, a weight the base lacks, another architecture.
        let base = try GGUFFile(path: dir + "/model.gguf")
        var wrong = randomAdapter()
        wrong.pairs["blk.0.attn_k.weight"] = wrong.pairs["blk.0.attn_q.weight"]
        try wrong.write(gguf: dir + "/wrong.gguf")
        XCTAssertThrowsError(try LoRAAdapter(gguf: dir + "/wrong.gguf", base: base)) {
            XCTAssertTrue("\($0)".contains("blk.0.attn_k.weight") && "\($0)".contains("wrong.gguf"), "\($0)")
        }
        var extra = randomAdapter()
        extra.pairs["blk.9.attn_q.weight"] = extra.pairs["blk.0.attn_q.weight"]
        XCTAssertThrowsError(try extra.validate(against: base)) { XCTAssertTrue("\($0)".contains("blk.9.attn_q.weight"), "\($0)") }
        var qwen = randomAdapter()
        qwen.architecture = "qwen2"
        XCTAssertThrowsError(try qwen.validate(against: base)) { XCTAssertTrue("\($0)".contains("qwen2"), "\($0)") }
        XCTAssertThrowsError(try LlamaInference(gguf: base, adapter: qwen)) { XCTAssertTrue("\($0)".contains("qwen2"), "\($0)") }
        // Inference applies the decoder projections only; an adapter on the output is for merging.
        var output = randomAdapter()
        output.pairs["output.weight"] = .init(a: Tensor.randomNormal([2, 64], rng: &rng), b: Tensor.randomNormal([40, 2], rng: &rng))
        XCTAssertNoThrow(try output.validate(against: base))
        XCTAssertThrowsError(try LlamaInference(gguf: base, adapter: output)) {
            XCTAssertTrue("\($0)".contains("output.weight") && "\($0)".contains("merge"), "\($0)")
        }
        // Writing refuses what no reader could use.
        XCTAssertThrowsError(try randomAdapter().write(gguf: dir + "/q8.gguf", type: .q8_0)) { XCTAssertTrue("\($0)".contains("q8_0"), "\($0)") }
        XCTAssertThrowsError(try LoRAAdapter(architecture: "llama", alpha: 1).write(gguf: dir + "/none.gguf")) {
            XCTAssertTrue("\($0)".contains("none.gguf"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/q8.gguf"))
    }

    /// The low-rank kernel against a naive sum, on odd shapes, rows split or not.
    func testAddLowRankMatchesNaive() throws {
        var rng = SeededRandom(seed: 3)
        for (m, k, n, r) in [(1, 5, 7, 1), (3, 64, 40, 4), (37, 130, 300, 9), (200, 64, 96, 16), (2, 576, 1536, 16), (5, 47, 131, 7)] {
            let x = Tensor.randomNormal([m, k], rng: &rng), a = Tensor.randomNormal([r, k], rng: &rng)
            let bt = Tensor.randomNormal([r, n], rng: &rng), y0 = Tensor.randomNormal([m, n], rng: &rng)
            let y = try Tensor(shape: [m, n], scalars: y0.scalars())
            try Tensor.addLowRank(x, a: a, bt: bt, into: y)
            let xv = x.scalars(), av = a.scalars(), bv = bt.scalars(), yv = y0.scalars()
            var want = [Float](repeating: 0, count: m * n)
            for i in 0..<m {
                for c in 0..<n {
                    var s: Double = 0
                    for j in 0..<r {
                        var t: Double = 0
                        for p in 0..<k { t += Double(xv[i * k + p]) * Double(av[j * k + p]) }
                        s += t * Double(bv[j * n + c])
                    }
                    want[i * n + c] = yv[i * n + c] + Float(s)
                }
            }
            assertClose(y, try Tensor(shape: [m, n], scalars: want), tol: 1e-4, "m \(m) k \(k) n \(n) r \(r)")
            // The same bits as r dots, then r axpys, per row (the kernel's stated contract).
            var plain = yv
            for i in 0..<m {
                let t = (0..<r).map { j in
                    RowGrad.dot(xv.withUnsafeBufferPointer { $0.baseAddress! + i * k }, av.withUnsafeBufferPointer { $0.baseAddress! + j * k }, k)
                }
                plain.withUnsafeMutableBufferPointer { py in
                    bv.withUnsafeBufferPointer { pb in
                        for j in 0..<r { RowGrad.axpy(py.baseAddress! + i * n, t[j], pb.baseAddress! + j * n, n) }
                    }
                }
            }
            XCTAssertEqual(y.scalars(), plain, "m \(m) k \(k) n \(n) r \(r): not the plain loops' bits")
            // Factors in f16 (an f16 adapter): the bits of the same factors widened to f32.
            let ah = a.converted(to: .f16), bh = bt.converted(to: .f16)
            let wide = try Tensor(shape: [m, n], scalars: yv)
            try Tensor.addLowRank(x, a: ah.converted(to: .f32), bt: bh.converted(to: .f32), into: wide)
            for (fa, fb) in [(ah, bh), (ah, bh.converted(to: .f32)), (ah.converted(to: .f32), bh)] {
                let half = try Tensor(shape: [m, n], scalars: yv)
                try Tensor.addLowRank(x, a: fa, bt: fb, into: half)
                XCTAssertEqual(
                    half.scalars().map(\.bitPattern), wide.scalars().map(\.bitPattern),
                    "m \(m) k \(k) n \(n) r \(r): A \(fa.dtype), Bt \(fb.dtype)")
            }
            // Row by row gives the same bits as all rows at once.
            for i in [0, m - 1] {
                let row = try Tensor(shape: [1, n], scalars: Array(yv[i * n..<(i + 1) * n]))
                try Tensor.addLowRank(try x.sliced(axis: 0, i..<i + 1), a: a, bt: bt, into: row)
                XCTAssertEqual(row.scalars(), Array(y.scalars()[i * n..<(i + 1) * n]), "row \(i)")
            }
        }
        XCTAssertThrowsError(
            try Tensor.addLowRank(
                Tensor(zeros: [2, 3]), a: Tensor(zeros: [1, 4]), bt: Tensor(zeros: [1, 2]),
                into: Tensor(zeros: [2, 2])))
    }

    /// Inference keeps a factor in f16 exactly when f16 holds every value (an f16 adapter, a
    /// power-of-two scale), else in f32.
    func testDeltasKeepF16FactorsOnlyWhenExact() throws {
        var rng = SeededRandom(seed: 5)
        let f32 = Tensor.randomNormal([4, 37], rng: &rng)
        let exact = f32.converted(to: .f16).converted(to: .f32)
        XCTAssertEqual(LoRADeltas.Delta.compact(exact).dtype, .f16)
        XCTAssertEqual(LoRADeltas.Delta.compact(try exact.scaled(by: 2)).dtype, .f16)
        XCTAssertEqual(LoRADeltas.Delta.compact(f32).dtype, .f32)
        XCTAssertEqual(LoRADeltas.Delta.compact(try exact.scaled(by: 1.1)).dtype, .f32)
        XCTAssertEqual(LoRADeltas.Delta.compact(exact).converted(to: .f32).scalars(), exact.scalars())
    }

    /// An f16 delta applied to many rows reads its f32 copies (`Delta.wideRows`), to few rows its
    /// f16 factors: the same bits either way, row by row.
    func testDeltaGivesTheSameBitsFromEitherCopy() throws {
        var rng = SeededRandom(seed: 6)
        let a = Tensor.randomNormal([16, 67], rng: &rng).converted(to: .f16).converted(to: .f32)
        let bt = Tensor.randomNormal([16, 45], rng: &rng).converted(to: .f16).converted(to: .f32)
        let delta = LoRADeltas.Delta(a: a, bt: bt)
        XCTAssertEqual(delta.a.dtype, .f16)
        XCTAssertEqual(delta.aWide.dtype, .f32)
        let m = LoRADeltas.Delta.wideRows + 3
        let x = Tensor.randomNormal([m, 67], rng: &rng), y0 = Tensor.randomNormal([m, 45], rng: &rng)
        let all = try Tensor(shape: [m, 45], scalars: y0.scalars())
        try delta.apply(x, into: all)
        for i in 0..<m {
            let row = try Tensor(shape: [1, 45], scalars: Array(y0.scalars()[i * 45..<(i + 1) * 45]))
            try delta.apply(try x.sliced(axis: 0, i..<i + 1), into: row)
            XCTAssertEqual(row.scalars().map(\.bitPattern), Array(all.scalars()[i * 45..<(i + 1) * 45]).map(\.bitPattern), "row \(i)")
        }
    }

    // MARK: - Inference and merging

    /// The adapter applied at inference gives the logits of the same adapter merged into an f32
    /// model, at every position, in one prefill and step by step, for an f32 and a Q8_0 base.
    func testAdapterAtInferenceEqualsMergedF32Model() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let adapter = randomAdapter()
        for (type, userScale) in [(DType.f32, Float(1)), (.q8_0, 0.5), (.q4_1, 1)] {
            let basePath = dir + "/base-\(type).gguf", mergedPath = dir + "/merged-\(type).gguf"
            try writeBase(basePath, type: type)
            let base = try GGUFFile(path: basePath)
            let report = try LoRAMerge.merge(base: base, adapter: adapter, scale: userScale, type: .f32, to: mergedPath)
            XCTAssertEqual(report.adapted.count, 14)
            XCTAssertTrue(report.fallbacks.isEmpty)
            let adapted = try LlamaInference(gguf: base, adapter: adapter, adapterScale: userScale)
            let merged = try LlamaInference(path: mergedPath)
            let plain = try LlamaInference(gguf: base)
            let a = try adapted.logits(Self.ids, allPositions: true), m = try merged.logits(Self.ids, allPositions: true)
            XCTAssertGreaterThan(maxDifference(a, try plain.logits(Self.ids, allPositions: true)), 0.05, "the adapter must matter (\(type))")
            assertClose(a, m, tol: 1e-4, "adapter vs merged, \(type) base, scale \(userScale)")
            let s = try adapted.newSequence()
            for (i, t) in Self.ids.enumerated() {
                let row = try adapted.forward([ForwardRequest(sequence: s, tokens: [t])])[0]!
                assertClose(row, try m.sliced(axis: 0, i..<i + 1), tol: 1e-4, "decode step \(i), \(type) base")
            }
        }
    }

    /// With bf16 activations a prompt's products read the adapted projections' bf16 panels with
    /// the deltas merged in (`LlamaInference.mergedLayers`), and decoding steps after it the base
    /// weights plus each delta: both stay within bf16 rounding of the exact adapted model.
    func testBF16PromptsReadPanelsWithTheDeltasMerged() throws {
        #if arch(x86_64) && GRM_AMX
        guard CPU.hasAMXBF16, KernelISA.level >= .amx else { throw XCTSkip("AMX-BF16 not available here (no amx_bf16 flag)") }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let basePath = dir + "/base.gguf"
        try writeBase(basePath, type: .q4_1)
        let base = try GGUFFile(path: basePath)
        let prompt = (0..<28).map { Int32(($0 * 7 + 3) % 40) }, next: [Int32] = [5, 17]
        func run(_ mode: QuantMatmul.ActivationMode, adapter: LoRAAdapter?, kept: Bool = true) throws -> (LlamaInference, [Tensor]) {
            let engine = try LlamaInference(gguf: base, adapter: adapter)
            let out = try EngineSettings.with({
                $0.activations = mode
                $0.bf16Panels = kept
            }) { () -> [Tensor] in
                let s = try engine.newSequence()
                var rows = [try engine.forward([ForwardRequest(sequence: s, tokens: prompt, logits: .all)])[0]!]
                for t in next { rows.append(try engine.forward([ForwardRequest(sequence: s, tokens: [t])])[0]!) }
                return rows
            }
            return (engine, out)
        }
        let adapter = randomAdapter()
        let (engine, bf16) = try run(.bf16, adapter: adapter)
        XCTAssertNotNil(engine.mergedLayers, "the prompt read merged panels")
        // References: the exact adapted model, and bf16 mode without kept panels (nothing merged:
        // each delta's product added in f32). On this tiny random model bf16 and int8 rounding move
        // logits of magnitude 4-6 by up to about 0.2, merged or not.
        let (_, exact) = try run(.exact, adapter: adapter), (_, plain) = try run(.bf16, adapter: nil)
        let (unmergedEngine, unmerged) = try run(.bf16, adapter: adapter, kept: false)
        XCTAssertNil(unmergedEngine.mergedLayers)
        for i in 0..<bf16.count {
            let what = i == 0 ? "prompt" : "decode step \(i)", bound = 0.06 * exact[i].scalars().map(abs).max()!
            XCTAssertLessThanOrEqual(maxDifference(bf16[i], exact[i]), bound, "\(what): merged against exact")
            XCTAssertLessThanOrEqual(maxDifference(unmerged[i], exact[i]), bound, "\(what): unmerged against exact")
            XCTAssertGreaterThan(maxDifference(bf16[i], plain[i]), 2 * maxDifference(bf16[i], exact[i]), "\(what): the adapter must matter")
        }
        #else
        throw XCTSkip("the bf16 tiles are not compiled in this build (no GRM_AMX)")
        #endif
    }

    /// Merged into Q8_0 (and Q4_K, whose rows of 64 fall back to Q5_0): each adapted tensor is our
    /// quantiser's output for (W + s B A), each other matrix the base's quantised, the vectors f32.
    func testMergedToQuantisedTypeIsTheQuantisedSum() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeBase(dir + "/base.gguf", type: .f16)
        let base = try GGUFFile(path: dir + "/base.gguf")
        var adapter = randomAdapter()
        adapter.pairs.removeValue(forKey: "blk.1.attn_v.weight")
        for (type, stored) in [(DType.q8_0, DType.q8_0), (.q4_K, .q5_0)] {
            let path = dir + "/merged-\(type).gguf"
            let report = try LoRAMerge.merge(base: base, adapter: adapter, scale: 0.75, type: type, to: path)
            XCTAssertEqual(report.adapted.count, 13)
            XCTAssertEqual(report.fallbacks.count, type == .q4_K ? 2 * 7 + 2 : 0, "\(type)")
            let merged = try GGUFFile(path: path)
            XCTAssertEqual(merged.tensors.map(\.name), base.tensors.map(\.name))
            XCTAssertEqual(merged.alignment, 64)
            XCTAssertEqual(merged.metadata.int("general.file_type"), Int(LoRAMerge.fileType(type)))
            for info in base.tensors {
                let got = merged.info(info.name)!
                let w = try base.tensor(info.name)
                if info.dims.count == 1 {
                    XCTAssertEqual(got.dtype, .f32, info.name)
                    XCTAssertEqual(rawBytes(try merged.tensor(info.name)), rawBytes(w), info.name)
                    continue
                }
                XCTAssertEqual(got.dtype, stored, info.name)
                var want = w.converted(to: .f32)
                if let p = adapter.pairs[info.name] {
                    let delta = try p.b.matmul(p.a).scaled(by: 0.75 * adapter.scale(for: info.name)!)
                    want = try Tensor.binary(Add.self, want, delta)
                    // The f32 sum is W + s B A (against a naive product).
                    let naive = naiveMerged(w, p, scale: 0.75 * adapter.scale(for: info.name)!)
                    XCTAssertLessThanOrEqual(maxDifference(want, naive), 1e-5, info.name)
                }
                XCTAssertEqual(rawBytes(try merged.tensor(info.name)), rawBytes(try want.quantized(to: stored)), "\(info.name) as \(type)")
            }
            // The merged model runs.
            XCTAssertEqual(try LlamaInference(gguf: merged).logits(Self.ids).shape, [1, 40])
        }
    }

    func naiveMerged(_ w: Tensor, _ p: LoRAAdapter.Pair, scale: Float) -> Tensor {
        let out = p.b.shape[0], inner = p.a.shape[1], r = p.a.shape[0]
        let wv = w.converted(to: .f32).scalars(), a = p.a.scalars(), b = p.b.scalars()
        var v = [Float](repeating: 0, count: out * inner)
        for i in 0..<out {
            for j in 0..<inner {
                var s: Double = 0
                for k in 0..<r { s += Double(b[i * r + k]) * Double(a[k * inner + j]) }
                v[i * inner + j] = wv[i * inner + j] + scale * Float(s)
            }
        }
        return try! Tensor(shape: w.shape, scalars: v)
    }

    /// A user scale of 0 changes nothing: inference gives the base's logits bit for bit and a
    /// merge into the base's own type gives its tensors byte for byte.
    func testScaleZeroGivesTheBaseExactly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for type in [DType.f32, .q4_1] {
            try writeBase(dir + "/base.gguf", type: type)
            let base = try GGUFFile(path: dir + "/base.gguf")
            let plain = try LlamaInference(gguf: base)
            let off = try plain.with(adapter: randomAdapter(), scale: 0)
            XCTAssertEqual(try off.logits(Self.ids, allPositions: true).scalars(), try plain.logits(Self.ids, allPositions: true).scalars())
            XCTAssertNotEqual(try plain.with(adapter: randomAdapter()).logits(Self.ids).scalars(), try plain.logits(Self.ids).scalars())
            let report = try LoRAMerge.merge(base: base, adapter: randomAdapter(), scale: 0, type: type, to: dir + "/merged.gguf")
            XCTAssertTrue(report.adapted.isEmpty)
            let merged = try GGUFFile(path: dir + "/merged.gguf")
            for info in base.tensors {
                XCTAssertEqual(merged.info(info.name)?.dtype, info.dtype, info.name)
                XCTAssertEqual(rawBytes(try merged.tensor(info.name)), rawBytes(try base.tensor(info.name)), info.name)
            }
        }
    }

    /// Every metadata key of the base survives a merge, in order and with its value, except
    /// general.name and general.file_type, which describe the new file.
    func testMergeKeepsAllBaseMetadata() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeBase(dir + "/base.gguf", type: .q8_0)
        let base = try GGUFFile(path: dir + "/base.gguf")
        try LoRAMerge.merge(base: base, adapter: randomAdapter(), type: .f16, to: dir + "/merged.gguf")
        let merged = try GGUFFile(path: dir + "/merged.gguf").metadata
        XCTAssertEqual(Array(merged.keys.prefix(base.metadata.count)), base.metadata.keys)
        for (key, value) in base.metadata.entries where key != "general.name" && key != "general.file_type" {
            XCTAssertEqual(merged[key], value, key)
        }
        XCTAssertEqual(merged.string("general.name"), "tiny base (LoRA merged)")
        XCTAssertEqual(merged["general.file_type"], .uint32(1))
        XCTAssertEqual(merged["grm.merge.lora_scale"], .float32(1))
        XCTAssertEqual(merged.string("grm.merge.adapter.base"), "tiny.gguf")
        try LoRAMerge.merge(base: base, adapter: randomAdapter(), type: .f32, to: dir + "/named.gguf", name: "mine")
        XCTAssertEqual(try GGUFFile(path: dir + "/named.gguf").metadata.string("general.name"), "mine")
        // A misfit adapter writes nothing.
        var qwen = randomAdapter()
        qwen.architecture = "qwen2"
        XCTAssertThrowsError(try LoRAMerge.merge(base: base, adapter: qwen, type: .f16, to: dir + "/bad.gguf"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad.gguf"))
        XCTAssertEqual(LoRAMerge.storageType(.q6_K, rowLength: 576), .q8_0)
        XCTAssertEqual(LoRAMerge.storageType(.q6_K, rowLength: 1536), .q6_K)
        XCTAssertEqual(LoRAMerge.storageType(.q4_0, rowLength: 40), .f16)
        XCTAssertEqual(LoRAMerge.outputType(named: "Q4_K"), .q4_K)
        XCTAssertNil(LoRAMerge.outputType(named: "q3_K"))
    }

    /// gguf-py reads our adapter file as llama.cpp's converter writes it, and our merged model.
    func testGGUFPythonReadsAdapterAndMergedModel() throws {
        guard let probe = runCommand(["python3", "-c", "import gguf, numpy"]), probe.status == 0 else {
            throw XCTSkip("python3 with the gguf package (gguf-py) is not available")
        }
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let adapter = randomAdapter()
        try adapter.write(gguf: dir + "/lora.gguf", type: .f16)
        try writeBase(dir + "/base.gguf", type: .q8_0)
        try LoRAMerge.merge(base: try GGUFFile(path: dir + "/base.gguf"), adapter: adapter, type: .q4_0, to: dir + "/merged.gguf")
        let script = """
            import sys, json, gguf
            out = []
            for path in sys.argv[1:]:
                r = gguf.GGUFReader(path)
                fields = {}
                for f in r.fields.values():
                    if f.name.startswith("general.") or f.name.startswith("adapter.") or f.name.startswith("grm."):
                        v = f.contents()
                        fields[f.name] = v if isinstance(v, (str, int, float)) else str(v)
                types = {f.name: int(f.types[0]) for f in r.fields.values() if f.name == "adapter.lora.alpha"}
                tensors = {t.name: [t.tensor_type.name, [int(x) for x in t.shape]] for t in r.tensors}
                out.append({"fields": fields, "types": types, "tensors": tensors})
            print(json.dumps(out))
            """
        guard let result = runCommand(["python3", "-c", script, dir + "/lora.gguf", dir + "/merged.gguf"]), result.status == 0 else {
            return XCTFail("gguf-py could not read our files")
        }
        let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [[String: Any]]
        let lora = json[0], fields = lora["fields"] as! [String: Any], tensors = lora["tensors"] as! [String: [Any]]
        XCTAssertEqual(fields["general.type"] as? String, "adapter")
        XCTAssertEqual(fields["general.architecture"] as? String, "llama")
        XCTAssertEqual(fields["adapter.type"] as? String, "lora")
        XCTAssertEqual(fields["adapter.lora.alpha"] as? Double, 8)
        XCTAssertEqual((lora["types"] as! [String: Int])["adapter.lora.alpha"], 6, "alpha must be a GGUF float32")
        XCTAssertEqual(tensors.count, 28)
        for (name, p) in adapter.pairs {
            XCTAssertEqual(tensors[name + ".lora_a"]?[0] as? String, "F16")
            XCTAssertEqual(tensors[name + ".lora_a"]?[1] as? [Int], [p.a.shape[1], p.rank], name)  // ne [in, r]
            XCTAssertEqual(tensors[name + ".lora_b"]?[1] as? [Int], [p.rank, p.b.shape[0]], name)  // ne [r, out]
        }
        let merged = json[1], mt = merged["tensors"] as! [String: [Any]]
        XCTAssertEqual(mt.count, 2 * 9 + 3)
        XCTAssertEqual(mt["blk.0.attn_q.weight"]?[0] as? String, "Q4_0")
        XCTAssertEqual(mt["blk.0.attn_q.weight"]?[1] as? [Int], [64, 64])
        XCTAssertEqual(mt["blk.1.ffn_down.weight"]?[1] as? [Int], [96, 64])
        XCTAssertEqual(mt["output_norm.weight"]?[0] as? String, "F32")
        XCTAssertEqual((merged["fields"] as! [String: Any])["general.file_type"] as? Int, 2)
    }
}
