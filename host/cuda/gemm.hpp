// The two projection GEMMs of the CUDA backend, as cuBLAS calls on row-major buffers:
//   project       P (rows×K, float)  = Z (rows×D, dtype) · A (D×K)
//   project_back  dZ (rows×D, dtype) = dP (rows×K) · Aᵀ
// float32: cublasSgemm (tensor-core TF32 where the handle's math mode allows it). bf16 / fp16:
// cublasGemmEx on tensor cores with FP32 accumulation; A enters as A16, its copy rounded to the
// same type, and the backward's dP as dP16. cuBLAS takes int sizes: D and K (leading dimensions)
// must fit in int (the backend's supports() says so before any call); rows are split into calls
// of fewer than 2^31 elements.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "sigreg/sigreg.hpp"

namespace sigreg::detail {

// `A16` is used (and must be set) only for 16-bit dtypes.
Status project(cublasHandle_t cublas, const void* Z, DType dtype, const float* A, const void* A16,
               int64_t rows, int64_t D, int64_t K, float* P);
// `dP` is float for float32 and of `dtype` (dP16) otherwise; `A16` as in project.
Status project_back(cublasHandle_t cublas, const void* dP, DType dtype, const float* A,
                    const void* A16, int64_t rows, int64_t D, int64_t K, void* dZ);

}  // namespace sigreg::detail
