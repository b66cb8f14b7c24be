// CUDA and cuBLAS return codes as Status (every call in host/cuda goes through these), and the
// guard that runs a call on the handle's device and restores the caller's afterwards.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "sigreg/status.hpp"

namespace sigreg::detail {

// ok for cudaSuccess; otherwise kCudaError "<call>: <error name> (<description>)".
Status cuda_status(cudaError_t error, const char* call);
// ok for CUBLAS_STATUS_SUCCESS; otherwise kCublasError "<call>: <status name> (<description>)".
Status cublas_status(cublasStatus_t status, const char* call);

// Switches to `device` for the guard's lifetime if it is not already current.
class DeviceGuard {
 public:
  DeviceGuard() = default;
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  ~DeviceGuard();
  Status enter(int device);

 private:
  int previous_ = -1;
};

}  // namespace sigreg::detail
