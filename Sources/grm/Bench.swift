import ArgumentParser
import Foundation
import KernelBench
import Tensor

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: a model (llama-bench conventions) with --model, or a subcommand.",
        subcommands: [ModelBenchCommand.self, Kernels.self, GEMMOnly.self, TokenizerBench.self],
        // The model benchmark is the default subcommand rather than options of `bench` itself:
        // options of a parent are matched before its subcommands', so a parent `--model` took
        // `grm bench tokenizer --model FILE`'s argument away from the subcommand.
        defaultSubcommand: ModelBenchCommand.self)
}

/// `grm bench --model FILE ...` (llama-bench conventions).
struct ModelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "A model's prompt processing and generation speed (llama-bench conventions).")

    @OptionGroup var model: ModelBenchOptions

    func run() throws {
        guard model.model != nil else { throw CleanExit.helpRequest(BenchCommand.self) }
        try ModelBench(options: model).run()
    }
}

struct BenchOptions: ParsableArguments {
    @Flag(help: "Fewer shapes and shorter runs (about a minute).")
    var quick = false
    @Option(help: "Runs per measurement; the median and range are reported.")
    var repeats: Int?
    @Option(help: "Seconds per run.")
    var seconds: Double?
    @Flag(help: "Print JSON instead of a table.")
    var json = false

    var runs: Int { repeats ?? (quick ? 3 : 5) }
    var slice: Double { seconds ?? (quick ? 0.08 : 0.2) }
    var gemmShapes: [GEMMBench.Shape] {
        quick ? GEMMBench.shapes.filter { $0.m != 1 || $0.n == 49152 } : GEMMBench.shapes
    }
}

/// One row of the kernel report as JSON.
struct Row: Codable {
    var kernel: String
    var shape: String
    var unit: String
    var variant: String
    var median: Double
    var min: Double
    var max: Double
    var runs: Int

    init(_ m: KernelBench.Measurement, variant: String) {
        kernel = m.unit == "GFLOP/s" ? "sgemm" : m.name
        shape = m.shape
        unit = m.unit
        self.variant = variant
        median = m.median
        self.min = m.min
        self.max = m.max
        runs = m.runs
    }
}

extension BenchCommand {
    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Kernel microbenchmarks: ours beside OpenBLAS as shipped and OpenBLAS-SkylakeX, in one run.")
        @OptionGroup var options: BenchOptions
        @Option(help: "Only these groups: gemm, memory, quant, attention, lowrank (default: all).")
        var only: [String] = []
        @Option(help: "quant group: only these weight types (f32, f16, q4_1, ...; default: all).")
        var types: [String] = []
        @Option(name: .customLong("rows"), help: "quant group: activation rows (default: 1 and 512).")
        var quantRows: [Int] = []

