// The driver's CUDA pieces (sigreg_op_cuda.cpp, trainer_cuda.cu) turn CUDA runtime and cuBLAS
// return codes into the library's Status, naming the call that failed.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "sigreg/status.hpp"

namespace sigreg::toy {

inline Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  return Status(Code::kCudaError, std::string(what) + ": " + cudaGetErrorString(e));
}

inline Status cuda_status(cublasStatus_t e, const char* what) {
  if (e == CUBLAS_STATUS_SUCCESS) return {};
  return Status(Code::kCublasError,
                std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(e)));
}

}  // namespace sigreg::toy
