/// Small SIMD building blocks, always inlined.
///
/// The standard library's generic SIMD conversions and `pointwiseMin/Max` are specialised but,
/// inside a large module, often left as out-of-line calls that run lane by lane (exp and softmax
/// then run two orders of magnitude slower). These versions are written so that they always inline into
/// straight vector code.

// The vector types every elementwise kernel uses: one register of the host's widest vector unit.
// Package.swift defines GRM_AVX512 when the build machine has AVX-512 (the engine is compiled for
// the host CPU anyway); otherwise 8 lanes suit AVX2 (one ymm) and arm64 (two NEON registers).
// Masks of 16 lanes on AVX2 compile to long extract/blend sequences: 1.7x the instructions.
#if GRM_AVX512
public typealias Vec = SIMD16<Float>
public typealias IVec = SIMD16<Int32>
public typealias UVec = SIMD16<UInt32>
public typealias U16Vec = SIMD16<UInt16>
public typealias HVec = SIMD16<Float16>
#else
public typealias Vec = SIMD8<Float>
public typealias IVec = SIMD8<Int32>
public typealias UVec = SIMD8<UInt32>
public typealias U16Vec = SIMD8<UInt16>
public typealias HVec = SIMD8<Float16>
#endif

extension VectorMath {
    @inline(always) public static func maximum(_ a: Vec, _ b: Vec) -> Vec {
        a.replacing(with: b, where: b .> a)
    }

    @inline(always) public static func minimum(_ a: Vec, _ b: Vec) -> Vec {
        a.replacing(with: b, where: b .< a)
    }

    @inline(always) public static func bits(_ v: Vec) -> UVec { unsafeBitCast(v, to: UVec.self) }
    @inline(always) public static func floats(_ u: UVec) -> Vec { unsafeBitCast(u, to: Vec.self) }
    @inline(always) public static func int32s(_ u: UVec) -> IVec { unsafeBitCast(u, to: IVec.self) }
    @inline(always) public static func uint32s(_ i: IVec) -> UVec { unsafeBitCast(i, to: UVec.self) }

    /// 1.5 * 2^23: adding it to a float of magnitude below 2^22 rounds to an integer (nearest even)
    /// whose value then sits in the low mantissa bits.

    /// Rounds to the nearest integer (ties to even) for |x| < 2^22, as a float and as Int32 bits.
    @inline(always) public static func roundToInteger(_ x: Vec) -> (value: Vec, integer: IVec) {
        let t = x + 12_582_912
        let integer = VectorMath.int32s(VectorMath.bits(t)) &- 0x4B40_0000
        return (t - 12_582_912, integer)
    }

    /// Int32 to Float for |i| < 2^22.
    @inline(always) public static func floatFromSmallInt(_ i: IVec) -> Vec {
        VectorMath.floats(VectorMath.uint32s(i &+ 0x4B40_0000)) - 12_582_912
    }
}
