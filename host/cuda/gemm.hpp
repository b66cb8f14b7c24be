// The two projection GEMMs of the CUDA backend, as cuBLAS calls on row-major buffers:
//   project       P (rows×K)  = Z (rows×D) · A (D×K)
//   project_back  dZ (rows×D) = dP (rows×K) · Aᵀ
// cuBLAS takes int sizes: D and K (leading dimensions) must fit in int (the backend's
// supports() says so before any call); rows are split into calls of fewer than 2^31 elements.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "sigreg/status.hpp"

namespace sigreg::detail {

Status project(cublasHandle_t cublas, const float* Z, const float* A, int64_t rows, int64_t D,
               int64_t K, float* P);
Status project_back(cublasHandle_t cublas, const float* dP, const float* A, int64_t rows, int64_t D,
                    int64_t K, float* dZ);

}  // namespace sigreg::detail
