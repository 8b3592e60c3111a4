// Declarations only: OpenBLAS is opened with dlopen at run time (see Sources/Tensor/BLAS.swift),
// after OPENBLAS_CORETYPE has been chosen, because OpenBLAS reads it once, when it loads.
#include <cblas.h>
