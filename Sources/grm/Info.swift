import Foundation
import ArgumentParser
import Tensor

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the machine and the engine's set-up: CPU features, threads, OpenBLAS.")

    func run() throws {
        print("cpu:       \(CPU.modelName), \(CPU.cores) logical cores")
        let features = ["avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd"]
            .filter { CPU.flags.contains($0) }
        print("features:  \(features.joined(separator: " "))")
        print("vectors:   \(CPU.vectorFloats) floats per register the kernels plan for")
        let forced = KernelISA.level < KernelISA.supported ? " (lowered by GRM_ISA)" : ""
        print(
            "kernels:   \(KernelISA.level)\(forced); build \(KernelISA.compiled), cpu \(KernelISA.cpu); GRM_ISA=generic|avx2|avx512|vnni|amx lowers it"
        )
        for (family, path) in KernelISA.families() {
            print("  \(family.padding(toLength: 52, withPad: " ", startingAt: 0)) \(path)")
        }
        print("sha-256:   \(SHA256Blocks.usesSHAExtensions ? "sha extensions (sha256rnds2)" : "portable") (hashing model files)")
        print("threads:   \(ThreadPool.shared.threadCount) (set GRM_THREADS to change)")
        if OpenBLAS.isAvailable {
            print("openblas:  \(OpenBLAS.coreName ?? "?") core, \(OpenBLAS.config ?? "")")
        } else {
            print("openblas:  not found (own kernels only)")
        }
    }
}