        func run() throws {
            let log: (String) -> Void = { options.json ? printError($0) : print($0) }
            let groups = Set(only.isEmpty ? ["gemm", "memory", "quant", "attention", "lowrank"] : only)
            log("setup: \(GEMMBench.setup)")
            log("\n== read bandwidth (anchor for memory-bound kernels)")
            let anchor = MemoryBench.readBandwidth(repeats: options.runs, seconds: options.slice)
            log(String(format: "read: %.1f GB/s (median of %d, %.1f..%.1f)", anchor.median, anchor.runs, anchor.min, anchor.max))

            var rows: [Row] = [Row(anchor, variant: "anchor")]
            if groups.contains("gemm") {
                log("\n== sgemm, GFLOP/s: ours and OpenBLAS (\(OpenBLAS.coreName ?? "unavailable"), in process)")
                for m in GEMMBench.run(shapes: options.gemmShapes, repeats: options.runs, seconds: options.slice, log: log) {
                    rows.append(Row(m, variant: m.name))
                }
                // OpenBLAS in the configurations this process did not load, each in a child process
                // (the core type is fixed when the library loads).
                for (label, core) in [("openblas-shipped", "shipped"), ("openblas-SkylakeX", "SkylakeX")] {
                    if core == "SkylakeX" && !CPU.hasAVX512 {
                        log("\n== \(label): not measured: this CPU has no AVX-512 (SkylakeX kernels would crash)")
                        continue
                    }
                    if core == "shipped" && !OpenBLAS.coreTypeChoice.hasPrefix("shipped") || core == "SkylakeX" {
                        log("\n== \(label), in a child process with GRM_OPENBLAS_CORETYPE=\(core)")
                        for row in try childOpenBLAS(core: core) {
                            var r = row
                            r.variant = label
                            rows.append(r)
                            log(String(format: "%-20@ %-18@ %7.1f %@", r.shape as NSString, label as NSString, r.median, r.unit as NSString))
                        }
                    } else {
                        log("\n== \(label): the in-process OpenBLAS above is as shipped")
                    }
                }
            }

            log("\n== memory-bound kernels, GB/s (read + written); anchor \(String(format: "%.1f", anchor.median)) GB/s")
            for m in groups.contains("memory") ? MemoryBench.run(repeats: options.runs, seconds: options.slice, quick: options.quick) : [] {
                rows.append(Row(m, variant: "own"))
                log(
                    String(
                        format: "%-14@ %-28@ %7.1f GB/s  (%.1f..%.1f)  %3.0f%% of read bandwidth",
                        m.name as NSString, m.shape as NSString, m.median, m.min, m.max, m.median / anchor.median * 100))
            }
            if groups.contains("quant") {
                log(
                    "\n== X[M,K] * W^T, W [N,K] in each weight type (\(QuantMatmul.activationMode == .q8 ? "int8 activations for Q4_0/Q4_1/Q8_0 up to 32 rows (GRM_QMM_ACT=q8)" : "exact f32 activations")): GB/s of weights "
                        + "for 1 row, GFLOP/s for 512; f32 = own GEMM for reference; anchor "
                        + String(format: "%.1f", anchor.median) + " GB/s")
                let chosen =
                    types.isEmpty
                    ? QuantBench.types
                    : QuantBench.types.filter { types.map { $0.lowercased() }.contains($0.description) }
                for m in QuantBench.run(
                    types: chosen, rows: quantRows.isEmpty ? [1, 512] : quantRows,
                    repeats: options.runs, seconds: options.slice,
                    quick: options.quick, log: log)
                {
                    var row = Row(m, variant: m.name)
                    row.kernel = "linear"
                    rows.append(row)
                }
            }
            if groups.contains("attention") {
                log(
                    "\n== decode attention, SmolLM2 shape (9 heads, 3 KV heads of 64, 30 layers): B sequences "
                        + "sharing a 256-position prompt, 64 positions each of their own, one new row each")
                for m in AttentionBench.run(repeats: options.runs, seconds: options.slice, log: log) {
                    var row = Row(m, variant: "own")
                    row.kernel = "attention"
                    rows.append(row)
                }
            }
            if groups.contains("lowrank") {
                log(
                    "\n== LoRA update y += (x A^T) Bt, unmerged (SmolLM2 projections, rank 16), GFLOP/s: ours with f16 and f32 "
                        + "factors, OpenBLAS as two sgemm calls")
                for m in LowRankBench.run(quick: options.quick, repeats: options.runs, seconds: options.slice, log: log) {
                    var row = Row(m, variant: m.name)
                    row.kernel = "lowrank"
                    rows.append(row)
                }
            }
            if options.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            }
        }

        /// Runs `grm bench gemm --openblas-only --json` with the given core type choice.
        func childOpenBLAS(core: String) throws -> [Row] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
            if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
                process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            }
            var args = [
                "bench", "gemm", "--openblas-only", "--json", "--repeats", "\(options.runs)",
                "--seconds", "\(options.slice)"
            ]
            if options.quick { args.append("--quick") }
            process.arguments = args
            var env = ProcessInfo.processInfo.environment
            env["GRM_OPENBLAS_CORETYPE"] = core
            env.removeValue(forKey: "OPENBLAS_CORETYPE")
            process.environment = env
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ValidationError("the OpenBLAS \(core) child process failed (status \(process.terminationStatus))")
            }
            // The child prints its rows as one JSON line, last; a library that writes to stdout
            // (OpenBLAS warnings, say) must not break the report, so only that line is decoded.
            let text = String(decoding: data, as: UTF8.self)
            guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("[") }),
                let rows = try? JSONDecoder().decode([Row].self, from: Data(line.utf8))
            else {
                throw ValidationError("the OpenBLAS \(core) child process printed no JSON rows:\n\(text.suffix(2000))")
            }
            return rows
        }
    }

    struct GEMMOnly: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gemm", abstract: "sgemm GFLOP/s at the SmolLM2 shapes and 1024^3.")
        @OptionGroup var options: BenchOptions
        @Flag(help: "Measure only OpenBLAS (used by `bench kernels` for other core types).")
        var openblasOnly = false

        func run() throws {
            let log: (String) -> Void = { options.json ? printError($0) : print($0) }
            log("setup: \(GEMMBench.setup)")
            let results = GEMMBench.run(
                shapes: options.gemmShapes, repeats: options.runs, seconds: options.slice,
                includeOwn: !openblasOnly, log: log)
            if options.json {
                let rows = results.filter { !openblasOnly || $0.name == "openblas" }.map { Row($0, variant: $0.name) }
                print(String(decoding: try JSONEncoder().encode(rows), as: UTF8.self))
            }
        }
    }
}
