#if arch(x86_64) && GRM_AVX2
import _Builtin_intrinsics.intel

/// The int8 kernels' block dot product: 32 unsigned weight levels (0...255) against 32 signed
/// activation levels, as eight 32-bit sums of four neighbouring products. Every implementation
/// gives the same integers: the levels the kernels pass are at most 128 (weights, made unsigned)
/// and 127 (activations) in magnitude, so a pair of products never exceeds 32,512 and the
/// 16-bit saturation of `vpmaddubsw` never happens. Which one runs is `KernelISA.level`'s
/// choice (`q8Linear`).
protocol Q8Dot {
    static func dot(_ w: __m256i, _ x: __m256i) -> __m256i
}

/// AVX2: `vpmaddubsw` (pairs into 16 bits), then `vpmaddwd` by ones (pairs of pairs into 32 bits).
enum Q8DotAVX2: Q8Dot {
    @inline(always) static func dot(_ w: __m256i, _ x: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1))
    }
}

#if GRM_AVX512VNNI
/// AVX-512 VNNI (with VL): one `vpdpbusd` into a zero accumulator, the four products summed in
/// 32 bits: one instruction where AVX2 needs two. (`_mm256_dpbusd_epi32` is a C macro Swift
/// cannot import; the masked form with every lane selected compiles to the plain instruction.)
enum Q8DotVNNI: Q8Dot {
    @inline(always) static func dot(_ w: __m256i, _ x: __m256i) -> __m256i {
        _mm256_maskz_dpbusd_epi32(0xFF, _mm256_setzero_si256(), w, x)
    }
}
#endif
#endif
