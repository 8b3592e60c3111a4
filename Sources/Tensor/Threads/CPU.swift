import Foundation

/// What the processor can do, read once at start-up. Kernels whose best shape depends on the
/// vector width (the GEMM micro-kernel, for one) choose here at run time, so one source tree
/// builds and runs on AVX2, AVX-512 and arm64 machines alike.
public enum CPU {
    /// Feature flags as the kernel reports them (`/proc/cpuinfo` on Linux), lower-cased.
    public static let flags: Set<String> = readFlags()

    public static var hasAVX512: Bool {
        flags.isSuperset(of: ["avx512f", "avx512dq", "avx512bw", "avx512vl"])
    }
    public static var hasAVX512VNNI: Bool { hasAVX512 && flags.contains("avx512_vnni") }
    public static var hasAVX512BF16: Bool { hasAVX512 && flags.contains("avx512_bf16") }
    /// AMX tiles with int8 products (the flags only; Linux must also grant the tile state, which
    /// `KernelISA.cpu` asks for).
    public static var hasAMXInt8: Bool { hasAVX512VNNI && flags.isSuperset(of: ["amx_tile", "amx_int8"]) }
    /// AMX tiles with bf16 products (used only where `hasAMXInt8` holds and the state is granted).
    public static var hasAMXBF16: Bool { hasAMXInt8 && flags.contains("amx_bf16") }
    public static var hasAVX2: Bool { flags.contains("avx2") && flags.contains("fma") }

    /// Width in floats of the widest vector register the kernels should plan for.
    public static var vectorFloats: Int {
        #if arch(x86_64)
        return hasAVX512 ? 16 : (hasAVX2 ? 8 : 4)
        #else
        return 4
        #endif
    }

    /// Logical processors available to this process.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    public static var modelName: String { cpuinfo("model name") ?? "unknown" }

    /// Whether the CPU is AMD's (`vendor_id` AuthenticAMD).
    public static let isAMD: Bool = cpuinfo("vendor_id") == "AuthenticAMD"

    /// The first `/proc/cpuinfo` line's value for `key`.
    private static func cpuinfo(_ key: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    private static func readFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") || line.hasPrefix("Features") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map { $0.lowercased() })
        }
        return []
    }
}
