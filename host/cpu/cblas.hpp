// The one place that names the CBLAS's symbols (the CPU backend, the driver's MLP and the CPU
// benchmarks all call through it). scipy-openblas32 prefixes every symbol with scipy_ (so it
// never clashes with another BLAS in the process); cmake/blas.cmake defines
// SIGREG_CBLAS_PREFIX_SCIPY for it. Row-major everywhere.
#pragma once

#include <cblas.h>

#include <string>

#if defined(SIGREG_CBLAS_PREFIX_SCIPY)
#define SIGREG_CBLAS_NAME(name) scipy_##name
#else
#define SIGREG_CBLAS_NAME(name) name
#endif

namespace sigreg::detail::cblas {

// C (m × n) = alpha · op(A) (m × k) · op(B) (k × n) + beta · C, row-major.
inline void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                  int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  SIGREG_CBLAS_NAME(cblas_sgemm)
  (CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
   alpha, a, lda, b, ldb, beta, c, ldc);
}

// OpenBLAS's own thread pool: its size, or −1 where the CBLAS is not OpenBLAS (whose threading
// is then its own business: BLIS and a sequential MKL run on the caller's thread by default).
int openblas_threads();
void set_openblas_threads(int threads);  // no effect where the CBLAS is not OpenBLAS
// OpenBLAS's threading model: 0 sequential, 1 pthreads, 2 OpenMP; −1 where it is not OpenBLAS.
int openblas_parallel();

// What the CBLAS says of itself: OpenBLAS's build line (version, DYNAMIC_ARCH, the chosen core)
// and the core whose kernels it runs on this CPU ("Haswell", "SkylakeX", …); "" where unknown.
const char* library_config();
const char* core_name();

// The vector ISA of an OpenBLAS x86-64 core's kernels, named as cpu_info names ISAs ("avx512",
// "avx2-fma", "avx", "sse2"); "" for a name that is not an OpenBLAS x86-64 core.
const char* core_isa(const std::string& core);

}  // namespace sigreg::detail::cblas
