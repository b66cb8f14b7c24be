// Built instead of the CPU backend when it is configured off (SIGREG_ENABLE_CPU_BACKEND=OFF: no
// CBLAS, no OpenMP); the float64 reference backend is always there.
#include "host/common/backend.hpp"

namespace sigreg::detail {

Status make_cpu_backend(const HandleOptions&, std::unique_ptr<BackendImpl>*) {
  return Status(Code::kNotSupported,
                "backend: this build of sigreg has no CPU backend (configured with "
                "SIGREG_ENABLE_CPU_BACKEND=OFF); use kReference or kCuda");
}

}  // namespace sigreg::detail

namespace sigreg::detail {

void describe_cpu_backend(CpuInfo*) {}  // no element loops, no CBLAS

}  // namespace sigreg::detail
