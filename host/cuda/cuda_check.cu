// sigreg::cuda_status (include/sigreg/cuda_status.hpp) and the device guard (cuda_check.hpp).
#include <string>

#include "host/common/try.hpp"
#include "host/cuda/cuda_check.hpp"

namespace sigreg {

Status cuda_status(cudaError_t error, const char* call) {
  if (error == cudaSuccess) return {};
  return Status(Code::kCudaError, std::string(call) + ": " + cudaGetErrorName(error) + " (" +
                                      cudaGetErrorString(error) + ")");
}

Status cuda_status(cublasStatus_t status, const char* call) {
  if (status == CUBLAS_STATUS_SUCCESS) return {};
  return Status(Code::kCublasError, std::string(call) + ": " + cublasGetStatusName(status) + " (" +
                                        cublasGetStatusString(status) + ")");
}

}  // namespace sigreg

namespace sigreg::detail {

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) (void)cudaSetDevice(previous_);
}

Status DeviceGuard::enter(int device) {
  int current = -1;
  SIGREG_TRY(cuda_status(cudaGetDevice(&current), "cudaGetDevice"));
  if (current == device) return {};
  SIGREG_TRY(cuda_status(cudaSetDevice(device), "cudaSetDevice"));
  previous_ = current;
  return {};
}

}  // namespace sigreg::detail
