import Foundation
import XCTest
@testable import Reward
@testable import Tensor
@testable import Transformer

/// Every `$G ...` line of README.md's shell blocks, run as a user would (through `/bin/sh`, `G`
/// the `grm` built beside the tests, `M` a tiny model this test writes), in the order the README
/// lists them; a line that exits non-zero fails the test with its output. Optional parts in
/// brackets are run included. The lines are read from README.md itself, so a documented command
/// cannot break, or be added, without this test running it.
///
/// Only the amount of work is cut: commands that train, sample or measure get options that
/// make them short (`budget`), appended after the README's own arguments (the last value of an
/// option wins), so every option the README writes is still parsed and used.
final class ReadmeCommandLineTests: XCTestCase {
    /// Extra arguments per command prefix, to keep the run to seconds on a tiny model (and, for
    /// GRPO, a context that holds the byte-level tokenisation of the synthetic prompts).
    static let budget: [(prefix: String, extra: String)] = [
        ("bench kernels", "--quick --repeats 1 --seconds 0.01"),
        ("bench tokenizer", "--repeats 1"),
        ("bench ", "-p 16 -n 4 -r 1"),
        ("train sft --model $M --data cold.jsonl", "--steps 1 --ctx 4096"),
        ("train sft", "--steps 1"),
        ("train rm --model $M --data train.jsonl --head semi-scalar", "--steps 1 --critique-tokens 4 --ctx 4096"),
        ("train rm", "--steps 1"),
        ("train-bench", "--layers 1 --batch 1 --seq 16 --steps 1"),
        ("train-toy", "--steps 2 --eval 2"),
        ("data synth", "--n 6"),
        ("eval --model", "--max-tokens 4 --limit 2"),
        ("eval --rm", "--limit 2"),
        ("score --model", "--max-tokens 4"),
        ("spct rft", "--max-tokens 4 --samples 1"),
        ("spct grpo", "--steps 1 --max-tokens 4 --ctx 4096"),
        ("spct metarm", "--samples 2 --max-tokens 4 --limit 3")
    ]

    /// The one documented refusal a random model meets: rejective fine-tuning samples and filters
    /// every item, keeps no correct judgement (a random model writes none) and stops before
    /// training, exit status 1 with this message; any other failure of that line still fails.
    /// The meta RM's trainer likewise finds no correct judgement to learn from; the test then
    /// writes a meta RM file for the lines that use one.
    static let refusals: [(prefix: String, message: String)] = [
        ("spct rft", "rft: nothing was kept: no adapter to train"),
        ("spct metarm", "metarm: every judgement has the same label: nothing to learn")
    ]

    /// The tiny model's vocabulary: the 256 byte tokens, then filler tokens up to this size, so the
    /// README's token ids (up to 19556, SmolLM2's) exist.
    static let vocabulary = 20000

