import Foundation

/// The engine's settings in one value: which product kernels run and up to how many rows, the
/// GEMM backend, the thread count and the buffer cache's size. They are read from the
/// environment in one place (`init(environment:)`), held in `EngineSettings.current`, and can be
/// changed for a scope with `with(_:_:)`, which restores the previous settings afterwards:
///
///     try EngineSettings.with({ $0.activations = .q8; $0.threads = 1 }) { try model.forward(...) }
///
/// Kernels read `current` when a product starts, on the calling thread; change it only between
/// kernel calls (the thread pool's workers never write it). `spinMicroseconds` and
/// `bufferCacheBytes` size objects made once, at start, and `prefetchGroups` is read once; they
/// take their values from the environment only.
public struct EngineSettings: Equatable, Sendable {
    /// How products of up to `q8MaxRows` rows with Q4_0, Q4_1 or Q8_0 weights treat the
    /// activations (`GRM_QMM_ACT=q8`; default `.exact`, see `QuantMatmul.ActivationMode`).
    public var activations: QuantMatmul.ActivationMode = .exact
    /// Whether small products with a block-type weight take the fused kernels (scales applied per
    /// block, so not bit-identical to dequantise-then-GEMM) rather than decoding W rows for the f32
    /// kernels (bit-identical). `GRM_QMM_FUSED=0` turns them off (for benchmarks; tests do too).
    public var fusedKernels = true
    /// Rows the fused kernels take in one call: their register tile holds 8 activation rows, and
    /// at 8 rows they about break even with decoded rows + f32 kernels.
    public var fusedMaxRows = 8
    /// Rows up to which products run as fused chunks rather than through the packed GEMM path:
    /// up to 16 rows two fused chunks beat the packed path, at 32 they no longer do
    /// (docs/performance.md). `GRM_QMM_CHUNK_ROWS`.
    public var fusedChunkMaxRows = 16
    /// Rows up to which `.q8` products run on the int8 kernels rather than the f32 packed GEMM: at
    /// 32 rows the two are even, at 64 the packed GEMM wins (docs/performance.md). `GRM_QMM_Q8_ROWS`.
    public var q8MaxRows = 32
    /// Whether `.q8` products of more than `q8MaxRows` rows run on the int8 GEMM (`q8GEMM`, AVX-512
    /// VNNI builds on VNNI CPUs) rather than the f32 packed GEMM. `GRM_QMM_Q8_GEMM=0` turns it off.
    public var q8GEMM = true
    /// Whether `.q8` products on AVX-512 VNNI read Q4_0, Q4_1 and Q8_0 weights from int8 panels
    /// made once per weight and kept with it (`Tensor.q8Panels`: as many bytes again as the
    /// weight) rather than from the blocks. `GRM_QMM_PANELS=0` turns it off.
    public var q8Panels = true
    /// Whether `.bf16` tile products read the weight's bf16 panels made once and kept with it
    /// (`Tensor.bf16Panels`: 2 bytes per weight) rather than decoding 32 rows at a time per call.
    /// `GRM_BF16_PANELS=0` turns it off.
    public var bf16Panels = true
    /// Whether fused products on AVX-512 (up to `fusedChunkMaxRows` rows) read the weight's block scales from an f32 table
    /// made once and kept with it (`Tensor.fusedScales`: 8 bytes per 32 weights) rather than
    /// converting the blocks' f16 scales in the loop. The same results. `GRM_QMM_SCALES=0` turns it off.
    public var fusedScales = true
    /// Groups of four W rows ahead that the 1-row fused kernels prefetch: 0 asks for the group
    /// about to be read (all its lines at once), negative gives no hints (`GRM_QMM_PREFETCH`; read
    /// once, at start). By default 0 on AMD CPUs with AVX-512, 2 elsewhere: on the Zen 3 machine
    /// hints 2 groups ahead took a 1-row product from 3.8 to about 14 GB/s; on the AMD AVX-512 one
    /// the current group's hints decoded 20-30% faster than 2 groups ahead; on the Intel Xeon with
    /// AVX-512, 2 groups ahead decode 7% faster than 0 (docs/performance.md).
    public var prefetchGroups = CPU.hasAVX512 && CPU.isAMD ? 0 : 2
    /// Which GEMM runs f32 products (see `GEMM.Backend`); `.auto` keeps results independent of
    /// the thread count.
    public var gemmBackend: GEMM.Backend = .auto
    /// New rows of a sequence from which cached attention runs as matrix products rather than row
    /// by row (`GRM_ATTN_MATRIX_ROWS`). Below 64 the products' packing costs more than it saves:
    /// short prompts and the tails of forked prefixes (a reward model's responses) ran 4-12%
    /// faster row by row (docs/performance.md).
    public var attentionMatrixRows = 64
    /// With bf16 activations, new rows of a sequence from which cached attention below
    /// `attentionMatrixRows` runs as small register-blocked products (CachedAttentionBlock.swift)
    /// rather than row by row (`GRM_ATTN_BLOCK_ROWS`; 0 turns it off).
    public var attentionBlockRows = 4
    /// The highest instruction-set path the kernels may take (`GRM_ISA=generic|avx2|avx512|vnni|amx`;
    /// default: the highest there is). `KernelISA.level` is the lower of this and what the build
    /// and the CPU support; lowering it runs the lower paths (benchmarks, tests comparing paths).
    public var isa: KernelISA = .amx
    /// Threads that compute, the caller included (`GRM_THREADS`, default: every core). Changing
    /// it in `with` runs the scope on a pool of that size.
    public var threads = max(1, CPU.cores)
    /// How long idle pool workers spin before sleeping (`GRM_SPIN_US`, default 200 µs).
    public var spinMicroseconds = 200
    /// The most bytes `BufferCache` keeps for reuse (`GRM_BUFFER_CACHE_MB`, default a quarter of
    /// RAM, at most 8 GiB).
    public var bufferCacheBytes = Int(min(ProcessInfo.processInfo.physicalMemory / 4, 8 << 30))

