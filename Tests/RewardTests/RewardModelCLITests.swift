import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// The scalar reward model's commands as a user runs them (`grm eval --rm`, `grm score --rm`,
/// `grm train rm` with checkpoints), through the `grm` executable built beside the tests, on tiny
/// models. Skipped when the executable is not there.
final class RewardModelCLITests: XCTestCase {
    var grm: String!
    var dir: String!

    override func setUpWithError() throws {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("grm").path
        guard FileManager.default.isExecutableFile(atPath: beside) else { throw XCTSkip("no grm executable beside the tests (\(beside))") }
        grm = beside
        dir = try TinyRewardModels.temporaryDirectory(self, "rm-cli")
    }

    /// Runs grm with one thread; stdout and stderr go through files (no pipe can fill up).
    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: grm)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(["GRM_THREADS": "1"]) { $1 }
        let outPath = dir + "stdout-\(UUID().uuidString)", errPath = dir + "stderr-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, try String(contentsOfFile: outPath, encoding: .utf8), try String(contentsOfFile: errPath, encoding: .utf8))
    }

    func write(_ lines: [String], _ name: String) throws -> String {
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + name, atomically: false, encoding: .utf8)
        return dir + name
    }

    func testEvalAndScoreWithARewardModel() throws {
        let (base, rm) = try TinyRewardModels.writeDigitRewardModel(dir: dir)
        let test = try write(try ScalarEvaluationTests.handItems().map { try $0.jsonLine() }, "test.jsonl")
        let eval = try run(["eval", "--rm", rm, "--model", base, "--data", test, "--out", dir + "report.json"])
        XCTAssertEqual(eval.status, 0, eval.err)
        XCTAssertTrue(eval.out.contains("| math          |     3 |    33.3 (6.1-79.2) |"), eval.out)
        XCTAssertTrue(eval.out.contains("| **overall**   |     8 |   50.0 (21.5-78.5) |"), eval.out)
        XCTAssertTrue(eval.err.contains("15 responses scored in") && eval.err.contains("responses/s"), eval.err)
        let report = try JSONDecoder().decode(RewardEvaluationReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "report.json")))
        XCTAssertEqual(report.scalar?.report.overall.correct, 4)
        XCTAssertEqual(report.model, "digit-rm.gguf (scalar) on digit-base.gguf")
        XCTAssertTrue(try String(contentsOfFile: dir + "report.svg", encoding: .utf8).contains("scalar"))

        // Scoring reads items without labels; labelled ones are judged by the same rule.
        let items = try write(
            [
                #"{"id":"u1","prompt":"q","responses":["a 9","b 2"]}"#, #"{"id":"u2","prompt":"q","response":"answer 7"}"#,
                #"{"id":"l1","prompt":"q","response":"answer 7","label":0}"#
            ], "items.jsonl")
        let score = try run(["score", "--rm", rm, "--model", base, "--data", items, "--json"])
        XCTAssertEqual(score.status, 0, score.err)
        let lines = try score.out.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        XCTAssertEqual(lines.map { $0["id"] }, [.string("u1"), .string("u2"), .string("l1")])
        XCTAssertEqual(lines[0]["pick"], .integer(0))
        XCTAssertNil(lines[0]["correct"])
        XCTAssertEqual(lines[1]["predicted_label"], .integer(1))
        XCTAssertEqual(lines[2]["outcome"], .string("wrong"))
        XCTAssertTrue(score.err.contains("0/1 labelled items right"), score.err)

        // A malformed line stops every reward-model command with its file and line number.
        let bad = try write(
            [#"{"prompt":"q","chosen":"x 1","rejected":"y 2"}"#, "", #"{"prompt":"q","chosen":"a","rejected":"b","margin":"1"}"#], "bad.jsonl")
        for command in [
            ["score", "--rm", rm, "--model", base], ["eval", "--rm", rm, "--model", base],
            ["train", "rm", "--model", base, "--head-only", "--out", dir + "x.gguf"]
        ] {
            let r = try run(command + ["--data", bad])
            XCTAssertNotEqual(r.status, 0, command.joined(separator: " "))
            XCTAssertTrue(r.err.contains("bad.jsonl:3: margin must be a number, got a string"), "\(command): \(r.err)")
        }
        // Evaluation needs labels: an unlabelled line is refused by number.
        let r = try run(["eval", "--rm", rm, "--model", base, "--data", items])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("items.jsonl:1: a listwise item needs"), r.err)
    }

    /// `grm train rm` with --checkpoint writes a checkpoint that --resume continues from, to the
    /// same reward model file byte for byte; other settings, data or base are refused by name.
    func testTrainWithCheckpointsAndResume() throws {
        try TinyRewardModels.writeBase(to: dir + "base.gguf")
        try TinyRewardModels.writeBase(to: dir + "other.gguf", seed: 12)
        let train = try write(
            (0..<6).map { i in #"{"prompt":"\#(i) + \#(i)?","chosen":"\#(2 * i)","rejected":"\#(2 * i + 1)","margin":\#(Double(i) / 4)}"# },
            "train.jsonl")
        let other = try write([#"{"prompt":"1 + 1?","chosen":"2","rejected":"3"}"#], "other.jsonl")
        for mode in [["--head-only", "--batch", "2"], ["--lora-rank", "2", "--batch", "2", "--ctx", "256"]] {
            let common = ["train", "rm", "--model", dir + "base.gguf", "--data", train, "--steps", "4", "--seed", "3"] + mode
            let first = try run(common + ["--checkpoint", dir + "ck.gguf", "--save-every", "2", "--out", dir + "a.gguf"])
            XCTAssertEqual(first.status, 0, first.err)
            let again = try run(common + ["--resume", dir + "ck.gguf", "--out", dir + "b.gguf"])
            XCTAssertEqual(again.status, 0, again.err)
            XCTAssertTrue(again.err.contains("resumed from \(dir!)ck.gguf at step 4"), again.err)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "a.gguf")), try Data(contentsOf: URL(fileURLWithPath: dir + "b.gguf")))
            for (change, key) in [
                (["--lr", "0.5"], "rm.lr"), (["--data", other], "rm.data"), (["--model", dir + "other.gguf"], "rm.base")
            ] {
                var args = common + ["--resume", dir + "ck.gguf", "--out", dir + "c.gguf"]
                if let i = args.firstIndex(of: change[0]), change[0] != "--lr" { args[i + 1] = change[1] } else { args += change }
                let r = try run(args)
                XCTAssertNotEqual(r.status, 0, "\(mode) \(change)")
                XCTAssertTrue(r.err.contains("saved with \(key) = "), "\(mode) \(change): \(r.err)")
            }
        }
    }

    /// `grm train rm --head semi-scalar`: critiques written once into the cache and reused (the
    /// same reward model again, with nothing generated), the file's kind, template and cap, and
    /// `score`/`eval --rm` over it; without --head-only it is refused.
    func testSemiScalarTrainReusesCritiquesAndScores() throws {
        var config = TinyRewardModels.config
        config.contextLength = 2048
        let base = dir + "base.gguf"
        try TinyRewardModels.writeBase(to: base, config: config)
        let train = try write(
            (0..<4).map { i in #"{"id":"p\#(i)","prompt":"\#(i) + 1?","chosen":"\#(i + 1)","rejected":"\#(i + 2)"}"# }, "train.jsonl")
        let common = [
            "train", "rm", "--head", "semi-scalar", "--head-only", "--model", base, "--data", train, "--steps", "3", "--batch", "2",
            "--critique-tokens", "4", "--ctx", "2048"
        ]
        let first = try run(common + ["--out", dir + "semi.gguf"])
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.err.contains("8 critiques (8 written now)"), first.err)
        let cache = dir + "semi.gguf.critiques.jsonl"
        XCTAssertEqual(try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n").count, 8)
        XCTAssertEqual(try CritiqueCache(path: cache).entries.count, 8)
        let again = try run(common + ["--out", dir + "semi2.gguf", "--critiques", cache])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.err.contains("8 critiques (0 written now)"), again.err)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "semi.gguf")), try Data(contentsOf: URL(fileURLWithPath: dir + "semi2.gguf")))
        let rm = try RewardModelFile(gguf: dir + "semi.gguf")
        XCTAssertEqual(rm.kind, .semiScalar)
        XCTAssertEqual(rm.critiqueTokens, 4)
        XCTAssertEqual(rm.judgeTemplate, JudgePromptTemplates.standard.single)

        let score = try run(["score", "--rm", dir + "semi.gguf", "--model", base, "--data", train, "--json"])
        XCTAssertEqual(score.status, 0, score.err)
        let lines = try score.out.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        XCTAssertEqual(lines.count, 4)
        for line in lines {
            guard case let .array(r)? = line["rewards"] else { return XCTFail("no rewards in \(line)") }
            XCTAssertEqual(r.count, 2)
        }
        let eval = try run(["eval", "--rm", dir + "semi.gguf", "--model", base, "--data", train, "--out", dir + "semi.json"])
        XCTAssertEqual(eval.status, 0, eval.err)
        XCTAssertTrue(eval.err.contains("8 responses scored in"), eval.err)
        let report = try JSONDecoder().decode(RewardEvaluationReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "semi.json")))
        XCTAssertEqual(report.model, "semi.gguf (semi-scalar) on base.gguf")
        XCTAssertEqual(report.scalar?.report.overall.total, 4)

        let refused = try run(["train", "rm", "--head", "semi-scalar", "--model", base, "--data", train, "--out", dir + "x.gguf"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("--head semi-scalar needs --head-only"), refused.err)
    }

    /// `grm spct metarm` on judgements saved in its trajectories file (a tiny judge writes no
    /// parsable judgement, so they are written here): labelled by the rule, a meta RM file
    /// written; then `grm eval --meta` reports meta-guided voting beside voting. A trajectories
    /// line of another item is refused with its line number.
    func testMetaRMTrainsOnSavedJudgementsAndGuidesVoting() throws {
        var config = TinyRewardModels.config
        config.contextLength = 2048
        let base = dir + "base.gguf"
        try TinyRewardModels.writeBase(to: base, config: config)
        let net = try LlamaModel(gguf: try GGUFFile(path: base), mode: .lora(LoRASettings(rank: 2, alpha: 4, seed: 3)), contextLength: 2048)
        try net.loraAdapter().write(gguf: dir + "judge.gguf")
        let items = (0..<4).map { i in #"{"id":"m\#(i)","prompt":"\#(i) + 1?","responses":["\#(i + 1)","\#(i + 2)"],"best":0}"# }
        let data = try write(items, "items.jsonl")
        // Sample 1 of each item is right (Response 1 shown first, scored higher), sample 2 wrong.
        let judged = (0..<4).map { i in
            #"{"id":"m\#(i)","responses":["\#(i + 1)","\#(i + 2)"],"samples":["#
                + #"{"order":[0,1],"text":"Scores: \\boxed{9, 2}"},{"order":[1,0],"text":"Scores: \\boxed{8, 3}"}]}"#
        }
        let trajectories = try write(judged, "traj.jsonl")
        let common = [
            "spct", "metarm", "--model", base, "--lora", dir + "judge.gguf", "--data", data, "--samples", "2", "--batch", "4",
            "--epochs", "2", "--trajectories", trajectories
        ]
        let r = try run(common + ["--out", dir + "meta.gguf"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("8 judgements of 4 items (0 sampled now"), r.err)
        XCTAssertTrue(r.err.contains("4 correct (50.0%), 0 parse failures"), r.err)
        let meta = try RewardModelFile(gguf: dir + "meta.gguf")
        XCTAssertEqual(meta.kind, .meta)
        XCTAssertNotNil(meta.adapter)
        XCTAssertNotNil(meta.head.bias)

        let eval = try run([
            "eval", "--model", base, "--lora", dir + "judge.gguf", "--meta", dir + "meta.gguf", "--meta-keep", "1", "--data", data,
            "--k", "1,2", "--max-tokens", "3", "--out", dir + "report.json"
        ])
        XCTAssertEqual(eval.status, 0, eval.err)
        XCTAssertTrue(eval.out.contains("meta@2 keep 1"), eval.out)
        // The accuracy table's category rows fill the meta columns too (header, rule, then categories).
        let tableRows = eval.out.split(separator: "\n").filter { $0.hasPrefix("|") }
        let firstCategory = tableRows[2].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertFalse(firstCategory.last!.isEmpty, "no meta@2 cell: \(tableRows[2])")
        let report = try JSONDecoder().decode(RewardEvaluationReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "report.json")))
        XCTAssertEqual(report.sampled?.report.curve.map(\.metaKeep), [1, 1])
        // grm score shows each sample's rating and which of them voted.
        let scored = try run([
            "score", "--model", base, "--lora", dir + "judge.gguf", "--meta", dir + "meta.gguf", "--meta-keep", "1", "--data", data,
            "--k", "2", "--max-tokens", "3"
        ])
        XCTAssertEqual(scored.status, 0, scored.err)
        let sampleLines = scored.out.split(separator: "\n").filter { $0.contains(" shown as [") }
        XCTAssertFalse(sampleLines.isEmpty, scored.out)
        XCTAssertTrue(sampleLines.allSatisfy { $0.contains(" meta ") && ($0.hasSuffix("kept") || $0.hasSuffix("dropped")) }, scored.out)
        XCTAssertTrue(scored.out.contains("sample(s) the meta RM kept"), scored.out)

        var wrong = judged
        wrong[2] = wrong[2].replacingOccurrences(of: "\"3\",\"4\"", with: "\"3\",\"5\"")
        let bad = try write(wrong, "bad.jsonl")
        var args = common + ["--out", dir + "x.gguf"]
        args[args.firstIndex(of: trajectories)!] = bad
        let refused = try run(args)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("bad.jsonl:3: this line judges another item"), refused.err)
    }

    /// A judge adapter records the prompt it was trained on (`--adapter-meta`), keeps it through
    /// `--init-lora`, and the judge commands read it back; a meta RM fitted to another prompt is
    /// refused beside it.
    func testJudgePromptTravelsWithTheAdapter() throws {
        var config = TinyRewardModels.config
        config.contextLength = 2048
        let base = dir + "base.gguf"
        try TinyRewardModels.writeBase(to: base, template: TinyRewardModels.plainTemplate, config: config)
        let chats = try write([#"{"prompt": "3 + 4?", "completion": "7"}"#], "chats.jsonl")
        let sft = ["train", "sft", "--model", base, "--data", chats, "--steps", "1", "--val-fraction", "0"]
        let first = try run(sft + ["--adapter-meta", "judge.template=compact", "--out", dir + "a.gguf"])
        XCTAssertEqual(first.status, 0, first.err)
        let second = try run(sft + ["--init-lora", dir + "a.gguf", "--out", dir + "b.gguf"])
        XCTAssertEqual(second.status, 0, second.err)
        XCTAssertEqual(try LoRAAdapter(gguf: dir + "b.gguf").metadata[JudgePromptTemplates.metadataKey], "compact")

        let items = try write([#"{"prompt": "2 + 2?", "responses": ["4", "5"], "best": 0}"#], "items.jsonl")
        let eval = ["eval", "--model", base, "--lora", dir + "b.gguf", "--data", items, "--k", "1", "--max-tokens", "2"]
        let judged = try run(eval + ["--out", dir + "judged.json"])
        XCTAssertEqual(judged.status, 0, judged.err)
        XCTAssertTrue(judged.err.contains("judge template: compact (recorded in the adapter)"), judged.err)
        try RewardModelFile(
            kind: .meta, architecture: "llama", head: ScalarHead(dim: config.dim, bias: true), baseName: "base.gguf",
            baseSHA256: try SHA256.file(base), judgeTemplate: JudgePromptTemplates.standard.multi
        ).write(gguf: dir + "meta.gguf")
        let mixed = try run(eval + ["--meta", dir + "meta.gguf"])
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertTrue(mixed.err.contains("--meta was trained on the standard judge template, the judge uses compact"), mixed.err)
    }
}
