// The CPU backend's part of sigreg::cpu_info(): its element loops, its CBLAS and the kernels that
// CBLAS runs here, and whether those are below the CPU's widest ISA.
#include <string>

#include "host/common/backend.hpp"
#include "host/cpu/cblas.hpp"
#include "host/cpu/cpu_kernels.hpp"

namespace sigreg::detail {
namespace {

// The width of an ISA as cpu_info names them: 3 AVX-512, 2 AVX2+FMA, 1 AVX, 0 SSE2 or unknown.
int isa_level(const std::string& isa) {
  if (isa == "avx512") return 3;
  if (isa == "avx2-fma") return 2;
  if (isa == "avx") return 1;
  return 0;
}

}  // namespace

void describe_cpu_backend(CpuInfo* info) {
  info->tile_kernels = cpu::kernel_isa();
  info->blas = cblas::library_config();
  info->blas_kernels = cblas::core_name();
  // A core whose ISA is not known (another CBLAS, another OpenBLAS): nothing is claimed.
  const std::string core_isa = cblas::core_isa(info->blas_kernels);
  if (!core_isa.empty() && isa_level(core_isa) < isa_level(info->isa))
    info->warning = "the CBLAS runs its '" + info->blas_kernels + "' kernels on this " + info->isa +
                    " CPU (" + info->cpu + "), below what the CPU can run: " + info->blas +
                    " does not know this CPU. Build sigreg against scipy-openblas32 (pip install "
                    "scipy-openblas32; the default when it is installed), or set "
                    "OPENBLAS_CORETYPE to a core of the CPU's ISA (docs/performance.md)";
}

}  // namespace sigreg::detail
