// The CUDA backend's checks: every CUDA and cuBLAS call in host/cuda goes through
// sigreg::cuda_status (include/sigreg/cuda_status.hpp), and the guard runs a call on the handle's
// device and restores the caller's afterwards.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "sigreg/cuda_status.hpp"

namespace sigreg::detail {

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
