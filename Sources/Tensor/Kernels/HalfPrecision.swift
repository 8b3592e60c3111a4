#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel
#endif

/// IEEE half precision (f16) <-> f32: round to nearest even, subnormals kept, overflow to
/// infinity, NaN stays NaN (quieted). Widening goes through `load` (one F16C `vcvtph2ps` on an
/// AVX2 build); narrowing uses the standard library's SIMD conversion, which may stay an
/// out-of-line call (not measured on a hot path yet).
public enum Half {
    @inline(__always) public static func toFloat(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    @inline(__always) public static func fromFloat(_ x: Float) -> UInt16 {
        Float16(x).bitPattern
    }

    /// `Vec.scalarCount` f16 values at `p` as f32. With AVX2 or AVX-512 one `vcvtph2ps` (the same values):
    /// the standard library's generic SIMD conversion stays an out-of-line call here, a visible
    /// share of decoding attention with an f16 cache.
    @inline(__always) public static func load(_ p: UnsafeRawPointer) -> Vec {
        #if arch(x86_64) && GRM_AVX512
        unsafeBitCast(_mm512_cvtph_ps(p.loadUnaligned(as: __m256i.self)), to: Vec.self)
        #elseif arch(x86_64) && GRM_AVX2
        unsafeBitCast(_mm256_cvtph_ps(p.loadUnaligned(as: __m128i.self)), to: Vec.self)
        #else
        Vec(p.loadUnaligned(as: HVec.self))
        #endif
    }

    /// Converts `n` f16 values to f32.
    public static func toFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
        Bulk.run(count: n) { lo, hi in
            var i = lo
            while i + Vec.scalarCount <= hi {
                UnsafeMutableRawPointer(dst + i).storeBytes(of: load(src + i), as: Vec.self)
                i += Vec.scalarCount
            }
            while i < hi {
                dst[i] = toFloat(src[i])
                i += 1
            }
        }
    }

    /// Converts `n` f32 values to f16 (round to nearest even).
    public static func fromFloat(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int) {
        Bulk.run(count: n) { lo, hi in
            var i = lo
            while i + Vec.scalarCount <= hi {
                let f = UnsafeRawPointer(src + i).loadUnaligned(as: Vec.self)
                UnsafeMutableRawPointer(dst + i).storeBytes(of: HVec(f), as: HVec.self)
                i += Vec.scalarCount
            }
            while i < hi {
                dst[i] = fromFloat(src[i])
                i += 1
            }
        }
    }
}

/// bfloat16 <-> f32, bit for bit as ggml does it: widening is a shift; narrowing rounds to
/// nearest even on the raw bits (subnormals kept, not flushed as AVX512-BF16's instruction would)
/// and turns every NaN into a quiet NaN of the same sign and top payload.
public enum BFloat {
    @inline(__always) public static func toFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    @inline(__always) public static func fromFloat(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 64) }
        return UInt16(truncatingIfNeeded: (u &+ (0x7FFF &+ ((u >> 16) & 1))) >> 16)
    }

    // Plain loops on purpose: LLVM's loop vectoriser turns them into vpmovzxwd / vpackusdw
    // sequences, which Swift's SIMD types cannot express without lane-by-lane code (a SIMD
    // version with a lane loop for the 32->16 bit narrowing is an order of magnitude slower).
    public static func toFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
        Bulk.run(count: n) { lo, hi in
            for i in lo..<hi { dst[i] = Float(bitPattern: UInt32(src[i]) &<< 16) }
        }
    }

    public static func fromFloat(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int) {
        Bulk.run(count: n) { lo, hi in
            for i in lo..<hi {
                let u = src[i].bitPattern
                let rounded = (u &+ (0x7FFF &+ ((u &>> 16) & 1))) &>> 16
                let nan = (u & 0x7FFF_FFFF) > 0x7F80_0000
                dst[i] = UInt16(truncatingIfNeeded: nan ? (u &>> 16) | 64 : rounded)
            }
        }
    }
}

/// Splits a memory-bound loop over `count` elements into parallel chunks of at least 64 Ki
/// elements (aligned to 16), so small conversions stay on the calling thread.
enum Bulk {
    static func run(count n: Int, _ body: (Int, Int) -> Void) {
        let tasks = taskCount(work: n, grain: 1 << 16, limit: ThreadPool.shared.threadCount)
        if tasks == 1 {
            body(0, n)
            return
        }
        ThreadPool.shared.parallelFor(tasks) { t in
            let lo = (n * t / tasks) & ~15
            let hi = t == tasks - 1 ? n : (n * (t + 1) / tasks) & ~15
            body(lo, hi)
        }
    }
}

extension Tensor {
    /// This tensor's values in another element type (a contiguous copy; self if already that type).
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return self }
        if dtype.isBlockQuantised { return contiguous().dequantizedContiguous().converted(to: target) }
        if target.isBlockQuantised {
            do { return try quantized(to: target) } catch { preconditionFailure("\(error)") }
        }
        let src = contiguous()
        let out = Tensor.uninitialized(shape, dtype: target)
        let n = count
        switch (dtype, target) {
        case (.f16, .f32): Half.toFloat(src.uint16Pointer, out.floatPointer, count: n)
        case (.bf16, .f32): BFloat.toFloat(src.uint16Pointer, out.floatPointer, count: n)
        case (.f32, .f16): Half.fromFloat(src.floatPointer, out.uint16Pointer, count: n)
        case (.f32, .bf16): BFloat.fromFloat(src.floatPointer, out.uint16Pointer, count: n)
        case (.i32, .f32): for i in 0..<n { out.floatPointer[i] = Float(src.int32Pointer[i]) }
        case (.f32, .i32): for i in 0..<n { out.int32Pointer[i] = Int32(src.floatPointer[i].rounded(.towardZero)) }
        default: return src.converted(to: .f32).converted(to: target)
        }
        return out
    }
}
