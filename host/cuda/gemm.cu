// cuBLAS projections (gemm.hpp). cuBLAS is column-major, so a row-major X (r×c) is handed over as
// the column-major Xᵀ (c×r, leading dimension c).
#include <library_types.h>

#include <algorithm>
#include <climits>

#include "core/dtype.hpp"
#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"
#include "host/cuda/gemm.hpp"

namespace sigreg::detail {
namespace {

// Rows per GEMM call: an int count, and (defensively) fewer than 2^31 elements per operand.
int64_t gemm_rows_per_call(int64_t D, int64_t K) {
  return std::max<int64_t>(1, INT_MAX / std::max(D, K));
}

cudaDataType_t cuda_type(DType dtype) {
  return dtype == DType::kBFloat16  ? CUDA_R_16BF
         : dtype == DType::kFloat16 ? CUDA_R_16F
                                    : CUDA_R_32F;
}

const char* offset(const void* p, int64_t elements, DType dtype) {
  return static_cast<const char*>(p) + elements * static_cast<int64_t>(math::element_bytes(dtype));
}

}  // namespace

// Column-major Pᵀ = Aᵀ·Zᵀ, with A's buffer read as Aᵀ (K×D, ld K) and Z's as Zᵀ (D×rows, ld D).
Status project(cublasHandle_t h, const void* Z, DType dtype, const float* A, const void* A16,
               int64_t rows, int64_t D, int64_t K, float* P) {
  const float one = 1.0f, zero = 0.0f;
  const int64_t chunk = gemm_rows_per_call(D, K);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int n = static_cast<int>(std::min(chunk, rows - r0));
    if (dtype == DType::kFloat32) {
      SIGREG_TRY(cublas_status(
          cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(K), n, static_cast<int>(D),
                      &one, A, static_cast<int>(K), static_cast<const float*>(Z) + r0 * D,
                      static_cast<int>(D), &zero, P + r0 * K, static_cast<int>(K)),
          "cublasSgemm (P = Z·A)"));
    } else {
      const cudaDataType_t type = cuda_type(dtype);
      SIGREG_TRY(cublas_status(
          cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(K), n, static_cast<int>(D),
                       &one, A16, type, static_cast<int>(K), offset(Z, r0 * D, dtype), type,
                       static_cast<int>(D), &zero, P + r0 * K, CUDA_R_32F, static_cast<int>(K),
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx (P = Z·A, 16-bit)"));
    }
  }
  return {};
}

// Column-major dZᵀ = A·dPᵀ, with A = (Aᵀ buffer)ᵀ, hence CUBLAS_OP_T on A's buffer (K×D, ld K)
// and dP's buffer read as dPᵀ (K×rows, ld K).
Status project_back(cublasHandle_t h, const void* dP, DType dtype, const float* A, const void* A16,
                    int64_t rows, int64_t D, int64_t K, void* dZ) {
  const float one = 1.0f, zero = 0.0f;
  const int64_t chunk = gemm_rows_per_call(D, K);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int n = static_cast<int>(std::min(chunk, rows - r0));
    if (dtype == DType::kFloat32) {
      SIGREG_TRY(
          cublas_status(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(D), n,
                                    static_cast<int>(K), &one, A, static_cast<int>(K),
                                    static_cast<const float*>(dP) + r0 * K, static_cast<int>(K),
                                    &zero, static_cast<float*>(dZ) + r0 * D, static_cast<int>(D)),
                        "cublasSgemm (dZ = dP·Aᵀ)"));
    } else {
      const cudaDataType_t type = cuda_type(dtype);
      SIGREG_TRY(cublas_status(
          cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(D), n, static_cast<int>(K),
                       &one, A16, type, static_cast<int>(K), offset(dP, r0 * K, dtype), type,
                       static_cast<int>(K), &zero, const_cast<char*>(offset(dZ, r0 * D, dtype)),
                       type, static_cast<int>(D), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx (dZ = dP·Aᵀ, 16-bit)"));
    }
  }
  return {};
}

}  // namespace sigreg::detail
