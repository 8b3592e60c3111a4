// What one 32-value block of the engine's AMX prompt product costs at best (docs/performance.md,
// machine C): the tile steps of Sources/Tensor/Quant/QuantMatmulQ8AMX.swift (16 activation rows x
// 16 columns per `tdpbsud`, two tile sets, the result stored and scaled a step later) with every
// operand in L1, then called once per 16-row tile as the engine calls it, with the activations'
// packed tiles in L1 and then streamed from L2. Cycles assume 3.9 GHz (machine C's clock under
// load, from the time of a chain of dependent FMAs at 4 cycles each).
//
//   clang -O2 -march=native Benchmarks/anchors/amx_block.c -o /tmp/amx_block && /tmp/amx_block
//
// Needs a CPU with AMX-INT8 and Linux 5.16 or later (the tile state is requested per process).
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { NB = 18, PACKED = 704, TILES = 32, Q8BLOCK = 544 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Tiles 0/3 C (16 x 16 int32), 1/4 A (16 x 32 int8), 2/5 B (8 x 64 uint8), as the engine's shim.
__attribute__((target("amx-tile"))) static void configure(void) {
    struct { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int set = 0; set < 6; set += 3) {
        c.rows[set] = 16, c.colsb[set] = 64;
        c.rows[set + 1] = 16, c.colsb[set + 1] = 32;
        c.rows[set + 2] = 8, c.colsb[set + 2] = 64;
    }
    _tile_loadconfig(&c);
}

static uint8_t *packed;  // TILES x NB packed blocks: the A tile, then 16 dx, 16 sx, 16 cx
static uint8_t panel[NB * Q8BLOCK] __attribute__((aligned(64)));  // Q8_0 panel: 8 x 64 levels, 16 f16 scales
static int32_t c[2][256] __attribute__((aligned(64)));
volatile float sink;

// One panel against `xa`'s 16 rows: `stages` 0 = products only, 1 = + stores, 2 = + scaling; the
// panel's NB blocks `chain` times over in one pipeline (filled and drained once).
__attribute__((target("amx-tile,amx-int8,avx512f,avx512fp16"))) static void tile(const uint8_t *xa, int stages, int chain) {
    __m512 f[16];
    for (int r = 0; r < 16; r++) f[r] = _mm512_setzero_ps();
    for (int step = 0; step < NB * chain + 2; step++) {
        int b = step % NB, done = step - 2 >= 0 ? (step - 2) % NB : 0;
        if (step < NB * chain) {
            if ((b & 1) == 0) {
                _tile_zero(0), _tile_loadd(1, xa + PACKED * b, 32), _tile_loadd(2, panel + Q8BLOCK * b, 64);
                _tile_dpbsud(0, 1, 2);
            } else {
                _tile_zero(3), _tile_loadd(4, xa + PACKED * b, 32), _tile_loadd(5, panel + Q8BLOCK * b, 64);
                _tile_dpbsud(3, 4, 5);
            }
        }
        if (stages >= 1 && step >= 1 && step <= NB * chain) {
            if (((step - 1) & 1) == 0) _tile_stored(0, c[0], 64);
            else _tile_stored(3, c[1], 64);
        }
        if (stages >= 2 && step >= 2) {
            int s = done;
            const int32_t *cb = c[(step - 2) & 1];
            const float *xs = (const float *)(xa + PACKED * s + 512);
            __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(panel + Q8BLOCK * s + 512)));
            for (int r = 0; r < 16; r++) {
                __m512i sum = _mm512_sub_epi32(_mm512_loadu_si512(cb + 16 * r), _mm512_set1_epi32(((const int32_t *)xs)[32 + r]));
                f[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(xs[r])), f[r]);
            }
        }
    }
    float s = 0;
    for (int r = 0; r < 16; r++) s += _mm512_reduce_add_ps(f[r]);
    sink += s;
}

int main(void) {
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) {
        fprintf(stderr, "no AMX tile state from the kernel\n");
        return 1;
    }
    packed = aligned_alloc(64, (size_t)TILES * NB * PACKED);
    // Levels of 1; scales of normal size (denormal products would time the CPU's assists).
    memset(packed, 1, (size_t)TILES * NB * PACKED);
    memset(panel, 1, sizeof panel);
    for (size_t b = 0; b < (size_t)TILES * NB; b++)
        for (int r = 0; r < 48; r++) ((float *)(packed + PACKED * b + 512))[r] = r < 32 ? 0.01f : 0;
    for (int b = 0; b < NB; b++)
        for (int j = 0; j < 16; j++) ((uint16_t *)(panel + Q8BLOCK * b + 512))[j] = 0x2000;  // f16 0.0078
    configure();
    const char *names[] = {
        "products (tile loads, tdpbsud)", "+ tile stores", "+ per-block scaling",
        "+ scaling, 32 tiles' activations from L2", "+ scaling, one pipeline for 32 panels' blocks",
    };
    for (int mode = 0; mode < 5; mode++) {
        long reps = 20000;
        double t = now();
        for (long i = 0; i < reps; i++) {
            if (mode == 4) {
                tile(packed, 2, TILES);
                continue;
            }
            for (int k = 0; k < TILES; k++) tile(packed + (size_t)(mode == 3 ? k : 0) * NB * PACKED, mode < 3 ? mode : 2, 1);
        }
        double seconds = now() - t, blocks = (double)reps * TILES * NB;
        printf("%-44s %6.1f cycles per block, %6.0f GFLOP/s\n", names[mode], seconds / blocks * 3.9e9,
               blocks * 16 * 16 * 32 * 2 / seconds / 1e9);
    }
    _tile_release();
    return 0;
}