    /// The defaults, with the environment variables named above applied.
    public init(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        func int(_ key: String, min lower: Int) -> Int? { env[key].flatMap { Int($0) }.flatMap { $0 >= lower ? $0 : nil } }
        if env["GRM_QMM_ACT"] == "q8" { activations = .q8 }
        if env["GRM_QMM_ACT"] == "bf16" { activations = .bf16 }
        if let v = env["GRM_QMM_FUSED"] { fusedKernels = v != "0" }
        if let v = env["GRM_QMM_CHUNK_ROWS"].flatMap({ Int($0) }) { fusedChunkMaxRows = v }
        if let v = env["GRM_QMM_Q8_ROWS"].flatMap({ Int($0) }) { q8MaxRows = v }
        if let v = env["GRM_QMM_Q8_GEMM"] { q8GEMM = v != "0" }
        if let v = env["GRM_QMM_PANELS"] { q8Panels = v != "0" }
        if let v = env["GRM_BF16_PANELS"] { bf16Panels = v != "0" }
        if let v = env["GRM_QMM_SCALES"] { fusedScales = v != "0" }
        if let v = env["GRM_QMM_PREFETCH"].flatMap({ Int($0) }) { prefetchGroups = v }
        if let v = env["GRM_ISA"] {
            if let level = KernelISA(name: v) {
                isa = level
            } else {
                FileHandle.standardError.write(Data("warning: GRM_ISA=\(v) ignored (expected generic, avx2, avx512, vnni or amx)\n".utf8))
            }
        }
        if let v = int("GRM_ATTN_MATRIX_ROWS", min: 1) { attentionMatrixRows = v }
        if let v = int("GRM_ATTN_BLOCK_ROWS", min: 0) { attentionBlockRows = v }
        if let v = int("GRM_THREADS", min: 1) { threads = v }
        if let v = int("GRM_SPIN_US", min: 0) { spinMicroseconds = v }
        if let v = int("GRM_BUFFER_CACHE_MB", min: 0) { bufferCacheBytes = v << 20 }
    }

    /// The settings the process started with (the environment's).
    public static let startup = EngineSettings()

    /// The settings in force. Set it to change them for the rest of the process (the command-line
    /// tool does, from its options); prefer `with` for a scope.
    public static var current: EngineSettings {
        get { storage }
        set {
            if newValue.threads != ThreadPool.shared.threadCount {
                ThreadPool.shared.shutdown()
                ThreadPool.shared = ThreadPool(threads: newValue.threads, spinMicroseconds: newValue.spinMicroseconds)
            }
            storage = newValue
        }
    }
    nonisolated(unsafe) private static var storage = startup

    /// Runs `body` with the settings `change` makes, then restores the previous ones (and the
    /// previous thread pool, if `threads` changed).
    public static func with<T>(_ change: (inout EngineSettings) throws -> Void, _ body: () throws -> T) rethrows -> T {
        let saved = storage
        var new = saved
        try change(&new)
        let savedPool = ThreadPool.shared
        let pool = new.threads == savedPool.threadCount ? nil : ThreadPool(threads: new.threads, spinMicroseconds: new.spinMicroseconds)
        if let pool { ThreadPool.shared = pool }
        storage = new
        defer {
            storage = saved
            if let pool {
                ThreadPool.shared = savedPool
                pool.shutdown()
            }
        }
        return try body()
    }
}
