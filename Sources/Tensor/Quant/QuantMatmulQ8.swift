import Foundation
#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel
#endif

/// The optional int8-activation path (`QuantMatmul.activationMode = .q8`) for m <= 8 rows with
/// Q4_0, Q4_1 or Q8_0 weights, as llama.cpp computes its quantised products: each 32-value block
/// of an activation row is rounded to int8 levels with its own scale (d_x = max |x| / 127, levels
/// round(x / d_x)), and a block's dot product is an exact integer dot product of the weight levels
/// with them (`vpmaddubsw` + `vpmaddwd`), scaled by d_w * d_x. Activations are rounded (at most
/// d_x / 2 per value), so results differ from the exact path by about 0.4% of sum |x w| per
/// block at worst; the c * sum(x) terms use the exact f32 block sums. Off by default: rewards
/// need the exact path. Each element is computed the same way whatever m, the thread count or the
/// W rows next to it. Needs AVX2; elsewhere `.q8` falls back to the exact kernels.
extension QuantMatmul {
    public enum ActivationMode: Sendable {
        /// f32 activations, never rounded (the default).
        case exact
        /// Activations rounded to int8 per 32-value block (Q4_0, Q4_1, Q8_0 weights, m <= 8).
        case q8
    }

    /// How m <= 8 products with Q4_0, Q4_1 or Q8_0 weights treat the activations.
    /// `GRM_QMM_ACT=q8` sets `.q8` from the start (for benchmarks).
    nonisolated(unsafe) public static var activationMode: ActivationMode =
        ProcessInfo.processInfo.environment["GRM_QMM_ACT"] == "q8" ? .q8 : .exact

    static func hasQ8Kernel(_ type: DType) -> Bool {
#if arch(x86_64) && GRM_AVX2
        return type == .q4_0 || type == .q4_1 || type == .q8_0
#else
        return false
#endif
    }

#if arch(x86_64) && GRM_AVX2
    /// `y = x * W^T`, m <= 8, activations rounded to int8 per block.
    static func q8Linear(_ type: DType, m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
                         w: UnsafeRawPointer, y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(m >= 1 && m <= 8 && hasQ8Kernel(type), "q8Linear: \(type) m = \(m)")
        let nb = k / 32
        // Per row: k int8 levels, then per block the scale d_x and the exact sum of x.
        let levelBytes = (k + 63) / 64 * 64
        let scratch = Workspace.shared.acquire(floats: m * (levelBytes / 4 + 2 * nb) + 16)
        defer { Workspace.shared.release(scratch) }
        let qx = UnsafeMutableRawPointer(scratch.floats).assumingMemoryBound(to: Int8.self)
        let dx = scratch.floats + m * levelBytes / 4, xsum = dx + m * nb
        for i in 0..<m {
            for b in 0..<nb {
                let xb = x + i * ldx + 32 * b
                var amax: Float = 0
                for l in 0..<32 { amax = max(amax, abs(xb[l])) }
                let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
                let q = qx + i * levelBytes + 32 * b
                for l in 0..<32 { q[l] = Int8(truncatingIfNeeded: QBits.nearestInt(xb[l] * id)) }
                dx[i * nb + b] = d
                xsum[i * nb + b] = blockSum(xb)
            }
        }
        let args = Q8Args(m: m, nb: nb, qx: UnsafePointer(qx), ldq: levelBytes, dx: UnsafePointer(dx),
                          xsum: UnsafePointer(xsum), w: w, rowBytes: type.byteCount(elements: k), y: y, ldy: ldy)
        let unit = 4
        let units = GEMM.ceilDiv(n, unit)
        let tasks = max(1, min(units, min(32, n * k >> 15)))
        ThreadPool.shared.parallelFor(tasks) { t in
            let j0 = min(n, units * t / tasks * unit)
            let j1 = min(n, units * (t + 1) / tasks * unit)
            if j0 >= j1 { return }
            switch type {
            case .q4_0: q8Task(Q8WQ4_0.self, args, j0, j1)
            case .q4_1: q8Task(Q8WQ4_1.self, args, j0, j1)
            default: q8Task(Q8WQ8_0.self, args, j0, j1)
            }
        }
    }

    struct Q8Args {
        let m: Int, nb: Int
        let qx: UnsafePointer<Int8>, ldq: Int
        let dx: UnsafePointer<Float>, xsum: UnsafePointer<Float>
        let w: UnsafeRawPointer, rowBytes: Int
        let y: UnsafeMutablePointer<Float>, ldy: Int
    }

