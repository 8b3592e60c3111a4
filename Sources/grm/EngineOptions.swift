import ArgumentParser
import Foundation
import Tensor
import Transformer

/// Engine settings shared by the commands that run a model.
struct EngineOptions: ParsableArguments {
    @Option(name: .customLong("kv"), help: "KV cache type: f32 or f16.")
    var kvCache = "f32"
    @Option(name: .customLong("threads"), help: "Threads (default: GRM_THREADS or every core).")
    var threadCount: Int?

    var kvType: KVCacheType {
        get throws {
            guard let t = KVCacheType(rawValue: kvCache) else { throw ValidationError("--kv must be f32 or f16") }
            return t
        }
    }

    /// Applies the thread count (before any model work).
    func apply() throws {
        if let t = threadCount {
            guard t > 0 else { throw ValidationError("--threads must be positive") }
            if t != ThreadPool.shared.threadCount {
                ThreadPool.shared.shutdown()
                ThreadPool.shared = ThreadPool(threads: t)
            }
        }
    }
}
