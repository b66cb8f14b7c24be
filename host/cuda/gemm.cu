// cuBLAS projections (gemm.hpp). cuBLAS is column-major, so a row-major X (r×c) is handed over as
// the column-major Xᵀ (c×r, leading dimension c).
#include <algorithm>
#include <climits>

#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/gemm.hpp"

namespace sigreg::detail {
namespace {

// Rows per GEMM call: an int count, and (defensively) fewer than 2^31 elements per operand.
int64_t gemm_rows_per_call(int64_t D, int64_t K) {
  return std::max<int64_t>(1, INT_MAX / std::max(D, K));
}

}  // namespace

// Column-major Pᵀ = Aᵀ·Zᵀ, with A's buffer read as Aᵀ (K×D, ld K) and Z's as Zᵀ (D×rows, ld D).
Status project(cublasHandle_t h, const float* Z, const float* A, int64_t rows, int64_t D, int64_t K,
               float* P) {
  const float one = 1.0f, zero = 0.0f;
  const int64_t chunk = gemm_rows_per_call(D, K);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int n = static_cast<int>(std::min(chunk, rows - r0));
    SIGREG_TRY(
        cublas_status(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(K), n,
                                  static_cast<int>(D), &one, A, static_cast<int>(K), Z + r0 * D,
                                  static_cast<int>(D), &zero, P + r0 * K, static_cast<int>(K)),
                      "cublasSgemm (P = Z·A)"));
  }
  return {};
}

// Column-major dZᵀ = A·dPᵀ, with A = (Aᵀ buffer)ᵀ, hence CUBLAS_OP_T on A's buffer (K×D, ld K)
// and dP's buffer read as dPᵀ (K×rows, ld K).
Status project_back(cublasHandle_t h, const float* dP, const float* A, int64_t rows, int64_t D,
                    int64_t K, float* dZ) {
  const float one = 1.0f, zero = 0.0f;
  const int64_t chunk = gemm_rows_per_call(D, K);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int n = static_cast<int>(std::min(chunk, rows - r0));
    SIGREG_TRY(
        cublas_status(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(D), n,
                                  static_cast<int>(K), &one, A, static_cast<int>(K), dP + r0 * K,
                                  static_cast<int>(K), &zero, dZ + r0 * D, static_cast<int>(D)),
                      "cublasSgemm (dZ = dP·Aᵀ)"));
  }
  return {};
}

}  // namespace sigreg::detail
