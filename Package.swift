// swift-tools-version:6.0
import Foundation
import PackageDescription

// The engine is compiled for the host CPU so that Swift SIMD types lower to the widest vector
// instructions the machine has (AVX-512 or AVX2 on x86_64, NEON on arm64). Kernels that need a
// particular width choose at run time (see CPU.swift), so the same sources build everywhere.
#if arch(x86_64) || arch(arm64)
let hostCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"])]
#else
let hostCPU: [SwiftSetting] = []
#endif

// Elementwise kernels use one register of the host's vector unit as their vector type; with
// -target-cpu native that width is known when building, so it is chosen here (SIMDHelpers.swift).
let hostFlags: Set<String> = {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return [] }
    return Set(flags.split(separator: " ").map(String.init))
}()
let hostHasAVX512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(hostFlags.contains)
// GRM_AVX2: the quantised-weight kernels (Quant/QuantAVX2.swift) use AVX2/FMA/F16C intrinsics,
// which only compile when the target CPU has them; elsewhere they fall back to portable Swift.
let hostHasAVX2 = ["avx2", "fma", "f16c"].allSatisfy(hostFlags.contains)
// GRM_AVX512VNNI: the int8 products' `vpdpbusd` variant (Quant/QuantMatmulQ8Dot.swift), chosen at
// run time among the compiled paths (Threads/KernelISA.swift).
let hostHasVNNI = hostHasAVX512 && hostFlags.contains("avx512_vnni")
// GRM_AMX: the int8 panel products' AMX tile variant (Quant/QuantMatmulQ8AMX.swift), for prompts.
let hostHasAMX = hostHasVNNI && hostFlags.contains("amx_tile") && hostFlags.contains("amx_int8")
// GRM_SHA: SHA-256's block function on the SHA extensions (Kernels/SHA256Blocks.swift), for hashing
// model files.
let hostHasSHA = hostFlags.contains("sha_ni")
let vectorWidth: [SwiftSetting] =
    (hostHasAVX512 ? [.define("GRM_AVX512")] : [])
    + (hostHasVNNI ? [.define("GRM_AVX512VNNI")] : [])
    + (hostHasAMX ? [.define("GRM_AMX")] : [])
    + (hostHasAVX2 ? [.define("GRM_AVX2")] : [])
    + (hostHasSHA ? [.define("GRM_SHA")] : [])

// Hot loops index unsafe buffers owned by final classes: dynamic exclusivity checks there cost
// many times the loops' own work and guard nothing the kernels do.
let engine: [SwiftSetting] =
    hostCPU + vectorWidth + [
        .unsafeFlags([
            "-enforce-exclusivity=unchecked",
            // LLVM merges near-identical kernel specialisations into one body that calls the varying
            // part through a function pointer: one indirect call per vector.
            "-Xfrontend", "-disable-llvm-merge-functions-pass"
        ])
    ]

let package = Package(
    name: "swift-grm",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Jinja", targets: ["Jinja"]),
        .library(name: "Transformer", targets: ["Transformer"]),
        .library(name: "Reward", targets: ["Reward"]),
        .library(name: "SPCT", targets: ["SPCT"]),
        .executable(name: "grm", targets: ["grm"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // OpenBLAS's C declarations (Debian: libopenblas-dev). The library itself is opened at run
        // time (BLAS.swift) so that its core type can be chosen before it initialises.
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "Tensor",
            dependencies: ["COpenBLAS"],
            swiftSettings: engine,
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]
        ),
        // The Jinja subset that chat templates use (lexer, parser, evaluator, filters); no tensors.
        .target(name: "Jinja"),
        // Models on the engine: GGUF files, tokenizers, chat templates, the Llama-style decoder for
        // inference and generation, and its training (full, LoRA, SFT, checkpoints, adapters).
        .target(
            name: "Transformer",
            dependencies: ["Tensor", "Jinja"],
            swiftSettings: engine
        ),
        // The generative reward model: data, prompts, parsing, voting and evaluation statistics. Text
        // generation comes in through the JudgeGenerator protocol.
        .target(
            name: "Reward",
            dependencies: ["Tensor", "Transformer"],
            swiftSettings: engine
        ),
        // Self-Principled Critique Tuning: cold-start judgements, rejective fine-tuning, GRPO.
        .target(
            name: "SPCT",
            dependencies: ["Tensor", "Transformer", "Reward"],
            swiftSettings: engine
        ),
        .target(
            name: "KernelBench",
            dependencies: ["Tensor"],
            path: "Benchmarks/KernelBench",
            swiftSettings: engine
        ),
        .executableTarget(
            name: "grm",
            dependencies: [
                "Tensor", "Jinja", "Transformer", "Reward", "SPCT", "KernelBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: hostCPU
        ),
        .testTarget(
            name: "JinjaTests",
            dependencies: ["Jinja"]
        ),
        .testTarget(
            name: "TensorTests",
            dependencies: ["Tensor"],
            swiftSettings: engine
        ),
        .testTarget(
            name: "TransformerTests",
            dependencies: ["Transformer", "Tensor", "Jinja"],
            resources: [.copy("Fixtures")],
            swiftSettings: engine
        ),
        .testTarget(
            name: "RewardTests",
            dependencies: ["Reward", "Transformer", "Tensor"],
            swiftSettings: engine
        ),
        .testTarget(
            name: "SPCTTests",
            dependencies: ["SPCT", "Reward", "Transformer", "Tensor"],
            swiftSettings: engine
        )
    ],
    swiftLanguageModes: [.v5]
)
