#if arch(x86_64) && GRM_AMX
import COpenBLAS
#endif

/// Which instruction-set path each kernel family takes: decided here, in one place, from three
/// things, the lowest of which wins:
///
/// 1. what this build compiled (`compiled`): the engine is compiled for the build machine
///    (`-target-cpu native`, Package.swift), and a path whose intrinsics the build target lacks is
///    not compiled at all (Package.swift defines GRM_AVX2, GRM_AVX512, GRM_AVX512VNNI, GRM_AMX
///    from the build machine's flags);
/// 2. what the CPU running the process reports (`cpu`, from `/proc/cpuinfo`);
/// 3. what the settings ask for (`EngineSettings.isa`, from `GRM_ISA=generic|avx2|avx512|vnni|amx`):
///    a lower path, for benchmarks and for tests that compare paths.
///
/// The contract: the binary runs on CPUs with at least the build machine's features (the
/// compiler may use them anywhere, as it does for the elementwise kernels' vector width, which is
/// fixed when building); among the paths compiled in, kernels choose at run time, per call, from
/// `KernelISA.level`. Forcing a lower level selects the lower path's kernel code (so its
/// results and its speed can be measured on a wider machine); it does not stop the compiler's own
/// use of wider instructions elsewhere.
public enum KernelISA: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    /// Portable Swift (SIMD types at the build's vector width; arm64 runs this).
    case generic
    /// AVX2, FMA and F16C intrinsics.
    case avx2
    /// AVX-512 F, DQ, BW and VL.
    case avx512
    /// AVX-512 with VNNI (`vpdpbusd`).
    case avx512vnni
    /// AVX-512 VNNI plus Intel AMX int8 tiles (`tdpbsud`), where Linux grants the tile state.
    case amx

    public static func < (a: KernelISA, b: KernelISA) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .generic: "generic"
        case .avx2: "avx2"
        case .avx512: "avx512"
        case .avx512vnni: "avx512-vnni"
        case .amx: "amx"
        }
    }

    /// `GRM_ISA`'s spellings.
    public init?(name: String) {
        switch name.lowercased() {
        case "generic", "scalar", "portable": self = .generic
        case "avx2": self = .avx2
        case "avx512", "avx-512": self = .avx512
        case "vnni", "avx512vnni", "avx512-vnni", "avx512_vnni": self = .avx512vnni
        case "amx", "amx-int8", "amx_int8": self = .amx
        default: return nil
        }
    }

    /// The highest path this build compiled.
    public static let compiled: KernelISA = {
        #if arch(x86_64) && GRM_AMX
        return .amx
        #elseif arch(x86_64) && GRM_AVX512VNNI
        return .avx512vnni
        #elseif arch(x86_64) && GRM_AVX512
        return .avx512
        #elseif arch(x86_64) && GRM_AVX2
        return .avx2
        #else
        return .generic
        #endif
    }()

    /// The highest path the running CPU supports.
    public static let cpu: KernelISA = {
        #if arch(x86_64)
        #if GRM_AMX
        if CPU.hasAMXInt8 && grm_amx_request() == 0 { return .amx }
        #endif
        if CPU.hasAVX512VNNI { return .avx512vnni }
        if CPU.hasAVX512 { return .avx512 }
        if CPU.hasAVX2 && CPU.flags.contains("f16c") { return .avx2 }
        #endif
        return .generic
    }()

    /// The highest path both the build and the CPU have.
    public static let supported = min(compiled, cpu)

    /// The path in force: `supported`, lowered by `EngineSettings.current.isa`.
    @inline(__always) public static var level: KernelISA { min(supported, EngineSettings.current.isa) }

    /// What each kernel family runs at `level` (for `grm info` and the benchmarks' headers).
    public static func families(at level: KernelISA = level) -> [(family: String, path: String)] {
        let avx2 = level >= .avx2
        return [
            (
                "int8-activation products (--activations q8)",
                level >= .amx
                    ? "amx (tdpbsud tiles, 16 rows at a time) for 32+ rows, avx512-vnni (vpdpbusd on 16-row weight panels) for the rest"
                    : level >= .avx512vnni
                        ? "avx512-vnni (vpdpbusd on 16-row weight panels, any row count)"
                        : avx2 ? "avx2 (vpmaddubsw + vpmaddwd, up to 32 rows; more rows exact)" : "none: exact kernels"
            ),
            (
                "bf16 prompt products (--activations bf16)",
                level >= .amx && CPU.hasAMXBF16
                    ? "amx-bf16 (tdpbf16ps tiles, 32 x 32 blocks) for 24+ rows, as q8 for the rest" : "none: as q8"
            ),
            (
                "exact fused products (block weights, <= 16 rows)",
                level >= .avx512
                    ? "avx512 (16-value levels, f32 scale tables; Q6_K: two W rows per register, avx2 for one row)"
                    : compiled >= .avx2 ? "avx2 (fixed when building)" : "generic"
            ),
            ("block decoding into GEMM panels", compiled >= .avx2 ? "avx2 (fixed when building)" : "generic"),
            ("GEMM micro-kernel", level >= .avx512 ? "16-float vectors (12 x 32 tile)" : "8-float vectors (6 x 16 tile)"),
            (
                "decode attention (64-wide heads)",
                level >= .avx512
                    ? "avx512 (query in registers, two keys per register for the scores, values 64 wide)"
                    : avx2 ? "avx2 (query in registers)" : "generic"
            ),
            ("elementwise, softmax, RMSNorm", "build's vector width: \(Vec.scalarCount) floats (fixed when building)")
        ]
    }
}
