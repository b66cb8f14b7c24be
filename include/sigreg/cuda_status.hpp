// CUDA runtime and cuBLAS return codes as sigreg::Status, for training code that mixes its own
// CUDA calls with sigreg's (the library checks every one of its own calls with these, and so does
// the toy driver). Only in a build with the CUDA backend; include it from CUDA code only.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "sigreg/status.hpp"

namespace sigreg {

// ok for cudaSuccess; otherwise kCudaError "<call>: <error name> (<description>)".
Status cuda_status(cudaError_t error, const char* call);
// ok for CUBLAS_STATUS_SUCCESS; otherwise kCublasError "<call>: <status name> (<description>)".
Status cuda_status(cublasStatus_t status, const char* call);

}  // namespace sigreg