    static func q8Task<F: Q8Weights>(_ f: F.Type, _ a: Q8Args, _ j0: Int, _ j1: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: a.nb + 8) { buf in
            let cs = buf.baseAddress!
            for j in j0..<j1 {
                let wr = a.w + j * a.rowBytes
                var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
                           SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                switch a.m {
                case 1: q8Row(f, 1, a, wr, &acc, cs)
                case 2: q8Row(f, 2, a, wr, &acc, cs)
                case 3: q8Row(f, 3, a, wr, &acc, cs)
                case 4: q8Row(f, 4, a, wr, &acc, cs)
                case 5: q8Row(f, 5, a, wr, &acc, cs)
                case 6: q8Row(f, 6, a, wr, &acc, cs)
                case 7: q8Row(f, 7, a, wr, &acc, cs)
                default: q8Row(f, 8, a, wr, &acc, cs)
                }
                withUnsafeBytes(of: &acc) { raw in
                    let v = raw.baseAddress!.assumingMemoryBound(to: SIMD8<Float>.self)
                    for i in 0..<a.m {
                        let t = v[i].total
                        a.y[i * a.ldy + j] = F.hasOffset ? t + offsetDot(cs, a.xsum + i * a.nb, a.nb) : t
                    }
                }
            }
        }
    }

    typealias Acc8 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>,
                      SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

    /// One W row against `rows` activation rows: per block, acc_i = fma(float(idot_i), d_w * d_x_i, acc_i).
    @inline(always)
    static func q8Row<F: Q8Weights>(_: F.Type, _ rows: Int, _ a: Q8Args, _ wr: UnsafeRawPointer,
                                    _ acc: inout Acc8, _ cs: UnsafeMutablePointer<Float>) {
        let ones = _mm256_set1_epi16(1)
        for b in 0..<a.nb {
            let (wq, d, c) = F.levels(wr + b * F.blockBytes)
            if F.hasOffset { cs[b] = c }
            func dot(_ i: Int) -> SIMD8<Float> {
                let xq = UnsafeRawPointer(a.qx + i * a.ldq + 32 * b).loadUnaligned(as: __m256i.self)
                let p = F.signed ? _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq))
                                 : _mm256_maddubs_epi16(wq, xq)
                let s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones))
                return s * SIMD8(repeating: d * a.dx[i * a.nb + b])
            }
            acc.0 = acc.0 + dot(0)
            if rows > 1 { acc.1 = acc.1 + dot(1) }
            if rows > 2 { acc.2 = acc.2 + dot(2) }
            if rows > 3 { acc.3 = acc.3 + dot(3) }
            if rows > 4 { acc.4 = acc.4 + dot(4) }
            if rows > 5 { acc.5 = acc.5 + dot(5) }
            if rows > 6 { acc.6 = acc.6 + dot(6) }
            if rows > 7 { acc.7 = acc.7 + dot(7) }
        }
    }
#endif
}

#if arch(x86_64) && GRM_AVX2
/// Weight levels for the int8 path: 32 bytes in value order, unsigned (Q4) or signed (Q8_0).
protocol Q8Weights {
    static var blockBytes: Int { get }
    static var signed: Bool { get }
    static var hasOffset: Bool { get }
    /// (levels, d, c): value = d * level + c.
    static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float)
}

extension Q8Weights {
    /// 16 nibble bytes as 32 bytes: low nibbles (values 0-15), then high nibbles (16-31).
    @inline(always) static func nibbleBytes(_ qs: UnsafeRawPointer) -> __m256i {
        let raw = qs.loadUnaligned(as: __m128i.self)
        let m = _mm_set1_epi8(0x0F)
        return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m), _mm_and_si128(raw, m))
    }
}

enum Q8WQ4_0: Q8Weights {
    static var blockBytes: Int { 18 }
    static var signed: Bool { false }
    static var hasOffset: Bool { true }
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        let d = QBits.f16(b, 0)
        return (nibbleBytes(b + 2), d, -8 * d)
    }
}

enum Q8WQ4_1: Q8Weights {
    static var blockBytes: Int { 20 }
    static var signed: Bool { false }
    static var hasOffset: Bool { true }
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        (nibbleBytes(b + 4), QBits.f16(b, 0), QBits.f16(b, 2))
    }
}

enum Q8WQ8_0: Q8Weights {
    static var blockBytes: Int { 34 }
    static var signed: Bool { true }
    static var hasOffset: Bool { false }
    @inline(always) static func levels(_ b: UnsafeRawPointer) -> (__m256i, Float, Float) {
        ((b + 2).loadUnaligned(as: __m256i.self), QBits.f16(b, 0), 0)
    }
}
#endif
