// Declarations only: OpenBLAS is opened with dlopen at run time (see Sources/Tensor/BLAS.swift),
// after OPENBLAS_CORETYPE has been chosen, because OpenBLAS reads it once, when it loads.
#include <cblas.h>

// The one thing Swift cannot express for the engine's kernels: a prefetch hint. (Clang's
// `_mm_prefetch` is a macro, and Swift drops the inline-function forms.) Quantised matrix-vector
// kernels stream their weights with it (Quant/QuantMatmulFusedKernel.swift).
static inline void grm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

// Intel AMX (the tile matrix unit of Xeon 4th generation and later): its instructions name their
// tile registers as immediates, which Swift cannot pass, so the int8 panel kernel's tile steps
// (Quant/QuantMatmulQ8AMX.swift) and the bf16 products' blocks (Quant/QuantMatmulBF16AMX.swift)
// are these fixed-register wrappers. Compiled for AMX by their
// target attribute on every x86-64 build; called only where the CPU has AMX and Linux granted
// its tile state (`grm_amx_request`). Tiles, two sets so that one block's product runs while the
// previous block's result is scaled: tmm0/tmm3 C (16 rows x 16 int32), tmm1/tmm4 A (16 rows x 32
// int8, signed), tmm2/tmm5 B (8 rows x 64 uint8: 4-byte groups of 16 columns).
#if defined(__x86_64__)
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Asks Linux for the AMX tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA):
/// 0 when granted, -1 otherwise.
static inline long grm_amx_request(void) {
#if defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

/// Loads the tile configuration above into the calling thread's tile registers.
__attribute__((target("amx-tile"))) static inline void grm_amx_configure(void) {
    struct { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int set = 0; set < 6; set += 3) {
        c.rows[set] = 16; c.colsb[set] = 64;
        c.rows[set + 1] = 16; c.colsb[set + 1] = 32;
        c.rows[set + 2] = 8; c.colsb[set + 2] = 64;
    }
    __builtin_ia32_tile_loadconfig(&c);
}

/// C = A B for one 32-value block on tile set `set` (0 or 1): A is 16 rows of 32 signed bytes
/// `lda` apart, B the 512-byte uint8 tile.
__attribute__((target("amx-tile,amx-int8"))) static inline void grm_amx_product(
    int set, const void *a, long lda, const void *b) {
    if (set == 0) {
        __builtin_ia32_tilezero(0);
        __builtin_ia32_tileloadd64(1, a, (__SIZE_TYPE__)lda);
        __builtin_ia32_tileloadd64(2, b, 64);
        __builtin_ia32_tdpbsud(0, 1, 2);
    } else {
        __builtin_ia32_tilezero(3);
        __builtin_ia32_tileloadd64(4, a, (__SIZE_TYPE__)lda);
        __builtin_ia32_tileloadd64(5, b, 64);
        __builtin_ia32_tdpbsud(3, 4, 5);
    }
}

/// Tile set `set`'s C, 16 rows of 16 int32, to `c` (rows 64 bytes apart).
__attribute__((target("amx-tile"))) static inline void grm_amx_store(int set, int32_t *c) {
    if (set == 0) {
        __builtin_ia32_tilestored64(0, c, 64);
    } else {
        __builtin_ia32_tilestored64(3, c, 64);
    }
}

/// The bf16 tile products' configuration (Quant/QuantMatmulBF16AMX.swift): all eight tiles 16
/// rows of 64 bytes; tmm0-3 C (16 x 16 f32: rows 0-15 and 16-31 against columns 0-15 and 16-31),
/// tmm4/5 A (16 rows x 32 bf16), tmm6/7 B (16 rows of 16 bf16 pairs).
__attribute__((target("amx-tile"))) static inline void grm_amx_bf16_configure(void) {
    struct { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) { c.rows[t] = 16; c.colsb[t] = 64; }
    __builtin_ia32_tile_loadconfig(&c);
}

/// `n` floats from `src` as bf16 at `dst` (2 bytes each), by `vcvtne2ps2bf16`: rounded to
/// nearest even, NaN kept a NaN, and, this instruction's rule, denormal inputs and results
/// flushed to zero (the tiles count bf16 denormals as zero anyway). The bf16 products' A operand
/// (Quant/QuantMatmulBF16AMX.swift); Swift does not import the bf16 vector types.
__attribute__((target("avx512f,avx512bf16"))) static inline void grm_bf16_row(const float *src, long n, void *dst) {
    typedef float f32x16 __attribute__((vector_size(64)));
    typedef __bf16 bf16x32 __attribute__((vector_size(64)));
    char *out = (char *)dst;
    long j = 0;
    for (; j + 32 <= n; j += 32) {
        f32x16 lo, hi;
        memcpy(&lo, src + j, 64);
        memcpy(&hi, src + j + 16, 64);
        bf16x32 r = __builtin_ia32_cvtne2ps2bf16_512(hi, lo);
        memcpy(out + 2 * j, &r, 64);
    }
    if (j < n) {
        f32x16 part[2] = {{0}, {0}};
        memcpy(part, src + j, 4 * (size_t)(n - j));
        bf16x32 r = __builtin_ia32_cvtne2ps2bf16_512(part[1], part[0]);
        memcpy(out + 2 * j, &r, 2 * (size_t)(n - j));
    }
}

/// C[32 x 32] = A[32 x 32 * steps] B for one block of 32 rows and 32 columns, f32 sums over
/// `steps` products of 32 bf16 values each: A is 32 rows of bf16 `lda` bytes apart (rows 16-31
/// from `a + 16 * lda`), b0/b1 the two 16-column panels, each `steps` tiles of 1,024 bytes (16
/// rows of [16 columns][2 values]); C is written as f32 rows `ldc` bytes apart.
__attribute__((target("amx-tile,amx-bf16"))) static inline void grm_amx_bf16_block32(
    const void *a, long lda, const void *b0, const void *b1, long steps, float *c, long ldc) {
    const char *a0 = (const char *)a, *a1 = a0 + 16 * lda;
    const char *p0 = (const char *)b0, *p1 = (const char *)b1;
    __builtin_ia32_tilezero(0);
    __builtin_ia32_tilezero(1);
    __builtin_ia32_tilezero(2);
    __builtin_ia32_tilezero(3);
    for (long s = 0; s < steps; s++) {
        __builtin_ia32_tileloadd64(4, a0 + 64 * s, (__SIZE_TYPE__)lda);
        __builtin_ia32_tileloadd64(6, p0 + 1024 * s, 64);
        __builtin_ia32_tdpbf16ps(0, 4, 6);
        __builtin_ia32_tileloadd64(7, p1 + 1024 * s, 64);
        __builtin_ia32_tdpbf16ps(1, 4, 7);
        __builtin_ia32_tileloadd64(5, a1 + 64 * s, (__SIZE_TYPE__)lda);
        __builtin_ia32_tdpbf16ps(2, 5, 6);
        __builtin_ia32_tdpbf16ps(3, 5, 7);
    }
    char *c0 = (char *)c;
    __builtin_ia32_tilestored64(0, c0, (__SIZE_TYPE__)ldc);
    __builtin_ia32_tilestored64(1, c0 + 64, (__SIZE_TYPE__)ldc);
    __builtin_ia32_tilestored64(2, c0 + 16 * ldc, (__SIZE_TYPE__)ldc);
    __builtin_ia32_tilestored64(3, c0 + 16 * ldc + 64, (__SIZE_TYPE__)ldc);
}

/// Returns the calling thread's tile registers to their initial state.
__attribute__((target("amx-tile"))) static inline void grm_amx_release(void) { __builtin_ia32_tilerelease(); }
#endif
