// Declarations only: OpenBLAS is opened with dlopen at run time (see Sources/Tensor/BLAS.swift),
// after OPENBLAS_CORETYPE has been chosen, because OpenBLAS reads it once, when it loads.
#include <cblas.h>

// The one thing Swift cannot express for the engine's kernels: a prefetch hint. (Clang's
// `_mm_prefetch` is a macro, and Swift drops the inline-function forms.) Quantised matrix-vector
// kernels stream their weights with it (Quant/QuantMatmulFusedKernel.swift).
static inline void grm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
