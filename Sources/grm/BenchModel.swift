import ArgumentParser
import Foundation
import Tensor
import Transformer

struct ModelBenchOptions: ParsableArguments {
    @Option(help: "GGUF model to benchmark (omit to pick a subcommand).")
    var model: String?
    @Option(name: .shortAndLong, help: "Prompt tokens for the prompt-processing test (pp); 0 skips it.")
    var p = 512
    @Option(name: .shortAndLong, help: "Generated tokens for the text-generation test (tg); 0 skips it.")
    var n = 128
    @Option(name: .shortAndLong, help: "Threads (default: GRM_THREADS or every core).")
    var t: Int?
    @Option(name: .shortAndLong, help: "Repetitions after one warm-up; mean and standard deviation are reported.")
    var r = 5
    @Option(help: "Also measure this many parallel sequences decoding n tokens after a shared 256-token prompt.")
    var batch: Int?
    @Option(help: "KV cache type: f32 or f16.")
    var kv = "f32"
    @Option(help: EngineOptions.activationsHelp)
    var activations: String?
    @Option(help: EngineOptions.loraHelp)
    var lora: String?
    @Option(help: EngineOptions.loraScaleHelp)
    var loraScale: Float = 1
    @Flag(help: "Print JSON instead of a table.")
    var json = false
}

/// llama-bench's conventions: random token ids; pp = one forward pass over p prompt tokens from an
/// empty cache; tg = n single-token steps from an empty cache; t/s mean +- sd over r repetitions
/// after a warm-up. `--batch B` adds B sequences forked from one 256-token prompt decoding n
/// tokens together (aggregate t/s), against one sequence decoding after the same prompt.
struct ModelBench {
    struct Result: Codable {
        let test: String
        let tokens: Int
        let mean: Double
        let sd: Double
        let runs: [Double]
    }

    let options: ModelBenchOptions

    func run() throws {
        let o = options
        guard o.p >= 0, o.n >= 0, o.r > 0 else { throw ValidationError("-p and -n must be >= 0 and -r > 0") }
        let kvType = try EngineOptions.kvType(o.kv)
        if let t = o.t { try EngineOptions.useThreads(t, option: "-t") }
        if let a = o.activations { try EngineOptions.useActivations(a) }
        let context = max(o.p, o.n, 256 + o.n) + 1
        let file = try GGUFFile(path: o.model!)
        let engine = try LlamaInference(
            gguf: file, kvType: kvType, contextLength: context,
            adapter: try EngineOptions.loadAdapter(o.lora, scale: o.loraScale, base: file),
            adapterScale: o.loraScale)
        guard context <= engine.config.contextLength else {
            throw ValidationError("the tests need \(context) positions; the model's context is \(engine.config.contextLength)")
        }
        var rng = SeededRandom(seed: 42)
        let vocab = UInt64(engine.config.vocabSize)
        func randomTokens(_ count: Int) -> [Int32] { (0..<count).map { _ in Int32(rng.next() % vocab) } }

        var results: [Result] = []
        func measure(_ name: String, tokens: Int, _ body: () throws -> Double) throws {
            _ = try body()  // warm-up
            var rates: [Double] = []
            for _ in 0..<o.r { rates.append(try body()) }
            let mean = rates.reduce(0, +) / Double(rates.count)
            let sd = rates.count > 1 ? (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rates.count - 1)).squareRoot() : 0
            let r = Result(test: name, tokens: tokens, mean: mean, sd: sd, runs: rates)
            results.append(r)
            if !o.json { printError(String(format: "%@  %.2f ± %.2f t/s", name, mean, sd)) }
        }
        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        if o.p > 0 {
            let prompt = randomTokens(o.p)
            try measure("pp\(o.p)", tokens: o.p) {
                let s = try engine.newSequence(capacity: o.p)
                return Double(o.p) / (try seconds { _ = try engine.forward([ForwardRequest(sequence: s, tokens: prompt)]) })
            }
        }
        if o.n > 0 {
            let tokens = randomTokens(o.n)
            try measure("tg\(o.n)", tokens: o.n) {
                let s = try engine.newSequence(capacity: o.n)
                return Double(o.n) / (try seconds { for t in tokens { _ = try engine.forward([ForwardRequest(sequence: s, tokens: [t])]) } })
            }
        }
        if let b = o.batch, b > 0, o.n > 0 {
            let prompt = randomTokens(256)
            let root = try engine.newSequence(capacity: 256)
            _ = try engine.forward([ForwardRequest(sequence: root, tokens: prompt, logits: .none)])
            let steps = (0..<o.n).map { _ in randomTokens(b) }
            try measure("tg\(o.n) after pp256, 1 sequence", tokens: o.n) {
                let s = try root.fork(capacity: o.n)
                return Double(o.n) / (try seconds { for st in steps { _ = try engine.forward([ForwardRequest(sequence: s, tokens: [st[0]])]) } })
            }
            try measure("tg\(o.n) after pp256, \(b) sequences (aggregate)", tokens: o.n * b) {
                let forks = try (0..<b).map { _ in try root.fork(capacity: o.n) }
                return Double(o.n * b)
                    / (try seconds {
                        for st in steps { _ = try engine.forward(forks.indices.map { ForwardRequest(sequence: forks[$0], tokens: [st[$0]]) }) }
                    })
            }
        }
        let peak = peakResidentBytes()
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: o.model!)[.size] as? Int) ?? 0
        if o.json {
            struct Report: Codable {
                let model: String
                let threads: Int
                let kv: String
                let int8Activations: Bool
                let results: [Result]
                let peakResidentBytes: Int
                let fileBytes: Int
            }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try enc.encode(
                Report(
                    model: o.model!, threads: ThreadPool.shared.threadCount, kv: o.kv, int8Activations: QuantMatmul.activationMode.roundsToInt8,
                    results: results,
                    peakResidentBytes: peak, fileBytes: fileBytes))
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("| model | threads | test | t/s |")
            print("|---|---|---|---|")
            let name = URL(fileURLWithPath: o.model!).lastPathComponent
            for r in results {
                print(String(format: "| %@ | %d | %@ | %.2f ± %.2f |", name, ThreadPool.shared.threadCount, r.test, r.mean, r.sd))
            }
            print(String(format: "peak resident memory %.1f MB (file %.1f MB)", Double(peak) / 1e6, Double(fileBytes) / 1e6))
        }
    }
}
