// Built instead of the CUDA backend when no CUDA toolkit was found at configure time.
#include "host/common/backend.hpp"

namespace sigreg::detail {

std::vector<std::string> cuda_kernel_names() { return {}; }

bool cuda_backend_available() { return false; }

Status make_cuda_backend(const HandleOptions&, std::unique_ptr<BackendImpl>*) {
  return Status(Code::kNotSupported,
                "backend: this build of sigreg has no CUDA backend (no CUDA toolkit was found "
                "when it was configured)");
}

}  // namespace sigreg::detail