    func testEveryReadmeCommandLineRuns() throws {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = Self.commandLines(readme)
        XCTAssertGreaterThan(lines.count, 20, "README.md's command lines were not found")

        let grm = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("grm").path
        guard FileManager.default.isExecutableFile(atPath: grm) else { throw XCTSkip("no grm executable beside the tests (\(grm))") }
        let dir = try TinyRewardModels.temporaryDirectory(self, "readme")
        try writeInputs(dir: dir, root: root)

        for line in lines {
            // Adapters the README's lines read but make in prose (the cold start) or, on a model
            // that cannot judge, not at all (rejective fine-tuning keeps nothing): the SFT line's.
            // The judge adapter the semi-scalar line names is the shipped one; here, the SFT line's too.
            for (option, name) in [("--lora", "cold.gguf"), ("--lora", "rft.gguf"), ("--critic-lora", "weights/grm-judge.gguf")]
            where line.contains("\(option) \(name)") && !FileManager.default.fileExists(atPath: dir + name) {
                try FileManager.default.createDirectory(
                    atPath: (dir + name as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: dir + "adapter.gguf", toPath: dir + name)
            }
            if line.contains("--meta meta.gguf") && !FileManager.default.fileExists(atPath: dir + "meta.gguf") {
                try RewardModelFile(
                    kind: .meta, architecture: "llama", head: ScalarHead(dim: TinyRewardModels.config.dim, bias: true), baseName: "tiny.gguf",
                    baseSHA256: try SHA256.file(dir + "tiny.gguf"), judgeTemplate: JudgePromptTemplates.standard.multi
                ).write(gguf: dir + "meta.gguf")
            }
            let command = Self.runnable(line)
            let (status, output) = try run(command, grm: grm, dir: dir)
            if let expected = Self.refusals.first(where: { line.dropFirst(3).hasPrefix($0.prefix) })?.message, status == 1 {
                XCTAssertTrue(output.contains(expected), "README line `\(line)` (run as `\(command)`) failed:\n\(output.suffix(3000))")
                continue
            }
            XCTAssertEqual(status, 0, "README line `\(line)` (run as `\(command)`) failed:\n\(output.suffix(3000))")
        }
    }

    /// `$G ...` lines of the README's sh blocks, comments removed.
    static func commandLines(_ readme: String) -> [String] {
        var inShell = false, lines: [String] = []
        for raw in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                inShell = !inShell && line == "```sh"
                continue
            }
            guard inShell, line.hasPrefix("$G ") else { continue }
            let code = line.range(of: " #").map { String(line[..<$0.lowerBound]) } ?? line
            lines.append(code.trimmingCharacters(in: .whitespaces))
        }
        return lines
    }

    /// The line with its optional parts included and the budget's arguments appended.
    static func runnable(_ line: String) -> String {
        var command = line.replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "")
        let words = command.dropFirst(3)
        if let extra = budget.first(where: { words.hasPrefix($0.prefix) })?.extra { command += " " + extra }
        return command
    }

    func run(_ command: String, grm: String, dir: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.environment = ProcessInfo.processInfo.environment.merging(["G": grm, "M": dir + "tiny.gguf"]) { $1 }
        let outPath = dir + "output.txt"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardOutput = out
        p.standardError = out
        // `grm chat` reads one message, then the end of input.
        FileManager.default.createFile(atPath: dir + "stdin.txt", contents: Data("Hello\n".utf8))
        p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: dir + "stdin.txt"))
        try p.run()
        p.waitUntilExit()
        try out.close()
        return (p.terminationStatus, try String(contentsOfFile: outPath, encoding: .utf8))
    }

    /// The tiny model and the input files the README's lines name without making them.
    func writeInputs(dir: String, root: URL) throws {
        try writeTinyModel(to: dir + "tiny.gguf")
        try FileManager.default.createSymbolicLink(atPath: dir + "examples", withDestinationPath: root.appendingPathComponent("examples").path)
        let files: [String: String] = [
            "chat.json": #"[{"role": "user", "content": "Hi"}]"#,
            "p.txt": "Once upon a time",
            "chats.jsonl": [
                #"{"messages": [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "4"}]}"#,
                #"{"prompt": "3 + 4?", "completion": "7"}"#
            ].joined(separator: "\n"),
            "items.jsonl": [
                #"{"id": "a", "prompt": "What is 17 * 6?", "responses": ["102", "112"]}"#,
                #"{"id": "b", "prompt": "Capital of France?", "response": "Paris"}"#
            ].joined(separator: "\n")
        ]
        for (name, text) in files { try (text + "\n").write(toFile: dir + name, atomically: false, encoding: .utf8) }
        // Training items for the reward-model and SPCT lines, made as the README makes its test split.
        let grm = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("grm").path
        let (status, output) = try run("\"$G\" data synth --n 6 --seed 2 --split train --out train.jsonl", grm: grm, dir: dir)
        XCTAssertEqual(status, 0, output)
    }

    /// A 2-layer model with random weights, the byte vocabulary padded with filler tokens, and
    /// an end-of-sequence token.
    func writeTinyModel(to path: String) throws {
        var config = TinyRewardModels.config
        config.vocabSize = Self.vocabulary
        config.contextLength = 4096
        let model = try LlamaModel(config: config, seed: 5)
        var tokens = TinyRewardModels.byteChars
        for i in tokens.count..<Self.vocabulary { tokens.append("<filler\(i)>") }
        var meta = try config.ggufMetadata(name: "readme-tiny")
        meta["tokenizer.ggml.model"] = .string("gpt2")
        meta["tokenizer.ggml.pre"] = .string("gpt-2")
        meta["tokenizer.ggml.tokens"] = .array(.string(tokens))
        meta["tokenizer.ggml.token_type"] = .array(.int32([Int32](repeating: 1, count: tokens.count)))
        meta["tokenizer.ggml.merges"] = .array(.string([]))
        meta["tokenizer.ggml.eos_token_id"] = .uint32(0)
        var writer = GGUFWriter(metadata: meta)
        for v in model.variables { try writer.add(v.name, v.value) }
        try writer.write(to: path)
    }
}
