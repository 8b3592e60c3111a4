import COpenBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenBLAS, opened at run time with `dlopen` (never linked), so that its core type can be chosen
/// before the library initialises: Debian's OpenBLAS 0.3.21 reads `OPENBLAS_CORETYPE` once, in its
/// load-time constructor, and mis-detects some AVX-512 machines as Haswell (half the speed).
///
/// Core type choice, made once before `dlopen`:
/// - `GRM_OPENBLAS_CORETYPE=<name>` forces that core (`OPENBLAS_CORETYPE=<name>`);
///   `GRM_OPENBLAS_CORETYPE=shipped` leaves OpenBLAS's own detection (and the environment) alone.
/// - otherwise, if `OPENBLAS_CORETYPE` is unset and the CPU has AVX-512 (F, DQ, BW, VL), SkylakeX.
///   Never without AVX-512: the SkylakeX kernels die with an illegal instruction on AVX2 machines.
///
/// `OPENBLAS_THREAD_TIMEOUT` (if unset) becomes 18: OpenBLAS's idle threads spin for 2^18 cycles
/// (about 0.1 ms) instead of the default 2^28 (about 0.1 s) before sleeping, so they do not compete
/// with `ThreadPool`'s workers, which spin too.
///
/// If the library is missing, `isAvailable` is false and `GEMM` uses its own kernels only.
public enum OpenBLAS {
    typealias SgemmFn =
        @convention(c) (
            CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE,
            Int32, Int32, Int32, Float,
            UnsafePointer<Float>?, Int32,
            UnsafePointer<Float>?, Int32, Float,
            UnsafeMutablePointer<Float>?, Int32
        ) -> Void
    typealias SetThreadsFn = @convention(c) (Int32) -> Void
    typealias GetThreadsFn = @convention(c) () -> Int32
    typealias GetStringFn = @convention(c) () -> UnsafeMutablePointer<CChar>?

    struct Library: @unchecked Sendable {
        let handle: UnsafeMutableRawPointer
        let sgemm: SgemmFn
        let setThreads: SetThreadsFn?
        let getThreads: GetThreadsFn?
        let coreName: GetStringFn?
        let config: GetStringFn?
        let path: String
    }

    /// Loaded on first use (thread-safe: Swift initialises globals and static lets once).
    static let library: Library? = load()

    /// The library names tried, in order.
    public static let candidates = ["libopenblas.so.0", "libopenblas.so"]

    /// True if OpenBLAS could be opened and exports `cblas_sgemm`.
    public static var isAvailable: Bool { library != nil }

    /// The file name that was opened, if any.
    public static var libraryName: String? { library?.path }

    /// The core (kernel set) OpenBLAS runs on, e.g. "Zen", "Haswell", "SkylakeX".
    public static var coreName: String? {
        guard let f = library?.coreName, let s = f() else { return nil }
        return String(cString: s)
    }

    /// OpenBLAS's build configuration string.
    public static var config: String? {
        guard let f = library?.config, let s = f() else { return nil }
        return String(cString: s)
    }

    /// What was decided about `OPENBLAS_CORETYPE` before loading (for logs and benchmarks).
    nonisolated(unsafe) public private(set) static var coreTypeChoice = "not loaded"

    /// OpenBLAS's current thread count.
    public static var threadCount: Int? {
        guard let f = library?.getThreads else { return nil }
        return Int(f())
    }

    /// Row-major `C = alpha * op(A) * op(B) + beta * C` with OpenBLAS, using as many threads as
    /// `ThreadPool.shared`. Returns false (and does nothing) if OpenBLAS is unavailable or a
    /// dimension does not fit in 32 bits.
    @discardableResult
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        guard let lib = library else { return false }
        let limit = Int(Int32.max)
        guard m <= limit, n <= limit, k <= limit, lda <= limit, ldb <= limit, ldc <= limit else { return false }
        syncThreads(lib)
        lib.sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        return true
    }

    // The thread count last given to OpenBLAS. Races here only cause a redundant set call.
    nonisolated(unsafe) private static var lastThreads = -1

    private static func syncThreads(_ lib: Library) {
        let want = ThreadPool.shared.threadCount
        if want == lastThreads { return }
        lib.setThreads?(Int32(want))
        lastThreads = want
    }

    private static func chooseCoreType() -> String {
        let env = ProcessInfo.processInfo.environment
        if let forced = env["GRM_OPENBLAS_CORETYPE"], !forced.isEmpty {
            if forced.lowercased() == "shipped" { return "shipped (OpenBLAS detects)" }
            setenv("OPENBLAS_CORETYPE", forced, 1)
            return "forced \(forced) (GRM_OPENBLAS_CORETYPE)"
        }
        if let preset = env["OPENBLAS_CORETYPE"], !preset.isEmpty {
            return "\(preset) (OPENBLAS_CORETYPE was set)"
        }
        if CPU.hasAVX512 {
            setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
            return "SkylakeX (AVX-512 detected)"
        }
        return "shipped (no AVX-512)"
    }

    private static func load() -> Library? {
        coreTypeChoice = chooseCoreType()
        setenv("OPENBLAS_THREAD_TIMEOUT", "18", 0)  // 0: keep a value the user set
        for name in candidates {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let sym = dlsym(handle, "cblas_sgemm") else {
                dlclose(handle)
                continue
            }
            func optional<T>(_ symbol: String, _ type: T.Type) -> T? {
                guard let p = dlsym(handle, symbol) else { return nil }
                return unsafeBitCast(p, to: type)
            }
            return Library(
                handle: handle,
                sgemm: unsafeBitCast(sym, to: SgemmFn.self),
                setThreads: optional("openblas_set_num_threads", SetThreadsFn.self),
                getThreads: optional("openblas_get_num_threads", GetThreadsFn.self),
                coreName: optional("openblas_get_corename", GetStringFn.self),
                config: optional("openblas_get_config", GetStringFn.self),
                path: name)
        }
        return nil
    }
}
